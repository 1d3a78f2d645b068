"""What --metrics_listen costs a call: daemons with and without it, side by side in one run.

Three daemons serve the same calls: one with --metrics_listen, two without (the second shows how
far two identical daemons differ on this machine). Two kinds of call: an almost empty one
(MemoryService.Count of an empty namespace) and CrewAI's most common write, a one-record
SaveRecords of 1536 float32 dimensions (memory_sync=full). One client makes --calls calls back
to back to each daemon in turn, --reps times. Printed: medians over the repetitions of the
latency per call and of the daemon's CPU time per call (/proc/<pid>/stat); the ratio is
with / without (above 1: what metrics cost).

  FAST_CREWAI_SERVER_BIN=build/server/fast-crewai-server .venv/bin/python bench/metrics_bench.py
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import struct
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import Table, median  # noqa: E402
from server_process import free_port, running_daemon_process  # noqa: E402
import fast_crewai  # noqa: E402,F401  first: the client's gRPC tuning (docs/client.md)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()

    import grpc

    from fast_crewai.v1 import memory_pb2, memory_pb2_grpc

    flags = {"without": [], "with": [f"--metrics_listen=127.0.0.1:{free_port()}"],
             "without, again": []}
    with ExitStack() as stack:
        stubs, pids = {}, {}
        for name, extra in flags.items():
            data = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            endpoint, pid = stack.enter_context(running_daemon_process(data, *extra))
            channel = stack.enter_context(grpc.insecure_channel(endpoint))
            stubs[name] = memory_pb2_grpc.MemoryServiceStub(channel)
            pids[name] = pid
        vector = struct.pack("<1536f", *(random.random() for _ in range(1536)))
        counter = itertools.count()

        def count(stub: Any) -> None:
            stub.Count(memory_pb2.CountRequest(namespace="bench"))

        def save(stub: Any) -> None:
            stub.SaveRecords(memory_pb2.SaveRecordsRequest(namespace="bench", records=[
                memory_pb2.MemoryRecord(id=f"r{next(counter)}", content="a fact", scope="/bench",
                                        embedding_f32=vector)]))

        for label, call, calls in (("an empty unary call (Count)", count, args.calls),
                                   ("a one-record save (SaveRecords)", save, args.calls // 5)):
            latency: dict[str, list[float]] = {name: [] for name in flags}
            cpu: dict[str, list[float]] = {name: [] for name in flags}
            for name in flags:  # warm up
                for _ in range(100):
                    call(stubs[name])
            for _ in range(args.reps):
                for name in flags:
                    stub, before = stubs[name], _cpu_seconds(pids[name])
                    start = time.perf_counter()
                    for _ in range(calls):
                        call(stub)
                    latency[name].append((time.perf_counter() - start) / calls)
                    cpu[name].append((_cpu_seconds(pids[name]) - before) / calls)
            for other in ("without", "without, again"):
                table = Table(f"{label}, {args.reps} x {calls} back to back", other,
                              "with metrics", unit="us")
                table.add("latency per call", median(latency[other]), median(latency["with"]))
                table.add("daemon CPU per call", median(cpu[other]), median(cpu["with"]))
                print(table.render())
    print("(ratio = with / without: above 1 is what metrics cost; 'without, again' shows how far "
          "two identical daemons differ)")


if __name__ == "__main__":
    main()
