"""What the legacy stores do while the daemon is away: a durable journal, CrewAI's own storage
meanwhile, replay when the daemon returns (fast_crewai.memory.outage_session, the protocol
DaemonStorage follows too).

One `LegacySession` per directory holding CrewAI's files (Chroma's persist directory, the LTM
database's directory), shared by every legacy store of the process there, so journal order is
this process's call order. The stores call `session.write(rpc, request, _link.call, local)` and
`session.read(send, convert, local)`, `local` being CrewAI's own method on the same storage
object. While the daemon does not answer:

* a write (RAG save/reset, LTM save/reset) is appended to the journal
  `<directory>/.fast-crewai-legacy-journal/` (fast_crewai.memory.journal: fsync'ed before the
  write returns, one file per process, orphans of dead processes replayed by the next process)
  and then given to CrewAI's own storage, so this process reads its writes;
* a read is answered by CrewAI's own storage;
* the daemon is probed again at most every PROBE_INTERVAL_S; once it answers, the orphaned
  journals, then this process's, are replayed in order before any other call. Saves are upserts
  (RAG, by CrewAI's document id) or appends (LTM), resets are resets: replaying a fully
  acknowledged file twice cannot happen (a file is deleted once every entry is acknowledged;
  a replay stopped half-way resumes at the first unacknowledged entry). A replayed entry the
  daemon rejects for its content is set aside in `rejected/` and logged as an error.

Thread-safety: as OutageSession: every session field is guarded by `lock`, except `degraded`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fast_crewai import errors
from fast_crewai.legacy import _link
from fast_crewai.memory.outage_session import PROBE_INTERVAL_S, OutageSession, SessionRegistry

__all__ = ["JOURNAL_DIRNAME", "PROBE_INTERVAL_S", "LegacySession", "connect", "session_for"]

JOURNAL_DIRNAME = ".fast-crewai-legacy-journal"
# Deadline of the reachability probe when the caller gives none.
PROBE_TIMEOUT_S = 2.0


class LegacySession(OutageSession):
    """Outage state of the legacy stores under one directory (module docstring)."""

    rejected_errors = (errors.InvalidArgument, errors.OutOfRange, errors.FailedPrecondition,
                       ValueError)

    def __init__(self, directory: Path) -> None:
        super().__init__(directory / JOURNAL_DIRNAME, f"legacy memory under {directory}")
        self.directory = directory

    def send_journaled(self, rpc: str, payload: bytes, timeout: float | None) -> None:
        _link.send_journaled(rpc, payload, timeout)

    def probe_locked(self, timeout: float | None) -> None:
        _link.call("DescribeNamespace", _describe_probe(), timeout=timeout or PROBE_TIMEOUT_S)


def _describe_probe() -> Any:
    from fast_crewai.legacy import conversions

    return conversions.describe("fast-crewai-legacy-probe")


_registry: SessionRegistry[str, LegacySession] = SessionRegistry()


def session_for(directory: str | os.PathLike[str]) -> LegacySession:
    """The process's session for `directory` (created on first use, then kept)."""
    key = os.path.realpath(directory)
    return _registry.get(key, lambda: LegacySession(Path(key)))


def connect(session: LegacySession) -> None:
    """At store construction: replays orphaned and pending journals. Raises
    errors.DaemonUnavailable when the daemon does not answer."""
    with session.lock:
        if not session.recover_locked(force=True):
            raise errors.DaemonUnavailable("the daemon did not answer the journal replay")
