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
      LocalCluster worker process (same threads) waits on its scheduler. Latency = submit (CreateRun of a one-input run / client.submit)
      until the worker process starts the input (a perf_counter stamp taken there), --calls
      samples alternating between the two, p50 and p99 (target p50 <= 0.5 ms). Throughput =
      --tasks no-op inputs submitted at once (one kickoff_for_each run / client.map) until all
      results are back, median of --reps. Ratios: Dask / fast-crewai for latency, fast-crewai
      / Dask for tasks per second (above 1: fast-crewai is faster).

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


def _start_worker(endpoint: str, threads: int) -> subprocess.Popen:
    script = Path(sys.executable).with_name("fast-crewai")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAST_CREWAI_")}
    env.update(FAST_CREWAI_ENDPOINT=endpoint, FAST_CREWAI_ACCELERATION="0")
    return subprocess.Popen([str(script), "worker", "--queue", QUEUE, "--concurrency",
                             str(threads), "--app-dir", str(HERE)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench_dispatch(calls: int, tasks: int, reps: int, threads: int) -> None:
    from distributed import Client, LocalCluster

    from fast_crewai.client.connection import Connection
    from fast_crewai.config import ClientConfig, Endpoint
    from fast_crewai.scheduler import fanout
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.types import NodeSpec
    import scheduler_noop

    with tempfile.TemporaryDirectory() as data, running_daemon(Path(data)) as endpoint:
        connection = Connection(ClientConfig(endpoint=Endpoint.parse(endpoint)))
        client = SchedulerClient(connection)
        worker = _start_worker(endpoint, threads)
        cluster = LocalCluster(n_workers=1, threads_per_worker=threads, processes=True,
                               dashboard_address=None)
        dask = Client(cluster)
        dask.upload_file(str(HERE / "scheduler_noop.py"))
        try:
            reference = "scheduler_noop:noop_crew"
            payload = fanout.encode_payload(reference, 0, {}, False)

            acked: list[float] = []  # CreateRun answered (the run is durable) -> worker starts

            def ours_once() -> tuple[float, float]:
                start = time.perf_counter()
                run = client.create_run([NodeSpec("input-000000", payload=payload)],
                                        queue=QUEUE, name="bench latency")
                created = time.perf_counter()
                (output,) = fanout.collect(client, run, 1)
                acked.append(float(output.raw) - created)
                return float(output.raw) - start, time.perf_counter() - start

            def dask_once() -> tuple[float, float]:
                start = time.perf_counter()
                stamp = dask.submit(scheduler_noop.stamp, 0, pure=False).result()
                return stamp - start, time.perf_counter() - start

            for _ in range(20):  # warm both workers, channels and code paths
                ours_once()
                dask_once()
            acked.clear()
            ours_dispatch, ours_rtt, dask_dispatch, dask_rtt = [], [], [], []
            for _ in range(calls):
                d, r = ours_once()
                ours_dispatch.append(d)
                ours_rtt.append(r)
                d, r = dask_once()
                dask_dispatch.append(d)
                dask_rtt.append(r)
            table = Table(f"(b) dispatch to a warm worker process ({calls} calls each, "
                          f"{threads} threads)", "fast-crewai", "dask", unit="ms")
            for q in (50, 99):
                table.add(f"submit -> worker starts, p{q}", percentile(ours_dispatch, q),
                          percentile(dask_dispatch, q))
            for q in (50, 99):
                table.add(f"submit -> result back, p{q}", percentile(ours_rtt, q),
                          percentile(dask_rtt, q))
            print(table.render())
            print(f"fast-crewai, CreateRun acknowledged (run durable) -> worker starts: "
                  f"p50 {percentile(acked, 50) * 1e3:.3f} ms, p99 {percentile(acked, 99) * 1e3:.3f} ms")
            print(f"target: fast-crewai dispatch p50 <= 0.5 ms: "
                  f"{percentile(ours_dispatch, 50) * 1e3:.3f} ms (submit -> start)")
            print()

            ours_rates, dask_rates = [], []
            inputs = [{} for _ in range(tasks)]
            for _ in range(reps):
                start = time.perf_counter()
                outputs = fanout.kickoff_for_each(reference, inputs, queue=QUEUE, client=client)
                assert len(outputs) == tasks
                ours_rates.append(tasks / (time.perf_counter() - start))
                start = time.perf_counter()
                results = dask.gather(dask.map(scheduler_noop.stamp, range(tasks), pure=False))
                assert len(results) == tasks
                dask_rates.append(tasks / (time.perf_counter() - start))
            table = Table(f"(b) throughput: {tasks} no-op inputs at once, median of {reps}",
                          "fast-crewai", "dask", unit="/s")
            table.add("tasks per second", median(ours_rates), median(dask_rates))
            print(table.render())
        finally:
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
            dask.close()
            cluster.close()
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
            connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.5, help="fake LLM seconds per call")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-dag", action="store_true")
    parser.add_argument("--skip-dispatch", action="store_true")
    args = parser.parse_args()
    if not args.skip_dag:
        bench_dag(args.reps, args.delay)
    if not args.skip_dispatch:
        bench_dispatch(args.calls, args.tasks, args.reps, args.threads)


if __name__ == "__main__":
    main()
