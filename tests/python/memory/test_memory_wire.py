"""Packed float32 embeddings on the wire (MemoryRecord.embedding_f32, SearchRequest.
query_embedding_f32, packed_embeddings in responses), against the real daemon: round trips in
both encodings, and every malformed form rejected with INVALID_ARGUMENT naming the field while
nothing stored changes."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from crewai.memory.storage.backend import EmbeddingDimensionMismatchError
from crewai.memory.types import MemoryRecord

from fast_crewai.memory import conversions
from fast_crewai.memory.daemon_storage import DaemonStorage
from fast_crewai.v1 import memory_pb2, memory_pb2_grpc

DIM = 8


def f32(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def vec(seed: int, dim: int = DIM) -> list[float]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(dim).astype(np.float32).tolist()  # exact float32 values


@pytest.fixture
def stub(memory_daemon: Any) -> Any:
    with grpc.insecure_channel(memory_daemon.endpoint) as channel:
        yield memory_pb2_grpc.MemoryServiceStub(channel)


@pytest.fixture
def ns(tmp_path: Path) -> str:
    return "wire-" + tmp_path.name.replace("[", "-").replace("]", "")


def record(i: int, **fields: Any) -> memory_pb2.MemoryRecord:
    return memory_pb2.MemoryRecord(
        id=f"r{i}", content=f"content {i}", scope="/w", created_at="2026-01-01T00:00:00",
        last_accessed="2026-01-01T00:00:00", **fields)


def rejected(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    return info.value


def count(stub: Any, ns: str) -> int:
    return stub.Count(memory_pb2.CountRequest(namespace=ns)).count


def test_daemon_says_it_reads_packed_embeddings(stub: Any, ns: str) -> None:
    assert stub.DescribeNamespace(memory_pb2.DescribeNamespaceRequest(namespace=ns)).packed_embeddings


def test_packed_save_round_trips_in_both_encodings(stub: Any, ns: str) -> None:
    values = vec(1)
    stub.SaveRecords(memory_pb2.SaveRecordsRequest(
        namespace=ns, records=[record(1, embedding_f32=f32(values)), record(2, embedding=vec(2))]))
    packed = stub.GetRecord(memory_pb2.GetRecordRequest(namespace=ns, id="r1", packed_embeddings=True))
    assert packed.record.embedding_f32 == f32(values) and len(packed.record.embedding) == 0
    plain = stub.GetRecord(memory_pb2.GetRecordRequest(namespace=ns, id="r1"))
    assert list(plain.record.embedding) == values and plain.record.embedding_f32 == b""
    # A record sent as repeated floats comes back packed, byte for byte.
    other = stub.GetRecord(memory_pb2.GetRecordRequest(namespace=ns, id="r2", packed_embeddings=True))
    assert other.record.embedding_f32 == f32(vec(2))
    listed = stub.ListRecords(memory_pb2.ListRecordsRequest(namespace=ns, packed_embeddings=True))
    assert {r.id: r.embedding_f32 for r in listed.records} == {"r1": f32(values), "r2": f32(vec(2))}
    found = stub.Search(memory_pb2.SearchRequest(
        namespace=ns, query_embedding_f32=f32(values), limit=1, packed_embeddings=True))
    assert [r.record.id for r in found.results] == ["r1"] and found.results[0].score == 1.0
    assert found.results[0].record.embedding_f32 == f32(values)


@pytest.mark.parametrize("length", [1, 2, 3, 4 * DIM + 1])
def test_packed_length_not_a_multiple_of_4_names_the_field(stub: Any, ns: str, length: int) -> None:
    stub.SaveRecords(memory_pb2.SaveRecordsRequest(namespace=ns, records=[record(0, embedding=vec(0))]))
    bad = memory_pb2.SaveRecordsRequest(
        namespace=ns, records=[record(1, embedding_f32=f32(vec(1))), record(2, embedding_f32=b"\0" * length)])
    e = rejected(stub.SaveRecords, bad)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details().startswith("records[1].embedding_f32: ") and "multiple of 4" in e.details()
    assert count(stub, ns) == 1  # the valid record of the batch was not stored either
    e = rejected(stub.UpdateRecord, memory_pb2.UpdateRecordRequest(
        namespace=ns, record=record(0, embedding_f32=b"\0" * length)))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details().startswith("record.embedding_f32: ")
    e = rejected(stub.Search, memory_pb2.SearchRequest(namespace=ns, query_embedding_f32=b"\0" * length, limit=1))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details().startswith("query_embedding_f32: ")
    got = stub.GetRecord(memory_pb2.GetRecordRequest(namespace=ns, id="r0"))
    assert list(got.record.embedding) == vec(0)


@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf])
def test_non_finite_packed_values_are_rejected(stub: Any, ns: str, bad_value: float) -> None:
    values = vec(3)
    values[5] = bad_value
    e = rejected(stub.SaveRecords, memory_pb2.SaveRecordsRequest(
        namespace=ns, records=[record(0, embedding_f32=f32(vec(0))), record(1, embedding_f32=f32(values))]))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details().startswith("records[1].embedding[5]: ")
    e = rejected(stub.Search, memory_pb2.SearchRequest(namespace=ns, query_embedding_f32=f32(values), limit=1))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details().startswith("query_embedding[5]: ")
    assert count(stub, ns) == 0


def test_both_encodings_in_one_field_are_rejected(stub: Any, ns: str) -> None:
    both = record(1, embedding=vec(1), embedding_f32=f32(vec(1)))
    e = rejected(stub.SaveRecords, memory_pb2.SaveRecordsRequest(namespace=ns, records=[record(0), both]))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details().startswith("records[1].embedding_f32: set together with records[1].embedding")
    e = rejected(stub.Search, memory_pb2.SearchRequest(
        namespace=ns, query_embedding=vec(1), query_embedding_f32=f32(vec(1)), limit=1))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details().startswith("query_embedding_f32: set together with query_embedding")
    assert count(stub, ns) == 0


def test_packed_dimension_mismatch_is_failed_precondition(stub: Any, ns: str) -> None:
    stub.SaveRecords(memory_pb2.SaveRecordsRequest(namespace=ns, records=[record(0, embedding_f32=f32(vec(0)))]))
    e = rejected(stub.SaveRecords, memory_pb2.SaveRecordsRequest(
        namespace=ns, records=[record(1, embedding_f32=f32(vec(1, DIM + 1)))]))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert dict(e.trailing_metadata())["fast-crewai-new-dim"] == str(DIM + 1)


# ---- the Python side: DaemonStorage sends packed embeddings to a daemon that reads them ----


def test_daemon_storage_round_trips_float32_exactly(memory_daemon: Any, use_daemon: Any, tmp_path: Path) -> None:
    use_daemon(memory_daemon)
    store = DaemonStorage(path=str(tmp_path / "s"), require_daemon=True)
    assert store._session.packed_embeddings  # learned from DescribeNamespace
    values = [0.1, -2.5, 3.0, 1e-30, 123456.789]
    store.save([MemoryRecord(id="a", content="x", embedding=values)])
    expected = [float(np.float32(v)) for v in values]
    assert store.get_record("a").embedding == expected
    assert store.list_records()[0].embedding == expected
    (hit, score), = store.search(values, limit=1)
    assert hit.embedding == expected and score == pytest.approx(1.0)
    with pytest.raises(EmbeddingDimensionMismatchError):
        store.save([MemoryRecord(id="b", content="x", embedding=values + [1.0])])
    # A value beyond float32's range cannot be packed: it travels as a repeated float (infinity
    # on the wire) and is refused as any non-finite value is.
    with pytest.raises(ValueError, match=r"records\[0\]\.embedding\[1\]"):
        store.save([MemoryRecord(id="c", content="x", embedding=[0.0, 1e39, 0.0, 0.0, 0.0])])
    assert store.count() == 1


def test_record_to_proto_packs_only_when_asked() -> None:
    r = MemoryRecord(content="x", embedding=[0.5, -1.25, 2.0])
    plain = conversions.record_to_proto(r)
    assert list(plain.embedding) == [0.5, -1.25, 2.0] and plain.embedding_f32 == b""
    packed = conversions.record_to_proto(r, packed=True)
    assert packed.embedding_f32 == f32([0.5, -1.25, 2.0]) and len(packed.embedding) == 0
    assert conversions.record_from_proto(packed).embedding == [0.5, -1.25, 2.0]
    too_big = conversions.record_to_proto(MemoryRecord(content="x", embedding=[1e39]), packed=True)
    assert too_big.embedding_f32 == b"" and list(too_big.embedding) == [math.inf]
    request = memory_pb2.SearchRequest()
    conversions.set_query_embedding(request, [1.0, 2.0], packed=True)
    assert request.query_embedding_f32 == f32([1.0, 2.0]) and len(request.query_embedding) == 0
    request = memory_pb2.SearchRequest()
    conversions.set_query_embedding(request, [1.0, 2.0], packed=False)
    assert list(request.query_embedding) == [1.0, 2.0] and request.query_embedding_f32 == b""


def test_unpack_embedding_is_little_endian() -> None:
    data = bytes.fromhex("0000803f000000c0")  # 1.0, -2.0 little-endian
    assert conversions.unpack_embedding(data) == [1.0, -2.0]
    assert conversions.pack_embedding([1.0, -2.0]) == data
    assert conversions.pack_embedding([1e39]) is None
