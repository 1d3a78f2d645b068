"""kickoff_for_each fanned out to real `fast-crewai worker` processes through the real daemon."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from support import clean_environ

HERE = Path(__file__).resolve().parent
WORKER_TIMEOUT_S = 120.0


def _worker_env(endpoint: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = clean_environ({"FAST_CREWAI_ENDPOINT": endpoint, "XDG_DATA_HOME": str(tmp_path / "xdg"),
                         "CREWAI_STORAGE_DIR": "fanout", **extra})
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), str(HERE)])
    return env


def _start_workers(count: int, endpoint: str, tmp_path: Path, *args: str,
                   **extra: str) -> list[tuple[subprocess.Popen, Path]]:
    script = Path(sys.executable).with_name("fast-crewai")
    workers = []
    for i in range(count):
        log = tmp_path / f"worker-{i}.log"
        with open(log, "wb") as f:
            process = subprocess.Popen(
                [str(script), "worker", "--app-dir", str(HERE), "--worker-id", f"w{i}", *args],
                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=_worker_env(endpoint, tmp_path, **extra))
        workers.append((process, log))
    return workers


def _stop(workers: list[tuple[subprocess.Popen, Path]]) -> None:
    for process, _ in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process, _ in workers:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_100_inputs_over_4_workers_one_killed_each_result_once_in_order(
        daemon: Any, use_daemon: Callable[..., None], tmp_path: Path) -> None:
    import fast_crewai
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.types import NodeState

    use_daemon(daemon)
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    workers = _start_workers(4, daemon.endpoint, tmp_path, "--concurrency", "2",
                             "--idle-exit", "5", FANOUT_DELAY="0.25",
                             FANOUT_ATTEMPTS_DIR=str(attempts))
    victim, victim_log = workers[0]
    killed: dict[str, Any] = {}

    done = threading.Event()

    def kill_mid_run() -> None:
        while not done.is_set():
            mine = [p.name for p in attempts.iterdir() if f"-{victim.pid}-" in p.name]
            if len(mine) >= 2:  # the victim is busy with inputs of its own
                victim.send_signal(signal.SIGKILL)
                killed["started"] = {name.split("-")[0] for name in mine}
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_mid_run)
    killer.start()
    run_ids: list[str] = []
    try:
        outputs = fast_crewai.kickoff_for_each(
            "fanout_crews:echo_crew", [{"n": i} for i in range(100)], lease_seconds=3.0,
            timeout=WORKER_TIMEOUT_S, progress=lambda run: run_ids.append(run.run_id))
    finally:
        done.set()
        killer.join()
        _stop(workers)
    assert victim.returncode == -signal.SIGKILL, "the victim never started an input"

    # All 100 results, in input order, each from one execution.
    assert len(outputs) == 100
    raws = [o.raw for o in outputs]
    assert [r.split(" pid ")[0] for r in raws] == [f"done #{i}" for i in range(100)]
    assert all(o.tasks_output[0].raw == o.raw for o in outputs)

    # Every input ran at least once; the victim's unfinished inputs ran again elsewhere.
    per_input = collections.Counter(p.name.split("-")[0] for p in attempts.iterdir())
    assert set(per_input) == {str(i) for i in range(100)}
    # Results accepted by the daemon, as the workers logged them (a line is written after
    # CompleteNode returned, so the victim may have lost the line of its last one).
    completed_lines = [line for _, log in workers for line in log.read_text().splitlines()
                       if line.endswith(": done")]
    completed = collections.Counter(int(line.split(" node input-")[1].split(":")[0])
                                    for line in completed_lines)
    assert set(completed.values()) == {1}  # no result accepted twice
    started = {int(n) for n in killed["started"]}
    assert set(range(100)) - set(completed) <= started

    # The daemon's view: every node succeeded; each result is the one execution it accepted.
    client = SchedulerClient()
    nodes = client.list_nodes(run_ids[-1])
    assert [n.state for n in nodes] == [NodeState.SUCCEEDED] * 100
    pids = {f"w{i}": p.pid for i, (p, _) in enumerate(workers)}
    for i, node in enumerate(nodes):
        assert raws[i].endswith(f"pid {pids[node.worker_id]}"), (i, node.worker_id, raws[i])
    # The victim's unfinished inputs ran again on another worker, on a later attempt.
    rerun = [n for n in sorted(started) if nodes[n].worker_id != "w0"]
    assert rerun, "the victim held no unfinished input when killed"
    for n in rerun:
        assert per_input[str(n)] >= 2, n
        assert nodes[n].attempts >= 2, n


def test_failed_inputs_raise_fanout_error_naming_them(
        daemon: Any, use_daemon: Callable[..., None], tmp_path: Path) -> None:
    import fast_crewai
    from fast_crewai.scheduler.fanout import FanOutError

    use_daemon(daemon)
    workers = _start_workers(1, daemon.endpoint, tmp_path, "--concurrency", "2",
                             "--idle-exit", "3")
    try:
        with pytest.raises(FanOutError) as caught:
            fast_crewai.kickoff_for_each("fanout_crews:failing_crew",
                                         [{"n": i} for i in range(4)], timeout=60)
    finally:
        _stop(workers)
    assert sorted(caught.value.failures) == [1, 3]
    assert "odd input 1" in caught.value.failures[1]
    assert "inputs[1]" in str(caught.value)


def test_crews_kickoff_for_each_fans_out_for_a_registered_factory(
        daemon: Any, use_daemon: Callable[..., None], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from fast_crewai.config import get_config
    from fast_crewai.patches.tasks import TasksPatcher

    monkeypatch.syspath_prepend(str(HERE))
    import fanout_crews

    use_daemon(daemon, FAST_CREWAI_FAN_OUT="1")
    TasksPatcher().instrument(get_config())
    workers = _start_workers(2, daemon.endpoint, tmp_path, "--idle-exit", "3")
    try:
        crew = fanout_crews.echo_crew()
        outputs = crew.kickoff_for_each([{"n": i} for i in range(6)])
    finally:
        TasksPatcher().uninstrument()
        _stop(workers)
    assert [o.raw.split(" pid ")[0] for o in outputs] == [f"done #{i}" for i in range(6)]
    # Run elsewhere: no answer came from this process.
    assert all(f"pid {os.getpid()}" not in o.raw for o in outputs)


def test_unregistered_crews_and_no_opt_in_keep_crewais_loop(
        dead_endpoint: str, use_daemon: Callable[..., None], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    from fast_crewai.config import get_config
    from fast_crewai.patches.tasks import TasksPatcher

    monkeypatch.syspath_prepend(str(HERE))
    import fanout_crews

    use_daemon(dead_endpoint, FAST_CREWAI_FAN_OUT="1")  # daemon unreachable
    TasksPatcher().instrument(get_config())
    try:
        outputs = fanout_crews.echo_crew().kickoff_for_each([{"n": 0}, {"n": 1}])
    finally:
        TasksPatcher().uninstrument()
    assert [o.raw for o in outputs] == [f"done #{i} pid {os.getpid()}" for i in range(2)]


def test_bad_input_is_refused_clearly(daemon: Any, use_daemon: Callable[..., None]) -> None:
    import fast_crewai
    from fast_crewai import errors
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.types import NodeSpec

    use_daemon(daemon)
    with pytest.raises(ValueError, match='factory: expected "package.module:function"'):
        fast_crewai.kickoff_for_each("not a reference", [{}])
    # A module the caller imports must have the factory: a typo fails here, not on workers.
    with pytest.raises(ValueError, match='"json:no_such_factory": json has no attribute'):
        fast_crewai.kickoff_for_each("json:no_such_factory", [{}])
    with pytest.raises(ValueError, match='"json:__doc__" is not callable'):
        fast_crewai.kickoff_for_each("json:__doc__", [{}])
    with pytest.raises(ValueError, match=r"inputs\[1\]: expected a dict"):
        fast_crewai.kickoff_for_each("m:f", [{}, 3])
    with pytest.raises(ValueError, match=r"inputs\[0\]: not JSON-serializable"):
        fast_crewai.kickoff_for_each("m:f", [{"x": object()}])
    with pytest.raises(ValueError, match="cannot be imported by name"):
        fast_crewai.crew_factory(lambda: None)

    client = SchedulerClient()
    with pytest.raises(errors.InvalidArgument, match="cycle") as cycle:
        client.create_run([NodeSpec("a", ("b",)), NodeSpec("b", ("a",))])
    assert "a" in cycle.value.details and "b" in cycle.value.details
    with pytest.raises(errors.InvalidArgument, match="nope"):
        client.create_run([NodeSpec("a", ("nope",))])
    with pytest.raises(errors.InvalidArgument):
        client.create_run([NodeSpec("bad id!")])
    with pytest.raises(errors.NotFound):
        client.get_run("no-such-run")
    with pytest.raises(errors.NotFound):
        client.complete_node("no-such-lease", b"")

    run = client.create_run([NodeSpec("only")], queue="bad-input", lease_seconds=0.2)
    (lease,) = client.lease_nodes("me", queue="bad-input", wait=2.0)
    assert lease.run_id == run.run_id and lease.attempt == 1
    client.complete_node(lease.lease_id, b"ok")
    with pytest.raises(errors.FailedPrecondition):
        client.complete_node(lease.lease_id, b"again")  # completed twice

    client.create_run([NodeSpec("slow")], queue="lapse", lease_seconds=0.2, max_attempts=2)
    (lease,) = client.lease_nodes("me", queue="lapse", wait=2.0)
    time.sleep(0.6)  # the lease lapses
    with pytest.raises(errors.FailedPrecondition):
        client.complete_node(lease.lease_id, b"late")


def test_inputs_json_cannot_carry_stay_in_process(daemon: Any, use_daemon: Callable[..., None],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from fast_crewai.config import get_config
    from fast_crewai.patches.tasks import TasksPatcher

    monkeypatch.syspath_prepend(str(HERE))
    import fanout_crews

    use_daemon(daemon, FAST_CREWAI_FAN_OUT="1")
    TasksPatcher().instrument(get_config())
    try:
        crew = fanout_crews.echo_crew()
        assert crew.kickoff_for_each([]) == []
        outputs = crew.kickoff_for_each([{"n": 7, "extra": float("nan")}])  # CrewAI takes NaN
    finally:
        TasksPatcher().uninstrument()
    assert [o.raw for o in outputs] == [f"done #7 pid {os.getpid()}"]


def test_inputs_over_the_daemons_payload_limit_stay_in_process(
        start_daemon: Callable[..., Any], use_daemon: Callable[..., None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """CreateRun refuses the run (RESOURCE_EXHAUSTED, nothing handed out): CrewAI's own loop
    runs it, as it would without fast-crewai."""
    from fast_crewai.config import get_config
    from fast_crewai.patches.tasks import TasksPatcher
    from fast_crewai.scheduler.remote import SchedulerClient

    monkeypatch.syspath_prepend(str(HERE))
    import fanout_crews

    daemon = start_daemon("--scheduler_max_payload_bytes", "1K")
    use_daemon(daemon, FAST_CREWAI_FAN_OUT="1")
    TasksPatcher().instrument(get_config())
    try:
        outputs = fanout_crews.echo_crew().kickoff_for_each([{"n": 8, "pad": "x" * 2000}])
    finally:
        TasksPatcher().uninstrument()
    assert [o.raw for o in outputs] == [f"done #8 pid {os.getpid()}"]
    assert SchedulerClient().list_runs() == []


def test_an_output_over_the_payload_limit_fails_its_input_at_once(
        start_daemon: Callable[..., Any], use_daemon: Callable[..., None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """CompleteNode refuses the output (RESOURCE_EXHAUSTED): the worker fails the input with
    the daemon's reason instead of leaving the lease to lapse and the input to run again."""
    from fast_crewai.scheduler import fanout
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.worker import Worker

    monkeypatch.syspath_prepend(str(HERE))
    daemon = start_daemon("--scheduler_max_payload_bytes", "1K")
    use_daemon(daemon)
    client = SchedulerClient()
    # A 701-digit input number: the input (~0.8 KB) fits, its output (the number in the
    # description, the task's raw and the crew's raw) does not.
    run = fanout.start_run("fanout_crews:echo_crew", [{"n": "3" + "0" * 700}], client=client,
                           lease_seconds=60, max_attempts=3)
    assert run is not None
    stats = Worker(client, max_tasks=1, poll_wait=0.5).run()
    assert (stats.leased, stats.completed, stats.failed) == (1, 0, 1)
    with pytest.raises(fanout.FanOutError, match="output refused by the daemon") as failed:
        fanout.collect(client, run, 1, timeout=30)
    assert list(failed.value.failures) == [0]
    assert "scheduler_max_payload_bytes" in failed.value.failures[0]


