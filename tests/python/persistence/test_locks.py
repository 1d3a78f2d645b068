"""Cross-process locks through the daemon: a killed holder frees its lock at once, a frozen one
within its lease, and two processes contending for one lock never hold it together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from persistence_support import WORKER, parse_result, worker_env


@pytest.fixture
def holder(daemon: Any, crewai_home: Any) -> Iterator[Callable[..., subprocess.Popen]]:
    """holder(name, lease) -> a worker process that holds lock `name` (it printed HELD)."""
    started: list[subprocess.Popen] = []

    def start(name: str, lease: float) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, str(WORKER), "hold", "--name", name, "--lease", str(lease),
             "--seconds", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=worker_env(daemon.endpoint, crewai_home), cwd=str(WORKER.parent))
        started.append(process)
        line = process.stdout.readline() if process.stdout else ""
        assert line.strip() == "HELD", f"{line!r} {process.stderr.read() if process.stderr else ''}"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
        process.wait()


def _wait_for_lock(name: str, timeout: float) -> float:
    """Seconds until this process got the daemon lock `name`."""
    from fast_crewai.persistence.locks import daemon_lock

    started = time.monotonic()
    with daemon_lock(name, timeout=timeout):
        return time.monotonic() - started


def _wait_stopped(pid: int) -> None:
    """Returns once every thread of `pid` is stopped (a SIGSTOP is queued, not instant)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = {Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                  for tid in os.listdir(f"/proc/{pid}/task")}
        if states <= {"T", "t"}:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop")


def test_a_killed_holder_frees_the_lock_at_once(daemon: Any, use_daemon: Callable[[Any], None],
                                                holder: Callable[..., subprocess.Popen]) -> None:
    import portalocker.exceptions

    from fast_crewai.persistence.locks import daemon_lock

    use_daemon(daemon)
    process = holder("sqlite:/shared/flow_states.db", 15.0)
    with pytest.raises(portalocker.exceptions.LockException, match="held by .*:"):
        with daemon_lock("sqlite:/shared/flow_states.db", timeout=0.3):
            pass
    killed_at = time.monotonic()
    os.kill(process.pid, signal.SIGKILL)
    waited = _wait_for_lock("sqlite:/shared/flow_states.db", timeout=10)
    # The connection broke: no need to wait for the 15 s lease.
    assert time.monotonic() - killed_at < 3.0, waited


def test_a_frozen_holder_loses_the_lock_when_its_lease_lapses(
        daemon: Any, use_daemon: Callable[[Any], None],
        holder: Callable[..., subprocess.Popen]) -> None:
    use_daemon(daemon)
    process = holder("lancedb:/shared/memory", 1.0)
    os.kill(process.pid, signal.SIGSTOP)  # alive, connected, silent
    stopped_at = time.monotonic()
    _wait_for_lock("lancedb:/shared/memory", timeout=10)
    elapsed = time.monotonic() - stopped_at
    assert 0.6 < elapsed < 3.0, elapsed  # about one lease (1 s), not the 10 s timeout


