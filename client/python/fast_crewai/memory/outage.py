"""Outage handling shared by the DaemonStorage objects of one namespace in this process.

A NamespaceSession holds what must be common to every DaemonStorage of a namespace so that one
process has one order of writes: whether the daemon is considered down, the durable journal
(fast_crewai.memory.journal) and the local LanceDBStorage answering reads meanwhile. See
fast_crewai.memory.daemon_storage for the behaviour as CrewAI sees it.

Lifecycle: `session_for()` creates sessions on first use and keeps them for the process's life;
at interpreter exit pending journals are replayed if the daemon is back, else left on disk for
the next process that opens the same path; a forked child starts with fresh sessions.

Thread-safety: every field of a session is guarded by its `lock`, except `needs_recovery`, a bool
read without the lock on the fast path (a stale False only lets through a call that was already
in flight).
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

from crewai.memory.storage.backend import EmbeddingDimensionMismatchError

from fast_crewai import errors
from fast_crewai.memory import namespace as ns, remote
from fast_crewai.memory.journal import Journal, replay_orphans, set_aside
from fast_crewai.v1 import memory_pb2

_logger = logging.getLogger(__name__)

T = TypeVar("T")

# How often a storage in outage mode asks whether the daemon is back.
PROBE_INTERVAL_S = 0.5

_WRITE_REQUESTS: dict[str, type[Any]] = {
    "SaveRecords": memory_pb2.SaveRecordsRequest,
    "UpdateRecord": memory_pb2.UpdateRecordRequest,
    "DeleteRecords": memory_pb2.DeleteRecordsRequest,
    "Reset": memory_pb2.ResetRequest,
    "TouchRecords": memory_pb2.TouchRecordsRequest,
}


def is_root(scope: str | None) -> bool:
    return scope is None or scope.strip("/") == ""


class NamespaceSession:
    """Outage state of one namespace in this process (see the module docstring)."""

    def __init__(self, namespace: str, path: Path, table_name: str) -> None:
        self.namespace = namespace
        self.path = path
        self.table_name = table_name
        self.lock = threading.RLock()
        self.degraded = False
        self.needs_recovery = False
        self.next_probe = 0.0
        self.vector_dim = 0
        # The daemon reads packed embeddings (DescribeNamespaceResponse.packed_embeddings).
        self.packed_embeddings = False
        self.journal = Journal(ns.journal_dir_for_path(path))
        self.local: Any = None  # LanceDBStorage, created on first use during an outage

    def reset_after_fork(self) -> None:
        """In a forked child: new lock, own (empty) journal, no inherited LanceDB handle. The
        parent keeps and replays its own journal; the child's outage state starts over."""
        self.lock = threading.RLock()
        self.journal.forget_after_fork()
        self.local = None
        self.degraded = False
        self.needs_recovery = False
        self.next_probe = 0.0

    # REQUIRES: self.lock held, for every *_locked method.

    def mark_down_locked(self) -> None:
        if not self.degraded:
            _logger.warning(
                "fast-crewai: memory daemon unreachable; journaling writes for %s and reading "
                "the local store at %s until it returns",
                self.namespace,
                self.path,
            )
        self.degraded = True
        self.needs_recovery = True
        self.next_probe = time.monotonic() + PROBE_INTERVAL_S

    def recover_locked(self, force: bool = False, timeout: float | None = None) -> bool:
        """Replays pending journals if the daemon answers. True when back to normal service.

        Orphaned journals of dead processes at this path go first (they are older), then this
        process's, each in append order. Unless `force`, probes at most every
        PROBE_INTERVAL_S while degraded.
        """
        if self.degraded and not force and time.monotonic() < self.next_probe:
            return False

        def send(rpc: str, payload: bytes) -> None:
            self.send_journaled(rpc, payload, timeout)

        try:
            sent = replay_orphans(self.journal.directory, send)
            sent += self.journal.replay(send)
            if self.degraded and sent == 0:
                info = remote.call(
                    "DescribeNamespace",
                    memory_pb2.DescribeNamespaceRequest(namespace=self.namespace),
                    timeout=timeout,
                )
                self.packed_embeddings = bool(info.packed_embeddings)
        except errors.DaemonUnavailable:
            self.mark_down_locked()
            return False
        except errors.RpcError as e:
            _logger.warning(
                "fast-crewai: replaying the memory journal of %s failed (%s); retrying later",
                self.namespace,
                e,
            )
            self.mark_down_locked()
            return False
        if self.degraded or sent:
            _logger.warning(
                "fast-crewai: memory daemon reachable; replayed %d journaled write(s) for %s",
                sent,
                self.namespace,
            )
        self.degraded = False
        self.needs_recovery = False
        return True

    def send_journaled(self, rpc: str, payload: bytes, timeout: float | None = None) -> None:
        """Sends one journal entry again. Content the daemon rejects is set aside, not retried."""
        request = _WRITE_REQUESTS[rpc].FromString(payload)
        try:
            response = remote.call(rpc, request, timeout=timeout)
        except (EmbeddingDimensionMismatchError, remote.InvalidMemoryRequest) as e:
            self._set_aside(rpc, payload, e)
            return
        if request.namespace != self.namespace:
            return  # an orphan of another table at this path
        if rpc == "SaveRecords":
            self.vector_dim = int(response.vector_dim)
        elif rpc == "Reset" and is_root(request.scope_prefix):
            self.vector_dim = 0

    def _set_aside(self, rpc: str, payload: bytes, error: Exception) -> None:
        target = set_aside(self.journal.directory, rpc, payload, error)
        _logger.error(
            "fast-crewai: the daemon rejected a journaled %s for %s (%s); kept in %s",
            rpc,
            self.namespace,
            error,
            target,
        )

    def local_locked(self) -> Any:
        """The local LanceDBStorage at this path (bypassing any patch of its constructor)."""
        if self.local is None:
            from crewai.memory.storage.lancedb_storage import LanceDBStorage

            local = object.__new__(LanceDBStorage)
            LanceDBStorage.__init__(local, path=str(self.path), table_name=self.table_name)
            self.local = local
        return self.local

    def check_dim_offline(self, dim: int) -> None:
        """Raises as the daemon would, against the dimension it last reported."""
        if dim and self.vector_dim and dim != self.vector_dim:
            raise EmbeddingDimensionMismatchError(self.vector_dim, dim)

    def journal_locked(
        self, rpc: str, request: Any, local_apply: Callable[[Any], T], dim: int
    ) -> T | None:
        """Appends a write durably, then applies it to the local store (best effort)."""
        self.check_dim_offline(dim)
        self.journal.append(rpc, request.SerializeToString())
        if dim and not self.vector_dim:
            self.vector_dim = dim
        if rpc == "Reset" and is_root(request.scope_prefix):
            self.vector_dim = 0
        try:
            return local_apply(self.local_locked())
        except Exception as e:  # noqa: BLE001 - the journal is authoritative; local is a cache
            _logger.warning("fast-crewai: local copy of a journaled %s failed: %s", rpc, e)
            return None


_sessions_lock = threading.Lock()
_sessions: dict[tuple[str, str, str], NamespaceSession] = {}


def session_for(namespace: str, path: Path, table_name: str) -> NamespaceSession:
    key = (namespace, str(path), table_name)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = NamespaceSession(namespace, path, table_name)
        return session


def _after_fork_in_child() -> None:
    global _sessions_lock
    _sessions_lock = threading.Lock()
    for session in list(_sessions.values()):
        session.reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _flush_at_exit() -> None:
    """Best effort: replay pending journals if the daemon is back; else leave them on disk for
    the next process that opens the same path (journal.replay_orphans)."""
    with _sessions_lock:
        sessions = list(_sessions.values())
    for session in sessions:
        if not session.needs_recovery:
            continue
        with session.lock:
            try:
                session.recover_locked(force=True, timeout=2.0)
            except Exception:  # noqa: BLE001 - never raise at exit
                pass
            session.journal.close()
