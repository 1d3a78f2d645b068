"""ClientConfig.from_env: every variable, every error names its variable."""

from __future__ import annotations

import pytest

from fast_crewai.config import (
    AreaMode,
    ClientConfig,
    Endpoint,
    get_config,
    reset_config,
)
from fast_crewai.errors import ConfigError


def from_env(**env: str) -> ClientConfig:
    return ClientConfig.from_env(env)


def error_of(**env: str) -> str:
    with pytest.raises(ConfigError) as info:
        ClientConfig.from_env(env)
    return str(info.value)


def test_defaults():
    c = from_env()
    assert c.endpoint == Endpoint("tcp", "127.0.0.1", 50051)
    assert c.endpoint.target == "127.0.0.1:50051"
    assert c.token is None and c.token_file is None
    assert (c.tls_ca, c.tls_cert, c.tls_key, c.tls_server_name) == (None,) * 4
    assert not c.tls and not c.mutual_tls
    assert c.acceleration is True
    assert [c.area_mode(a) for a in ("memory", "cache", "database", "tasks")] == [AreaMode.AUTO] * 4
    assert c.connect_timeout == 1.0


def test_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", "example.org:7000")
    assert ClientConfig.from_env().endpoint == Endpoint("tcp", "example.org", 7000)


@pytest.mark.parametrize(
    "text, expected, target",
    [
        ("localhost:1", Endpoint("tcp", "localhost", 1), "localhost:1"),
        ("10.1.2.3:65535", Endpoint("tcp", "10.1.2.3", 65535), "10.1.2.3:65535"),
        ("my_host.internal-1:50051", Endpoint("tcp", "my_host.internal-1", 50051),
         "my_host.internal-1:50051"),
        ("[::1]:50051", Endpoint("tcp", "::1", 50051), "[::1]:50051"),
        ("[fe80::1:2]:80", Endpoint("tcp", "fe80::1:2", 80), "[fe80::1:2]:80"),
        ("unix:/run/fast-crewai.sock", Endpoint("unix", path="/run/fast-crewai.sock"),
         "unix:/run/fast-crewai.sock"),
        ("unix:///run/fast-crewai.sock", Endpoint("unix", path="/run/fast-crewai.sock"),
         "unix:/run/fast-crewai.sock"),
    ],
)
def test_endpoint_forms(text, expected, target):
    endpoint = from_env(FAST_CREWAI_ENDPOINT=text).endpoint
    assert endpoint == expected
    assert endpoint.target == target


def test_malformed_endpoint_message_is_exact():
    assert error_of(FAST_CREWAI_ENDPOINT="foo") == (
        'FAST_CREWAI_ENDPOINT: expected host:port or unix:/path, got "foo"')


@pytest.mark.parametrize(
    "text",
    ["foo", "host:", ":50051", "host:port", "::1:50051", "[::1]", "http://h:1", "h :1",
     "unix:relative.sock", "unix:", "unix://", "[nothex]:1", "a:0", "a:65536", "a:99999999"],
)
def test_every_malformed_endpoint_names_the_variable(text):
    message = error_of(FAST_CREWAI_ENDPOINT=text)
    assert message.startswith("FAST_CREWAI_ENDPOINT: ")
    assert f'"{text}"' in message


def test_empty_value_counts_as_unset():
    assert from_env(FAST_CREWAI_ENDPOINT="", FAST_CREWAI_TOKEN="").endpoint.port == 50051


def test_token():
    c = from_env(FAST_CREWAI_TOKEN="s3cret-token")
    assert c.token == "s3cret-token"
    assert "s3cret" not in repr(c)


def test_token_with_space_is_rejected():
    assert error_of(FAST_CREWAI_TOKEN="a b").startswith("FAST_CREWAI_TOKEN: ")


@pytest.mark.parametrize("content", ["from-file\n", "  from-file \r\n", "\tfrom-file"])
def test_token_file(tmp_path, content):
    """Surrounding whitespace is not part of the token, as the daemon's --token_file reads it:
    one file serves both."""
    path = tmp_path / "token"
    path.write_text(content)
    c = from_env(FAST_CREWAI_TOKEN_FILE=str(path))
    assert (c.token, c.token_file) == ("from-file", str(path))


