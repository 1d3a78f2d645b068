"""DaemonStorage: CrewAI's memory StorageBackend served by the fast-crewai daemon.

A drop-in for `crewai.memory.storage.lancedb_storage.LanceDBStorage`: the same constructor
arguments, all eleven sync methods of `crewai.memory.storage.backend.StorageBackend` with CrewAI's
signatures and defaults, `asave/asearch/adelete`, and the duck-typed extras Memory calls
(`touch_records`, `close`) plus `optimize()`. Records live in the daemon namespace derived from
the LanceDB directory (fast_crewai.memory.namespace), so every process that opens the same path
shares one store and sees every acknowledged write immediately.

Semantics are the daemon's (proto/fast_crewai/v1/memory.proto); where they differ from LanceDB's
they follow the documented contract rather than LanceDB's accidents: path-aware scope prefixes,
every delete criterion ANDed, `list_records` globally newest first, filters applied before
ranking. Scores are LanceDB's `1 / (1 + squared L2)`. Errors: a dimension mismatch raises CrewAI's
`EmbeddingDimensionMismatchError(stored_dim, new_dim)`, bad input a ValueError, a save or update
that would pass the daemon's `--memory_max_records` `fast_crewai.errors.ResourceExhausted`
(nothing of it stored, nothing journaled).

Outages. If the daemon stops answering (UNAVAILABLE / DEADLINE_EXCEEDED) mid-run:
* writes (save, update, delete, reset, touch_records) are appended to a durable per-process
  journal (fast_crewai.memory.journal) under `<path>/.fast-crewai-journal/`, and return only once
  the entry is fsync'ed; they are also applied, best effort, to a local LanceDBStorage at the
  same path so this process reads its own writes;
* reads are answered by that local LanceDBStorage: what CrewAI stored at this path without the
  daemon, plus every write made during the outage. Records that live only in the daemon are not
  visible until it returns;
* the daemon is probed again at most every outage.PROBE_INTERVAL_S; once it answers, the journal (first
  orphaned journals of dead processes at this path, then this process's) is replayed in order
  before any other call is served, then deleted. A journaled delete returns the number of
  records it removed locally. A replayed entry the daemon rejects for its content (dimension,
  invalid argument) cannot be stored anywhere: it is moved to
  `.fast-crewai-journal/rejected/` and logged as an error.
The dimension is checked locally against the last dimension the daemon reported, so a mismatch
still raises during an outage.

Thread-safety: a DaemonStorage is safe for concurrent use from any number of threads (Memory uses
up to 8 + 4). Online calls run concurrently; the outage state, journal and local store of a
namespace are shared by every DaemonStorage of that namespace in the process
(fast_crewai.memory.outage) and guarded by one lock, so journal order is this process's call
order. Copying returns the same object.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from crewai.memory.storage.backend import EmbeddingDimensionMismatchError
from crewai.memory.types import MemoryRecord, ScopeInfo

from fast_crewai import errors
from fast_crewai.memory import conversions, namespace as ns, outage, remote
from fast_crewai.v1 import common_pb2, memory_pb2

T = TypeVar("T")

# Pause before the one retry of a call answered UNAVAILABLE.
RETRY_DELAY_S = 0.1
# The daemon's limits (memory.proto): larger requests are split or clamped here.
MAX_SEARCH_LIMIT = 10_000
MAX_PAGE_LIMIT = 10_000


def _batch_dim(embeddings: Sequence[Sequence[float] | None]) -> int:
    """The common length of the non-empty embeddings (0 if none); raises on a mixed batch,
    with the same arguments as LanceDBStorage.save."""
    dim = 0
    for emb in embeddings:
        if emb:
            if not dim:
                dim = len(emb)
            elif len(emb) != dim:
                raise EmbeddingDimensionMismatchError(dim, len(emb))
    return dim


class DaemonStorage:
    """CrewAI StorageBackend backed by the fast-crewai daemon (see the module docstring)."""

    def __init__(
        self,
        path: str | Path | None = None,
        table_name: str = ns.DEFAULT_TABLE,
        vector_dim: int | None = None,
        compact_every: int = 100,
        *,
        namespace: str | None = None,
        timeout: float | None = None,
        require_daemon: bool = False,
    ) -> None:
        """Opens the store LanceDBStorage(path, table_name) would open, on the daemon.

        Args:
          path: the LanceDB directory this store stands for; None is CrewAI's default
            ($CREWAI_STORAGE_DIR/memory, else db_storage_path()/memory). It names the daemon
            namespace and holds the outage journal and the local fallback store.
          table_name: LanceDB table name; a non-default one gets its own namespace.
          vector_dim: as LanceDBStorage: the dimension every embedding must have while the
            daemon's namespace has none yet (checked in this process).
          compact_every: accepted for LanceDBStorage compatibility; the daemon needs no
            compaction.
          namespace: overrides the derived namespace (tests, explicit sharing).
          timeout: per-call deadline in seconds (default 30 s).
          require_daemon: raise instead of starting in outage mode when the daemon does not
            answer (used by the factory, which then lets CrewAI build its own LanceDBStorage).

        Raises:
          fast_crewai.errors.RpcError: the daemon answered with an error (wrong token, no memory
            service, namespace rejected), or, with `require_daemon`, did not answer
            (DaemonUnavailable).
        """
        del compact_every
        self._path = ns.resolve_storage_path(path)
        self._table_name = table_name
        self._namespace = namespace or ns.namespace_for_path(self._path, table_name)
        self._explicit_dim = int(vector_dim or 0)
        self._timeout = timeout
        self._session = outage.session_for(self._namespace, self._path, table_name)
        self._connect(require_daemon)

    # -- identity ------------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The daemon namespace holding this store's records."""
        return self._namespace

    @property
    def path(self) -> Path:
        """The resolved LanceDB directory this store stands for."""
        return self._path

    @property
    def degraded(self) -> bool:
        """True while the daemon is unreachable (or a journal awaits replay)."""
        return self._session.degraded

    def __repr__(self) -> str:
        return f"DaemonStorage(namespace={self._namespace!r})"

    def __copy__(self) -> DaemonStorage:
        return self

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> DaemonStorage:
        return self

    # -- plumbing ------------------------------------------------------------------------------

    def _call(self, rpc: str, request: Any) -> Any:
        """One call, retried once after RETRY_DELAY_S on UNAVAILABLE (not on a deadline): a busy
        daemon (SQLite busy answers UNAVAILABLE) must not send the namespace into outage mode.
        Every memory call may be sent twice: writes are idempotent (upserts, fixed touch time)."""
        try:
            return remote.call(rpc, request, timeout=self._timeout)
        except errors.DeadlineExceeded:
            raise
        except errors.DaemonUnavailable:
            time.sleep(RETRY_DELAY_S)
            return remote.call(rpc, request, timeout=self._timeout)

    def _connect(self, require_daemon: bool) -> None:
        """Learns the namespace's dimension and replays pending journals; outage mode if the
        daemon does not answer (unless `require_daemon`). Other daemon errors raise."""
        s = self._session
        with s.lock:
            try:
                info = self._call(
                    "DescribeNamespace", memory_pb2.DescribeNamespaceRequest(namespace=s.namespace)
                )
            except errors.DaemonUnavailable:
                if require_daemon:
                    raise
                s.mark_down_locked()
                return
            s.vector_dim = int(info.vector_dim)
            s.packed_embeddings = bool(info.packed_embeddings)
            s.recover_locked(force=True, timeout=self._timeout)

    def _check_explicit_dim(self, dim: int) -> None:
        if dim and self._explicit_dim and not self._session.vector_dim and dim != self._explicit_dim:
            raise EmbeddingDimensionMismatchError(self._explicit_dim, dim)

    def _write(
        self, rpc: str, request: Any, local_apply: Callable[[Any], T], dim: int = 0
    ) -> tuple[Any, T | None]:
        """Sends a write, or journals it during an outage (after the offline dimension check).
        Returns (the response, None) or (None, local_apply's result) when journaled."""
        s = self._session
        return s.write(
            rpc,
            request,
            self._call,
            s.journaled_write(rpc, request, local_apply, dim),
            self._timeout,
            offline_check=lambda: s.check_dim_offline(dim),
        )

    def _read(
        self,
        rpc: str,
        request: Any,
        convert: Callable[[Any], T],
        local_read: Callable[[Any], T],
        dim: int = 0,
    ) -> T:
        """Answers a read from the daemon, or from the local store during an outage (after the
        offline dimension check)."""
        s = self._session

        def local() -> T:
            s.check_dim_offline(dim)
            return local_read(s.local_locked())

        return s.read(lambda: self._call(rpc, request), convert, local, self._timeout)

    # -- StorageBackend ------------------------------------------------------------------------

    def save(self, records: list[MemoryRecord]) -> None:
        """Upserts `records` (by id). Raises EmbeddingDimensionMismatchError on a dimension
        other than the namespace's (or mixed within the batch), TypeError on non-JSON metadata,
        fast_crewai.errors.ResourceExhausted when the daemon's store is full (none stored)."""
        if not records:
            return
        dim = _batch_dim([r.embedding for r in records])
        self._check_explicit_dim(dim)
        request = conversions.save_request(
            self._namespace, records, self._session.packed_embeddings
        )
        response, _ = self._write(
            "SaveRecords", request, lambda local: local.save(list(records)), dim
        )
        if response is not None:
            self._session.vector_dim = int(response.vector_dim)

    def search(
        self,
        query_embedding: list[float],
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        metadata_filter: dict[str, Any] | None = None,
        limit: int = 10,
        min_score: float = 0.0,
    ) -> list[tuple[MemoryRecord, float]]:
        """Records nearest to `query_embedding` among those matching every filter, best first,
        as (record with embedding, 1 / (1 + squared L2)). `limit` above 10 000 is clamped."""
        dim = len(query_embedding)
        self._check_explicit_dim(dim)
        packed = self._session.packed_embeddings
        request = memory_pb2.SearchRequest(
            namespace=self._namespace,
            mode=memory_pb2.SEARCH_MODE_VECTOR,
            filter=conversions.record_filter(scope_prefix, categories, metadata_filter),
            limit=min(int(limit), MAX_SEARCH_LIMIT),
            min_score=float(min_score),
            packed_embeddings=True,  # a server without the field answers `embedding`: read too
        )
        conversions.set_query_embedding(request, query_embedding, packed)

        def local(store: Any) -> list[tuple[MemoryRecord, float]]:
            try:
                return store.search(
                    list(query_embedding),
                    scope_prefix=scope_prefix,
                    categories=categories,
                    metadata_filter=metadata_filter,
                    limit=limit,
                    min_score=min_score,
                )
            except EmbeddingDimensionMismatchError:
                # The local store predates the daemon's dimension (checked above): it has
                # nothing comparable to offer.
                return []

        return self._read(
            "Search",
            request,
            lambda r: conversions.scored_from_proto(r.results),
            local,
            dim,
        )

    def delete(
        self,
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        record_ids: list[str] | None = None,
        older_than: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> int:
        """Deletes the records matching every given criterion (none given: all records);
        returns how many were deleted."""
        request = memory_pb2.DeleteRecordsRequest(
            namespace=self._namespace,
            filter=conversions.record_filter(scope_prefix, categories, metadata_filter),
            record_ids=[str(i) for i in record_ids or ()],
        )
        if older_than is not None:
            # 0 means "no bound" on the wire; the epoch itself becomes one microsecond earlier.
            request.older_than_micros = conversions.datetime_to_micros(older_than) or -1
        response, local_count = self._write(
            "DeleteRecords",
            request,
            lambda local: local.delete(
                scope_prefix=scope_prefix,
                categories=categories,
                record_ids=record_ids,
                older_than=older_than,
                metadata_filter=metadata_filter,
            ),
        )
        if response is not None:
            return int(response.deleted)
        return int(local_count or 0)

    def update(self, record: MemoryRecord) -> None:
        """Replaces the record with the same id (inserts it when absent)."""
        dim = len(record.embedding or ())
        self._check_explicit_dim(dim)
        request = memory_pb2.UpdateRecordRequest(
            namespace=self._namespace,
            record=conversions.record_to_proto(record, self._session.packed_embeddings),
        )
        response, _ = self._write(
            "UpdateRecord", request, lambda local: local.update(record), dim
        )
        if response is not None and dim and not self._session.vector_dim:
            self._session.vector_dim = dim

    def get_record(self, record_id: str) -> MemoryRecord | None:
        """The record with this id (with its embedding), or None."""
        request = memory_pb2.GetRecordRequest(
            namespace=self._namespace, id=str(record_id), packed_embeddings=True
        )
        return self._read(
            "GetRecord",
            request,
            lambda r: conversions.record_from_proto(r.record) if r.found else None,
            lambda local: local.get_record(record_id),
        )

    def list_records(
        self,
        scope_prefix: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[MemoryRecord]:
        """Records under `scope_prefix`, newest first (created_at, then id), `offset` skipped."""
        if limit <= 0 or offset < 0:
            return []

        def from_daemon(r: Any) -> tuple[list[MemoryRecord], bool | None]:
            return [conversions.record_from_proto(m) for m in r.records], r.page_info.has_more

        def from_local(store: Any) -> tuple[list[MemoryRecord], bool | None]:
            # Answers the whole call; None marks it as the local answer.
            return store.list_records(scope_prefix=scope_prefix, limit=limit, offset=offset), None

        out: list[MemoryRecord] = []
        while len(out) < limit:  # pages of at most MAX_PAGE_LIMIT (the daemon's maximum)
            request = memory_pb2.ListRecordsRequest(
                namespace=self._namespace,
                scope_prefix=scope_prefix or "",
                page=common_pb2.PageRequest(
                    limit=min(limit - len(out), MAX_PAGE_LIMIT), offset=offset + len(out)
                ),
                packed_embeddings=True,
            )
            batch, more = self._read("ListRecords", request, from_daemon, from_local)
            if more is None:
                return batch if not out else out  # outage: the local store answers
            out.extend(batch)
            if not more or not batch:
                break
        return out[:limit]

    def get_scope_info(self, scope: str) -> ScopeInfo:
        """Record count, categories, date range and child scopes of `scope` (and below)."""
        request = memory_pb2.GetScopeInfoRequest(namespace=self._namespace, scope=scope)
        return self._read(
            "GetScopeInfo",
            request,
            conversions.scope_info_from_proto,
            lambda local: local.get_scope_info(scope),
        )

    def list_scopes(self, parent: str = "/") -> list[str]:
        """Sorted immediate child scopes of `parent` (full paths)."""
        request = memory_pb2.ListScopesRequest(namespace=self._namespace, parent=parent)
        return self._read(
            "ListScopes",
            request,
            lambda r: list(r.scopes),
            lambda local: local.list_scopes(parent),
        )

    def list_categories(self, scope_prefix: str | None = None) -> dict[str, int]:
        """{category: number of records carrying it} under `scope_prefix`."""
        request = memory_pb2.ListCategoriesRequest(
            namespace=self._namespace, scope_prefix=scope_prefix or ""
        )
        return self._read(
            "ListCategories",
            request,
            conversions.categories_from_proto,
            lambda local: local.list_categories(scope_prefix),
        )

    def count(self, scope_prefix: str | None = None) -> int:
        """Number of records under `scope_prefix` (None: all)."""
        request = memory_pb2.CountRequest(namespace=self._namespace, scope_prefix=scope_prefix or "")
        return self._read(
            "Count", request, lambda r: int(r.count), lambda local: local.count(scope_prefix)
        )

    def reset(self, scope_prefix: str | None = None) -> None:
        """Deletes every record under `scope_prefix`; None or "/" empties the namespace and frees
        its dimension."""
        request = memory_pb2.ResetRequest(namespace=self._namespace, scope_prefix=scope_prefix or "")
        response, _ = self._write("Reset", request, lambda local: local.reset(scope_prefix))
        if response is not None and outage.is_root(scope_prefix):
            self._session.vector_dim = 0

    # -- extras Memory calls duck-typed --------------------------------------------------------

    def touch_records(self, record_ids: list[str]) -> None:
        """Sets last_accessed of these records to now (naive UTC, as CrewAI)."""
        if not record_ids:
            return
        now = datetime.utcnow()
        request = memory_pb2.TouchRecordsRequest(
            namespace=self._namespace,
            record_ids=[str(i) for i in record_ids],
            last_accessed=now.isoformat(),
            last_accessed_micros=conversions.datetime_to_micros(now),
        )
        self._write("TouchRecords", request, lambda local: local.touch_records(list(record_ids)))

    def optimize(self) -> None:
        """No-op: the daemon keeps its index compact itself."""

    def close(self) -> None:
        """Replays this namespace's pending journal if the daemon is back. The storage stays
        usable (other Memory objects of the process may share the namespace)."""
        s = self._session
        if s.degraded:
            with s.lock:
                if s.degraded:
                    s.recover_locked(force=True, timeout=self._timeout)

    # -- async variants ------------------------------------------------------------------------

    async def asave(self, records: list[MemoryRecord]) -> None:
        await asyncio.to_thread(self.save, records)

    async def asearch(
        self,
        query_embedding: list[float],
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        metadata_filter: dict[str, Any] | None = None,
        limit: int = 10,
        min_score: float = 0.0,
    ) -> list[tuple[MemoryRecord, float]]:
        return await asyncio.to_thread(
            self.search,
            query_embedding,
            scope_prefix=scope_prefix,
            categories=categories,
            metadata_filter=metadata_filter,
            limit=limit,
            min_score=min_score,
        )

    async def adelete(
        self,
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        record_ids: list[str] | None = None,
        older_than: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> int:
        return await asyncio.to_thread(
            self.delete,
            scope_prefix=scope_prefix,
            categories=categories,
            record_ids=record_ids,
            older_than=older_than,
            metadata_filter=metadata_filter,
        )
