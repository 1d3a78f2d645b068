"""Persistence: fast-crewai-server against CrewAI's own SQLite storage, side by side, one run.

1. The replay log, as a crew writes it, through CrewAI's TaskOutputStorageHandler: at every
   kickoff reset(), then after every task update(i, log). CrewAI's handler first loads the
   whole log (open the SQLite file, read and JSON-decode every row) only to check it is not
   None, then adds the row (lock file + INSERT + commit with fsync). With fast-crewai the
   patched handler skips that load (the daemon storage never returns None) and the add is one
   RPC committed by group commit. Measured per task over kickoffs of --tasks tasks whose
   outputs carry realistic message lists:
     * load() of the log so far   what the load before every task costs when it is made
                                  (fast-crewai: the kickoff's rows from memory);
     * handler.update             everything the crew waits for per task;
     * replay load                a new process looking for a task: CrewAI load() of the
                                  file; fast-crewai: attach_task(task_id), one RPC.
   fast-crewai runs with its background mirror of CrewAI's file on (the default, what keeps
   `crewai log-tasks-outputs` working) and, for reference, off.

2. load() by crew size (--crew-sizes, default 5,12,50 task rows): CrewAI's load() opens the
   file, reads every row and JSON-decodes output and inputs, so its cost grows with the rows;
   so does ours (fresh dicts and lists from every cached row's snapshot). Timed call by call,
   interleaved:
     * own kickoff: the storage that wrote the kickoff (what a crew's own load() is);
     * from the daemon: a fresh storage loading the project's latest kickoff (one
       LoadTaskOutputs RPC, then JSON-decoding every row, as CrewAI does);
   plus the floor of any daemon call from Python: an empty LoadTaskOutputs.

3. Durable writes under concurrency: --writers processes each storing rows of ~1 KB, every row
   acknowledged only once durable, --rounds interleaved rounds (medians):
     * SQLite synchronous=FULL, one row per transaction on a kept connection, WAL (each CrewAI
       add() is such a transaction, and also takes a lock and opens a connection);
     * the daemon, --persistence_sync=full, one AddTaskOutput RPC per row: concurrent
       writers share each commit's fsync (group commit). This is the target's comparison.
     * for reference only (not the target: the client batches): AddTaskOutputs with 10 rows
       per RPC, one transaction per call.
     * CrewAI's storage API, what a crew calls per task: CrewAI's own
       KickoffTaskOutputsSQLiteStorage.add() (lock, connect, one row, commit with fsync, close)
       against the same add() of the storage the shim gives a crew (`import fast_crewai.shim`:
       one RPC, and the background mirror into CrewAI's file that `crewai log-tasks-outputs`
       reads, with CrewAI's file lock). Each process writes its own rows into one file.

   The daemon's write path without the Python client's cost (C++ gRPC clients, same peer):
   build/bench/persistence/daemon_write_bench.

Ratios are peer / fast-crewai for latency, fast-crewai / peer for throughput: above 1 means
fast-crewai is faster. Targets (docs/persistence.md): load before every task >= 20x, durable
writes >= 2x.

  .venv/bin/python bench/persistence_bench.py
  .venv/bin/python bench/persistence_bench.py --kickoffs 5 --seconds 1 --rounds 1   # quick
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Table, interleaved, median, percentile  # noqa: E402
from server_process import running_daemon  # noqa: E402
import fast_crewai  # noqa: E402,F401  first, as a program imports the shim: gRPC tuning (docs/client.md)

for key, value in {"CREWAI_DISABLE_TELEMETRY": "true", "CREWAI_DISABLE_TRACKING": "true",
                   "OTEL_SDK_DISABLED": "true", "CREWAI_TRACING_ENABLED": "false"}.items():
    os.environ.setdefault(key, value)


def task_output(kickoff: int, index: int) -> tuple[Any, dict[str, Any]]:
    """A task and the output dict Crew._store_execution_log would store for it."""
    task = SimpleNamespace(id=uuid.uuid4(), key=uuid.uuid4().hex,
                           expected_output=f"A concise answer for step {index}.")
    prompt = (f"You are Researcher {index}. A careful researcher.\nYour personal goal is: find "
              f"facts about topic {kickoff}.\n") * 8
    output = {
        "description": f"Step {index}: list three facts about topic {kickoff}.",
        "summary": f"Step {index}: list three facts...",
        "raw": f"Fact {index}.1. Fact {index}.2. Fact {index}.3. " * 10,
        "pydantic": None, "json_dict": None, "output_format": "raw", "agent": "Researcher",
        "messages": [{"role": "system", "content": prompt},
                     {"role": "user", "content": prompt + "Current Task: step"},
                     {"role": "assistant", "content": "Final Answer: " + "x" * 400}],
    }
    return task, output


def run_kickoffs(handlers: dict[str, Any], kickoffs: int,
                 tasks: int) -> dict[str, dict[str, list[float]]]:
    """A crew's replay-log traffic on every handler, one kickoff each in turn (noise hits all
    alike): reset at kickoff, then per task the handler's update(i, log) (CrewAI's: load() the
    whole log, then add()), and, timed apart, a bare storage.load() of the log so far."""
    from fast_crewai.killswitch import suppress_acceleration

    times = {name: {"update": [], "load": []} for name in handlers}
    for k in range(kickoffs):
        for name, handler in handlers.items():
            # CrewAI's side runs with acceleration suppressed: its own storage, its own lock.
            context = suppress_acceleration() if name == "crewai" else contextlib.nullcontext()
            with context:
                handler.reset()
                for i in range(tasks):
                    task, output = task_output(k, i)
                    log = {"task": task, "output": output, "task_index": i,
                           "inputs": {"topic": f"topic {k}"}, "was_replayed": False}
                    start = time.perf_counter()
                    rows = handler.storage.load()
                    loaded = time.perf_counter()
                    handler.update(i, log)
                    updated = time.perf_counter()
                    assert len(rows) == i, (name, len(rows), i)
                    times[name]["load"].append(loaded - start)
                    times[name]["update"].append(updated - loaded)
    return times


def replay_loads(make_fresh: Callable[[], Any], task_ids: list[str], use_attach: bool,
                 count: int) -> list[float]:
    out = []
    for n in range(count):
        fresh = make_fresh()
        task_id = task_ids[n % len(task_ids)]
        start = time.perf_counter()
        if use_attach:
            assert fresh.attach_task(task_id)
        rows = fresh.load()
        out.append(time.perf_counter() - start)
        assert any(r["task_id"] == task_id for r in rows)
    return out


def bench_replay_log(work: Path, kickoffs: int, tasks: int) -> list[Table]:
    from crewai.memory.storage.kickoff_task_outputs_storage import (
        KickoffTaskOutputsSQLiteStorage,
    )
    from crewai.utilities.task_output_storage_handler import TaskOutputStorageHandler

    from fast_crewai.client.connection import get_connection
    from fast_crewai.killswitch import suppress_acceleration
    from fast_crewai.patches.persistence import PersistencePatcher
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, mirror_flush

    patcher = PersistencePatcher()
    assert patcher.instrument(get_connection().config).applied
    try:
        with suppress_acceleration():
            crewai_handler = TaskOutputStorageHandler()  # CrewAI's own storage...
            crewai_db = work / "crewai" / "latest_kickoff_task_outputs.db"
            crewai_db.parent.mkdir()
            crewai_handler.storage = KickoffTaskOutputsSQLiteStorage(str(crewai_db))  # ...file
        assert type(crewai_handler.storage) is KickoffTaskOutputsSQLiteStorage
        mirror_on = TaskOutputStorageHandler()
        assert isinstance(mirror_on.storage, DaemonKickoffStorage)
        mirror_off = TaskOutputStorageHandler()
        mirror_off.storage = DaemonKickoffStorage(str(work / "nomirror" / "x.db"), mirror=False)
        times = run_kickoffs({"crewai": crewai_handler, "mirror on": mirror_on,
                              "mirror off": mirror_off}, kickoffs, tasks)
        mirror_flush(60)

        per_task = Table(f"Replay log, per task ({kickoffs} kickoffs x {tasks} tasks, medians)",
                         "fast-crewai", "CrewAI SQLite", unit="us")
        peer = times["crewai"]
        per_task.add("load() of the log so far", median(times["mirror on"]["load"]),
                     median(peer["load"]))
        per_task.add("  p99", percentile(times["mirror on"]["load"], 99),
                     percentile(peer["load"], 99))
        for label in ("mirror on", "mirror off"):
            per_task.add(f"handler.update, {label}", median(times[label]["update"]),
                         median(peer["update"]))
            per_task.add(f"  p99, {label}", percentile(times[label]["update"], 99),
                         percentile(peer["update"], 99))

        # A new process replaying a task of the last kickoff: CrewAI reads its file;
        # fast-crewai finds the kickoff by task id (any kickoff, not only the latest).
        ours_ids = [row["task_id"] for row in mirror_on.storage.load()]
        with suppress_acceleration():
            peer_ids = [row["task_id"] for row in crewai_handler.storage.load()]
            peer_replay = replay_loads(
                lambda: KickoffTaskOutputsSQLiteStorage(crewai_handler.storage.db_path),
                peer_ids, False, 50)
        ours_replay = replay_loads(
            lambda: DaemonKickoffStorage(mirror_on.storage.db_path, mirror=False), ours_ids,
            True, 50)
        replay = Table(f"Replay: a fresh storage loading a {tasks}-task log (median of 50)",
                       "fast-crewai", "CrewAI SQLite", unit="us")
        replay.add("find kickoff by task id + load", median(ours_replay), median(peer_replay))
        return [per_task, replay]
    finally:
        patcher.uninstrument()


def bench_load_sizes(work: Path, endpoint: str, sizes: list[int], count: int) -> list[Table]:
    """load() of a kickoff log of each size: CrewAI's file against the daemon-backed storage."""
    import grpc
    from crewai.memory.storage.kickoff_task_outputs_storage import (
        KickoffTaskOutputsSQLiteStorage,
    )

    from fast_crewai.killswitch import suppress_acceleration
    from fast_crewai.persistence import conversions
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage

    table = Table(f"load() of one kickoff's log, by crew size (median of {count}, interleaved)",
                  "fast-crewai", "CrewAI SQLite", unit="us")
    for n in sizes:
        base = work / f"load-{n}"
        (base / "crewai").mkdir(parents=True)
        with suppress_acceleration():
            peer = KickoffTaskOutputsSQLiteStorage(str(base / "crewai" / "kickoff.db"))
        own = DaemonKickoffStorage(str(base / "ours" / "kickoff.db"), mirror=False)
        own.delete_all()  # a kickoff starts
        for i in range(n):
            task, output = task_output(n, i)
            with suppress_acceleration():
                peer.add(task, output, i, False, {"topic": f"topic {n}"})
            own.add(task, output, i, False, {"topic": f"topic {n}"})
        fresh = DaemonKickoffStorage(own.db_path, mirror=False)  # not attached: asks the daemon

        def peer_load(_: int) -> object:
            with suppress_acceleration():
                return peer.load()

        fns = {"own": lambda _: own.load(), "daemon": lambda _: fresh.load(), "crewai": peer_load}
        assert all(len(fn(0)) == n for fn in fns.values())  # type: ignore[arg-type]
        times = interleaved(fns, count)
        table.add(f"{n:>3} rows: own kickoff (client copy)", median(times["own"]),
                  median(times["crewai"]))
        table.add(f"{n:>3} rows: from the daemon (RPC + JSON)", median(times["daemon"]),
                  median(times["crewai"]))
    # The floor of any daemon call from Python (an empty answer), for scale.
    stub = conversions.PersistenceServiceStub(grpc.insecure_channel(endpoint))
    empty = conversions.load_task_outputs(kickoff_id="no-such-kickoff")
    floor = interleaved({"rpc": lambda _: stub.LoadTaskOutputs(empty, timeout=10)}, count)["rpc"]
    (work / "load-0").mkdir()
    with suppress_acceleration():
        peer0 = KickoffTaskOutputsSQLiteStorage(str(work / "load-0" / "kickoff.db"))
        zero = interleaved({"crewai": lambda _: peer0.load()}, count)["crewai"]
    table.add("  0 rows: empty RPC (Python gRPC floor)", median(floor), median(zero))
    return [table]


