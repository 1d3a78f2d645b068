"""Fixtures of the persistence suite.

* `crewai_home`: a private CrewAI data directory (XDG_DATA_HOME and CREWAI_STORAGE_DIR), so
  CrewAI's local SQLite files (latest_kickoff_task_outputs.db, flow_states.db) land in tmp;
  `crewai_home.env` is the matching environment for subprocesses.
* `use_daemon(d)`: points this process's fast_crewai connection at daemon `d`.
* `run_worker(*args, endpoint=..., home=...)`: runs persistence_worker.py in a fresh Python
  process (the real CrewAI, the shim imported first) and returns its RESULT dict.
* `restartable_daemon`: the real binary on a fixed port and data dir, killable (SIGKILL) and
  restartable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from support import clean_environ, free_port, server_binary, wait_serving  # tests/python/support.py

from persistence_support import HERE, WORKER, WORKER_TIMEOUT_S, parse_result, worker_env  # noqa: E402,F401


@dataclass
class CrewAIHome:
    path: Path
    project: str

    @property
    def env(self) -> dict[str, str]:
        return {"XDG_DATA_HOME": str(self.path), "CREWAI_STORAGE_DIR": self.project}

    @property
    def data_dir(self) -> Path:
        """CrewAI's db_storage_path() under this home."""
        return self.path / self.project

    @property
    def kickoff_db(self) -> Path:
        return self.data_dir / "latest_kickoff_task_outputs.db"


@pytest.fixture
def crewai_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CrewAIHome:
    home = CrewAIHome(tmp_path / "xdg", "persistence-project")
    home.path.mkdir()
    for key, value in home.env.items():
        monkeypatch.setenv(key, value)
    return home


@pytest.fixture
def use_daemon(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], None]:
    from fast_crewai.client.connection import reset_connection

    def point(daemon: Any) -> None:
        monkeypatch.setenv("FAST_CREWAI_ENDPOINT", daemon.endpoint)
        reset_connection()

    return point


@pytest.fixture
def run_worker(crewai_home: CrewAIHome) -> Callable[..., dict[str, Any]]:
    def run(*args: str, endpoint: str | None, timeout: float = WORKER_TIMEOUT_S,
            extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        result = subprocess.run([sys.executable, str(WORKER), *args], capture_output=True,
                                text=True, env=worker_env(endpoint, crewai_home, extra_env),
                                timeout=timeout, cwd=str(HERE))
        assert result.returncode == 0, (
            f"worker {args} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return parse_result(result.stdout)

    return run


class RestartableDaemon:
    """The real binary on a fixed port and data dir; SIGKILL and restart at will."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.endpoint = f"127.0.0.1:{free_port()}"
        self.process: subprocess.Popen | None = None

    def start(self) -> RestartableDaemon:
        from fast_crewai.config import ClientConfig, Endpoint

        args = [str(server_binary()), "--listen", self.endpoint, "--data_dir", str(self.data_dir)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            env=clean_environ(), stdin=subprocess.DEVNULL)
        wait_serving(ClientConfig(endpoint=Endpoint.parse(self.endpoint)), self.process,
                     self.log_path)
        return self

    def kill(self) -> None:
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


@pytest.fixture
def restartable_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableDaemon]:
    data_dir = tmp_path_factory.mktemp("persistence-daemon")
    daemon = RestartableDaemon(data_dir, data_dir.parent / f"{data_dir.name}.log")
    yield daemon
    daemon.stop()