@pytest.mark.parametrize("content", ["", "\n", "  \n"])
def test_empty_token_file_is_rejected(tmp_path, content):
    path = tmp_path / "token"
    path.write_text(content)
    assert error_of(FAST_CREWAI_TOKEN_FILE=str(path)).startswith("FAST_CREWAI_TOKEN_FILE: ")


def test_missing_token_file_is_rejected(tmp_path):
    message = error_of(FAST_CREWAI_TOKEN_FILE=str(tmp_path / "nope"))
    assert message.startswith("FAST_CREWAI_TOKEN_FILE: cannot read ")
    assert "nope" in message


def test_token_file_with_inner_whitespace_names_the_file_variable(tmp_path):
    path = tmp_path / "token"
    path.write_text("two words\n")
    assert error_of(FAST_CREWAI_TOKEN_FILE=str(path)).startswith("FAST_CREWAI_TOKEN_FILE: ")


def test_token_and_token_file_together_are_rejected(tmp_path):
    path = tmp_path / "token"
    path.write_text("x")
    message = error_of(FAST_CREWAI_TOKEN="y", FAST_CREWAI_TOKEN_FILE=str(path))
    assert message.startswith("FAST_CREWAI_TOKEN_FILE: ")


def test_tls_variables():
    c = from_env(FAST_CREWAI_TLS_CA="/ca.pem", FAST_CREWAI_TLS_CERT="/c.pem",
                 FAST_CREWAI_TLS_KEY="/k.pem", FAST_CREWAI_TLS_SERVER_NAME="daemon.local")
    assert (c.tls_ca, c.tls_cert, c.tls_key, c.tls_server_name) == (
        "/ca.pem", "/c.pem", "/k.pem", "daemon.local")
    assert c.tls and c.mutual_tls


def test_ca_alone_enables_tls_without_client_cert():
    c = from_env(FAST_CREWAI_TLS_CA="/ca.pem")
    assert c.tls and not c.mutual_tls


def test_cert_without_key_names_the_key():
    assert error_of(FAST_CREWAI_TLS_CERT="/c.pem").startswith("FAST_CREWAI_TLS_KEY: ")


def test_key_without_cert_names_the_cert():
    assert error_of(FAST_CREWAI_TLS_KEY="/k.pem").startswith("FAST_CREWAI_TLS_CERT: ")


def test_server_name_without_tls_is_rejected():
    assert error_of(FAST_CREWAI_TLS_SERVER_NAME="x").startswith("FAST_CREWAI_TLS_SERVER_NAME: ")


def test_malformed_server_name_is_rejected():
    message = error_of(FAST_CREWAI_TLS_CA="/ca", FAST_CREWAI_TLS_SERVER_NAME="bad name")
    assert message.startswith("FAST_CREWAI_TLS_SERVER_NAME: ")


@pytest.mark.parametrize("value", ["0", "false", "OFF", "no", " False "])
def test_acceleration_off(value):
    assert from_env(FAST_CREWAI_ACCELERATION=value).acceleration is False


@pytest.mark.parametrize("value", ["1", "true", "on", "YES"])
def test_acceleration_on(value):
    assert from_env(FAST_CREWAI_ACCELERATION=value).acceleration is True


def test_malformed_acceleration_names_the_variable():
    assert error_of(FAST_CREWAI_ACCELERATION="maybe").startswith("FAST_CREWAI_ACCELERATION: ")


@pytest.mark.parametrize("area", ["memory", "cache", "database", "tasks"])
@pytest.mark.parametrize(
    "value, mode",
    [("true", AreaMode.TRUE), ("false", AreaMode.FALSE), ("auto", AreaMode.AUTO),
     ("AUTO", AreaMode.AUTO), ("1", AreaMode.TRUE), ("off", AreaMode.FALSE)],
)
def test_area_switches(area, value, mode):
    variable = f"FAST_CREWAI_{area.upper()}"
    c = from_env(**{variable: value})
    assert c.area_mode(area) is mode
    assert c.area_variable(area) == variable
    others = {"memory", "cache", "database", "tasks"} - {area}
    assert all(c.area_mode(o) is AreaMode.AUTO for o in others)


