"""`fast-crewai status` / `doctor` and the Remote calls against the REAL daemon binary."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from fast_crewai.client.connection import Connection
from fast_crewai.client.remote import Remote
from fast_crewai.config import ClientConfig, Endpoint
from fast_crewai.errors import Unauthenticated
from fast_crewai.types import HealthStatus
from support import REPO_ROOT, free_port, run_cli

VERSION = (REPO_ROOT / "VERSION").read_text().strip()
TOKEN = "test-token-1234"


def doctor_status(stdout: str) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(stdout)["checks"]}


def test_status_against_live_daemon(daemon):
    result, elapsed = run_cli("status", "--endpoint", daemon.endpoint)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "reachable: yes" in out
    assert "health:    SERVING" in out
    assert f"server:    fast-crewai-server {VERSION}, up " in out
    assert "auth:      token not required, TLS off" in out
    assert "fast_crewai.v1.ServerService" in out
    assert elapsed < 5


def test_status_json_against_live_daemon(daemon):
    result, _ = run_cli("status", "--json", "--endpoint", daemon.endpoint)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["reachable"] is True and data["health"] == "SERVING"
    assert data["server"]["version"] == VERSION
    assert data["server"]["uptime_seconds"] >= 0
    assert data["server"]["auth_required"] is False and data["server"]["tls"] is False
    names = [s["name"] for s in data["services"]]
    assert "fast_crewai.v1.MemoryService" in names
    assert all(s["health"] in ("SERVING", "NOT_SERVING") for s in data["services"])


def test_remote_calls_against_live_daemon(daemon):
    remote = Remote(Connection(ClientConfig(endpoint=Endpoint.parse(daemon.endpoint))))
    try:
        info = remote.server_info(timeout=2)
        assert info.version == VERSION and not info.auth_required and not info.tls
        assert remote.health("", timeout=2) is HealthStatus.SERVING
        assert remote.health("no.such.Service", timeout=2) is HealthStatus.SERVICE_UNKNOWN
    finally:
        remote.connection.close()


def test_doctor_all_ok_against_live_daemon(daemon):
    result, _ = run_cli("doctor", "--endpoint", daemon.endpoint)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "all checks passed"
    assert f"ok    server    fast-crewai-server {VERSION} (client {VERSION})" in result.stdout


@pytest.fixture
def short_tmp():
    """A short directory for Unix sockets (sun_path is limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="fc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_status_over_unix_socket(start_daemon, short_tmp):
    socket_path = short_tmp / "d.sock"
    start_daemon("--unix_socket", str(socket_path))
    result, _ = run_cli("status", env={"FAST_CREWAI_ENDPOINT": f"unix:{socket_path}"})
    assert result.returncode == 0, result.stdout
    assert f"endpoint:  unix:{socket_path} (unix socket, insecure, no token)" in result.stdout
    assert "health:    SERVING" in result.stdout


# ---- token ----------------------------------------------------------------------------------


def test_status_without_token_still_works_on_a_token_daemon(start_daemon):
    daemon = start_daemon(token=TOKEN)
    result, _ = run_cli("status", "--endpoint", daemon.endpoint)
    assert result.returncode == 0, result.stdout
    assert "auth:      token required, TLS off" in result.stdout


def test_doctor_flags_the_missing_token(start_daemon):
    daemon = start_daemon(token=TOKEN)
    result, _ = run_cli("doctor", "--json", "--endpoint", daemon.endpoint)
    assert result.returncode == 1
    token = doctor_status(result.stdout)["token"]
    assert token["status"] == "FAIL"
    assert token["detail"] == "the daemon requires a token and none is set"
    assert "FAST_CREWAI_TOKEN" in token["fix"]


def test_doctor_flags_a_wrong_token(start_daemon):
    daemon = start_daemon(token=TOKEN)
    result, _ = run_cli("doctor", "--json", "--endpoint", daemon.endpoint,
                        env={"FAST_CREWAI_TOKEN": "wrong-token"})
    assert result.returncode == 1
    token = doctor_status(result.stdout)["token"]
    assert token["status"] == "FAIL" and token["detail"].startswith("token rejected")


def test_doctor_accepts_the_right_token_from_a_file(start_daemon, tmp_path):
    daemon = start_daemon(token=TOKEN)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    result, _ = run_cli("doctor", "--endpoint", daemon.endpoint,
                        env={"FAST_CREWAI_TOKEN_FILE": str(token_file)})
    assert result.returncode == 0, result.stdout
    assert "ok    token     token accepted" in result.stdout


def test_token_protected_call_raises_unauthenticated_without_token(start_daemon):
    daemon = start_daemon(token=TOKEN)
    endpoint = Endpoint.parse(daemon.endpoint)
    remote = Remote(Connection(ClientConfig(endpoint=endpoint)))
    try:
        with pytest.raises(Unauthenticated) as info:
            remote.describe_namespace("ns", timeout=2)
        assert info.value.details  # the daemon says why
    finally:
        remote.connection.close()
    authorized = Remote(Connection(ClientConfig(endpoint=endpoint, token=TOKEN)))
    try:
        try:
            authorized.describe_namespace("ns", timeout=2)
        except Unauthenticated:
            pytest.fail("the interceptor's bearer token was not accepted")
        except Exception:  # noqa: BLE001 - UNIMPLEMENTED etc. means authentication passed
            pass
    finally:
        authorized.connection.close()


# ---- TLS ------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed for the TLS tests (apt-get install openssl)")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=fast-crewai test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, ext in (("server", "server.ext"), ("client", "client.ext")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"{name}.pem", cwd=d)
    return {name: d / name for name in ("ca.pem", "server.pem", "server.key", "client.pem",
                                        "client.key")}


def test_status_over_tls(start_daemon, pki):
    endpoint_port = free_port()
    endpoint = f"127.0.0.1:{endpoint_port}"
    client_env = {"FAST_CREWAI_TLS_CA": str(pki["ca.pem"]),
                  "FAST_CREWAI_TLS_SERVER_NAME": "localhost"}
    config = ClientConfig.from_env({"FAST_CREWAI_ENDPOINT": endpoint, **client_env})
    start_daemon("--tls_cert", str(pki["server.pem"]), "--tls_key", str(pki["server.key"]),
                 port=endpoint_port, client_config=config)
    result, _ = run_cli("status", "--endpoint", endpoint, env=client_env)
    assert result.returncode == 0, result.stdout
    assert "(tcp, TLS, no token)" in result.stdout
    assert "auth:      token not required, TLS on" in result.stdout
    insecure, elapsed = run_cli("status", "--endpoint", endpoint)
    assert insecure.returncode == 1
    assert ("reachable: no (the daemon serves TLS and this client connects in plaintext; set "
            "FAST_CREWAI_TLS_CA") in insecure.stdout
    assert elapsed < 2.0
    # doctor names the mismatch and its fix, not "start the daemon".
    doctor, _ = run_cli("doctor", "--json", "--endpoint", endpoint)
    check = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}["endpoint"]
    assert check["status"] == "FAIL"
    assert check["detail"] == (f"the daemon at {endpoint} serves TLS and this client connects "
                               "in plaintext")
    assert check["fix"].startswith("set FAST_CREWAI_TLS_CA")
    wrong_ca, _ = run_cli("doctor", "--json", "--endpoint", endpoint,
                          env={**client_env, "FAST_CREWAI_TLS_CA": str(pki["client.pem"])})
    check = {c["name"]: c for c in json.loads(wrong_ca.stdout)["checks"]}["endpoint"]
    assert check["detail"].startswith(f"the daemon at {endpoint} failed the TLS handshake (")
    assert check["fix"] == "check FAST_CREWAI_TLS_* against the daemon's --tls_* options"


