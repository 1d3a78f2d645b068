"""Shared fixtures for the Python suite.

* Every test starts with no FAST_CREWAI_* variable set, no process-wide connection or cached
  config, acceleration disabled and the kill switch on; and ends the same way.
* `start_daemon(*args)` starts the REAL fast-crewai-server binary ($FAST_CREWAI_SERVER_BIN,
  default <repo>/build/server/fast-crewai-server) on 127.0.0.1:<free port> with a temporary
  data directory, waits until its health service says SERVING and stops it with SIGTERM at
  teardown. `daemon` is one such daemon with default flags.
* `dead_endpoint` is "127.0.0.1:<port>" where nothing listens.
* `use_daemon(d, **env)` points this process's fast_crewai connection at daemon `d` (a Daemon
  or an endpoint) and sets the given extra FAST_CREWAI_* variables; the autouse fixture clears
  them afterwards.
"""

from __future__ import annotations

import os
import subprocess
from typing import Callable, Iterator

import pytest

from support import Daemon, clean_environ, free_port, server_binary, wait_serving


@pytest.fixture(autouse=True)
def _isolated_fast_crewai(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from fast_crewai.acceleration import disable_acceleration
    from fast_crewai.client.connection import reset_connection
    from fast_crewai.killswitch import set_acceleration_enabled

    for key in list(os.environ):
        if key.startswith("FAST_CREWAI_") and key != "FAST_CREWAI_SERVER_BIN":
            monkeypatch.delenv(key)
    reset_connection()
    set_acceleration_enabled(True)
    yield
    disable_acceleration()
    set_acceleration_enabled(True)
    reset_connection()


@pytest.fixture
def dead_endpoint() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def start_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Daemon]]:
    """Factory: start_daemon(*extra_flags, token=None, port=None, client_config=None) -> Daemon.

    Starts the real binary on 127.0.0.1:<port> with a fresh --data_dir. `client_config` (a
    ClientConfig for that endpoint) is only needed to wait for a TLS daemon.
    """
    from fast_crewai.config import ClientConfig, Endpoint

    binary = server_binary()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"fast-crewai-server binary not found at {binary}: build it "
                    "(make build) or set FAST_CREWAI_SERVER_BIN")
    started: list[Daemon] = []

    def start(*extra: str, token: str | None = None, port: int | None = None,
              client_config: ClientConfig | None = None) -> Daemon:
        data_dir = tmp_path_factory.mktemp("daemon-data")
        log_path = data_dir.parent / f"{data_dir.name}.log"
        endpoint = f"127.0.0.1:{port or free_port()}"
        args = [str(binary), "--listen", endpoint, "--data_dir", str(data_dir), *extra]
        if token is not None:
            args += ["--token", token]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                       env=clean_environ(), stdin=subprocess.DEVNULL)
        daemon = Daemon(process, endpoint, data_dir, log_path, token)
        started.append(daemon)
        config = client_config or ClientConfig(endpoint=Endpoint.parse(endpoint))
        wait_serving(config, process, log_path)
        return daemon

    yield start
    for daemon in reversed(started):
        daemon.stop()


@pytest.fixture
def daemon(start_daemon: Callable[..., Daemon]) -> Daemon:
    return start_daemon()


@pytest.fixture
def use_daemon(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    from fast_crewai.client.connection import reset_connection

    def point(daemon: Daemon | str, **env: str) -> None:
        endpoint = daemon if isinstance(daemon, str) else daemon.endpoint
        monkeypatch.setenv("FAST_CREWAI_ENDPOINT", endpoint)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        reset_connection()

    return point
