"""Helpers for the Python suite (imported by conftest.py and by tests): free ports, a clean
environment for subprocesses, the real daemon process wrapper and the CLI runner."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER_BIN = REPO_ROOT / "build" / "server" / "fast-crewai-server"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0

# Telemetry and tracing off, and an OpenAI key that is never valid: nothing may reach the network.
QUIET_CREWAI_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OPENAI_API_KEY": "sk-fast-crewai-tests-dummy",
}

os.environ.update(QUIET_CREWAI_ENV)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ without FAST_CREWAI_* (which the daemon and client both read) plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAST_CREWAI_")}
    env.update(QUIET_CREWAI_ENV)
    env.update(extra or {})
    return env


@dataclass
class Daemon:
    """A running fast-crewai-server."""

    process: subprocess.Popen
    endpoint: str  # "127.0.0.1:<port>" (or "unix:/path" when started on a socket only)
    data_dir: Path
    log_path: Path
    token: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int:
        """SIGTERM, wait; returns the exit code (kills after STOP_TIMEOUT_S)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def server_binary() -> Path:
    return Path(os.environ.get("FAST_CREWAI_SERVER_BIN") or DEFAULT_SERVER_BIN)


def wait_serving(config, process: subprocess.Popen, log_path: Path,
                 timeout: float = START_TIMEOUT_S) -> None:
    """Polls grpc.health.v1 Check("") over a channel built from `config` (a ClientConfig, so
    TLS daemons work too) until SERVING; fails the test if the daemon exits or does not
    become ready within `timeout`."""
    from fast_crewai.client import health
    from fast_crewai.client.channel import create_channel
    from fast_crewai.errors import FastCrewAIError
    from fast_crewai.types import HealthStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"fast-crewai-server exited with {process.returncode} during "
                        f"startup:\n{log_path.read_text(errors='replace')}")
        # A fresh channel per attempt: a channel whose first connect was refused waits out
        # its reconnect backoff (1 s) before trying again.
        channel = create_channel(config)
        try:
            if health.check(channel, "", timeout=0.5) is HealthStatus.SERVING:
                return
        except FastCrewAIError:
            pass
        finally:
            channel.close()
        time.sleep(0.02)
    pytest.fail(f"fast-crewai-server at {config.endpoint} not SERVING after {timeout}s:\n"
                f"{log_path.read_text(errors='replace')}")


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 30.0) -> tuple[subprocess.CompletedProcess, float]:
    """Runs the installed `fast-crewai` console script; returns (result, seconds elapsed)."""
    script = Path(sys.executable).with_name("fast-crewai")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "fast_crewai.cli"]
    start = time.monotonic()
    result = subprocess.run([*command, *args], capture_output=True, text=True,
                            env=clean_environ(env), timeout=timeout)
    return result, time.monotonic() - start
