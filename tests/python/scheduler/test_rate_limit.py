"""Shared max_rpm: four processes, one daemon limit; the daemon unreachable -> CrewAI's own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from support import clean_environ

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "rate_worker.py"


class _Batch:
    """`count` rate_worker.py processes on one endpoint, started and READY, not yet going."""

    def __init__(self, count: int, endpoint: str, seconds: float, max_rpm: int,
                 tmp_path: Path, tag: str) -> None:
        self.go = tmp_path / f"go-{tag}"
        self.seconds = seconds
        env = clean_environ({"FAST_CREWAI_ENDPOINT": endpoint, "XDG_DATA_HOME": str(tmp_path),
                             "CREWAI_STORAGE_DIR": f"rate-{tag}"})
        env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), str(HERE)])
        self.files = [tmp_path / f"calls-{tag}-{i}" for i in range(count)]
        self.processes = [
            subprocess.Popen([sys.executable, str(SCRIPT), "--max-rpm", str(max_rpm),
                              "--seconds", str(seconds), "--calls", str(f), "--go", str(self.go)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for f in self.files]

    def wait_ready(self) -> None:
        for p in self.processes:  # every process imported CrewAI and built its crew
            line = p.stdout.readline()
            assert line.strip() == "READY", p.stderr.read()

    def calls(self) -> list[float]:
        for p in self.processes:
            p.wait(timeout=self.seconds + 60)
            assert p.returncode == 0, p.stderr.read()
        return sorted(float(t) for f in self.files if f.exists() for t in f.read_text().split())


def _max_in_any_window(times: list[float], window: float = 60.0) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_four_processes_share_one_max_rpm_through_the_daemon(daemon: Any, dead_endpoint: str,
                                                             tmp_path: Path) -> None:
    # Control, at the same time: with the daemon unreachable each process has CrewAI's own
    # limiter, so each alone makes up to 60 calls; two are enough to pass one shared limit.
    alone = _Batch(2, dead_endpoint, 10.0, 60, tmp_path, "alone")
    shared = _Batch(4, daemon.endpoint, 30.0, 60, tmp_path, "shared")
    alone.wait_ready()
    shared.wait_ready()
    started = time.monotonic()
    shared.go.touch()
    alone.go.touch()
    alone_calls = alone.calls()
    shared_calls = shared.calls()
    assert time.monotonic() - started >= 30.0
    assert len(alone_calls) > 60, len(alone_calls)  # over what one shared limit allows
    assert _max_in_any_window(shared_calls) <= 60, len(shared_calls)
    assert len(shared_calls) >= 55, len(shared_calls)  # the limit was used, not undershot
    per_process = [len(f.read_text().split()) for f in shared.files if f.exists()]
    assert sum(per_process) == len(shared_calls)


def test_rate_limit_without_max_rpm_or_daemon_is_crewais(dead_endpoint: str,
                                                         use_daemon: Callable[..., None]) -> None:
    from crewai.utilities.rpm_controller import RPMController

    from fast_crewai.config import get_config
    from fast_crewai.patches.tasks import TasksPatcher

    use_daemon(dead_endpoint)
    try:
        TasksPatcher().instrument(get_config())
        controller = RPMController(max_rpm=2)
        assert [controller.check_or_wait() for _ in range(2)] == [True, True]
        assert controller._current_rpm == 2  # CrewAI's own counter did the counting
        assert RPMController().check_or_wait() is True
        controller.stop_rpm_counter()
    finally:
        TasksPatcher().uninstrument()


def test_rate_limit_takes_daemon_permits(daemon: Any, use_daemon: Callable[..., None]) -> None:
    from crewai.utilities.rpm_controller import RPMController

    from fast_crewai.config import get_config
    from fast_crewai.patches.tasks import TasksPatcher
    from fast_crewai.scheduler import rate_limit
    from fast_crewai.scheduler.remote import SchedulerClient

    use_daemon(daemon, FAST_CREWAI_RATE_LIMIT_KEY="test-permits")
    try:
        TasksPatcher().instrument(get_config())
        controller = RPMController(max_rpm=3)
        slept: list[float] = []
        for _ in range(3):
            assert rate_limit.check_or_wait(controller, lambda: False, sleep=slept.append)
        assert slept == []
        assert controller._current_rpm == 0  # CrewAI's own counter was not used
        # The fourth permit of the shared bucket is a window away.
        assert SchedulerClient().acquire_rate_limit("test-permits:3", 3) > 50.0
        controller.stop_rpm_counter()
    finally:
        TasksPatcher().uninstrument()


def test_a_full_shared_bucket_waits_and_logs_as_crewai_does(
        daemon: Any, use_daemon: Callable[..., None]) -> None:
    """CrewAI's log line when its limit is reached; the wait the daemon answers, or the
    controller's own `_wait_for_next_minute` when a subclass (or CrewAI's own test, with a mock)
    replaced CrewAI's (tests/agents/test_agent.py::test_agent_respect_the_max_rpm_set)."""
    from crewai.utilities.rpm_controller import RPMController

    from fast_crewai.config import get_config
    from fast_crewai.patches.tasks import TasksPatcher
    from fast_crewai.scheduler import rate_limit

    class Logged:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def log(self, level: str, message: str, color: str | None = None) -> None:
            self.lines.append(message)

    waits: list[int] = []

    class QuickController(RPMController):
        def _wait_for_next_minute(self) -> None:
            waits.append(1)

    use_daemon(daemon, FAST_CREWAI_RATE_LIMIT_KEY="test-full")
    try:
        TasksPatcher().instrument(get_config())
        crewai_wait = vars(RPMController)["_wait_for_next_minute"]
        # One bucket per max_rpm: each controller fills its own, then waits once.
        for controller_class, max_rpm, sleeps in ((RPMController, 1, 1), (QuickController, 2, 0)):
            controller = controller_class(max_rpm=max_rpm)
            logger = Logged()
            object.__setattr__(controller, "logger", logger)
            slept: list[float] = []
            for _ in range(max_rpm + 1):  # the bucket's permits, then a full bucket
                assert rate_limit.check_or_wait(controller, lambda: False, sleep=slept.append,
                                                crewai_wait=crewai_wait)
            assert logger.lines[-1:] == [rate_limit.WAIT_MESSAGE]
            assert len(slept) == sleeps and all(s > 50.0 for s in slept)
            controller.stop_rpm_counter()
        assert len(waits) == 1
        # Through the patched method, as CrewAI's agent calls it: the subclass's wait again.
        controller = QuickController(max_rpm=2)
        assert controller.check_or_wait() is True
        assert len(waits) == 2
        controller.stop_rpm_counter()
    finally:
        TasksPatcher().uninstrument()
