"""Several processes share one store through the daemon: each sees the others' acknowledged
writes immediately (read-after-write across processes), also while all of them write at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import clean_environ

WORKER = Path(__file__).with_name("memory_worker.py")
WORKERS = 3


class Worker:
    def __init__(self, endpoint: str, store: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), "serve", store], cwd=cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=clean_environ({"FAST_CREWAI_ENDPOINT": endpoint}),
        )

    def read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"worker exited with {self.proc.wait()}")
        return json.loads(line)

    def send(self, **cmd: Any) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def ask(self, **cmd: Any) -> dict[str, Any]:
        self.send(**cmd)
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask(op="exit")
            except (AssertionError, BrokenPipeError):
                pass
            self.proc.kill()  # its work is done; skip the slow interpreter shutdown
        self.proc.wait(30)


@pytest.fixture(scope="module")
def workers(memory_daemon: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    # One set of worker processes for the module (each imports CrewAI: seconds); the tests
    # use disjoint scopes of the shared store. Relative and absolute spellings of one
    # directory name one store.
    tmp_path = tmp_path_factory.mktemp("cross-process")
    (tmp_path / "shared").mkdir()
    spellings = ["shared", "./shared/", str(tmp_path / "shared")]
    ws = [Worker(memory_daemon.endpoint, spellings[i % 3], tmp_path) for i in range(WORKERS)]
    try:
        for w in ws:
            assert "ready" in w.read()
        yield ws
    finally:
        for w in ws:
            w.close()


def test_each_write_is_visible_to_every_other_process_at_once(workers: list[Worker]) -> None:
    for step in range(6):
        writer = workers[step % WORKERS]
        vec = [float(step), 1.0, 0.0, 0.0]
        record_id = writer.ask(op="save", content=f"step-{step}", scope=f"/s/{step}",
                               vec=vec)["id"]
        for reader in workers:
            assert reader.ask(op="get", id=record_id) == {"content": f"step-{step}"}
            found = reader.ask(op="search", vec=vec, scope=f"/s/{step}", limit=1)["ids"]
            assert found == [record_id]
            assert reader.ask(op="count", scope="/s")["n"] == step + 1


def test_concurrent_writers_each_see_their_own_and_finally_all_writes(
    workers: list[Worker],
) -> None:
    n = 25
    for tag, w in enumerate(workers):
        w.send(op="burst", tag=tag, n=n)
    replies = [w.read() for w in workers]
    assert all(r["misses"] == 0 for r in replies), replies
    for w in workers:
        assert w.ask(op="count", scope="/w")["n"] == WORKERS * n
