"""The outage protocol shared by the daemon-backed stores that journal writes while the daemon
is away (fast_crewai.memory.outage for DaemonStorage, fast_crewai.legacy.outage for the legacy
stores).

An OutageSession is what one process keeps per store location (a memory namespace, a legacy
store directory): whether the daemon is considered down, when to probe it next, and the durable
journal (fast_crewai.memory.journal). Its `write` and `read` are the one place where a call
chooses between the daemon and the local side:

* online, the call is sent; if the daemon does not answer (errors.DaemonUnavailable: UNAVAILABLE
  or DEADLINE_EXCEEDED) the session is marked down and the call goes local;
* a write while down is appended to the journal (fsync'ed before `write` returns), then applied
  to the local store, best effort, so this process reads its own writes;
* a read while down is answered by the local store;
* the daemon is probed again at most every PROBE_INTERVAL_S by the calls, and every
  WATCH_INTERVAL_S by a background thread while the session is down (so a process that has
  stopped calling, idle or waiting for a person, still hands over what it journaled); once it
  answers, the orphaned journals of dead processes at the same place, then this process's, are
  replayed in order before any other call. An entry the daemon rejects for its content (`rejected_errors`) is set
  aside in the journal's `rejected/` directory and logged as an error, never retried.

A subclass says how to send one journaled entry again (`send_journaled`), how to ask whether the
daemon is back when there was nothing to replay (`probe_locked`), which errors mean "rejected
content", and how it is named in log lines (`label`). A SessionRegistry keeps one session per
key for the life of the process, gives a forked child fresh sessions, and at interpreter exit
replays what it can; what it cannot stays on disk for the next process at the same place.

Thread-safety: every field of a session is guarded by its `lock` (reentrant: recovery, journal
and local calls nest), except `degraded`, a bool read without the lock on the fast path of
write/read and re-checked under it (a stale False only lets through a call that was already in
flight). A SessionRegistry is safe from any thread.

Example:

    class DirectorySession(OutageSession):
        rejected_errors = (errors.InvalidArgument,)

        def send_journaled(self, rpc, payload, timeout):
            send_again(rpc, payload, timeout)

        def probe_locked(self, timeout):
            ping(timeout)

    registry: SessionRegistry[str, DirectorySession] = SessionRegistry()
    session = registry.get(key, lambda: DirectorySession(journal_dir, f"store {key}"))
    response, local_result = session.write("Save", request, call, save_locally)
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from fast_crewai import errors
from fast_crewai.memory.journal import Journal, replay_orphans, set_aside

_logger = logging.getLogger(__name__)

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
S = TypeVar("S", bound="OutageSession")

# How often a session in outage mode asks whether the daemon is back.
PROBE_INTERVAL_S = 0.5
# How often a session that is down retries the daemon from its background thread.
WATCH_INTERVAL_S = 1.0
# Deadline of each call of the replay attempted at interpreter exit.
EXIT_FLUSH_TIMEOUT_S = 2.0


class OutageSession(abc.ABC):
    """Outage state of one store location in this process (see the module docstring)."""

    # Errors of `send_journaled` meaning the daemon rejects the entry's content: the entry is
    # set aside, not retried.
    rejected_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, journal_dir: Path, label: str) -> None:
        """`label` names the location in log lines, e.g. "memory namespace ns (...)"."""
        self.label = label
        self.lock = threading.RLock()
        self.degraded = False
        self.next_probe = 0.0
        self.journal = Journal(journal_dir)
        self.watcher: threading.Thread | None = None  # running while degraded

    def reset_after_fork(self) -> None:
        """In a forked child: new lock, own (empty) journal, outage state starts over. The
        parent keeps and replays its own journal."""
        self.lock = threading.RLock()
        self.journal.forget_after_fork()
        self.degraded = False
        self.next_probe = 0.0
        self.watcher = None  # the parent's thread is not in the child

    # -- what subclasses provide ---------------------------------------------------------------

    @abc.abstractmethod
    def send_journaled(self, rpc: str, payload: bytes, timeout: float | None) -> None:
        """Sends one journal entry again. Raises errors.DaemonUnavailable (replay stops, the
        entry stays pending), one of `rejected_errors` (the entry is set aside) or another
        errors.RpcError (replay stops, retried later). REQUIRES: self.lock held."""

    @abc.abstractmethod
    def probe_locked(self, timeout: float | None) -> None:
        """One call that succeeds only when the daemon serves this location again; raises
        errors.RpcError otherwise. REQUIRES: self.lock held."""

    # -- outage state (REQUIRES: self.lock held, for every *_locked method) ----------------------

    def mark_down_locked(self) -> None:
        if not self.degraded:
            _logger.warning(
                "fast-crewai: daemon unreachable; journaling writes for %s and answering its "
                "reads locally until it returns",
                self.label,
            )
        self.degraded = True
        self.next_probe = time.monotonic() + PROBE_INTERVAL_S
        if self.watcher is None:
            self.watcher = threading.Thread(target=self._watch, name="fast-crewai-replay",
                                            daemon=True)
            self.watcher.start()

    def _watch(self) -> None:
        """While the session is down: retries the daemon every WATCH_INTERVAL_S, replaying the
        journals once it answers, then ends."""
        me = threading.current_thread()
        while True:
            time.sleep(WATCH_INTERVAL_S)
            with self.lock:
                if self.watcher is not me:  # replaced after a fork
                    return
                if not self.degraded or self.recover_locked(force=True):
                    self.watcher = None
                    return

    def recover_locked(self, force: bool = False, timeout: float | None = None) -> bool:
        """Replays pending journals if the daemon answers. True when back to normal service.

        Orphaned journals of dead processes at this location go first (they are older), then
        this process's, each in append order; when there was nothing to replay while degraded,
        `probe_locked` decides. Unless `force`, tries at most every PROBE_INTERVAL_S while
        degraded. `timeout` is the deadline of each call (None: the subclass's default).
        """
        if self.degraded and not force and time.monotonic() < self.next_probe:
            return False

        def send(rpc: str, payload: bytes) -> None:
            try:
                self.send_journaled(rpc, payload, timeout)
            except self.rejected_errors as e:
                self.set_aside_locked(rpc, payload, e)

        try:
            sent = replay_orphans(self.journal.directory, send)
            sent += self.journal.replay(send)
            if self.degraded and sent == 0:
                self.probe_locked(timeout)
        except errors.DaemonUnavailable:
            self.mark_down_locked()
            return False
        except errors.RpcError as e:
            _logger.warning(
                "fast-crewai: replaying the journal of %s failed (%s); retrying later",
                self.label,
                e,
            )
            self.mark_down_locked()
            return False
        if self.degraded or sent:
            _logger.warning(
                "fast-crewai: daemon reachable; replayed %d journaled write(s) for %s",
                sent,
                self.label,
            )
        self.degraded = False
        return True

    def set_aside_locked(self, rpc: str, payload: bytes, error: Exception) -> None:
        """Moves an entry the daemon rejected out of the way (journal.set_aside), loudly."""
        target = set_aside(self.journal.directory, rpc, payload, error)
        _logger.error(
            "fast-crewai: the daemon rejected a journaled %s for %s (%s); kept in %s",
            rpc,
            self.label,
            error,
            target,
        )

    def journal_locked(
        self,
        rpc: str,
        request: Any,
        local: Callable[[], T],
        offline_check: Callable[[], None] | None = None,
        journaled: Callable[[Any], Any] | None = None,
    ) -> T | None:
        """Appends a write durably, then applies it locally (best effort: the journal is
        authoritative). Returns local's result, or None when it failed. `offline_check`, run
        first, raises as the daemon would; then nothing is journaled. `journaled(request)`, when
        given, is the request to journal instead (e.g. stamped with the time of the write)."""
        if offline_check is not None:
            offline_check()
        if journaled is not None:
            request = journaled(request)
        self.journal.append(rpc, request.SerializeToString())
        try:
            return local()
        except Exception as e:  # noqa: BLE001 - the journal is authoritative; local is a cache
            _logger.warning(
                "fast-crewai: local copy of a journaled %s for %s failed: %s", rpc, self.label, e
            )
            return None

    # -- what the stores call ------------------------------------------------------------------

    def write(
        self,
        rpc: str,
        request: Any,
        send: Callable[[str, Any], Any],
        local: Callable[[], T],
        timeout: float | None = None,
        *,
        offline_check: Callable[[], None] | None = None,
        journaled: Callable[[Any], Any] | None = None,
    ) -> tuple[Any, T | None]:
        """Sends a write with `send(rpc, request)`, or during an outage journals it and applies
        it with `local()` (journal_locked, which takes `offline_check` and `journaled`). Returns
        (the response, None) or (None, local's result). Errors other than
        errors.DaemonUnavailable propagate. `timeout` is the deadline of recovery calls."""
        if self.degraded:
            with self.lock:
                if self.degraded and not self.recover_locked(timeout=timeout):
                    return None, self.journal_locked(rpc, request, local, offline_check,
                                                     journaled)
        try:
            return send(rpc, request), None
        except errors.DaemonUnavailable:
            with self.lock:
                self.mark_down_locked()
                return None, self.journal_locked(rpc, request, local, offline_check, journaled)

    def read(
        self,
        send: Callable[[], Any],
        convert: Callable[[Any], T],
        local: Callable[[], T],
        timeout: float | None = None,
    ) -> T:
        """`convert(send())`, or during an outage `local()`, called with the lock held (a check
        that must raise offline as the daemon would belongs at the start of `local`). Errors
        other than errors.DaemonUnavailable propagate."""
        if self.degraded:
            with self.lock:
                if self.degraded and not self.recover_locked(timeout=timeout):
                    return local()
        try:
            response = send()
        except errors.DaemonUnavailable:
            with self.lock:
                self.mark_down_locked()
                return local()
        return convert(response)


class SessionRegistry(Generic[K, S]):
    """The sessions of one kind in this process, one per key, kept for the process's life.

    Constructing a registry registers its hooks: a forked child resets every session
    (OutageSession.reset_after_fork), and at interpreter exit each degraded session tries one
    forced replay (EXIT_FLUSH_TIMEOUT_S per call) and closes its journal, never raising; a
    journal that could not be replayed stays on disk for the next process at the same place
    (journal.replay_orphans).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[K, S] = {}
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork_in_child)
        atexit.register(self.flush_at_exit)

    def get(self, key: K, create: Callable[[], S]) -> S:
        """The session for `key`, made by `create()` on first use."""
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = self._sessions[key] = create()
            return session

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        for session in list(self._sessions.values()):
            session.reset_after_fork()

    def flush_at_exit(self) -> None:
        """Best effort: replays pending journals if the daemon is back, then closes them."""
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            if not session.degraded:
                continue
            with session.lock:
                with contextlib.suppress(Exception):  # never raise at exit
                    session.recover_locked(force=True, timeout=EXIT_FLUSH_TIMEOUT_S)
                with contextlib.suppress(Exception):
                    session.journal.close()
