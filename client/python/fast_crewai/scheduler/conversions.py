"""The only place where the scheduler package touches the generated protobuf types.

Builders turn plain Python values into SchedulerService requests; readers turn responses into
the frozen dataclasses of `fast_crewai.scheduler.types`. Everything else in
fast_crewai.scheduler works with those dataclasses, strings, bytes and numbers.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from fast_crewai.scheduler.types import (
    Lease,
    NodeCounts,
    NodeInfo,
    NodeSpec,
    NodeState,
    RunInfo,
    RunState,
    RunUpdate,
)
from fast_crewai.v1 import common_pb2
from fast_crewai.v1 import scheduler_pb2 as pb
from fast_crewai.v1 import scheduler_pb2_grpc

__all__ = [
    "SchedulerServiceStub",
    "acquire_rate_limit",
    "cancel_run",
    "complete_node",
    "create_run",
    "fail_node",
    "get_run",
    "lease_from_proto",
    "lease_nodes",
    "list_nodes",
    "list_runs",
    "node_from_proto",
    "renew_leases",
    "run_from_proto",
    "stream_leases",
    "update_from_proto",
    "watch_run",
]

SchedulerServiceStub = scheduler_pb2_grpc.SchedulerServiceStub

# Python enum value <-> proto enum number, in declaration order of the proto.
_RUN_STATES = (RunState.UNSPECIFIED, RunState.RUNNING, RunState.SUCCEEDED, RunState.FAILED,
               RunState.CANCELLED)
_NODE_STATES = (NodeState.UNSPECIFIED, NodeState.BLOCKED, NodeState.READY, NodeState.LEASED,
                NodeState.SUCCEEDED, NodeState.FAILED, NodeState.CANCELLED)


def _run_state(number: int) -> RunState:
    return _RUN_STATES[number] if 0 <= number < len(_RUN_STATES) else RunState.UNSPECIFIED


def _node_state(number: int) -> NodeState:
    return _NODE_STATES[number] if 0 <= number < len(_NODE_STATES) else NodeState.UNSPECIFIED


# ---- requests ---------------------------------------------------------------------------------


def create_run(nodes: Sequence[NodeSpec], *, queue: str = "", name: str = "",
               lease_millis: int = 0, max_attempts: int = 0,
               labels: Mapping[str, str] | None = None) -> pb.CreateRunRequest:
    return pb.CreateRunRequest(
        nodes=[pb.TaskNode(node_id=n.node_id, depends_on=list(n.depends_on), payload=n.payload,
                           max_attempts=n.max_attempts) for n in nodes],
        queue=queue, name=name, lease_millis=lease_millis, max_attempts=max_attempts,
        labels=dict(labels or {}))


def get_run(run_id: str) -> pb.GetRunRequest:
    return pb.GetRunRequest(run_id=run_id)


def list_runs(*, limit: int = 0, offset: int = 0,
              states: Iterable[RunState] = ()) -> pb.ListRunsRequest:
    return pb.ListRunsRequest(page=common_pb2.PageRequest(limit=limit, offset=offset),
                              states=[_RUN_STATES.index(s) for s in states])


def list_nodes(run_id: str, *, limit: int = 0, offset: int = 0,
               states: Iterable[NodeState] = (), include_payload: bool = False,
               include_output: bool = False) -> pb.ListNodesRequest:
    return pb.ListNodesRequest(run_id=run_id,
                               page=common_pb2.PageRequest(limit=limit, offset=offset),
                               states=[_NODE_STATES.index(s) for s in states],
                               include_payload=include_payload, include_output=include_output)


def cancel_run(run_id: str, reason: str = "") -> pb.CancelRunRequest:
    return pb.CancelRunRequest(run_id=run_id, reason=reason)


def watch_run(run_id: str, include_output: bool = False) -> pb.WatchRunRequest:
    return pb.WatchRunRequest(run_id=run_id, include_output=include_output)


def lease_nodes(worker_id: str, queue: str = "", max_nodes: int = 1,
                wait_millis: int = 0) -> pb.LeaseNodesRequest:
    return pb.LeaseNodesRequest(worker_id=worker_id, queue=queue, max_nodes=max_nodes,
                                wait_millis=wait_millis)


def stream_leases(worker_id: str, queue: str, credits: int) -> pb.StreamLeasesRequest:
    return pb.StreamLeasesRequest(worker_id=worker_id, queue=queue, credits=credits)


def renew_leases(worker_id: str, lease_ids: Iterable[str]) -> pb.RenewLeasesRequest:
    return pb.RenewLeasesRequest(worker_id=worker_id, lease_ids=list(lease_ids))


def complete_node(lease_id: str, output: bytes) -> pb.CompleteNodeRequest:
    return pb.CompleteNodeRequest(lease_id=lease_id, output=output)


def fail_node(lease_id: str, error: str, retryable: bool = False) -> pb.FailNodeRequest:
    return pb.FailNodeRequest(lease_id=lease_id, error=error, retryable=retryable)


def acquire_rate_limit(name: str, per_minute: int, permits: int = 1
                       ) -> pb.AcquireRateLimitRequest:
    return pb.AcquireRateLimitRequest(name=name, per_minute=per_minute, permits=permits)


# ---- responses --------------------------------------------------------------------------------


def run_from_proto(run: Any) -> RunInfo:
    c = run.counts
    return RunInfo(
        run_id=run.run_id, name=run.name, queue=run.queue, state=_run_state(run.state),
        counts=NodeCounts(total=c.total, blocked=c.blocked, ready=c.ready, leased=c.leased,
                          succeeded=c.succeeded, failed=c.failed, cancelled=c.cancelled),
        created_at_micros=run.created_at_micros, finished_at_micros=run.finished_at_micros,
        lease_millis=run.lease_millis, max_attempts=run.max_attempts, labels=dict(run.labels))


def node_from_proto(node: Any) -> NodeInfo:
    return NodeInfo(
        run_id=node.run_id, node_id=node.node_id, depends_on=tuple(node.depends_on),
        state=_node_state(node.state), attempts=node.attempts, max_attempts=node.max_attempts,
        worker_id=node.worker_id, payload=bytes(node.payload), output=bytes(node.output),
        error=node.error, started_at_micros=node.started_at_micros,
        finished_at_micros=node.finished_at_micros)


def lease_from_proto(lease: Any) -> Lease:
    return Lease(
        lease_id=lease.lease_id, run_id=lease.run_id, node_id=lease.node_id,
        payload=bytes(lease.payload), attempt=lease.attempt, lease_millis=lease.lease_millis,
        dependency_outputs=tuple((o.node_id, bytes(o.output))
                                 for o in lease.dependency_outputs))


def update_from_proto(message: Any) -> RunUpdate:
    return RunUpdate(run=run_from_proto(message.run),
                     nodes=tuple(node_from_proto(n) for n in message.nodes))


def page_has_more(response: Any) -> tuple[bool, int]:
    """(has_more, next_offset) of a paged response."""
    return bool(response.page.has_more), int(response.page.next_offset)