@pytest.mark.parametrize("area", ["memory", "cache", "database", "tasks"])
def test_malformed_area_switch_names_the_variable(area):
    variable = f"FAST_CREWAI_{area.upper()}"
    expected = "true, false, auto or dag" if area == "tasks" else "true, false or auto"
    assert error_of(**{variable: "sometimes"}) == (
        f'{variable}: expected {expected}, got "sometimes"')


@pytest.mark.parametrize("value", ["dag", "DAG", " dag "])
def test_tasks_dag_switches_the_area_on_with_dag_mode(value):
    c = from_env(FAST_CREWAI_TASKS=value)
    assert c.tasks is AreaMode.TRUE and c.tasks_dag is True
    assert c.area_variable("tasks") == "FAST_CREWAI_TASKS"
    assert from_env(FAST_CREWAI_TASKS="true").tasks_dag is False
    assert from_env().tasks_dag is False


def test_scheduler_settings_defaults_and_validation():
    c = from_env()
    assert (c.rate_limit_key, c.fan_out, c.worker_queue) == ("crewai:max_rpm", False, "default")
    c = from_env(FAST_CREWAI_RATE_LIMIT_KEY="openai:team-a", FAST_CREWAI_FAN_OUT="1",
                 FAST_CREWAI_WORKER_QUEUE="research")
    assert (c.rate_limit_key, c.fan_out, c.worker_queue) == ("openai:team-a", True, "research")
    assert error_of(FAST_CREWAI_WORKER_QUEUE="no spaces").startswith("FAST_CREWAI_WORKER_QUEUE: ")
    assert error_of(FAST_CREWAI_FAN_OUT="maybe").startswith("FAST_CREWAI_FAN_OUT: ")
    assert error_of(FAST_CREWAI_RATE_LIMIT_KEY="x" * 300).startswith(
        "FAST_CREWAI_RATE_LIMIT_KEY: ")


def test_tools_is_an_alias_of_cache():
    c = from_env(FAST_CREWAI_TOOLS="false")
    assert c.cache is AreaMode.FALSE
    assert c.area_variable("cache") == "FAST_CREWAI_TOOLS"


def test_cache_wins_over_tools():
    c = from_env(FAST_CREWAI_TOOLS="false", FAST_CREWAI_CACHE="true")
    assert c.cache is AreaMode.TRUE
    assert c.area_variable("cache") == "FAST_CREWAI_CACHE"


def test_malformed_tools_alias_names_the_alias_even_when_cache_is_set():
    assert error_of(FAST_CREWAI_TOOLS="x", FAST_CREWAI_CACHE="true").startswith(
        "FAST_CREWAI_TOOLS: ")


def test_unknown_area_is_a_programming_error():
    with pytest.raises(ValueError):
        from_env().area_mode("gpu")


@pytest.mark.parametrize(
    "value, seconds",
    [("2", 2.0), ("0.5", 0.5), ("1.5s", 1.5), ("250ms", 0.25), (".25", 0.25), ("60", 60.0)],
)
def test_connect_timeout(value, seconds):
    assert from_env(FAST_CREWAI_CONNECT_TIMEOUT=value).connect_timeout == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1h", "61", "0ms"])
def test_malformed_connect_timeout_names_the_variable(value):
    assert error_of(FAST_CREWAI_CONNECT_TIMEOUT=value).startswith("FAST_CREWAI_CONNECT_TIMEOUT: ")


def test_config_error_is_a_value_error_and_a_fast_crewai_error():
    from fast_crewai.errors import FastCrewAIError

    with pytest.raises(ValueError):
        from_env(FAST_CREWAI_ENDPOINT="foo")
    with pytest.raises(FastCrewAIError):
        from_env(FAST_CREWAI_ENDPOINT="foo")


def test_get_config_reads_once_until_reset(monkeypatch):
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", "a:1")
    first = get_config()
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", "b:2")
    assert get_config() is first
    reset_config()
    assert get_config().endpoint == Endpoint("tcp", "b", 2)


def test_get_config_caches_nothing_on_error(monkeypatch):
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", "foo")
    with pytest.raises(ConfigError):
        get_config()
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", "a:1")
    assert get_config().endpoint.host == "a"
