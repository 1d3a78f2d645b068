"""What flow persistence and the replay log do while the daemon is away: a durable journal,
CrewAI's own SQLite file meanwhile, replay when the daemon returns (the protocol of
fast_crewai.memory.outage_session, which the memory and legacy stores follow too).

One session per CrewAI file location, shared by every storage of the process there, so journal
order is this process's call order:

* `FlowSession`, per directory holding CrewAI's `flow_states.db`, journal
  `<directory>/.fast-crewai-flow-journal/`: a state, pending feedback, the clearing of pending
  feedback;
* `KickoffSession`, per replay-log file (`latest_kickoff_task_outputs.db`), journal
  `<directory>/.fast-crewai-kickoff-journal/<file name>/`: the rows a kickoff adds and the
  updates it makes, each with its kickoff id and each added row with the time it was written
  (the daemon keeps it).

A write the daemon does not answer is appended to the journal (fsync'ed before the write
returns, one file per process) and then applied to CrewAI's own file, so this process reads its
writes. Once the daemon answers again, the orphaned journals of dead processes there, then this
process's, are replayed in order before any other call; a process replays the orphans once when
it first uses the location (`connect_once`), so a flow resumed, or a kickoff replayed, in a new
process finds what a process wrote during an outage.

Pending feedback saved during an outage is also copied into CrewAI's file (so this process
finds it meanwhile); once its journal entry reaches the daemon, that copy is deleted (the same
flow and context) from the session's files: the daemon holds it now, and a copy left in the
file would make it pending here again after another machine resumed the flow.

Replaying is safe: a state is appended (the latest is what a load returns), pending feedback is
an upsert by flow id, clearing is idempotent, a row is an INSERT OR REPLACE by (kickoff, task)
and an update sets the same columns again (one whose row the daemon does not have is dropped,
as CrewAI drops it with a warning). A replayed entry the daemon rejects for its content is set
aside in `rejected/` and logged as an error.

Thread-safety: as OutageSession: every session field is guarded by `lock`, except `degraded`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from fast_crewai import errors
from fast_crewai.memory.outage_session import OutageSession, SessionRegistry
from fast_crewai.persistence import _link, conversions

__all__ = ["JOURNAL_DIRNAME", "KICKOFF_JOURNAL_DIRNAME", "FlowSession", "KickoffSession",
           "connect_once", "kickoff_session_for", "session_for"]

_log = logging.getLogger(__name__)

JOURNAL_DIRNAME = ".fast-crewai-flow-journal"
KICKOFF_JOURNAL_DIRNAME = ".fast-crewai-kickoff-journal"
# Deadline of the reachability probe when the caller gives none.
PROBE_TIMEOUT_S = 2.0


class _PersistenceSession(OutageSession):
    """A session whose journal holds PersistenceService writes of the kinds in `writes`."""

    rejected_errors = (errors.InvalidArgument, errors.ResourceExhausted, errors.OutOfRange,
                       errors.FailedPrecondition)
    writes: dict[str, type[Any]] = {}

    def __init__(self, journal_dir: Path, label: str) -> None:
        super().__init__(journal_dir, label)
        self.connected = False  # guarded by lock: the orphans were replayed once

    def reset_after_fork(self) -> None:
        super().reset_after_fork()
        self.connected = False

    def send_journaled(self, rpc: str, payload: bytes, timeout: float | None) -> None:
        request_class = self.writes.get(rpc)
        if request_class is None:
            raise errors.InvalidArgument(f"unknown journaled rpc {rpc!r} for {self.label}")
        _link.call(rpc, request_class.FromString(payload), timeout)


class FlowSession(_PersistenceSession):
    """Outage state of flow persistence under one directory (module docstring)."""

    writes = conversions.FLOW_WRITES
    # CrewAI's default flow file in the session's directory.
    DEFAULT_FILE = "flow_states.db"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory / JOURNAL_DIRNAME, f"flow persistence under {directory}")
        # The flow files of this directory used in this process (guarded by lock).
        self.local_files: set[str] = {str(directory / self.DEFAULT_FILE)}

    def send_journaled(self, rpc: str, payload: bytes, timeout: float | None) -> None:
        super().send_journaled(rpc, payload, timeout)
        if rpc == "SavePendingFeedback":
            self._drop_local_copies(self.writes[rpc].FromString(payload))

    def _drop_local_copies(self, request: Any) -> None:
        """Deletes the outage copy of the pending feedback `request` (the daemon has it now)
        from the session's flow files: the same flow and context only."""
        for path in sorted(self.local_files):
            if not os.path.exists(path):
                continue
            try:
                with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn, conn:
                    conn.execute("DELETE FROM pending_feedback WHERE flow_uuid = ? AND "
                                 "context_json = ?", (request.flow_uuid, request.context_json))
            except sqlite3.Error as e:
                _log.warning("fast-crewai: could not remove the local copy of flow %s's pending "
                             "feedback from %s: %s", request.flow_uuid, path, e)

    def probe_locked(self, timeout: float | None) -> None:
        _link.call("LoadFlowState", conversions.load_flow_state("fast-crewai-flow-probe"),
                   timeout=timeout or PROBE_TIMEOUT_S)


class KickoffSession(_PersistenceSession):
    """Outage state of the replay log kept for one CrewAI file (module docstring)."""

    writes = conversions.KICKOFF_WRITES

    def __init__(self, db_path: Path) -> None:
        super().__init__(db_path.parent / KICKOFF_JOURNAL_DIRNAME / db_path.name,
                         f"the replay log of {db_path}")
        self.namespace = str(db_path)

    def send_journaled(self, rpc: str, payload: bytes, timeout: float | None) -> None:
        try:
            super().send_journaled(rpc, payload, timeout)
        except errors.NotFound:
            if rpc != "UpdateTaskOutput":
                raise
            # No row of that index: CrewAI logs a warning and changes nothing; so does this.

    def probe_locked(self, timeout: float | None) -> None:
        _link.call("LoadTaskOutputs", conversions.load_task_outputs(namespace=self.namespace),
                   timeout=timeout or PROBE_TIMEOUT_S)


_registry: SessionRegistry[str, FlowSession] = SessionRegistry()
_kickoff_registry: SessionRegistry[str, KickoffSession] = SessionRegistry()


def session_for(directory: str | os.PathLike[str]) -> FlowSession:
    """The process's flow session for `directory` (created on first use, then kept)."""
    key = os.path.realpath(directory)
    return _registry.get(key, lambda: FlowSession(Path(key)))


def kickoff_session_for(db_path: str | os.PathLike[str]) -> KickoffSession:
    """The process's replay-log session for CrewAI's file `db_path` (created on first use)."""
    key = os.path.realpath(db_path)
    return _kickoff_registry.get(key, lambda: KickoffSession(Path(key)))


def connect_once(session: _PersistenceSession) -> None:
    """On the process's first use of `session`: replays the journals left there by processes
    that died during an outage. When the daemon does not answer, the session is marked down (its
    next calls retry the replay) and nothing is raised."""
    if session.connected:
        return
    with session.lock:
        if not session.connected:
            session.connected = True
            session.recover_locked(force=True)
