"""Scheduler: DAG mode against CrewAI's own kickoff, and fan-out dispatch against Dask.

One run, side by side:

  (a) DAG mode. The 12-task crew of tests/python/scheduler (four levels of explicit
      `context=[...]` edges, four agents, a fake LLM that sleeps --delay seconds per call) is
      kicked off by CrewAI's own code and in DAG mode (FAST_CREWAI_TASKS=dag), alternately,
      --reps times. Printed: medians of both wall times, of the critical path (the longest
      chain of the task durations CrewAI measured in its own run, along the DAG's edges), of
      the kickoff's time outside the tasks (CrewAI's wall minus the sum of its task durations),
      the ratio DAG wall / critical path (target <= 1.10), the same ratio with the time outside
      the tasks added to the path, and the speed-up CrewAI / DAG. Outputs are checked
      identical on every repetition.
  (b) Dispatch to a warm worker. One `fast-crewai worker` process (concurrency --threads)
      waits on the daemon (one StreamLeases stream per thread); one Dask distributed
      LocalCluster worker process (same threads) waits on its scheduler. Each system's
      submitting client runs in a process of its own (Dask's with its LocalCluster scheduler,
      as Dask sets it up), and the two take turns of --block samples, alternating which goes
      first: neither shares threads or a GIL with the other's client, and neither is timed
      while the other's last call still winds down. Latency = submit (CreateRun of a one-input
      run / client.submit) until the worker process starts the input (a perf_counter stamp
      taken there), --calls samples each, p50 and p99 (target p50 <= 0.5 ms). Throughput =
      --tasks no-op inputs submitted at once (one kickoff_for_each run / client.map) until all
      results are back, --reps turns each, medians. Ratios: Dask / fast-crewai for latency,
      fast-crewai / Dask for tasks per second (above 1: fast-crewai is faster).

  FAST_CREWAI_SERVER_BIN=build/server/fast-crewai-server .venv/bin/python bench/scheduler_bench.py
  .venv/bin/python bench/scheduler_bench.py --reps 3 --calls 200 --tasks 500   # quick
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
sys.path.insert(0, str(HERE.parent / "tests" / "python" / "scheduler"))
from harness import Table, median, percentile  # noqa: E402
from server_process import running_daemon  # noqa: E402
import fast_crewai  # noqa: E402,F401  first, as a program imports the shim: gRPC tuning (docs/client.md)

for key, value in {"CREWAI_DISABLE_TELEMETRY": "true", "CREWAI_DISABLE_TRACKING": "true",
                   "OTEL_SDK_DISABLED": "true", "CREWAI_TRACING_ENABLED": "false",
                   "OPENAI_API_KEY": "sk-fast-crewai-bench-dummy"}.items():
    os.environ.setdefault(key, value)

QUEUE = "bench"

# The fake LLMs have no native token count (a warning per call), and Dask logs its workers'
# lost heartbeats while the cluster shuts down: neither says anything about the figures.
logging.getLogger("crewai.llms.base_llm").setLevel(logging.ERROR)


def bench_dag(reps: int, delay: float) -> None:
    from fast_crewai.config import ClientConfig, Endpoint
    from fast_crewai.killswitch import suppress_acceleration
    from fast_crewai.patches.tasks import TasksPatcher
    from fast_crewai.scheduler import dag
    from scheduler_support import TWELVE, Recorder, build_crew, summary

    config = ClientConfig(tasks_dag=True, endpoint=Endpoint.parse("127.0.0.1:1"))
    assert TasksPatcher().instrument(config).applied
    own_walls, dag_walls, paths, ratios, fixed, bounded = [], [], [], [], [], []
    try:
        for rep in range(reps):
            crew = build_crew(TWELVE, delay=delay, recorder=Recorder())
            start = time.perf_counter()
            with suppress_acceleration():
                own = crew.kickoff(inputs={"topic": f"rep{rep}"})
            own_walls.append(time.perf_counter() - start)
            graph = dag.plan(crew, crew.tasks, 0, False)
            assert not isinstance(graph, str), graph
            durations = [t.execution_duration for t in crew.tasks]
            path = graph.critical_path(durations)
            paths.append(path)
            fixed.append(own_walls[-1] - sum(durations))

            crew = build_crew(TWELVE, delay=delay, recorder=Recorder())
            start = time.perf_counter()
            ours = crew.kickoff(inputs={"topic": f"rep{rep}"})
            dag_walls.append(time.perf_counter() - start)
            assert summary(ours) == summary(own), "DAG outputs differ from CrewAI's"
            ratios.append(dag_walls[-1] / path)
            bounded.append(dag_walls[-1] / (path + fixed[-1]))
    finally:
        TasksPatcher().uninstrument()
    print(f"== (a) 12-task crew, 4 levels, fake LLM {delay * 1000:.0f} ms per call, "
          f"{reps} repetitions (medians); outputs identical on every one")
    print(f"CrewAI's own kickoff      {median(own_walls):8.3f} s")
    print(f"DAG mode kickoff          {median(dag_walls):8.3f} s")
    print(f"critical path             {median(paths):8.3f} s  (CrewAI's task durations along "
          "the edges)")
    print(f"kickoff outside the tasks {median(fixed):8.3f} s  (CrewAI's own wall - sum of task "
          "durations: prepare, output, events)")
    print(f"DAG wall / critical path  {median(ratios):8.3f}x  (target <= 1.10)")
    print(f"DAG wall / (critical path + kickoff outside the tasks)  {median(bounded):6.3f}x")
    print(f"speed-up CrewAI / DAG     {median(own_walls) / median(dag_walls):8.2f}x")
    print()


def _start_worker(endpoint: str, queue: str, threads: int) -> subprocess.Popen:
    script = Path(sys.executable).with_name("fast-crewai")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAST_CREWAI_")}
    env.update(FAST_CREWAI_ENDPOINT=endpoint, FAST_CREWAI_ACCELERATION="0")
    return subprocess.Popen([str(script), "worker", "--queue", queue, "--concurrency",
                             str(threads), "--app-dir", str(HERE)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class _OursSide:
    """fast-crewai's submitting side: a client of the daemon, whose warm worker was started by
    the parent."""

    def __init__(self, endpoint: str, queue: str) -> None:
        from fast_crewai.client.connection import Connection
        from fast_crewai.config import ClientConfig, Endpoint
        from fast_crewai.scheduler import fanout
        from fast_crewai.scheduler.remote import SchedulerClient

        self._fanout = fanout
        self._queue = queue
        self._connection = Connection(ClientConfig(endpoint=Endpoint.parse(endpoint)))
        self._client = SchedulerClient(self._connection)
        self._reference = "scheduler_noop:noop_crew"
        self._payload = fanout.encode_payload(self._reference, 0, {}, False)

    def once(self) -> tuple[float, float, float]:
        """(submit -> worker starts, submit -> result back, CreateRun answered -> worker starts)."""
        from fast_crewai.scheduler.types import NodeSpec

        start = time.perf_counter()
        run = self._client.create_run([NodeSpec("input-000000", payload=self._payload)],
                                      queue=self._queue, name="bench latency")
        created = time.perf_counter()
        (output,) = self._fanout.collect(self._client, run, 1)
        started = float(output.raw)
        return started - start, time.perf_counter() - start, started - created

    def throughput(self, tasks: int) -> float:
        start = time.perf_counter()
        outputs = self._fanout.kickoff_for_each(self._reference, [{} for _ in range(tasks)],
                                                queue=self._queue, client=self._client)
        assert len(outputs) == tasks
        return tasks / (time.perf_counter() - start)

    def close(self) -> None:
        self._connection.close()


class _DaskSide:
    """Dask's submitting side: a LocalCluster (its scheduler in this process, as Dask sets it
    up; one worker process) and its Client."""

    def __init__(self, threads: int) -> None:
        from distributed import Client, LocalCluster

        import scheduler_noop

        self._stamp = scheduler_noop.stamp
        self._cluster = LocalCluster(n_workers=1, threads_per_worker=threads, processes=True,
                                     dashboard_address=None)
        self._client = Client(self._cluster)
        self._client.upload_file(str(HERE / "scheduler_noop.py"))

    def once(self) -> tuple[float, float, float]:
        start = time.perf_counter()
        stamp = self._client.submit(self._stamp, 0, pure=False).result()
        return stamp - start, time.perf_counter() - start, 0.0

    def throughput(self, tasks: int) -> float:
        start = time.perf_counter()
        results = self._client.gather(self._client.map(self._stamp, range(tasks), pure=False))
        assert len(results) == tasks
        return tasks / (time.perf_counter() - start)

    def close(self) -> None:
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        self._client.close()
        self._cluster.close()


def _side_main(kind: str, endpoint: str, queue: str, threads: int, pipe: Any) -> None:
    """One side of the dispatch bench, in its own process, serving the parent's commands:
    ("latency", n) -> n samples of once(); ("throughput", tasks) -> tasks per second."""
    side = _DaskSide(threads) if kind == "dask" else _OursSide(endpoint, queue)
    try:
        pipe.send("ready")
        while True:
            command, arg = pipe.recv()
            if command == "latency":
                pipe.send([side.once() for _ in range(arg)])
            elif command == "throughput":
                pipe.send(side.throughput(arg))
            else:
                break
    finally:
        side.close()


class _Side:
    """The parent's handle on a side process."""

    def __init__(self, kind: str, endpoint: str, queue: str, threads: int) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_side_main,
                                        args=(kind, endpoint, queue, threads, child),
                                        name=f"bench {kind}")
        self._process.start()
        if not self._pipe.poll(120) or self._pipe.recv() != "ready":
            raise RuntimeError(f"the {kind} side did not start")

    def ask(self, command: str, arg: int) -> Any:
        self._pipe.send((command, arg))
        return self._pipe.recv()

    def stop(self) -> None:
        try:
            self._pipe.send(("stop", 0))
        except (BrokenPipeError, OSError):
            pass
        self._process.join(60)
        if self._process.is_alive():
            self._process.kill()