def test_a_resource_exhausted_without_the_payload_reason_is_retried_not_a_failure(
        start_daemon: Callable[..., Any], use_daemon: Callable[..., None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """RESOURCE_EXHAUSTED without `fast-crewai-reason: PAYLOAD_TOO_LARGE` (the daemon short of
    memory, its commit refused) says nothing about the output: the worker repeats the call, and
    the input succeeds instead of failing as "output refused"."""
    import grpc

    from fast_crewai import errors
    from fast_crewai.scheduler import fanout
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.worker import Worker

    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setattr("fast_crewai.scheduler.worker.RETRY_PAUSE_S", 0.01)
    use_daemon(start_daemon())
    attempts: list[str] = []

    class ShortOfMemoryOnce(SchedulerClient):
        """The real client; its first CompleteNode is answered as a daemon short of memory."""

        def complete_node(self, lease_id: str, output: bytes, **kwargs: Any) -> Any:
            attempts.append(lease_id)
            if len(attempts) == 1:
                raise errors.ResourceExhausted(
                    "scheduler: cannot plan a write: std::bad_alloc",
                    code=grpc.StatusCode.RESOURCE_EXHAUSTED)
            return super().complete_node(lease_id, output, **kwargs)

    client = ShortOfMemoryOnce()
    run = fanout.start_run("fanout_crews:echo_crew", [{"n": 5}], client=client,
                           lease_seconds=60, max_attempts=3)
    assert run is not None
    stats = Worker(client, max_tasks=1, poll_wait=0.5).run()
    assert (stats.leased, stats.completed, stats.failed) == (1, 1, 0)
    assert len(attempts) == 2 and attempts[0] == attempts[1]  # the same lease, repeated
    outputs = fanout.collect(client, run, 1, timeout=30)
    assert [o.raw for o in outputs] == [f"done #5 pid {os.getpid()}"]
