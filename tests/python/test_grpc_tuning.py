"""fast_crewai.grpc_tuning: GRPC_EXPERIMENTS is set on import only when it is safe, and the
user's switch is validated with the rest of the configuration. Each case runs in a fresh
interpreter, since the tuning acts once, before gRPC loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fast_crewai.config import ClientConfig
from fast_crewai.errors import ConfigError
from support import clean_environ

REPORT = ("import json, os, fast_crewai\n"
          "print(json.dumps([fast_crewai.grpc_tuning.state(), os.environ.get('GRPC_EXPERIMENTS')]))\n")


def run(prelude: str, env: dict[str, str] | None = None) -> list[str | None]:
    environ = clean_environ(env)
    environ.pop("GRPC_EXPERIMENTS", None)  # the test process may have set it itself
    environ.update({k: v for k, v in (env or {}).items()})
    result = subprocess.run([sys.executable, "-c", prelude + REPORT], env=environ,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    state: list[str | None] = json.loads(result.stdout.strip().splitlines()[-1])
    return state


def test_imported_first_it_turns_the_event_engine_client_off() -> None:
    state, variable = run("")
    assert variable == "-event_engine_client"
    assert state == "on (GRPC_EXPERIMENTS=-event_engine_client)"


def test_after_grpc_was_imported_it_changes_nothing() -> None:
    state, variable = run("import grpc\n")
    assert variable is None
    assert state == "off (gRPC was imported before fast_crewai)"


def test_the_users_own_experiments_win() -> None:
    state, variable = run("", {"GRPC_EXPERIMENTS": "-event_engine_dns"})
    assert variable == "-event_engine_dns"
    assert state.startswith("off (GRPC_EXPERIMENTS is set")


@pytest.mark.parametrize("value", ["0", "false", "off", "NO"])
def test_the_switch_turns_it_off(value: str) -> None:
    state, variable = run("", {"FAST_CREWAI_GRPC_TUNING": value})
    assert variable is None
    assert state.startswith("off (FAST_CREWAI_GRPC_TUNING=0)")


def test_an_untested_grpcio_is_left_alone() -> None:
    fake = ("import importlib.metadata as m\n"
            "real = m.version\n"
            "m.version = lambda name: '1.99.0' if name == 'grpcio' else real(name)\n")
    state, variable = run(fake)
    assert variable is None
    assert state == "off (grpcio (1, 99) is outside the tested range)"


def test_the_switch_is_validated_with_the_configuration() -> None:
    assert ClientConfig.from_env({}).grpc_tuning is True
    assert ClientConfig.from_env({"FAST_CREWAI_GRPC_TUNING": "off"}).grpc_tuning is False
    with pytest.raises(ConfigError, match="^FAST_CREWAI_GRPC_TUNING: expected"):
        ClientConfig.from_env({"FAST_CREWAI_GRPC_TUNING": "maybe"})
