"""Fixtures of the memory suite.

* `memory_daemon` (session): one real fast-crewai-server ($FAST_CREWAI_SERVER_BIN) shared by the
  tests that only need "a daemon"; every test gets its own namespace because every test uses its
  own tmp_path as the store's directory.
* `use_daemon(d)`: points this process's fast_crewai connection at daemon `d` (function scope;
  the suite-wide autouse fixture clears FAST_CREWAI_* and the connection around every test).
* `RestartableDaemon`: a daemon that can be SIGKILLed and restarted on the same port and data
  dir (the outage tests).
* `backend` (params "lancedb", "daemon"): a fresh StorageBackend of either kind, for the
  contract suite; `daemon_backend` is the daemon kind only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from support import clean_environ, free_port, server_binary  # tests/python/support.py

START_TIMEOUT_S = 15.0


def wait_serving(endpoint: str, process: subprocess.Popen, log_path: Path) -> None:
    """Polls grpc.health.v1 Check("") until SERVING; fails if the daemon exits first."""
    import grpc

    from fast_crewai.client import health
    from fast_crewai.errors import FastCrewAIError
    from fast_crewai.types import HealthStatus

    deadline = time.monotonic() + START_TIMEOUT_S
    channel = grpc.insecure_channel(endpoint)
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"fast-crewai-server exited with {process.returncode}:\n"
                            f"{log_path.read_text(errors='replace')}")
            try:
                if health.check(channel, "", timeout=0.5) is HealthStatus.SERVING:
                    return
            except FastCrewAIError:
                pass
            time.sleep(0.05)
    finally:
        channel.close()
    pytest.fail(f"fast-crewai-server at {endpoint} not SERVING after {START_TIMEOUT_S}s:\n"
                f"{log_path.read_text(errors='replace')}")


class RestartableDaemon:
    """The real binary on a fixed port and data dir; start/kill/restart at will."""

    def __init__(self, data_dir: Path, log_path: Path, port: int | None = None,
                 extra: tuple[str, ...] = ()) -> None:
        self.extra = extra
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> RestartableDaemon:
        binary = server_binary()
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            pytest.fail(
                f"fast-crewai-server binary not found at {binary}: build it (make build) or "
                "set FAST_CREWAI_SERVER_BIN"
            )
        args = [str(binary), "--listen", self.endpoint, "--data_dir", str(self.data_dir),
                *self.extra]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=clean_environ(),
                stdin=subprocess.DEVNULL,
            )
        try:
            wait_serving(self.endpoint, self.process, self.log_path)
        except BaseException:
            self.kill()  # never leave a half-started daemon behind
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def memory_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableDaemon]:
    data_dir = tmp_path_factory.mktemp("memory-daemon")
    daemon = RestartableDaemon(data_dir, data_dir.parent / "memory-daemon.log").start()
    yield daemon
    daemon.stop()


@pytest.fixture
def restartable_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableDaemon]:
    data_dir = tmp_path_factory.mktemp("outage-daemon")
    daemon = RestartableDaemon(data_dir, data_dir.parent / f"{data_dir.name}.log")
    yield daemon
    daemon.stop()


@pytest.fixture
def token_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableDaemon]:
    """A daemon requiring `authorization: Bearer memory-secret`."""
    data_dir = tmp_path_factory.mktemp("token-daemon")
    daemon = RestartableDaemon(data_dir, data_dir.parent / f"{data_dir.name}.log",
                               extra=("--token", "memory-secret")).start()
    yield daemon
    daemon.stop()


@pytest.fixture
def use_daemon(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], None]:
    """use_daemon(d): FAST_CREWAI_ENDPOINT=d.endpoint and a fresh connection."""
    from fast_crewai.client.connection import reset_connection

    def point(daemon: Any) -> None:
        endpoint = daemon if isinstance(daemon, str) else daemon.endpoint
        monkeypatch.setenv("FAST_CREWAI_ENDPOINT", endpoint)
        reset_connection()

    return point


def _make_backend(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    store_dir = tmp_path / "store"
    if kind == "lancedb":
        from crewai.memory.storage.lancedb_storage import LanceDBStorage

        storage = LanceDBStorage(path=str(store_dir))
        assert type(storage) is LanceDBStorage, "the memory patch leaked into the contract suite"
        return storage
    daemon = request.getfixturevalue("memory_daemon")
    request.getfixturevalue("use_daemon")(daemon)
    from fast_crewai.memory.daemon_storage import DaemonStorage

    storage = DaemonStorage(path=str(store_dir), require_daemon=True)
    return storage


@pytest.fixture(params=["lancedb", "daemon"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return _make_backend(request.param, tmp_path, request)


@pytest.fixture(params=["daemon"])
def daemon_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return _make_backend(request.param, tmp_path, request)


@pytest.fixture
def fresh_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Any]:
    """fresh_backend(kind): another store of `kind` at another directory (two-store tests)."""
    counter = iter(range(1000))

    def make(kind: str) -> Any:
        return _make_backend(kind, tmp_path / f"other-{next(counter)}", request)

    return make
