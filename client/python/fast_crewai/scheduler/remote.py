"""SchedulerClient: typed calls to the daemon's SchedulerService.

Every method sends one RPC with a deadline on the process-wide connection (or the one given),
converts the answer into `fast_crewai.scheduler.types` values, and turns gRPC failures into
`fast_crewai.errors` classes (`errors.from_rpc_error`, the package's one mapping):
`InvalidArgument` for a cycle, an unknown dependency or a malformed id (the message names
it), `ResourceExhausted` for an oversized payload or output (`reason` "PAYLOAD_TOO_LARGE";
without it the daemon is short of memory and the call may be repeated), `NotFound` for an
unknown run or lease, `FailedPrecondition` for a lease that lapsed or was ended already. An
UNAVAILABLE / DEADLINE_EXCEEDED answer is also reported to the connection, so every area stops
trying at once.

Thread-safety: safe from any thread (the Connection and gRPC stubs are).

Example:

    client = SchedulerClient()
    run = client.create_run([NodeSpec("a"), NodeSpec("b", depends_on=("a",))], queue="q")
    leases = client.lease_nodes("me", queue="q", wait=1.0)
    client.complete_node(leases[0].lease_id, b"done")
"""

from __future__ import annotations

import queue as queue_lib
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import grpc

from fast_crewai import errors
from fast_crewai.client.connection import Connection, get_connection
from fast_crewai.scheduler import conversions
from fast_crewai.scheduler.types import (
    Lease,
    NodeInfo,
    NodeSpec,
    NodeState,
    RunInfo,
    RunState,
    RunUpdate,
)

__all__ = ["DEFAULT_TIMEOUT_S", "LeaseStream", "SchedulerClient"]

# Deadline of calls that never wait, in seconds.
DEFAULT_TIMEOUT_S = 5.0
# LeaseNodes waits at most this long on the daemon (the contract's maximum).
MAX_LEASE_WAIT_S = 60.0