def _writer_process(kind: str, target: str, payload: str, slot: int, ready: Any, go: Any,
                    stop: Any, counts: Any) -> None:
    """One writer process: rows one at a time, each acknowledged only once durable."""
    n = 0
    if kind in ("crewai", "shim"):
        # CrewAI's storage API, one add() per row: CrewAI's own class on `target` (a file), or
        # the shim's storage as a crew gets it (the daemon at FAST_CREWAI_ENDPOINT, the lock
        # backend installed, the mirror into CrewAI's file on).
        task_output = {"raw": payload, "agent": "Researcher"}
        if kind == "crewai":
            from crewai.memory.storage.kickoff_task_outputs_storage import (
                KickoffTaskOutputsSQLiteStorage,
            )

            storage = KickoffTaskOutputsSQLiteStorage(target)
        else:
            import fast_crewai.shim  # noqa: F401  (patches CrewAI, as in a user's program)
            from fast_crewai.persistence.kickoff import DaemonKickoffStorage

            storage = DaemonKickoffStorage(os.environ["BENCH_CREWAI_FILE"])

        def write() -> None:
            task = SimpleNamespace(id=f"w{slot}-t{n}", key=f"k{n % 10}", expected_output="e")
            storage.add(task, task_output, n % 10, False, {})
    elif kind == "sqlite":
        conn = sqlite3.connect(target, timeout=60, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")

        def write() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO rows(writer, n, payload) VALUES (?, ?, ?)",
                         (slot, n, payload))
            conn.execute("COMMIT")
    else:
        import grpc

        from fast_crewai.persistence import conversions

        channel = grpc.insecure_channel(target)
        stub = conversions.PersistenceServiceStub(channel)
        prefix = f"bench-{slot}-{uuid.uuid4().hex}"

        if kind == "daemon":
            def write() -> None:
                # Kickoffs of 10 tasks, like crews: a new kickoff every 10 rows.
                stub.AddTaskOutput(conversions.add_task_output(
                    kickoff_id=f"{prefix}-{n // 10}", namespace="/bench/durable",
                    task_id=f"t{n}", task_key=None, expected_output="e", output_json=payload,
                    task_index=n % 10, inputs_json="{}", was_replayed=False), timeout=30)
        else:  # "daemon-batch": a whole 10-task kickoff per call
            rows = [{"task_id": f"t{i}", "task_key": None, "expected_output": "e",
                     "output_json": payload, "task_index": i, "inputs_json": "{}",
                     "was_replayed": False} for i in range(10)]

            def write() -> None:
                stub.AddTaskOutputs(conversions.add_task_outputs(
                    kickoff_id=f"{prefix}-{n}", namespace="/bench/durable", rows=rows),
                    timeout=30)

        write()  # connect before the clock starts
        n += 1
    if kind in ("crewai", "shim"):
        write()  # create the table / connect before the clock starts
        n += 1
    rows_per_write = 10 if kind == "daemon-batch" else 1
    ready.release()
    go.wait()
    done = 0
    while not stop.is_set():
        write()
        n += 1
        done += rows_per_write
    counts[slot] = done


