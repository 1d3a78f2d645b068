"""Fixtures of the cache suite.

* `accelerated(**env)`: `use_daemon` (tests/python/conftest.py) plus `enable_acceleration()`
  with that environment.
* `run_worker(...)` / `start_worker(...)`: cache_worker.py in a subprocess with the daemon's
  endpoint, returning its RESULT JSON.
* `counter`: a fresh file the counting tool appends to (tests/python/cache/cache_fakes.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from support import Daemon, clean_environ

WORKER = Path(__file__).resolve().parent / "cache_worker.py"
WORKER_TIMEOUT_S = 60.0


@pytest.fixture
def accelerated(use_daemon: Callable[..., None]) -> Callable[..., list[Any]]:
    from fast_crewai.acceleration import enable_acceleration
    from fast_crewai.config import get_config

    def enable(daemon: Daemon | str, **env: str) -> list[Any]:
        use_daemon(daemon, **env)
        return enable_acceleration(config=get_config())

    return enable


@pytest.fixture
def counter(tmp_path: Path) -> Path:
    return tmp_path / "tool-runs.txt"


class Worker:
    """A running cache_worker.py."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(WORKER), *args], env=clean_environ(env),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"worker not ready: {line!r}\n{err[-3000:]}")

    def result(self) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=WORKER_TIMEOUT_S)
        assert self.proc.returncode == 0, f"worker failed ({self.proc.returncode}):\n{err[-3000:]}"
        for line in out.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
        raise AssertionError(f"no RESULT line:\n{out[-2000:]}\n{err[-3000:]}")


def _env(daemon: Daemon, extra: dict[str, str] | None) -> dict[str, str]:
    env = {"FAST_CREWAI_ENDPOINT": daemon.endpoint}
    env.update(extra or {})
    return env


@pytest.fixture
def start_worker() -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(daemon: Daemon, *args: str, env: dict[str, str] | None = None) -> Worker:
        worker = Worker(list(args), _env(daemon, env))
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.communicate()


@pytest.fixture
def run_worker(start_worker: Callable[..., Worker]) -> Callable[..., dict[str, Any]]:
    def run(daemon: Daemon, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        return start_worker(daemon, *args, env=env).result()

    return run