def test_waits_longer_than_one_daemon_request_and_unset_timeouts_wait_as_crewai_does(
        daemon: Any, use_daemon: Callable[[Any], None], holder: Callable[..., subprocess.Popen],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """CrewAI's lock blocks for a timeout of inf or of days; the daemon takes at most 24 h per
    request, so such a wait is asked for in turns (shortened here to 0.4 s) and never turns into
    a local lock that the daemon's holder does not exclude. timeout=None is portalocker's 5 s."""
    import threading

    import portalocker.exceptions

    from fast_crewai.persistence import locks

    use_daemon(daemon)
    name = "sqlite:/shared/flow_states.db"
    process = holder(name, 15.0)
    monkeypatch.setattr(locks, "MAX_WAIT_S", 0.4)
    with pytest.raises(portalocker.exceptions.LockException,
                       match=r"timeout=1.5s, waited .*held by .*:MainThread$") as raised:
        started = time.monotonic()
        with locks.daemon_lock(name, timeout=1.5):
            pass
    assert 1.4 < time.monotonic() - started < 3.0, raised.value
    with pytest.raises(portalocker.exceptions.LockException, match=r"timeout=5s"):
        started = time.monotonic()
        with locks.daemon_lock(name, timeout=None):  # type: ignore[arg-type]
            pass
    assert 4.8 < time.monotonic() - started < 7.0

    acquired: dict[str, float] = {}

    def wait(label: str, timeout: float) -> None:
        with locks.daemon_lock(name, timeout=timeout):
            acquired[label] = time.monotonic()

    waiters = [threading.Thread(target=wait, args=(label, timeout))
               for label, timeout in (("inf", float("inf")), ("days", 100_000.0))]
    for waiter in waiters:
        waiter.start()
    time.sleep(1.5)  # several turns each
    assert acquired == {}
    killed_at = time.monotonic()
    os.kill(process.pid, signal.SIGKILL)
    for waiter in waiters:
        waiter.join(timeout=10)
    assert sorted(acquired) == ["days", "inf"]
    assert all(at - killed_at < 3.0 for at in acquired.values()), acquired


def test_a_daemon_that_does_not_answer_does_not_hold_the_caller_past_its_timeout(
        daemon: Any, use_daemon: Callable[[Any], None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import portalocker.exceptions

    from fast_crewai.persistence import locks

    use_daemon(daemon)
    monkeypatch.setattr(locks, "ANSWER_GRACE_S", 0.5)
    _wait_for_lock("lancedb:/shared/memory", timeout=5)  # connected
    os.kill(daemon.process.pid, signal.SIGSTOP)
    _wait_stopped(daemon.process.pid)
    try:
        started = time.monotonic()
        with pytest.raises(portalocker.exceptions.LockException,
                           match="timeout=1s\\): the daemon did not answer in 1.5s"):
            with locks.daemon_lock("lancedb:/shared/memory", timeout=1):
                pass
        assert time.monotonic() - started < 3.0
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)


def test_two_processes_never_hold_the_lock_at_once(daemon: Any, crewai_home: Any,
                                                   tmp_path: Path) -> None:
    log, go = tmp_path / "critical.log", tmp_path / "go"
    lock_dir = tmp_path / "tmp"
    lock_dir.mkdir()
    rounds = 60
    # TMPDIR: a fallback to CrewAI's file lock would leave a crewai:<md5>.lock file there.
    env = worker_env(daemon.endpoint, crewai_home, {"TMPDIR": str(lock_dir)})
    workers = [subprocess.Popen([sys.executable, str(WORKER), "contend", "--name",
                                 "sqlite:/shared/latest_kickoff_task_outputs.db", "--rounds",
                                 str(rounds), "--log", str(log), "--go-file", str(go)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=str(WORKER.parent))
               for _ in range(2)]
    go.touch()
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr
        assert parse_result(stdout)["backend"] == "function"  # our lock_store backend
    assert not list(lock_dir.glob("crewai:*.lock")), "fell back to CrewAI's file lock"

    lines = log.read_text().split()
    events = list(zip(lines[0::2], lines[1::2]))
    assert len(events) == 2 * 2 * rounds
    holders = set()
    for (kind, pid), (next_kind, next_pid) in zip(events[0::2], events[1::2]):
        # Every critical section is "enter P" immediately followed by "exit P".
        assert (kind, next_kind, next_pid) == ("enter", "exit", pid), (kind, pid, next_kind,
                                                                        next_pid)
        holders.add(pid)
    assert len(holders) == 2
    # Both really contended: the sections interleave rather than run one process after the other.
    pids = [pid for kind, pid in events if kind == "enter"]
    switches = sum(1 for a, b in zip(pids, pids[1:]) if a != b)
    assert switches >= 2, switches