def run_writers(kind: str, target: str, payload: str, writers: int, seconds: float,
                crewai_file: str = "") -> float:
    """Rows per second acknowledged by `writers` processes together (`crewai_file`: CrewAI's
    replay file of the "shim" kind's mirror)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # the parent has used gRPC: no fork
    ready, go, stop = ctx.Semaphore(0), ctx.Event(), ctx.Event()
    counts = ctx.Array("q", writers)
    procs = [ctx.Process(target=_writer_process,
                         args=(kind, target, payload, slot, ready, go, stop, counts))
             for slot in range(writers)]
    os.environ["BENCH_CREWAI_FILE"] = crewai_file  # inherited by the spawned processes
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.acquire()
    start = time.perf_counter()
    go.set()
    time.sleep(seconds)
    stop.set()
    for proc in procs:
        proc.join()
    return sum(counts) / (time.perf_counter() - start)


def bench_durable_writes(endpoint: str, work: Path, writers: list[int], seconds: float,
                         rounds: int) -> list[Table]:
    import json

    payload = json.dumps({"raw": "x" * 900, "agent": "Researcher"})
    path = str(work / "full.db")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE rows(writer INTEGER, n INTEGER, payload TEXT)")
    # Interleaved: every round runs each writer count on each side in turn, so that a noisy
    # neighbour or a slow disk spell hits all alike; the tables keep the medians.
    kinds = ("sqlite", "daemon", "daemon-batch", "crewai", "shim")
    runs: dict[tuple[str, int], list[float]] = {(k, n): [] for k in kinds for n in writers}
    for r in range(rounds):
        for n in writers:
            for kind in kinds:
                # Each CrewAI-API run on a fresh file of its own: CrewAI's table, or the mirror's.
                crewai_file = str(work / f"{kind}-{n}-{r}" / "latest_kickoff_task_outputs.db")
                Path(crewai_file).parent.mkdir()
                target = {"sqlite": path, "crewai": crewai_file}.get(kind, endpoint)
                runs[(kind, n)].append(run_writers(kind, target, payload, n, seconds,
                                                   crewai_file))
    title = f"rows/s, writer processes (median of {rounds} interleaved rounds x {seconds:g} s)"
    table = Table(f"Durable writes, one row per call: {title}",
                  "daemon group commit", "SQLite FULL 1 row/txn", unit="/s")
    batch = Table(f"For reference, NOT the target (the client batches 10 rows per call): {title}",
                  "daemon 10 rows/RPC", "SQLite FULL 1 row/txn", unit="/s")
    api = Table(f"Replay-log rows through CrewAI's storage API (add() per row): {title}",
                "fast-crewai shim", "CrewAI add()", unit="/s")
    for n in writers:
        label = f"{n} writer{'s' if n > 1 else ''}"
        peer = median(runs[("sqlite", n)])
        table.add(label, median(runs[("daemon", n)]), peer)
        batch.add(label, median(runs[("daemon-batch", n)]), peer)
        api.add(label, median(runs[("shim", n)]), median(runs[("crewai", n)]))
    return [table, batch, api]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kickoffs", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--writers", default="1,4,8,16",
                        help="writer process counts to measure, comma-separated")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--crew-sizes", default="5,12,50",
                        help="task rows per kickoff for the load() comparison, comma-separated")
    parser.add_argument("--loads", type=int, default=300, help="timed load() calls per size")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fast-crewai-persistence-bench-") as tmp:
        work = Path(tmp)
        os.environ["XDG_DATA_HOME"] = str(work / "xdg")
        with running_daemon(work / "daemon", "--persistence_sync=full",
                            "--persistence_max_kickoffs=1000000") as endpoint:
            os.environ["FAST_CREWAI_ENDPOINT"] = endpoint
            from fast_crewai.client.connection import reset_connection

            reset_connection()
            tables = bench_replay_log(work, args.kickoffs, args.tasks)
            sizes = [int(n) for n in args.crew_sizes.split(",")]
            tables += bench_load_sizes(work, endpoint, sizes, args.loads)
            writers = [int(n) for n in args.writers.split(",")]
            tables += bench_durable_writes(endpoint, work, writers, args.seconds, args.rounds)
    for table in tables:
        print(table.render())
        print()


if __name__ == "__main__":
    main()
