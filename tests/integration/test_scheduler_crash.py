"""The scheduler in the real binary: kill -9 while clients create runs and complete nodes; after a
restart every acknowledged run and output is there, nodes that were leased are ready again with
their attempts kept, and the runs go on to the end. Also: a parked LeaseNodes is answered by a
CreateRun from another client."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import grpc

from fast_crewai.v1 import scheduler_pb2, scheduler_pb2_grpc

CLIENTS = 4


def _client(target: str, n: int, acked_runs: list[str], acked_outputs: dict[tuple[str, str], bytes],
            lock: threading.Lock, stop: threading.Event) -> None:
    queue = f"q{n}"  # one queue per client: it leases only its own nodes
    with grpc.insecure_channel(target) as channel:
        stub = scheduler_pb2_grpc.SchedulerServiceStub(channel)
        i = 0
        while not stop.is_set():
            i += 1
            try:
                run = stub.CreateRun(scheduler_pb2.CreateRunRequest(
                    queue=queue, name=f"client {n} run {i}",
                    nodes=[scheduler_pb2.TaskNode(node_id="first", payload=b"{}"),
                           scheduler_pb2.TaskNode(node_id="second", depends_on=["first"])]),
                    timeout=5)
                with lock:
                    acked_runs.append(run.run_id)
                leased = stub.LeaseNodes(scheduler_pb2.LeaseNodesRequest(
                    worker_id=f"client-{n}", queue=queue, max_nodes=1), timeout=5)
                for lease in leased.leases:
                    output = f"{lease.node_id} of {lease.run_id} by {n}".encode()
                    stub.CompleteNode(scheduler_pb2.CompleteNodeRequest(
                        lease_id=lease.lease_id, output=output), timeout=5)
                    with lock:
                        acked_outputs[(lease.run_id, lease.node_id)] = output
            except grpc.RpcError:
                return  # the daemon died: the call in flight was never acknowledged


def test_acknowledged_runs_and_outputs_survive_kill_9(daemon_factory, tmp_path: Path):  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "sched-data"
    daemon = daemon_factory(f"--data_dir={data_dir}")
    acked_runs: list[str] = []
    acked_outputs: dict[tuple[str, str], bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()
    threads = [threading.Thread(target=_client,
                                args=(daemon.target, n, acked_runs, acked_outputs, lock, stop))
               for n in range(CLIENTS)]
    for t in threads:
        t.start()
    # A lease held across the crash: its node must be ready again afterwards, attempt kept.
    with grpc.insecure_channel(daemon.target) as channel:
        stub = scheduler_pb2_grpc.SchedulerServiceStub(channel)
        held_run = stub.CreateRun(scheduler_pb2.CreateRunRequest(
            queue="held", nodes=[scheduler_pb2.TaskNode(node_id="only")]), timeout=5)
        held = stub.LeaseNodes(scheduler_pb2.LeaseNodesRequest(queue="held"), timeout=5).leases[0]
    deadline = time.monotonic() + 20
    while len(acked_outputs) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acked_outputs) >= 300, "the clients did not get going"

    restarted = daemon_factory(f"--data_dir={data_dir}")
    with grpc.insecure_channel(restarted.target) as channel:
        stub = scheduler_pb2_grpc.SchedulerServiceStub(channel)
        for run_id in acked_runs:
            stub.GetRun(scheduler_pb2.GetRunRequest(run_id=run_id), timeout=5)  # NOT_FOUND raises
        by_run: dict[str, dict[str, scheduler_pb2.Node]] = {}
        for run_id in {r for r, _ in acked_outputs}:
            nodes = stub.ListNodes(scheduler_pb2.ListNodesRequest(
                run_id=run_id, include_output=True), timeout=5).nodes
            by_run[run_id] = {n.node_id: n for n in nodes}
        for (run_id, node_id), output in acked_outputs.items():
            node = by_run[run_id][node_id]
            assert node.state == scheduler_pb2.NODE_STATE_SUCCEEDED, (run_id, node_id)
            assert node.output == output

        # The lease held at the crash is gone; its node is ready, attempt 1 used.
        with_held = stub.ListNodes(scheduler_pb2.ListNodesRequest(run_id=held_run.run_id),
                                   timeout=5).nodes[0]
        assert with_held.state == scheduler_pb2.NODE_STATE_READY
        assert with_held.attempts == 1
        try:
            stub.CompleteNode(scheduler_pb2.CompleteNodeRequest(lease_id=held.lease_id), timeout=5)
            raise AssertionError("a lease from before the restart was accepted")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        again = stub.LeaseNodes(scheduler_pb2.LeaseNodesRequest(queue="held"), timeout=5).leases[0]
        assert again.attempt == 2
        done = stub.CompleteNode(scheduler_pb2.CompleteNodeRequest(lease_id=again.lease_id,
                                                                   output=b"done"), timeout=5)
        assert done.run.state == scheduler_pb2.RUN_STATE_SUCCEEDED


def test_parked_lease_is_answered_by_another_clients_create_run(daemon) -> None:  # type: ignore[no-untyped-def]
    result: list[scheduler_pb2.LeaseNodesResponse] = []

    def worker() -> None:
        with grpc.insecure_channel(daemon.target) as channel:
            stub = scheduler_pb2_grpc.SchedulerServiceStub(channel)
            result.append(stub.LeaseNodes(scheduler_pb2.LeaseNodesRequest(
                worker_id="parked", queue="park", max_nodes=2, wait_millis=30_000), timeout=40))

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(0.3)  # let the worker park
    with grpc.insecure_channel(daemon.target) as channel:
        stub = scheduler_pb2_grpc.SchedulerServiceStub(channel)
        started = time.monotonic()
        stub.CreateRun(scheduler_pb2.CreateRunRequest(
            queue="park", nodes=[scheduler_pb2.TaskNode(node_id="a"),
                                 scheduler_pb2.TaskNode(node_id="b")]), timeout=5)
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    assert [lease.node_id for lease in result[0].leases] == ["a", "b"]


def _acquire(target: str, name: str, per_minute: int) -> int:
    """One AcquireRateLimit permit; the wait the daemon answers, in milliseconds."""
    with grpc.insecure_channel(target) as channel:
        stub = scheduler_pb2_grpc.SchedulerServiceStub(channel)
        return stub.AcquireRateLimit(scheduler_pb2.AcquireRateLimitRequest(
            name=name, per_minute=per_minute), timeout=5).wait_millis


def test_a_rate_limit_keeps_its_window_across_kill_9_and_restart(daemon_factory,  # type: ignore[no-untyped-def]
                                                                 tmp_path: Path):
    data_dir = tmp_path / "rate-data"
    daemon = daemon_factory(f"--data_dir={data_dir}")
    # 3 per minute, all three spent now; a fourth would wait about a minute.
    assert [_acquire(daemon.target, "openai:team-a", 3) for _ in range(3)] == [0, 0, 0]
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(timeout=10)

    restarted = daemon_factory(f"--data_dir={data_dir}")
    # Before the journal a restarted daemon answered 0 here: a full window, the limit doubled.
    # The next three go when the first three tokens come back, a window after them.
    waits = [_acquire(restarted.target, "openai:team-a", 3) for _ in range(3)]
    assert all(50_000 < w <= 60_000 for w in waits), waits
    # Another name was never used: it starts with its full window.
    assert _acquire(restarted.target, "openai:team-b", 3) == 0

    # A graceful restart keeps them too, those reserved ahead after the first restart included:
    # the seventh permit waits for the fourth's token, two windows after the first three.
    restarted.process.send_signal(signal.SIGTERM)
    restarted.process.wait(timeout=10)
    again = daemon_factory(f"--data_dir={data_dir}")
    seventh = _acquire(again.target, "openai:team-a", 3)
    assert 110_000 < seventh <= 120_000, seventh
