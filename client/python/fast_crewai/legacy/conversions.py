"""The legacy stores' only mapping to fast_crewai.v1 messages (RAGStorage documents as
MemoryService records; the LTM requests come from fast_crewai.persistence.conversions).

* A RAGStorage document is a MemoryRecord: id (semantics.document_id), content, metadata as
  `json.dumps` text, scope "/", the save time as created_at/last_accessed, and the unit
  embedding in vector mode (none in lexical mode).
* Search results come back as CrewAI's `{"id", "content", "metadata", "score"}` dicts with the
  daemon's raw score; the caller maps it (semantics.vector_score / lexical_score).

Thread-safety: pure functions.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from fast_crewai.persistence import conversions as persistence_conversions
from fast_crewai.v1 import memory_pb2, persistence_pb2

# Write requests a journal may hold, by RPC name, with the service that answers them.
MEMORY_WRITES: dict[str, type[Any]] = {
    "SaveRecords": memory_pb2.SaveRecordsRequest,
    "Reset": memory_pb2.ResetRequest,
}
PERSISTENCE_WRITES: dict[str, type[Any]] = {
    "SaveLongTermMemory": persistence_pb2.SaveLongTermMemoryRequest,
    "ResetLongTermMemory": persistence_pb2.ResetLongTermMemoryRequest,
}

save_ltm = persistence_conversions.save_ltm
load_ltm = persistence_conversions.load_ltm
reset_ltm = persistence_conversions.reset_ltm
ltm_entries = persistence_conversions.ltm_entries


def save_document(namespace: str, doc_id: str, content: str, metadata: dict[str, Any],
                  embedding: list[float] | None) -> memory_pb2.SaveRecordsRequest:
    """One RAGStorage document as a SaveRecords request. Raises TypeError for metadata JSON
    cannot encode."""
    now = datetime.now(timezone.utc)
    micros = int(now.timestamp() * 1_000_000)
    record = memory_pb2.MemoryRecord(
        id=doc_id, content=content, scope="/", metadata_json=json.dumps(metadata),
        importance=0.5, created_at=now.isoformat(), created_at_micros=micros,
        last_accessed=now.isoformat(), last_accessed_micros=micros,
    )
    if embedding:
        record.embedding.extend(embedding)
    return memory_pb2.SaveRecordsRequest(namespace=namespace, records=[record])


def search(namespace: str, *, query_text: str, query_embedding: list[float] | None,
           metadata_filter: dict[str, Any] | None, limit: int,
           min_score: float) -> memory_pb2.SearchRequest:
    """A vector search when `query_embedding` is given, else a BM25 search of `query_text`."""
    request = memory_pb2.SearchRequest(
        namespace=namespace, limit=limit, min_score=min_score, omit_embeddings=True,
        filter=memory_pb2.RecordFilter(
            metadata_filter_json=json.dumps(metadata_filter) if metadata_filter else ""),
    )
    if query_embedding:
        request.mode = memory_pb2.SEARCH_MODE_VECTOR
        request.query_embedding.extend(query_embedding)
    else:
        request.mode = memory_pb2.SEARCH_MODE_LEXICAL
        request.query_text = query_text
    return request


def results(response: Any) -> list[dict[str, Any]]:
    """Search results as CrewAI's dicts, with the daemon's raw score, best first."""
    out = []
    for scored in response.results:
        record = scored.record
        out.append({
            "id": record.id,
            "content": record.content,
            "metadata": json.loads(record.metadata_json) if record.metadata_json else {},
            "score": float(scored.score),
        })
    return out


def reset(namespace: str) -> memory_pb2.ResetRequest:
    return memory_pb2.ResetRequest(namespace=namespace)


def get_record(namespace: str, record_id: str) -> memory_pb2.GetRecordRequest:
    return memory_pb2.GetRecordRequest(namespace=namespace, id=record_id)


def describe(namespace: str) -> memory_pb2.DescribeNamespaceRequest:
    return memory_pb2.DescribeNamespaceRequest(namespace=namespace)
