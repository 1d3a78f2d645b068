"""Outage handling shared by the DaemonStorage objects of one namespace in this process.

A NamespaceSession (an outage_session.OutageSession: degraded flag, durable journal, replay)
holds what must be common to every DaemonStorage of a namespace so that one process has one
order of writes, plus what is memory's own: the dimension the daemon last reported (checked
offline, so a mismatch raises during an outage too), whether the daemon reads packed embeddings,
and the local LanceDBStorage answering reads meanwhile. See fast_crewai.memory.daemon_storage for
the behaviour as CrewAI sees it.

Lifecycle: `session_for()` creates sessions on first use and keeps them for the process's life;
at interpreter exit pending journals are replayed if the daemon is back, else left on disk for
the next process that opens the same path; a forked child starts with fresh sessions
(outage_session.SessionRegistry).

Thread-safety: as OutageSession: every field is guarded by `lock`, except `degraded`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from crewai.memory.storage.backend import EmbeddingDimensionMismatchError

from fast_crewai.memory import namespace as ns, remote
from fast_crewai.memory.outage_session import PROBE_INTERVAL_S, OutageSession, SessionRegistry
from fast_crewai.v1 import memory_pb2

__all__ = ["PROBE_INTERVAL_S", "NamespaceSession", "crewais_own_storage", "is_root", "session_for"]

T = TypeVar("T")

_logger = logging.getLogger(__name__)

_WRITE_REQUESTS: dict[str, type[Any]] = {
    "SaveRecords": memory_pb2.SaveRecordsRequest,
    "UpdateRecord": memory_pb2.UpdateRecordRequest,
    "DeleteRecords": memory_pb2.DeleteRecordsRequest,
    "Reset": memory_pb2.ResetRequest,
    "TouchRecords": memory_pb2.TouchRecordsRequest,
}


def crewais_own_storage(path: Path, table_name: str) -> Any:
    """CrewAI's LanceDBStorage(path, table_name) itself, whatever patch its constructor has
    (the shim makes that constructor build a DaemonStorage)."""
    from crewai.memory.storage.lancedb_storage import LanceDBStorage

    storage = object.__new__(LanceDBStorage)
    LanceDBStorage.__init__(storage, path=str(path), table_name=table_name)
    return storage


def is_root(scope: str | None) -> bool:
    return scope is None or scope.strip("/") == ""


class NamespaceSession(OutageSession):
    """Outage state of one namespace in this process (see the module docstring)."""

    rejected_errors = (EmbeddingDimensionMismatchError, remote.InvalidMemoryRequest)

    def __init__(self, namespace: str, path: Path, table_name: str) -> None:
        super().__init__(
            ns.journal_dir_for_path(path), f"memory namespace {namespace} (local store {path})"
        )
        self.namespace = namespace
        self.path = path
        self.table_name = table_name
        self.vector_dim = 0
        # The daemon reads packed embeddings (DescribeNamespaceResponse.packed_embeddings).
        self.packed_embeddings = False
        self.local: Any = None  # LanceDBStorage, created on first use during an outage
        # Ids saved into the local store during an outage, by this process or by the dead
        # process whose journal it replayed: removed from it once the daemon has them (a later
        # outage must not show them after the daemon deleted one).
        self.outage_ids: set[str] = set()

    def reset_after_fork(self) -> None:
        """As OutageSession's, and drops the inherited LanceDB handle."""
        super().reset_after_fork()
        self.local = None
        self.outage_ids = set()

    def recover_locked(self, force: bool = False, timeout: float | None = None) -> bool:
        """As OutageSession's; once the daemon has this process's outage writes, takes the
        records they saved out of the local store again, which then holds what CrewAI stored
        at this path without the shim (best effort: the daemon's copy is authoritative)."""
        recovered = super().recover_locked(force, timeout)
        if recovered and self.outage_ids and self.journal.pending() == 0:
            ids, self.outage_ids = sorted(self.outage_ids), set()
            if self.local is not None or self.path.exists():  # another process's copies too
                try:
                    self.local_locked().delete(record_ids=ids)
                except Exception as e:  # noqa: BLE001 - a local cache; the daemon has them
                    _logger.warning("fast-crewai: could not remove %d replayed record(s) from "
                                    "the local store of %s: %s", len(ids), self.label, e)
        return recovered

    # REQUIRES: self.lock held, for every method below but check_dim_offline.

    def send_journaled(self, rpc: str, payload: bytes, timeout: float | None) -> None:
        request = _WRITE_REQUESTS[rpc].FromString(payload)
        response = remote.call(rpc, request, timeout=timeout)
        if request.namespace != self.namespace:
            return  # an orphan of another table at this path
        self._note_local_copies(rpc, request)  # whoever journaled it also applied it locally
        if rpc == "SaveRecords":
            self.vector_dim = int(response.vector_dim)
        elif rpc == "Reset" and is_root(request.scope_prefix):
            self.vector_dim = 0

    def probe_locked(self, timeout: float | None) -> None:
        info = remote.call(
            "DescribeNamespace",
            memory_pb2.DescribeNamespaceRequest(namespace=self.namespace),
            timeout=timeout,
        )
        self.packed_embeddings = bool(info.packed_embeddings)

    def local_locked(self) -> Any:
        """The local LanceDBStorage at this path (bypassing any patch of its constructor)."""
        if self.local is None:
            self.local = crewais_own_storage(self.path, self.table_name)
        return self.local

    def _note_local_copies(self, rpc: str, request: Any) -> None:
        """Records the ids a journaled write puts into the local store (outage_ids)."""
        if rpc == "SaveRecords":
            self.outage_ids.update(record.id for record in request.records)
        elif rpc == "UpdateRecord":  # an upsert: may add the record to the local store
            self.outage_ids.add(request.record.id)

    def check_dim_offline(self, dim: int) -> None:
        """Raises as the daemon would, against the dimension it last reported."""
        if dim and self.vector_dim and dim != self.vector_dim:
            raise EmbeddingDimensionMismatchError(self.vector_dim, dim)

    def journaled_write(
        self, rpc: str, request: Any, apply: Callable[[Any], T], dim: int
    ) -> Callable[[], T]:
        """The `local` of OutageSession.write for a memory write: once the write is journaled,
        the dimension bookkeeping the daemon would do, then `apply` on the local store."""

        def run() -> T:
            if dim and not self.vector_dim:
                self.vector_dim = dim
            if rpc == "Reset" and is_root(request.scope_prefix):
                self.vector_dim = 0
            self._note_local_copies(rpc, request)
            return apply(self.local_locked())

        return run


_registry: SessionRegistry[tuple[str, str, str], NamespaceSession] = SessionRegistry()


def session_for(namespace: str, path: Path, table_name: str) -> NamespaceSession:
    """The process's session for this namespace (created on first use, then kept)."""
    return _registry.get(
        (namespace, str(path), table_name), lambda: NamespaceSession(namespace, path, table_name)
    )
