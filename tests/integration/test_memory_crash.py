"""kill -9 of the daemon while several clients are writing: after a restart every acknowledged
record is there, and search results equal a brute-force recomputation over what is stored."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import grpc
import numpy as np

from fast_crewai.v1 import common_pb2, memory_pb2, memory_pb2_grpc

NAMESPACE = "crash-test"
DIM = 32
WRITERS = 6


def _record(writer: int, n: int, rng: random.Random) -> memory_pb2.MemoryRecord:
    return memory_pb2.MemoryRecord(
        id=f"w{writer}-{n}", content=f"record {n} of writer {writer}", scope=f"/w{writer}",
        metadata_json="{}", importance=0.5, created_at="2026-01-01T00:00:00",
        created_at_micros=1_767_225_600_000_000 + n, last_accessed="2026-01-01T00:00:00",
        last_accessed_micros=1_767_225_600_000_000 + n,
        embedding=[rng.uniform(-1, 1) for _ in range(DIM)])


def _writer(target: str, writer: int, acked: list[str], stop: threading.Event) -> None:
    rng = random.Random(writer)
    with grpc.insecure_channel(target) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        n = 0
        while not stop.is_set():
            batch = [_record(writer, n + i, rng) for i in range(rng.choice((1, 1, 3)))]
            n += len(batch)
            try:
                stub.SaveRecords(memory_pb2.SaveRecordsRequest(namespace=NAMESPACE, records=batch),
                                 timeout=5)
            except grpc.RpcError:
                return  # the daemon died: this batch was never acknowledged
            acked.extend(r.id for r in batch)


def _all_records(stub: memory_pb2_grpc.MemoryServiceStub) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    offset = 0
    while True:
        page = stub.ListRecords(memory_pb2.ListRecordsRequest(
            namespace=NAMESPACE, page=common_pb2.PageRequest(limit=10_000, offset=offset)), timeout=30)
        for r in page.records:
            out[r.id] = np.asarray(r.embedding, dtype=np.float32)
        if not page.page_info.has_more:
            return out
        offset = page.page_info.next_offset


def test_acknowledged_writes_survive_kill_9_during_concurrent_writes(daemon_factory, tmp_path: Path):  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "crash-data"
    daemon = daemon_factory(f"--data_dir={data_dir}")
    acked: list[list[str]] = [[] for _ in range(WRITERS)]
    stop = threading.Event()
    threads = [threading.Thread(target=_writer, args=(daemon.target, w, acked[w], stop))
               for w in range(WRITERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while sum(map(len, acked)) < 1500 and time.monotonic() < deadline:
        time.sleep(0.05)
    daemon.process.send_signal(signal.SIGKILL)  # mid-stream: writes are in flight
    daemon.process.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    acknowledged = {i for ids in acked for i in ids}
    assert len(acknowledged) >= 1500, "the writers did not get going"

    restarted = daemon_factory(f"--data_dir={data_dir}")
    with grpc.insecure_channel(restarted.target) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        stored = _all_records(stub)
        missing = acknowledged - stored.keys()
        assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:5]}"
        count = stub.Count(memory_pb2.CountRequest(namespace=NAMESPACE), timeout=5).count
        assert count == len(stored)

        ids = list(stored)
        matrix = np.stack([stored[i] for i in ids])
        rng = np.random.default_rng(3)
        for _ in range(10):
            query = rng.uniform(-1, 1, DIM).astype(np.float32)
            found = stub.Search(memory_pb2.SearchRequest(
                namespace=NAMESPACE, query_embedding=query.tolist(), limit=10), timeout=10)
            d2 = ((matrix - query) ** 2).sum(axis=1, dtype=np.float64)
            order = np.lexsort((np.array(ids), d2))[:10]  # distance, then id (the daemon's tie rule)
            expected = [(ids[k], 1.0 / (1.0 + d2[k])) for k in order]
            got = [(r.record.id, r.score) for r in found.results]
            assert [g[0] for g in got] == [e[0] for e in expected]
            for (_, score), (_, want) in zip(got, expected):
                assert abs(score - want) <= 1e-5 * max(1.0, want)
