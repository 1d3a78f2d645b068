"""The one mapping between CrewAI's memory types and fast_crewai.v1 memory messages.

Every other module in fast_crewai.memory speaks CrewAI types (MemoryRecord, ScopeInfo, datetime,
dict) and calls into this module to cross the wire. The rules follow CrewAI's LanceDB storage
(crewai/memory/storage/lancedb_storage.py, `_record_to_row` / `_row_to_record`) so that a record
round-trips through the daemon exactly as it round-trips through LanceDB:

* Datetimes travel twice: `dt.isoformat()` text (returned byte for byte, so a naive datetime comes
  back naive, as CrewAI's `datetime.utcnow` defaults need) and Unix microseconds (the daemon's
  ordering and `older_than` key). A naive datetime is taken to be UTC, as CrewAI's are.
* Metadata is `json.dumps` text: a value JSON cannot encode raises TypeError before anything is
  sent, as LanceDB's save does. Read back with `json.loads` (tuples come back as lists, int keys
  as strings, exactly as from LanceDB).
* `source=None` is an absent field; an empty embedding is "no embedding" (the daemon zero-fills).
* Embeddings come back with every record (float32 values as Python floats), because Memory.update
  and EncodingFlow re-save `existing.embedding`.

Thread-safety: pure functions, safe from any thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from crewai.memory.types import MemoryRecord, ScopeInfo

from fast_crewai.v1 import memory_pb2

_EPOCH_AWARE = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_ONE_MICRO = timedelta(microseconds=1)


# --------------------------------------------------------------------------------------------
# Datetimes


def datetime_to_micros(dt: datetime) -> int:
    """Unix microseconds of `dt`; a naive datetime is UTC (CrewAI stores `datetime.utcnow()`)."""
    epoch = _EPOCH_NAIVE if dt.tzinfo is None or dt.utcoffset() is None else _EPOCH_AWARE
    return (dt - epoch) // _ONE_MICRO


def micros_to_datetime(micros: int) -> datetime:
    """The naive UTC datetime of Unix microseconds (CrewAI's convention)."""
    return _EPOCH_NAIVE + timedelta(microseconds=micros)


def parse_datetime(text: str, micros: int = 0) -> datetime:
    """Parses ISO text as LanceDB's `_row_to_record` does; falls back to `micros` if empty.

    `datetime.fromisoformat` keeps a naive text naive. "Z" is accepted on every Python version.
    """
    if text:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return micros_to_datetime(micros)


# --------------------------------------------------------------------------------------------
# Records


def record_to_proto(record: MemoryRecord) -> memory_pb2.MemoryRecord:
    """MemoryRecord -> wire record.

    Raises:
      TypeError: metadata holds a value JSON cannot encode (LanceDB's save raises the same).
    """
    msg = memory_pb2.MemoryRecord(
        id=str(record.id),
        content=record.content,
        scope=record.scope,
        categories=list(record.categories),
        metadata_json=json.dumps(record.metadata),
        importance=float(record.importance),
        created_at=record.created_at.isoformat(),
        created_at_micros=datetime_to_micros(record.created_at),
        last_accessed=record.last_accessed.isoformat(),
        last_accessed_micros=datetime_to_micros(record.last_accessed),
        private=bool(record.private),
    )
    if record.source is not None:
        msg.source = record.source
    if record.embedding:
        msg.embedding.extend(record.embedding)
    return msg


def records_to_proto(records: Iterable[MemoryRecord]) -> list[memory_pb2.MemoryRecord]:
    return [record_to_proto(r) for r in records]


def record_from_proto(msg: memory_pb2.MemoryRecord) -> MemoryRecord:
    """Wire record -> MemoryRecord (with its embedding; None when the daemon sent none)."""
    return MemoryRecord(
        id=msg.id,
        content=msg.content,
        scope=msg.scope or "/",
        categories=list(msg.categories),
        metadata=json.loads(msg.metadata_json) if msg.metadata_json else {},
        importance=msg.importance,
        created_at=parse_datetime(msg.created_at, msg.created_at_micros),
        last_accessed=parse_datetime(msg.last_accessed, msg.last_accessed_micros),
        embedding=list(msg.embedding) if len(msg.embedding) else None,
        source=msg.source if msg.HasField("source") else None,
        private=msg.private,
    )


def scored_from_proto(
    results: Iterable[memory_pb2.ScoredRecord],
) -> list[tuple[MemoryRecord, float]]:
    return [(record_from_proto(r.record), float(r.score)) for r in results]


# --------------------------------------------------------------------------------------------
# Filters and small results


def record_filter(
    scope_prefix: str | None = None,
    categories: Sequence[str] | None = None,
    metadata_filter: Mapping[str, Any] | None = None,
) -> memory_pb2.RecordFilter:
    """CrewAI's optional filter arguments -> RecordFilter (None and empty mean "no filter").

    Raises:
      TypeError: metadata_filter holds a value JSON cannot encode.
    """
    return memory_pb2.RecordFilter(
        scope_prefix=scope_prefix or "",
        categories=list(categories or ()),
        metadata_filter_json=json.dumps(dict(metadata_filter)) if metadata_filter else "",
    )


def scope_info_from_proto(msg: memory_pb2.GetScopeInfoResponse) -> ScopeInfo:
    return ScopeInfo(
        path=msg.path or "/",
        record_count=int(msg.record_count),
        categories=list(msg.categories),
        oldest_record=parse_datetime(msg.oldest_record) if msg.oldest_record else None,
        newest_record=parse_datetime(msg.newest_record) if msg.newest_record else None,
        child_scopes=list(msg.child_scopes),
    )


def categories_from_proto(msg: memory_pb2.ListCategoriesResponse) -> dict[str, int]:
    return {c.category: int(c.count) for c in msg.categories}
