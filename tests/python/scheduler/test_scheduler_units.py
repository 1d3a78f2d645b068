"""Scheduler client pieces without a daemon: conversions, factory references, result JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

HERE = Path(__file__).resolve().parent


class Verdict(BaseModel):
    score: int
    reason: str


def test_conversions_round_trip_every_field() -> None:
    from fast_crewai.scheduler import conversions
    from fast_crewai.scheduler.types import NodeSpec, NodeState, RunState
    from fast_crewai.v1 import scheduler_pb2 as pb

    request = conversions.create_run([NodeSpec("a"), NodeSpec("b", ("a",), b"{}", 2)],
                                     queue="q", name="n", lease_millis=1500, max_attempts=3,
                                     labels={"k": "v"})
    assert [n.node_id for n in request.nodes] == ["a", "b"]
    assert list(request.nodes[1].depends_on) == ["a"] and request.nodes[1].max_attempts == 2
    assert (request.queue, request.lease_millis, dict(request.labels)) == ("q", 1500, {"k": "v"})

    run = pb.Run(run_id="r", name="n", queue="q", state=pb.RUN_STATE_FAILED,
                 counts=pb.NodeCounts(total=3, succeeded=1, failed=1, cancelled=1),
                 created_at_micros=5, lease_millis=100, max_attempts=2, labels={"a": "b"})
    info = conversions.run_from_proto(run)
    assert info.state is RunState.FAILED and info.state.finished
    assert (info.counts.total, info.counts.succeeded, info.counts.failed) == (3, 1, 1)
    assert dict(info.labels) == {"a": "b"}

    node = conversions.node_from_proto(pb.Node(run_id="r", node_id="b", depends_on=["a"],
                                               state=pb.NODE_STATE_LEASED, attempts=2,
                                               output=b"x", worker_id="w"))
    assert node.state is NodeState.LEASED and node.depends_on == ("a",) and node.output == b"x"
    lease = conversions.lease_from_proto(pb.Lease(
        lease_id="l", run_id="r", node_id="b", payload=b"p", attempt=2, lease_millis=900,
        dependency_outputs=[pb.NodeOutput(node_id="a", output=b"A")]))
    assert lease.dependency_outputs == (("a", b"A"),) and lease.attempt == 2
    states = conversions.list_nodes("r", states=[NodeState.READY, NodeState.FAILED]).states
    assert list(states) == [pb.NODE_STATE_READY, pb.NODE_STATE_FAILED]
    assert conversions.run_from_proto(pb.Run(state=99)).state is RunState.UNSPECIFIED


def test_factory_references_are_checked_and_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    from fast_crewai.scheduler import fanout

    monkeypatch.syspath_prepend(str(HERE))
    assert fanout.factory_reference("pkg.mod:build") == "pkg.mod:build"
    assert fanout.factory_reference("pkg.mod:Builder.crew") == "pkg.mod:Builder.crew"
    for bad in ("pkg.mod", "pkg mod:f", ":f", "pkg.mod:", "1pkg:f"):
        with pytest.raises(ValueError, match="factory: expected"):
            fanout.factory_reference(bad)
    with pytest.raises(ValueError, match="cannot import fast_crewai_no_such_module"):
        fanout.resolve_factory("fast_crewai_no_such_module:f")
    with pytest.raises(ValueError, match="has no attribute nope"):
        fanout.resolve_factory("fanout_crews:nope")
    with pytest.raises(ValueError, match="is not callable"):
        fanout.resolve_factory("fanout_crews:__doc__")

    import fanout_crews

    assert fanout.resolve_factory("fanout_crews:echo_crew") is fanout_crews.echo_crew
    crew = fanout_crews.echo_crew()
    assert fanout.factory_of(crew) == "fanout_crews:echo_crew"
    assert fanout.factory_of(fanout_crews.failing_crew()) == "fanout_crews:echo_crew"

    def nested() -> None:
        return None

    with pytest.raises(ValueError, match="cannot be imported by name"):
        fanout.crew_factory(nested)
    with pytest.raises(ValueError, match="must take no arguments, takes topic"):
        fanout.crew_factory(_needs_topic)


def _needs_topic(topic: str) -> Any:
    return topic


def test_crew_output_json_round_trip_keeps_data_and_importable_pydantic() -> None:
    from crewai.crews.crew_output import CrewOutput
    from crewai.tasks.task_output import TaskOutput
    from crewai.types.usage_metrics import UsageMetrics

    from fast_crewai.scheduler import fanout

    verdict = Verdict(score=3, reason="ok")
    task = TaskOutput(description="d", raw=verdict.model_dump_json(), pydantic=verdict,
                      agent="a", messages=[{"role": "user", "content": "hi"}])
    plain = TaskOutput(description="e", raw="plain", json_dict={"x": 1}, agent="b")
    output = CrewOutput(raw=task.raw, pydantic=verdict, tasks_output=[task, plain],
                        token_usage=UsageMetrics(total_tokens=7, successful_requests=2))
    back = fanout.crew_output_from_json(fanout.crew_output_to_json(output))
    assert back.raw == output.raw and back.token_usage.total_tokens == 7
    assert isinstance(back.pydantic, Verdict) and back.pydantic == verdict
    assert isinstance(back.tasks_output[0].pydantic, Verdict)
    assert back.tasks_output[1].json_dict == {"x": 1} and back.tasks_output[1].pydantic is None
    assert back.tasks_output[0].messages == [{"role": "user", "content": "hi"}]

    # A class the caller cannot import: pydantic comes back as None, its JSON is in raw.
    envelope = json.loads(fanout.crew_output_to_json(output))
    envelope["pydantic"]["crew"]["class"] = "fast_crewai_no_such_module:Verdict"
    again = fanout.crew_output_from_json(json.dumps(envelope).encode())
    assert again.pydantic is None and json.loads(again.raw) == verdict.model_dump()

    with pytest.raises(ValueError, match="not a fast-crewai crew output payload"):
        fanout.crew_output_from_json(b"{}")


def test_rate_limit_name_includes_the_limit() -> None:
    from fast_crewai.scheduler.rate_limit import limit_name

    assert limit_name(60, "crewai:max_rpm") == "crewai:max_rpm:60"
    assert limit_name(10, "openai:team-a") == "openai:team-a:10"


def test_worker_arguments_are_checked() -> None:
    from fast_crewai.scheduler.worker import Worker

    with pytest.raises(ValueError, match="concurrency: must be at least 1"):
        Worker(concurrency=0)
    with pytest.raises(ValueError, match="max_tasks: must be at least 1"):
        Worker(max_tasks=0)


def test_heartbeat_renews_a_short_lease_taken_during_a_long_wait() -> None:
    """A 300 ms lease granted while the heartbeat waits on a 60 s lease is renewed within a
    third of its own length, not when the 20 s wait for the long lease ends."""
    import threading
    import time

    from fast_crewai.scheduler.types import Lease
    from fast_crewai.scheduler.worker import Worker

    renewals: list[tuple[float, tuple[str, ...]]] = []
    renewed = threading.Event()

    class Client:
        def renew_leases(self, worker_id: str, lease_ids: Any) -> list[str]:
            renewals.append((time.monotonic(), tuple(sorted(lease_ids))))
            if "short" in lease_ids:
                renewed.set()
            return []

    worker = Worker(Client(), worker_id="w")  # type: ignore[arg-type]
    heartbeat = threading.Thread(target=worker._heartbeat, daemon=True)
    with worker._lock:
        worker._held["long"] = Lease("long", "r", "a", b"", 1, 60_000)
    heartbeat.start()
    time.sleep(0.2)  # the heartbeat is now waiting for the long lease
    with worker._lock:
        granted = time.monotonic()
        worker._held["short"] = Lease("short", "r", "b", b"", 1, 300)
        worker._lock.notify_all()
    assert renewed.wait(5.0)
    first = next(at for at, ids in renewals if "short" in ids)
    assert first - granted < 0.3, f"first renewal {first - granted:.3f}s after the grant"
    worker._heartbeat_stop.set()
    with worker._lock:
        worker._lock.notify_all()
    heartbeat.join(5.0)
    assert not heartbeat.is_alive()


@pytest.mark.parametrize("daemon_comes_back", [False, True])
def test_idle_exit_tells_no_daemon_from_no_work(daemon_comes_back: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`unreachable` is the last lease call's UNAVAILABLE error, cleared once one is answered
    (the long-polling path; the CLI test covers the stream path)."""
    from fast_crewai import errors
    from fast_crewai.scheduler import worker as worker_module
    from fast_crewai.scheduler.worker import Worker

    monkeypatch.setattr(worker_module, "RETRY_PAUSE_S", 0.05)
    calls = []

    class Client:
        def lease_nodes(self, worker_id: str, **kwargs: Any) -> list[Any]:
            calls.append(kwargs)
            if daemon_comes_back and len(calls) > 2:
                return []
            raise errors.DaemonUnavailable("nothing listens")

    worker = Worker(Client(), worker_id="w", idle_exit=0.5,  # type: ignore[arg-type]
                    poll_wait=0.05)
    worker.use_stream = False
    worker.run()
    assert worker.idle_exited and len(calls) > 2
    if daemon_comes_back:
        assert worker.unreachable is None
    else:
        assert isinstance(worker.unreachable, errors.DaemonUnavailable)
