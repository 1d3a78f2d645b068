"""What the legacy stores do while the daemon is away: a durable journal, CrewAI's own storage
meanwhile, replay when the daemon returns (the design of fast_crewai.memory.outage, for the
legacy stores).

One `LegacySession` per directory holding CrewAI's files (Chroma's persist directory, the LTM
database's directory), shared by every legacy store of the process there, so journal order is
this process's call order. While the daemon does not answer:

* a write (RAG save/reset, LTM save/reset) is appended to the journal
  `<directory>/.fast-crewai-legacy-journal/` (fast_crewai.memory.journal: fsync'ed before the
  write returns, one file per process, orphans of dead processes replayed by the next process)
  and then given to CrewAI's own storage on the same object, so this process reads its writes;
* a read is answered by CrewAI's own storage;
* the daemon is probed again at most every PROBE_INTERVAL_S; once it answers, the orphaned
  journals, then this process's, are replayed in order before any other call. Saves are upserts
  (RAG, by CrewAI's document id) or appends (LTM), resets are resets: replaying a fully
  acknowledged file twice cannot happen (a file is deleted once every entry is acknowledged;
  a replay stopped half-way resumes at the first unacknowledged entry). A replayed entry the
  daemon rejects for its content is set aside in `rejected/` and logged as an error.

Thread-safety: every session field is guarded by `lock`, except `degraded`, a bool read
without the lock on the fast path of write/read (then re-checked under it; a stale False only
lets through a call that was already in flight).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fast_crewai import errors
from fast_crewai.legacy import _link
from fast_crewai.memory.journal import Journal, replay_orphans, set_aside

_logger = logging.getLogger(__name__)

T = TypeVar("T")

JOURNAL_DIRNAME = ".fast-crewai-legacy-journal"
PROBE_INTERVAL_S = 0.5


class LegacySession:
    """Outage state of the legacy stores under one directory (module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.RLock()
        self.degraded = False
        self.next_probe = 0.0
        self.journal = Journal(directory / JOURNAL_DIRNAME)

    def reset_after_fork(self) -> None:
        self.lock = threading.RLock()
        self.journal.forget_after_fork()
        self.degraded = False
        self.next_probe = 0.0

    # REQUIRES: self.lock held, for every *_locked method.

    def mark_down_locked(self) -> None:
        if not self.degraded:
            _logger.warning("fast-crewai: daemon unreachable; legacy memory under %s uses "
                            "CrewAI's own storage and journals writes until it returns",
                            self.directory)
        self.degraded = True
        self.next_probe = time.monotonic() + PROBE_INTERVAL_S

    def recover_locked(self, force: bool = False) -> bool:
        """Replays pending journals if the daemon answers; True when back to normal service."""
        if self.degraded and not force and time.monotonic() < self.next_probe:
            return False
        try:
            sent = replay_orphans(self.journal.directory, self._send)
            sent += self.journal.replay(self._send)
            if self.degraded and sent == 0:
                _link.call("DescribeNamespace", _describe_probe(), timeout=2.0)
        except errors.RpcError as e:
            if not isinstance(e, errors.DaemonUnavailable):
                _logger.warning("fast-crewai: replaying the legacy journal under %s failed "
                                "(%s); retrying later", self.directory, e)
            self.mark_down_locked()
            return False
        if self.degraded or sent:
            _logger.warning("fast-crewai: daemon reachable; replayed %d journaled legacy "
                            "write(s) under %s", sent, self.directory)
        self.degraded = False
        return True

    def _send(self, rpc: str, payload: bytes) -> None:
        try:
            _link.send_journaled(rpc, payload)
        except (errors.InvalidArgument, errors.OutOfRange, errors.FailedPrecondition,
                ValueError) as e:
            self._set_aside(rpc, payload, e)

    def _set_aside(self, rpc: str, payload: bytes, error: Exception) -> None:
        target = set_aside(self.journal.directory, rpc, payload, error)
        _logger.error("fast-crewai: the daemon rejected a journaled %s (%s); kept in %s",
                      rpc, error, target)

    # -- what the stores call ------------------------------------------------------------------

    def write(self, rpc: str, request: Any, local: Callable[[], T]) -> tuple[Any, T | None]:
        """Sends a write, or journals it and applies it locally during an outage. Returns
        (response, None) or (None, local's result)."""
        if self.degraded:
            with self.lock:
                if self.degraded and not self.recover_locked():
                    return None, self._journal_locked(rpc, request, local)
        try:
            return _link.call(rpc, request), None
        except errors.DaemonUnavailable:
            with self.lock:
                self.mark_down_locked()
                return None, self._journal_locked(rpc, request, local)

    def read(self, rpc: str, request: Any, convert: Callable[[Any], T],
             local: Callable[[], T]) -> T:
        """Answers a read from the daemon, or from CrewAI's own storage during an outage."""
        if self.degraded:
            with self.lock:
                if self.degraded and not self.recover_locked():
                    return local()
        try:
            response = _link.call(rpc, request)
        except errors.DaemonUnavailable:
            with self.lock:
                self.mark_down_locked()
            return local()
        return convert(response)

    def _journal_locked(self, rpc: str, request: Any, local: Callable[[], T]) -> T | None:
        self.journal.append(rpc, request.SerializeToString())
        try:
            return local()
        except Exception as e:  # noqa: BLE001 - the journal is authoritative; local is a copy
            _logger.warning("fast-crewai: local copy of a journaled %s failed: %s", rpc, e)
            return None


def _describe_probe() -> Any:
    from fast_crewai.legacy import conversions

    return conversions.describe("fast-crewai-legacy-probe")


_sessions_lock = threading.Lock()
_sessions: dict[str, LegacySession] = {}


def session_for(directory: str | os.PathLike[str]) -> LegacySession:
    """The process's session for `directory` (created on first use, then kept)."""
    key = os.path.realpath(directory)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = LegacySession(Path(key))
        return session


def connect(session: LegacySession) -> None:
    """At store construction: replays orphaned and pending journals. Raises
    errors.DaemonUnavailable when the daemon does not answer."""
    with session.lock:
        if not session.recover_locked(force=True):
            raise errors.DaemonUnavailable("the daemon did not answer the journal replay")


def _after_fork_in_child() -> None:
    global _sessions_lock
    _sessions_lock = threading.Lock()
    for session in list(_sessions.values()):
        session.reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _flush_at_exit() -> None:
    """Best effort: replay pending journals if the daemon is back, else leave them on disk for
    the next process that uses the same directory."""
    with _sessions_lock:
        sessions = list(_sessions.values())
    for session in sessions:
        if not session.degraded:
            continue
        with session.lock:
            try:
                session.recover_locked(force=True)
            except Exception:  # noqa: BLE001 - never raise at exit
                pass
            session.journal.close()
