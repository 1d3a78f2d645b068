"""Workers on StreamLeases through the real daemon: the stream is the path taken, a killed
worker's input goes back at once, and a daemon without StreamLeases is long-polled instead."""

from __future__ import annotations

import signal
import time
from concurrent import futures
from pathlib import Path
from typing import Any, Callable

import grpc
import pytest

from test_fanout import HERE, _start_workers, _stop


def test_a_worker_takes_its_inputs_from_the_stream(
        daemon: Any, use_daemon: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> None:
    from fast_crewai.scheduler import fanout
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.worker import Worker

    monkeypatch.syspath_prepend(str(HERE))
    use_daemon(daemon)
    calls = {"stream_leases": 0, "lease_nodes": 0}

    class CountingClient(SchedulerClient):
        def stream_leases(self, *args: Any, **kwargs: Any) -> Any:
            calls["stream_leases"] += 1
            return super().stream_leases(*args, **kwargs)

        def lease_nodes(self, *args: Any, **kwargs: Any) -> Any:
            calls["lease_nodes"] += 1
            return super().lease_nodes(*args, **kwargs)

    client = CountingClient()
    run = fanout.start_run("fanout_crews:echo_crew", [{"n": i} for i in range(3)],
                           client=client, lease_seconds=60, max_attempts=1)
    assert run is not None
    worker = Worker(client, concurrency=2, max_tasks=3)
    stats = worker.run()
    assert (stats.leased, stats.completed, stats.failed) == (3, 3, 0)
    assert worker.use_stream and calls["lease_nodes"] == 0 and calls["stream_leases"] >= 1
    outputs = fanout.collect(client, run, 3, timeout=30)
    assert [o.raw.split(" pid ")[0] for o in outputs] == [f"done #{i}" for i in range(3)]


def test_a_killed_workers_input_goes_back_at_once_not_when_its_lease_lapses(
        daemon: Any, use_daemon: Callable[..., None], tmp_path: Path) -> None:
    from fast_crewai.scheduler import fanout
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.types import NodeState

    use_daemon(daemon)
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    client = SchedulerClient()
    run = fanout.start_run("fanout_crews:echo_crew", [{"n": 0}], client=client,
                           lease_seconds=600, max_attempts=3)
    assert run is not None
    workers = _start_workers(1, daemon.endpoint, tmp_path, FANOUT_DELAY="600",
                             FANOUT_ATTEMPTS_DIR=str(attempts))
    victim = workers[0][0]
    try:
        deadline = time.monotonic() + 60
        while not any(attempts.iterdir()):  # the victim runs the input
            assert time.monotonic() < deadline, "the worker never started the input"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed = time.monotonic()
        while True:  # its stream broke: the input is ready again, long before 600 s
            (node,) = client.list_nodes(run.run_id)
            if node.state is NodeState.READY:
                break
            assert time.monotonic() - killed < 10, node
            time.sleep(0.02)
    finally:
        _stop(workers)
    assert node.attempts == 1
    assert 'lease returned: the lease stream of worker "w0" ended' in node.error
    client.cancel_run(run.run_id)


class _DaemonWithoutStreamLeases:
    """A SchedulerService in front of the real daemon that knows only the unary calls a worker
    makes and forwards them: StreamLeases gets gRPC's own UNIMPLEMENTED, as from a daemon that
    predates it."""

    def __init__(self, target: str) -> None:
        from fast_crewai.v1 import scheduler_pb2 as pb
        from fast_crewai.v1 import scheduler_pb2_grpc

        self._channel = grpc.insecure_channel(target)
        upstream = scheduler_pb2_grpc.SchedulerServiceStub(self._channel)

        def forward(name: str) -> grpc.RpcMethodHandler:
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    return getattr(upstream, name)(request, timeout=context.time_remaining())
                except grpc.RpcError as e:
                    context.abort(e.code(), e.details())
            return grpc.unary_unary_rpc_method_handler(
                call, request_deserializer=getattr(pb, f"{name}Request").FromString,
                response_serializer=lambda m: m.SerializeToString())

        handler = grpc.method_handlers_generic_handler(
            "fast_crewai.v1.SchedulerService",
            {name: forward(name)
             for name in ("LeaseNodes", "RenewLeases", "CompleteNode", "FailNode")})
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                                  handlers=(handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def close(self) -> None:
        self.server.stop(None)
        self._channel.close()


def test_a_worker_falls_back_to_lease_nodes_when_the_daemon_lacks_stream_leases(
        daemon: Any, use_daemon: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> None:
    from fast_crewai.client.connection import Connection
    from fast_crewai.config import ClientConfig, Endpoint
    from fast_crewai.scheduler import fanout
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.worker import Worker

    monkeypatch.syspath_prepend(str(HERE))
    use_daemon(daemon)
    client = SchedulerClient()
    run = fanout.start_run("fanout_crews:echo_crew", [{"n": i} for i in range(3)],
                           client=client, lease_seconds=60, max_attempts=1)
    assert run is not None
    old = _DaemonWithoutStreamLeases(daemon.endpoint)
    connection = Connection(ClientConfig(endpoint=Endpoint.parse(f"127.0.0.1:{old.port}")))
    lines: list[str] = []
    try:
        worker = Worker(SchedulerClient(connection), concurrency=2, max_tasks=3,
                        poll_wait=0.5, log=lines.append)
        stats = worker.run()
    finally:
        connection.close()
        old.close()
    assert not worker.use_stream
    assert any("no StreamLeases; long-polling LeaseNodes" in line for line in lines), lines
    assert (stats.leased, stats.completed, stats.failed, stats.lost) == (3, 3, 0, 0)
    assert worker.failure is None
    outputs = fanout.collect(client, run, 3, timeout=30)
    assert [o.raw.split(" pid ")[0] for o in outputs] == [f"done #{i}" for i in range(3)]
