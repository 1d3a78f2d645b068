"""What flow persistence does while the daemon is away: a durable journal, CrewAI's own
SQLiteFlowPersistence file meanwhile, replay when the daemon returns (the protocol of
fast_crewai.memory.outage_session, which the memory and legacy stores follow too).

One `FlowSession` per directory holding CrewAI's `flow_states.db`, shared by every
DaemonFlowPersistence of the process there, so journal order is this process's call order:

* a write the daemon does not answer (a state, pending feedback, the clearing of pending
  feedback) is appended to `<directory>/.fast-crewai-flow-journal/` (fsync'ed before the write
  returns, one file per process) and then applied to CrewAI's own file, so this process reads its
  writes;
* once the daemon answers again, the orphaned journals of dead processes there, then this
  process's, are replayed in order before any other call; a process replays the orphans once when
  it first uses flow persistence (`connect_once`), so a flow resumed in a new process finds the
  states and the cleared feedback of a process that ran during an outage.

Replaying is safe: a state is appended (the latest is what a load returns), pending feedback is
an upsert by flow id and clearing is idempotent. A replayed entry the daemon rejects for its
content is set aside in `rejected/` and logged as an error.

Thread-safety: as OutageSession: every session field is guarded by `lock`, except `degraded`.
"""

from __future__ import annotations

import os
from pathlib import Path

from fast_crewai import errors
from fast_crewai.memory.outage_session import OutageSession, SessionRegistry
from fast_crewai.persistence import _link, conversions

__all__ = ["JOURNAL_DIRNAME", "FlowSession", "connect_once", "session_for"]

JOURNAL_DIRNAME = ".fast-crewai-flow-journal"
# Deadline of the reachability probe when the caller gives none.
PROBE_TIMEOUT_S = 2.0


class FlowSession(OutageSession):
    """Outage state of flow persistence under one directory (module docstring)."""

    rejected_errors = (errors.InvalidArgument, errors.ResourceExhausted, errors.OutOfRange,
                       errors.FailedPrecondition)

    def __init__(self, directory: Path) -> None:
        super().__init__(directory / JOURNAL_DIRNAME, f"flow persistence under {directory}")
        self.connected = False  # guarded by lock: the orphans were replayed once

    def reset_after_fork(self) -> None:
        super().reset_after_fork()
        self.connected = False

    def send_journaled(self, rpc: str, payload: bytes, timeout: float | None) -> None:
        request_class = conversions.FLOW_WRITES.get(rpc)
        if request_class is None:
            raise errors.InvalidArgument(f"unknown journaled flow persistence rpc {rpc!r}")
        _link.call(rpc, request_class.FromString(payload), timeout)

    def probe_locked(self, timeout: float | None) -> None:
        _link.call("LoadFlowState", conversions.load_flow_state("fast-crewai-flow-probe"),
                   timeout=timeout or PROBE_TIMEOUT_S)


_registry: SessionRegistry[str, FlowSession] = SessionRegistry()


def session_for(directory: str | os.PathLike[str]) -> FlowSession:
    """The process's session for `directory` (created on first use, then kept)."""
    key = os.path.realpath(directory)
    return _registry.get(key, lambda: FlowSession(Path(key)))


def connect_once(session: FlowSession) -> None:
    """On the process's first use of `session`: replays the journals left there by processes
    that died during an outage. When the daemon does not answer, the session is marked down (its
    next calls retry the replay) and nothing is raised."""
    if session.connected:
        return
    with session.lock:
        if not session.connected:
            session.connected = True
            session.recover_locked(force=True)