# The transports fast-crewai's client and worker can reach the daemon by: the daemon serves
# both at once (--listen and --unix_socket), each with a worker of its own on its own queue.
TRANSPORTS = {"tcp": "TCP loopback", "unix": "Unix socket"}


def bench_dispatch(calls: int, tasks: int, reps: int, threads: int, block: int,
                   transports: list[str]) -> None:
    """(b) of the module docstring. Each side's client runs in a process of its own and the
    sides take turns in blocks of `block` samples: a client of one system never shares a
    process (threads, GIL) with another's, and none is timed while another still finishes its
    last call. (With both clients in one process and samples alternating call by call, the
    Dask client's and scheduler's threads ran about 0.45 ms during each of our samples.)"""
    with tempfile.TemporaryDirectory() as data:
        socket_path = Path(data) / "daemon.sock"
        with running_daemon(Path(data) / "store", f"--unix_socket={socket_path}") as tcp:
            endpoints = {"tcp": tcp, "unix": f"unix:{socket_path}"}
            _dispatch_sides(endpoints, calls, tasks, reps, threads, block, transports)


def _dispatch_sides(endpoints: dict[str, str], calls: int, tasks: int, reps: int, threads: int,
                    block: int, transports: list[str]) -> None:
    workers: list[subprocess.Popen] = []
    sides: list[tuple[str, _Side]] = []
    try:
        for transport in transports:
            queue = f"{QUEUE}-{transport}"
            workers.append(_start_worker(endpoints[transport], queue, threads))
            sides.append((transport, _Side("fast-crewai", endpoints[transport], queue, threads)))
        sides.append(("dask", _Side("dask", "", "", threads)))
        for _, side in sides:
            side.ask("latency", 20)  # warm the workers, channels and code paths

        def in_turn(turn: int) -> list[tuple[str, _Side]]:
            """Every side, in the order of `turn` (who goes first rotates)."""
            k = turn % len(sides)
            return sides[k:] + sides[:k]

        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in sides}
        turn = 0
        while len(samples["dask"]) < calls:
            n = min(block, calls - len(samples["dask"]))
            for name, side in in_turn(turn):
                samples[name].extend(side.ask("latency", n))
            turn += 1
        dask_dispatch, dask_rtt, _ = (list(col) for col in zip(*samples["dask"]))
        for transport in transports:
            ours_dispatch, ours_rtt, acked = (list(col) for col in zip(*samples[transport]))
            table = Table(f"(b) dispatch to a warm worker process, fast-crewai over "
                          f"{TRANSPORTS[transport]} ({calls} calls each, {threads} threads, "
                          f"turns of {block})", "fast-crewai", "dask", unit="ms")
            for q in (50, 99):
                table.add(f"submit -> worker starts, p{q}", percentile(ours_dispatch, q),
                          percentile(dask_dispatch, q))
            for q in (50, 99):
                table.add(f"submit -> result back, p{q}", percentile(ours_rtt, q),
                          percentile(dask_rtt, q))
            print(table.render())
            print(f"fast-crewai, CreateRun acknowledged (run durable) -> worker starts: "
                  f"p50 {percentile(acked, 50) * 1e3:.3f} ms, "
                  f"p99 {percentile(acked, 99) * 1e3:.3f} ms")
            print(f"target: fast-crewai dispatch p50 <= 0.5 ms: "
                  f"{percentile(ours_dispatch, 50) * 1e3:.3f} ms (submit -> start, "
                  f"{TRANSPORTS[transport]})")
            print()

        rates: dict[str, list[float]] = {name: [] for name, _ in sides}
        for rep in range(reps):
            for name, side in in_turn(rep):
                rates[name].append(side.ask("throughput", tasks))
        table = Table(f"(b) throughput: {tasks} no-op inputs at once, median of {reps}",
                      "fast-crewai", "dask", unit="/s")
        for transport in transports:
            table.add(f"tasks per second, {TRANSPORTS[transport]}", median(rates[transport]),
                      median(rates["dask"]))
        print(table.render())
    finally:
        for _, side in sides:
            side.stop()
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.5, help="fake LLM seconds per call")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--block", type=int, default=25,
                        help="latency samples per turn of each side")
    parser.add_argument("--transport", choices=["tcp", "unix", "both"], default="both",
                        help="how fast-crewai's client and worker reach the daemon")
    parser.add_argument("--skip-dag", action="store_true")
    parser.add_argument("--skip-dispatch", action="store_true")
    args = parser.parse_args()
    if not args.skip_dag:
        bench_dag(args.reps, args.delay)
    if not args.skip_dispatch:
        transports = ["tcp", "unix"] if args.transport == "both" else [args.transport]
        bench_dispatch(args.calls, args.tasks, args.reps, args.threads, args.block, transports)


if __name__ == "__main__":
    main()
