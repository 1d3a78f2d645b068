"""Memory store: fast-crewai-server against CrewAI's own LanceDB storage, side by side.

Both are driven through the same CrewAI StorageBackend calls from Python (`save`, `search`), on
the same records and queries, in one run:

  * save throughput (records/s), batches of --batch records;
  * search latency p50 / p99, without a filter and with a scope filter (a quarter of the
    records);
  * the in-process numpy flat scan of the same data (and FAISS IndexFlatL2 when installed), as
    the floor a remote store can be compared with.

Ratios are peer / fast-crewai for latency and fast-crewai / peer for throughput: above 1 means
fast-crewai is faster.

Both stores live in this one process, and CrewAI's LanceDBStorage starts a background thread
("lancedb-compact": table.optimize(), under the same store lock a save takes) on opening a
fragmented table and every 100 saves. Left running, it would take CPU and the GIL from whichever
call is timed next, usually fast-crewai's, which in an agent process using only the daemon never
meets it. So before every timed call, of either store, the bench waits until no such compaction
runs: no call is timed while LanceDB compacts.

Saves are measured two ways:
  * median call: calls interleaved between the two stores (the order alternating call by
    call), the bulk load's batches of --batch records, then batches of 1 and 10. The waits
    for LanceDB's compactions are not counted: this is the latency of a save that meets no
    compaction.
  * throughput (records/s): what a stream of saves costs, LanceDB's compactions included,
    because its saves start them and a save waits for a running one (the store lock). For
    the bulk load, the whole load's time, each compaction wait counted to LanceDB; for
    batches of 1 and 10, blocks of 200 calls of one store back to back (alternating which
    store goes first), the clock stopped when the compactions they started have ended. A
    block of 200 calls starts exactly two compactions, wherever LanceDB's count of saves
    stands. The daemon has no deferred work: its time is all in its calls.
LanceDB's table exists before the first timed save (vector_dim is given), so both sides are
measured in steady state. --memory-sync=normal starts the daemon with
--memory_sync=normal (acknowledged saves survive kill -9 of the daemon, not power loss: the
guarantee LanceDB's own writes give, which are not fsync'ed); the default is full.

  .venv/bin/python bench/memory_bench.py                       # 10k and 100k x 1536, 10k x 3072
  .venv/bin/python bench/memory_bench.py --sizes 10000 --dims 1536 --queries 50   # quick
  .venv/bin/python bench/memory_bench.py --memory-sync=normal  # daemon with --memory_sync=normal
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Table, percentile  # noqa: E402
from server_process import running_daemon  # noqa: E402
import fast_crewai  # noqa: E402,F401  first, as a program imports the shim: gRPC tuning (docs/client.md)

_settle_wait_s = 0.0  # spent in settle(): LanceDB compactions left running before timed calls


def settle() -> float:
    """Waits until no LanceDB background compaction of this process runs (module docstring);
    returns the seconds waited."""
    global _settle_wait_s
    t0 = time.perf_counter()
    for thread in threading.enumerate():
        if thread.name == "lancedb-compact" and thread is not threading.current_thread():
            thread.join()
    waited = time.perf_counter() - t0
    _settle_wait_s += waited
    return waited


SCOPES = ["/crew/a/agent/x", "/crew/a/agent/y", "/crew/b/agent/x", "/crew/b/agent/y"]


def make_chunk(seed: int, start: int, count: int, dim: int) -> tuple[list, np.ndarray]:
    from crewai.memory.types import MemoryRecord

    rng = np.random.default_rng(seed * 1_000_003 + start)
    vectors = rng.standard_normal((count, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    base = datetime(2026, 1, 1)
    records = [
        MemoryRecord(
            id=str(uuid.UUID(int=start + i + 1)),
            content=f"memory number {start + i}",
            scope=SCOPES[(start + i) % len(SCOPES)],
            categories=["c%d" % ((start + i) % 7)],
            metadata={"n": start + i},
            importance=0.5,
            created_at=base + timedelta(seconds=start + i),
            last_accessed=base + timedelta(seconds=start + i),
            embedding=vectors[i].tolist(),
        )
        for i in range(count)
    ]
    return records, vectors


SUSTAINED_CALLS = 200  # a multiple of LanceDBStorage's compact_every (100)
SUSTAINED_REPS = 3


def sustained_saves(stores: dict, small: int, next_id: int, dim: int) -> tuple[dict[str, list[float]], int]:
    """Records/s of blocks of SUSTAINED_CALLS saves of `small` records, one store at a time, in
    SUSTAINED_REPS rounds (the first store alternating); each block's clock runs until the
    LanceDB compactions it started have ended (module docstring). Returns the rates by store
    and the next unused record number."""
    rates: dict[str, list[float]] = {name: [] for name in stores}
    for rep in range(SUSTAINED_REPS):
        names = list(stores) if rep % 2 == 0 else list(reversed(stores))
        for name in names:
            chunks = [make_chunk(8, next_id + c * small, small, dim)[0] for c in range(SUSTAINED_CALLS)]
            next_id += SUSTAINED_CALLS * small
            save = stores[name].save
            settle()
            t0 = time.perf_counter()
            for records in chunks:
                save(records)
            settle()
            rates[name].append(SUSTAINED_CALLS * small / (time.perf_counter() - t0))
    return rates, next_id


def bench_size(n: int, dim: int, queries: int, batch: int, endpoint_dir: Path) -> list[str]:
    from crewai.memory.storage.lancedb_storage import LanceDBStorage

    from fast_crewai.memory.daemon_storage import DaemonStorage

    lance = LanceDBStorage(path=str(endpoint_dir / f"lancedb-{n}-{dim}"), vector_dim=dim)
    daemon = DaemonStorage(path=str(endpoint_dir / f"daemon-{n}-{dim}"), require_daemon=True)

    save_time = {"daemon": 0.0, "lancedb": 0.0}
    bulk_calls: dict[str, list[float]] = {"daemon": [], "lancedb": []}
    all_vectors = []
    for start in range(0, n, batch):
        records, vectors = make_chunk(7, start, min(batch, n - start), dim)
        all_vectors.append(vectors)
        # Alternate which store goes first so neither always meets a cold cache.
        order = [("daemon", daemon), ("lancedb", lance)]
        if (start // batch) % 2:
            order.reverse()
        for name, store in order:
            save_time["lancedb"] += settle()  # a compaction is LanceDB's work, started by its save
            t0 = time.perf_counter()
            store.save(records)
            spent_s = time.perf_counter() - t0
            save_time[name] += spent_s
            if len(records) == batch:
                bulk_calls[name].append(spent_s)
    save_time["lancedb"] += settle()
    data = np.concatenate(all_vectors)

    rng = np.random.default_rng(99)
    qs = rng.standard_normal((queries, dim), dtype=np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    qlists = [q.tolist() for q in qs]

    def run(store, scope):
        out = []
        for q in qlists[:3]:
            store.search(q, scope_prefix=scope, limit=10)
        for q in qlists:
            settle()
            t0 = time.perf_counter()
            store.search(q, scope_prefix=scope, limit=10)
            out.append(time.perf_counter() - t0)
        return out

    table = Table(f"memory {n:,} x {dim}: save throughput, fast-crewai-server vs CrewAI LanceDBStorage",
                  "fast-crewai", "lancedb", unit="/s")
    table.add(f"bulk load, batch {batch} (median call)", batch / percentile(bulk_calls["daemon"], 50),
              batch / percentile(bulk_calls["lancedb"], 50))
    table.add(f"bulk load, batch {batch} (whole load)", n / save_time["daemon"], n / save_time["lancedb"])
    # CrewAI saves what one remember() call produced: a handful of records per call. These
    # 800 records stay in both stores for the searches, leaving LanceDB's table in the state
    # CrewAI's own small saves leave it (fragments since the last compaction).
    next_id = n
    for small, calls in ((1, 200), (10, 60)):
        spent = {"daemon": [], "lancedb": []}
        for c in range(calls):
            records, _ = make_chunk(8, next_id + c * small, small, dim)
            for name, store in (("daemon", daemon), ("lancedb", lance)) if c % 2 else (("lancedb", lance), ("daemon", daemon)):
                settle()
                t0 = time.perf_counter()
                store.save(records)
                spent[name].append(time.perf_counter() - t0)
        next_id += calls * small
        table.add(f"batch {small} (median call)", small / percentile(spent["daemon"], 50),
                  small / percentile(spent["lancedb"], 50))
    lines: list[str] = []  # the search tables; the save table goes first, once complete

    lat = Table(f"memory {n:,} x {dim}: search latency (limit 10)", "fast-crewai", "lancedb")
    for label, scope in (("no filter", None), ("scope filter 1/4", "/crew/a/agent/x")):
        d = run(daemon, scope)
        lance_t = run(lance, scope)
        lat.add(f"{label} p50", percentile(d, 50), percentile(lance_t, 50))
        lat.add(f"{label} p99", percentile(d, 99), percentile(lance_t, 99))
    lines.append(lat.render())

    # In-process floors: numpy (and FAISS when installed) flat scans of the same matrix.
    def numpy_scan(q):
        d2 = ((data - q) ** 2).sum(axis=1)
        return np.argpartition(d2, 10)[:10]

    np_times = []
    for q in qs:
        settle()
        t0 = time.perf_counter()
        numpy_scan(q)
        np_times.append(time.perf_counter() - t0)
    floor = Table(f"memory {n:,} x {dim}: remote search vs in-process flat scans", "fast-crewai", "numpy")
    d = run(daemon, None)
    floor.add("p50 (daemon incl. gRPC + Python)", percentile(d, 50), percentile(np_times, 50))
    lines.append(floor.render())
    try:
        import faiss  # type: ignore

        index = faiss.IndexFlatL2(dim)
        index.add(data)
        f_times = []
        for q in qs:
            settle()
            t0 = time.perf_counter()
            index.search(q.reshape(1, -1), 10)
            f_times.append(time.perf_counter() - t0)
        ft = Table(f"memory {n:,} x {dim}: remote search vs FAISS IndexFlatL2 (in-process)", "fast-crewai", "faiss")
        ft.add("p50", percentile(d, 50), percentile(f_times, 50))
        lines.append(ft.render())
    except ImportError:
        lines.append("(faiss not installed: pip install faiss-cpu to add the FAISS column)")

    # Throughput blocks last: their records (3 x 2,200 more in each store) would change the
    # searches.
    for small in (1, 10):
        rates, next_id = sustained_saves({"daemon": daemon, "lancedb": lance}, small, next_id, dim)
        table.add(f"batch {small} (throughput, {SUSTAINED_CALLS} calls)",
                  percentile(rates["daemon"], 50), percentile(rates["lancedb"], 50))
    daemon.close()
    return [table.render(),
            f"(waited {_settle_wait_s:.2f} s so far for LanceDB's background compactions; "
            f"counted to LanceDB in the throughput rows only)"] + lines


def _concurrent_writer(kind: str, path: str, endpoint: str, worker: int, calls: int, dim: int,
                       start_at: float, out) -> None:
    """One agent process: `calls` single-record saves into the shared store at `path`."""
    os.environ["FAST_CREWAI_ENDPOINT"] = endpoint
    if kind == "daemon":
        from fast_crewai.memory.daemon_storage import DaemonStorage

        store = DaemonStorage(path=path, require_daemon=True)
    else:
        from crewai.memory.storage.lancedb_storage import LanceDBStorage

        store = LanceDBStorage(path=path, vector_dim=dim)
    chunks = [make_chunk(9, 10_000_000 + worker * calls + c, 1, dim)[0] for c in range(calls)]
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    for records in chunks:
        store.save(records)
    settle()  # the compactions LanceDB's saves started are part of what they cost (module docstring)
    out.put(time.perf_counter() - t0)


def bench_concurrent_writers(processes: int, calls: int, dim: int, root: Path, endpoint: str) -> str:
    """`processes` agent processes saving one record per call into ONE shared store: the
    aggregate rate, and whether every record is there afterwards."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    rates = {}
    for kind in ("daemon", "lancedb"):
        path = str(root / f"shared-{kind}")
        queue = ctx.Queue()
        start_at = time.time() + 8.0  # every process imported and opened its store by then
        procs = [ctx.Process(target=_concurrent_writer,
                             args=(kind, path, endpoint, w, calls, dim, start_at, queue))
                 for w in range(processes)]
        for p in procs:
            p.start()
        spans = [queue.get(timeout=600) for _ in procs]
        for p in procs:
            p.join()
        rates[kind] = processes * calls / max(spans)
        if kind == "daemon":
            from fast_crewai.memory.daemon_storage import DaemonStorage

            counted = DaemonStorage(path=path, require_daemon=True).count()
        else:
            from crewai.memory.storage.lancedb_storage import LanceDBStorage

            counted = LanceDBStorage(path=path, vector_dim=dim).count()
        if counted != processes * calls:
            raise SystemExit(f"{kind}: {counted} records stored, {processes * calls} saved")
    table = Table(f"memory: {processes} processes saving into one store, 1 record per call, {dim}-d",
                  "fast-crewai", "lancedb", unit="/s")
    table.add("aggregate records/s", rates["daemon"], rates["lancedb"])
    return table.render()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dims", default="1536")
    parser.add_argument("--extra", default="10000x3072", help="extra size x dim pairs, comma separated")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--writers", type=int, default=4, help="processes in the shared-store write test (0: skip)")
    parser.add_argument("--writer-calls", type=int, default=100)
    parser.add_argument("--memory-sync", choices=("full", "normal"), default="full",
                        help="the daemon's --memory_sync (default full)")
    args = parser.parse_args()

    cases = [(int(n), int(d)) for n in args.sizes.split(",") for d in args.dims.split(",")]
    if args.extra:
        cases += [tuple(int(x) for x in pair.split("x")) for pair in args.extra.split(",")]
    with tempfile.TemporaryDirectory(prefix="fc-bench-") as tmp, running_daemon(
            Path(tmp) / "data", f"--memory_sync={args.memory_sync}") as endpoint:
        os.environ["FAST_CREWAI_ENDPOINT"] = endpoint
        os.environ["CREWAI_STORAGE_DIR"] = tmp
        print(f"fast-crewai-server at {endpoint} (--memory_sync={args.memory_sync}); data in {tmp}")
        if args.writers:
            print(bench_concurrent_writers(args.writers, args.writer_calls, 1536, Path(tmp), endpoint), flush=True)
            print()
        for n, dim in cases:
            for line in bench_size(n, dim, args.queries, args.batch, Path(tmp)):
                print(line, flush=True)
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
