"""fast_crewai.memory.conversions: the one MemoryRecord <-> proto mapping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from crewai.memory.types import MemoryRecord

from fast_crewai.memory import conversions as c
from fast_crewai.v1 import memory_pb2


def test_record_round_trip_keeps_every_field() -> None:
    r = MemoryRecord(
        id="id-1", content="c", scope="/a/b", categories=["x", "y"],
        metadata={"k": [1, {"n": None}], "s": "é"}, importance=0.25,
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901),
        last_accessed=datetime(2026, 1, 3, 3, 4, 5),
        embedding=[0.1, -2.5, 3.0], source="src", private=True,
    )
    msg = c.record_to_proto(r)
    back = c.record_from_proto(memory_pb2.MemoryRecord.FromString(msg.SerializeToString()))
    assert back.model_dump() == r.model_dump()
    assert back.embedding == [float(np.float32(v)) for v in r.embedding]



def test_save_request_builds_each_record_as_record_to_proto_does() -> None:
    records = [
        MemoryRecord(id="a", content="c", scope="/a", categories=["x"], metadata={"n": 1},
                     embedding=[0.5, -1.0], source="s", private=True),
        MemoryRecord(id="b", content="", embedding=None),  # no embedding, source None
        MemoryRecord(id="c", content="big", embedding=[1e39, 0.0]),  # cannot pack: repeated
    ]
    for packed in (False, True):
        request = c.save_request("ns-1", iter(records), packed)
        assert request.namespace == "ns-1"
        assert list(request.records) == [c.record_to_proto(r, packed) for r in records]
    request = c.save_request("ns-1", records, True)
    assert request.records[0].embedding_f32 == c.pack_embedding([0.5, -1.0])
    assert not request.records[1].HasField("source") and request.records[0].source == "s"
    assert list(request.records[2].embedding) == [float("inf"), 0.0]
    with pytest.raises(TypeError):
        c.save_request("ns-1", [MemoryRecord(content="x", metadata={"o": object()})], True)

def test_datetimes_travel_as_text_and_micros() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5, 6)
    msg = c.record_to_proto(MemoryRecord(content="x", created_at=naive, last_accessed=naive))
    assert msg.created_at == "2026-01-02T03:04:05.000006"
    assert msg.created_at_micros == int(
        naive.replace(tzinfo=timezone.utc).timestamp()) * 1_000_000 + 6
    aware = datetime(2026, 1, 2, 5, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    msg = c.record_to_proto(MemoryRecord(content="x", created_at=aware, last_accessed=aware))
    assert msg.created_at == "2026-01-02T05:04:05.000006+02:00"
    assert msg.created_at_micros == c.datetime_to_micros(naive)  # same instant
    back = c.record_from_proto(msg)
    assert back.created_at == aware and back.created_at.utcoffset() == timedelta(hours=2)


def test_micros_are_exact_far_from_the_epoch() -> None:
    dt = datetime(9999, 12, 31, 23, 59, 59, 999999)
    assert c.micros_to_datetime(c.datetime_to_micros(dt)) == dt
    before = datetime(1900, 1, 1, 0, 0, 0, 1)
    assert c.datetime_to_micros(before) < 0
    assert c.micros_to_datetime(c.datetime_to_micros(before)) == before


def test_parse_datetime_accepts_z_and_falls_back_to_micros() -> None:
    assert c.parse_datetime("2026-01-02T03:04:05Z") == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert c.parse_datetime("", 1_000_001) == datetime(1970, 1, 1, 0, 0, 1, 1)


def test_source_none_and_empty_are_absent_as_lancedb_reads_them() -> None:
    # CrewAI's LanceDBStorage stores `record.source or ""` and reads `row.get("source") or
    # None`: an empty source comes back None (and so a private record saved with source=""
    # is not shown to recall(source="")).
    for source in (None, ""):
        msg = c.record_to_proto(MemoryRecord(content="x", source=source))
        assert not msg.HasField("source")
        assert c.record_from_proto(msg).source is None
    assert c.record_from_proto(c.record_to_proto(MemoryRecord(content="x", source="a"))).source \
        == "a"


def test_a_scope_without_the_leading_slash_is_stored_from_the_root() -> None:
    # An LLM may infer "project/alpha"; the daemon's scopes are rooted paths.
    assert c.record_to_proto(MemoryRecord(content="x", scope="project/alpha")).scope \
        == "/project/alpha"
    assert c.record_to_proto(MemoryRecord(content="x", scope="/a/b")).scope == "/a/b"
    request = c.save_request("ns", [MemoryRecord(content="x", scope="p")])
    assert request.records[0].scope == "/p"


def test_no_embedding_is_empty_and_comes_back_none() -> None:
    msg = c.record_to_proto(MemoryRecord(content="x", embedding=None))
    assert len(msg.embedding) == 0
    assert c.record_from_proto(msg).embedding is None
    assert len(c.record_to_proto(MemoryRecord(content="x", embedding=[])).embedding) == 0


def test_metadata_is_json_text_and_non_json_raises_type_error() -> None:
    msg = c.record_to_proto(MemoryRecord(content="x", metadata={"a": (1, 2)}))
    assert msg.metadata_json == '{"a": [1, 2]}'
    assert c.record_from_proto(msg).metadata == {"a": [1, 2]}
    with pytest.raises(TypeError):
        c.record_to_proto(MemoryRecord(content="x", metadata={"a": object()}))
    assert c.record_from_proto(memory_pb2.MemoryRecord(content="x")).metadata == {}


def test_record_filter() -> None:
    f = c.record_filter(None, None, None)
    assert (f.scope_prefix, list(f.categories), f.metadata_filter_json) == ("", [], "")
    f = c.record_filter("/a", ["x"], {"k": 1})
    assert (f.scope_prefix, list(f.categories), f.metadata_filter_json) == ("/a", ["x"],
                                                                           '{"k": 1}')
    with pytest.raises(TypeError):
        c.record_filter(None, None, {"k": {1, 2}})


def test_scope_info_and_categories() -> None:
    info = c.scope_info_from_proto(memory_pb2.GetScopeInfoResponse(
        path="/a", record_count=3, categories=["x"], oldest_record="2026-01-01T00:00:00.5",
        newest_record="", child_scopes=["/a/b"]))
    assert info.path == "/a" and info.record_count == 3
    assert info.oldest_record == datetime(2026, 1, 1, 0, 0, 0, 500000)
    assert info.newest_record is None
    assert info.child_scopes == ["/a/b"]
    cats = memory_pb2.ListCategoriesResponse(categories=[
        memory_pb2.CategoryCount(category="b", count=2),
        memory_pb2.CategoryCount(category="a", count=1)])
    assert c.categories_from_proto(cats) == {"b": 2, "a": 1}