def test_status_over_mutual_tls(start_daemon, pki):
    endpoint_port = free_port()
    endpoint = f"127.0.0.1:{endpoint_port}"
    client_env = {"FAST_CREWAI_TLS_CA": str(pki["ca.pem"]),
                  "FAST_CREWAI_TLS_CERT": str(pki["client.pem"]),
                  "FAST_CREWAI_TLS_KEY": str(pki["client.key"])}
    config = ClientConfig.from_env({"FAST_CREWAI_ENDPOINT": endpoint, **client_env})
    start_daemon("--tls_cert", str(pki["server.pem"]), "--tls_key", str(pki["server.key"]),
                 "--tls_client_ca", str(pki["ca.pem"]), port=endpoint_port,
                 client_config=config)
    result, _ = run_cli("status", "--endpoint", endpoint, env=client_env)
    assert result.returncode == 0, result.stdout
    assert "(tcp, mutual TLS, no token)" in result.stdout
    without_cert, _ = run_cli("status", "--endpoint", endpoint,
                              env={"FAST_CREWAI_TLS_CA": str(pki["ca.pem"])})
    assert without_cert.returncode == 1
    doctor, _ = run_cli("doctor", "--endpoint", endpoint, env=client_env)
    assert doctor.returncode == 0, doctor.stdout
    assert "ok    tls       mutual TLS files readable" in doctor.stdout


def _refusal_warning(connection: Connection) -> str:
    """The one RuntimeWarning `connection` gives when its probe is refused (then closed)."""
    with pytest.warns(RuntimeWarning) as record:
        assert connection.available() is False
    connection.close()
    (warning,) = [str(w.message) for w in record if w.category is RuntimeWarning]
    return warning


def test_a_tls_mismatch_is_a_misconfiguration_warned_not_a_silent_fallback(start_daemon, pki):
    """Plaintext against a TLS daemon, and TLS against a plaintext one: the connection is down
    (CrewAI's own code runs) and the process gets one RuntimeWarning saying why."""
    from fast_crewai.client.connection import reset_connection

    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    tls_config = ClientConfig.from_env({"FAST_CREWAI_ENDPOINT": endpoint,
                                        "FAST_CREWAI_TLS_CA": str(pki["ca.pem"])})
    start_daemon("--tls_cert", str(pki["server.pem"]), "--tls_key", str(pki["server.key"]),
                 port=port, client_config=tls_config)
    warning = _refusal_warning(Connection(ClientConfig(endpoint=Endpoint.parse(endpoint))))
    assert warning.startswith(f"fast-crewai: the daemon at {endpoint} serves TLS and this "
                              "client connects in plaintext; set FAST_CREWAI_TLS_CA")

    reset_connection()  # re-arms the once-per-process warning
    plain_daemon = start_daemon()
    warning = _refusal_warning(
        Connection(tls_config.replace(endpoint=Endpoint.parse(plain_daemon.endpoint))))
    assert warning.startswith(f"fast-crewai: the daemon at {plain_daemon.endpoint} failed the "
                              "TLS handshake (")
