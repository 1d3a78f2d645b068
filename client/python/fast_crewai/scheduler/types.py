"""Plain values of the scheduler API (SchedulerService), free of protobuf types.

Runs are graphs of nodes; a worker leases a ready node, renews the lease while it works and ends
it with a completion (output bytes) or a failure (error text). proto/fast_crewai/v1/
scheduler.proto is the contract these mirror.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["Lease", "NodeCounts", "NodeInfo", "NodeSpec", "NodeState", "RunInfo", "RunState",
           "RunUpdate"]


class RunState(str, enum.Enum):
    UNSPECIFIED = "unspecified"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


class NodeState(str, enum.Enum):
    UNSPECIFIED = "unspecified"
    BLOCKED = "blocked"
    READY = "ready"
    LEASED = "leased"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (NodeState.SUCCEEDED, NodeState.FAILED, NodeState.CANCELLED)


@dataclass(frozen=True)
class NodeSpec:
    """A node given to CreateRun. `payload` is opaque to the daemon (JSON here)."""

    node_id: str
    depends_on: tuple[str, ...] = ()
    payload: bytes = b""
    max_attempts: int = 0  # 0 = the run's default


@dataclass(frozen=True)
class NodeCounts:
    total: int = 0
    blocked: int = 0
    ready: int = 0
    leased: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    name: str
    queue: str
    state: RunState
    counts: NodeCounts
    created_at_micros: int = 0
    finished_at_micros: int = 0  # 0 while running
    lease_millis: int = 0
    max_attempts: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeInfo:
    run_id: str
    node_id: str
    depends_on: tuple[str, ...]
    state: NodeState
    attempts: int
    max_attempts: int
    worker_id: str = ""
    payload: bytes = b""  # only when asked for
    output: bytes = b""  # only when asked for
    error: str = ""
    started_at_micros: int = 0
    finished_at_micros: int = 0


@dataclass(frozen=True)
class Lease:
    """A node held by this worker until `lease_millis` after the last renewal."""

    lease_id: str
    run_id: str
    node_id: str
    payload: bytes
    attempt: int  # 1 for the first lease of the node
    lease_millis: int
    dependency_outputs: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class RunUpdate:
    """One WatchRun message: the run now, and the nodes that changed (all of them at first)."""

    run: RunInfo
    nodes: tuple[NodeInfo, ...]