class SchedulerClient:
    """Typed wrappers over SchedulerService. Thread-safe."""

    def __init__(self, connection: Connection | None = None) -> None:
        self._connection = connection

    @property
    def connection(self) -> Connection:
        return self._connection or get_connection()

    def available(self) -> bool:
        """Connection.available(): cached, no I/O while the daemon is known up or down."""
        return self.connection.available()

    def _stub(self) -> Any:
        return self.connection.stub(conversions.SchedulerServiceStub)

    def _call(self, rpc: str, request: Any, timeout: float) -> Any:
        method: Callable[..., Any] = getattr(self._stub(), rpc)
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as e:
            error = errors.from_rpc_error(e)
        if isinstance(error, errors.DaemonUnavailable):
            self.connection.mark_unavailable(str(error))
        raise error

    # ---- runs ---------------------------------------------------------------------------------

    def create_run(self, nodes: Sequence[NodeSpec], *, queue: str = "", name: str = "",
                   lease_seconds: float = 0.0, max_attempts: int = 0,
                   labels: Mapping[str, str] | None = None,
                   timeout: float = DEFAULT_TIMEOUT_S) -> RunInfo:
        """Creates a run; returns it (durable once this returns). `lease_seconds` 0 = the
        daemon's default; `max_attempts` 0 = the daemon's default."""
        request = conversions.create_run(nodes, queue=queue, name=name,
                                         lease_millis=_millis(lease_seconds),
                                         max_attempts=max_attempts, labels=labels)
        response = self._call("CreateRun", request, timeout)
        run = conversions.run_from_proto(response.run)
        if not run.run_id:  # the contract sets both; keep the id if only one came
            run = RunInfo(**{**run.__dict__, "run_id": response.run_id})
        return run

    def get_run(self, run_id: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> RunInfo:
        return conversions.run_from_proto(
            self._call("GetRun", conversions.get_run(run_id), timeout).run)

    def list_runs(self, *, limit: int = 0, offset: int = 0, states: Iterable[RunState] = (),
                  timeout: float = DEFAULT_TIMEOUT_S) -> list[RunInfo]:
        """One page of runs, newest first (limit 0 = the daemon's default, 100)."""
        response = self._call("ListRuns", conversions.list_runs(limit=limit, offset=offset,
                                                                states=states), timeout)
        return [conversions.run_from_proto(r) for r in response.runs]

    def list_nodes(self, run_id: str, *, states: Iterable[NodeState] = (),
                   include_payload: bool = False, include_output: bool = False,
                   timeout: float = DEFAULT_TIMEOUT_S) -> list[NodeInfo]:
        """Every node of the run in creation order (follows the pages)."""
        nodes: list[NodeInfo] = []
        offset = 0
        states = tuple(states)
        while True:
            request = conversions.list_nodes(run_id, offset=offset, states=states,
                                             include_payload=include_payload,
                                             include_output=include_output)
            response = self._call("ListNodes", request, timeout)
            nodes.extend(conversions.node_from_proto(n) for n in response.nodes)
            has_more, offset = conversions.page_has_more(response)
            if not has_more or not response.nodes:
                return nodes

    def cancel_run(self, run_id: str, reason: str = "", *,
                   timeout: float = DEFAULT_TIMEOUT_S) -> RunInfo:
        return conversions.run_from_proto(
            self._call("CancelRun", conversions.cancel_run(run_id, reason), timeout).run)

    def watch_run(self, run_id: str, *, include_output: bool = False,
                  timeout: float | None = None) -> Iterator[RunUpdate]:
        """The run's updates: its whole state first, then each change; ends after the update
        that shows the run finished. `timeout` bounds the whole stream (None = no bound)."""
        stream = self._stub().WatchRun(conversions.watch_run(run_id, include_output),
                                       timeout=timeout)
        try:
            for message in stream:
                yield conversions.update_from_proto(message)
        except grpc.RpcError as e:
            error = errors.from_rpc_error(e)
            if isinstance(error, errors.DaemonUnavailable):
                self.connection.mark_unavailable(str(error))
            raise error from None
        finally:
            stream.cancel()

    # ---- workers ------------------------------------------------------------------------------

    def lease_nodes(self, worker_id: str, *, queue: str = "", max_nodes: int = 1,
                    wait: float = 0.0) -> list[Lease]:
        """Up to `max_nodes` leases of ready nodes of `queue`; waits up to `wait` seconds
        (at most 60) for one, and returns [] on time-out."""
        wait = min(max(wait, 0.0), MAX_LEASE_WAIT_S)
        request = conversions.lease_nodes(worker_id, queue, max_nodes, _millis(wait))
        response = self._call("LeaseNodes", request, wait + DEFAULT_TIMEOUT_S)
        return [conversions.lease_from_proto(lease) for lease in response.leases]

    def stream_leases(self, worker_id: str, *, queue: str = "", credits: int = 1
                      ) -> "LeaseStream":
        """Opens a StreamLeases call asking for `credits` leases of `queue` (see LeaseStream).
        A daemon without the call raises `errors.Unimplemented` from the first `next()`."""
        return LeaseStream(self, worker_id, queue, credits)

    def renew_leases(self, worker_id: str, lease_ids: Iterable[str], *,
                     timeout: float = DEFAULT_TIMEOUT_S) -> list[str]:
        """Extends the leases; returns the ids that are no longer held (stop that work)."""
        response = self._call("RenewLeases", conversions.renew_leases(worker_id, lease_ids),
                              timeout)
        return list(response.lost_lease_ids)

    def complete_node(self, lease_id: str, output: bytes, *,
                      timeout: float = DEFAULT_TIMEOUT_S) -> RunInfo:
        """Ends the lease with `output`. FailedPrecondition when the lease is no longer held."""
        return conversions.run_from_proto(
            self._call("CompleteNode", conversions.complete_node(lease_id, output), timeout).run)

    def fail_node(self, lease_id: str, error: str, *, retryable: bool = False,
                  timeout: float = DEFAULT_TIMEOUT_S) -> bool:
        """Ends the lease with `error`; True when the node went back to the ready queue."""
        response = self._call("FailNode", conversions.fail_node(lease_id, error, retryable),
                              timeout)
        return bool(response.will_retry)

    # ---- rate limits --------------------------------------------------------------------------

    def acquire_rate_limit(self, name: str, per_minute: int, permits: int = 1, *,
                           timeout: float = DEFAULT_TIMEOUT_S) -> float:
        """Reserves `permits` under the shared limit `name`; returns the seconds to wait
        before making the call (0.0 = go now). The reservation is made either way."""
        response = self._call("AcquireRateLimit",
                              conversions.acquire_rate_limit(name, per_minute, permits), timeout)
        return max(0, response.wait_millis) / 1000.0


def _millis(seconds: float) -> int:
    return int(round(seconds * 1000.0)) if seconds > 0 else 0


class LeaseStream:
    """One StreamLeases call: a standing LeaseNodes for one worker.

    `next()` blocks until the daemon pushes leases (one per credit granted, as soon as nodes
    are ready) and returns them; `grant(k)` asks for k more. `close()` says the worker wants
    no more: the leases already on their way still arrive (they are held: run or end them),
    then `next()` raises StopIteration. If the stream breaks or is cancelled (`cancel()`, the
    process dies), the daemon lapses the leases it delivered that are still held at once.
    Errors from `next()` are `fast_crewai.errors` classes (Unimplemented: the daemon predates
    StreamLeases, use lease_nodes). `next()` is for one thread; grant/close/cancel for any.
    """

    def __init__(self, client: SchedulerClient, worker_id: str, queue: str,
                 credits: int) -> None:
        self._client = client
        self._requests: queue_lib.SimpleQueue[Any] = queue_lib.SimpleQueue()
        self._requests.put(conversions.stream_leases(worker_id, queue, credits))
        self._call = client._stub().StreamLeases(self._request_iterator(), timeout=None)

    def _request_iterator(self) -> Iterator[Any]:
        while True:
            request = self._requests.get()
            if request is None:  # close(): half-close the stream
                return
            yield request

    def grant(self, credits: int = 1) -> None:
        self._requests.put(conversions.stream_leases("", "", credits))

    def next(self) -> list[Lease]:
        try:
            message = next(self._call)
        except grpc.RpcError as e:
            error = errors.from_rpc_error(e)
            if isinstance(error, errors.DaemonUnavailable):
                self._client.connection.mark_unavailable(str(error))
            raise error from None
        return [conversions.lease_from_proto(lease) for lease in message.leases]

    def close(self) -> None:
        self._requests.put(None)

    def cancel(self) -> None:
        self._call.cancel()
