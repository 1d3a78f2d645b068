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
* Embeddings travel packed (`embedding_f32`, `query_embedding_f32`: little-endian float32 bytes)
  in both directions: `struct.pack` of a list of floats is the cheapest conversion CrewAI's
  list[float] allows (about 6 ns a value, against 25 for `repeated float`), and the daemon
  copies the block as it is. A vector struct cannot pack (a value beyond float32's range) goes
  in the repeated field instead, so the daemon's answer is the same as for any other input.

Thread-safety: pure functions, safe from any thread.
"""

from __future__ import annotations

import array
import json
import struct
import sys
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
# Embeddings

# One compiled little-endian float32 Struct per vector length (a handful in a process).
_PACKERS: dict[int, struct.Struct] = {}
_NATIVE_LITTLE = sys.byteorder == "little"


def _packer(length: int) -> struct.Struct:
    packer = _PACKERS.get(length)
    if packer is None:
        packer = _PACKERS.setdefault(length, struct.Struct(f"<{length}f"))
    return packer


def pack_embedding(values: Sequence[float]) -> bytes | None:
    """`values` as little-endian float32 bytes, or None when a value does not fit a float32
    (the caller then sends the repeated field and the daemon rejects it as not finite)."""
    try:
        return _packer(len(values)).pack(*values)
    except (OverflowError, struct.error):
        return None


def unpack_embedding(data: bytes) -> list[float]:
    """Little-endian float32 bytes -> list of Python floats."""
    if _NATIVE_LITTLE:
        return array.array("f", data).tolist()
    return list(_packer(len(data) // 4).unpack(data))


def embedding_from_proto(msg: memory_pb2.MemoryRecord) -> list[float] | None:
    """The record's embedding from whichever field carries it; None when there is none."""
    if msg.embedding_f32:
        return unpack_embedding(msg.embedding_f32)
    return list(msg.embedding) if len(msg.embedding) else None


# --------------------------------------------------------------------------------------------
# Records


def _record_fields(record: MemoryRecord) -> dict[str, Any]:
    """The scalar fields of `record`'s wire form (everything but the embedding).

    Raises:
      TypeError: metadata holds a value JSON cannot encode (LanceDB's save raises the same).
    """
    fields: dict[str, Any] = {
        "id": str(record.id),
        "content": record.content,
        "scope": rooted_scope(record.scope),
        "categories": record.categories,
        "metadata_json": json.dumps(record.metadata),
        "importance": float(record.importance),
        "created_at": record.created_at.isoformat(),
        "created_at_micros": datetime_to_micros(record.created_at),
        "last_accessed": record.last_accessed.isoformat(),
        "last_accessed_micros": datetime_to_micros(record.last_accessed),
        "private": bool(record.private),
    }
    if record.source:  # "" reads back as None from LanceDB too (`row.get("source") or None`)
        fields["source"] = record.source
    return fields


def rooted_scope(scope: str) -> str:
    """The stored form of a record's scope: the daemon's scopes are rooted paths, and a scope
    without the leading "/" (an LLM may infer "project/alpha") is taken from the root, as the
    daemon takes scope prefixes."""
    return scope if scope.startswith("/") else "/" + scope


def _set_embedding(msg: memory_pb2.MemoryRecord, record: MemoryRecord, packed: bool) -> None:
    if record.embedding:
        data = pack_embedding(record.embedding) if packed else None
        if data is not None:
            msg.embedding_f32 = data
        else:
            msg.embedding.extend(record.embedding)


def record_to_proto(record: MemoryRecord, packed: bool = False) -> memory_pb2.MemoryRecord:
    """MemoryRecord -> wire record; the embedding in `embedding_f32` when `packed` (only for a
    daemon that reads it: DescribeNamespaceResponse.packed_embeddings).

    Raises:
      TypeError: metadata holds a value JSON cannot encode (LanceDB's save raises the same).
    """
    msg = memory_pb2.MemoryRecord(**_record_fields(record))
    _set_embedding(msg, record, packed)
    return msg


def save_request(
    namespace: str, records: Iterable[MemoryRecord], packed: bool = False
) -> memory_pb2.SaveRecordsRequest:
    """The SaveRecordsRequest of `records` (as record_to_proto each), built in place: each
    record is created inside the request rather than copied into it (a 1536-d record is
    6 KB, and the copy was about a sixth of the conversion's cost).

    Raises:
      TypeError: as record_to_proto.
    """
    request = memory_pb2.SaveRecordsRequest(namespace=namespace)
    add = request.records.add
    for record in records:
        _set_embedding(add(**_record_fields(record)), record, packed)
    return request


def set_query_embedding(request: memory_pb2.SearchRequest, values: Sequence[float],
                        packed: bool) -> None:
    """Puts the query vector into `request`, packed when `packed` (as record_to_proto)."""
    data = pack_embedding(values) if packed and len(values) else None
    if data is not None:
        request.query_embedding_f32 = data
    else:
        request.query_embedding.extend(values)


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
        embedding=embedding_from_proto(msg),
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
