"""The Python client's gRPC call with fast_crewai's tuning (GRPC_EXPERIMENTS=-event_engine_client,
fast_crewai.grpc_tuning) against grpcio's default, side by side in one run.

Each repetition starts one fresh interpreter per setting (gRPC reads the variable once, as it
loads), alternately, against one real daemon; each makes --calls empty unary calls
(ServerService.GetServerInfo) back to back, then --calls spaced by 1 ms of busy Python work (as
a crew's calls are: the threads of both processes wake from idle). Printed: medians over the
repetitions of the p50 latency and of the client's CPU time per call, ratio default / tuned.

  FAST_CREWAI_SERVER_BIN=build/server/fast-crewai-server .venv/bin/python bench/grpc_client_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import Table, median  # noqa: E402
from server_process import running_daemon  # noqa: E402

SETTINGS = {"tuned": "-event_engine_client", "default": None}


def child(endpoint: str, calls: int) -> None:
    """One interpreter's measurement (GRPC_EXPERIMENTS is already what the parent chose)."""
    import grpc

    from fast_crewai.v1 import server_pb2, server_pb2_grpc

    stub = server_pb2_grpc.ServerServiceStub(grpc.insecure_channel(endpoint))
    request = server_pb2.GetServerInfoRequest()
    for _ in range(200):
        stub.GetServerInfo(request)
    out = {}
    for mode, gap in (("back to back", 0.0), ("spaced 1 ms", 0.001)):
        latencies = []
        cpu = time.process_time()
        for _ in range(calls):
            start = time.perf_counter()
            stub.GetServerInfo(request)
            latencies.append(time.perf_counter() - start)
            end = time.perf_counter() + gap
            while time.perf_counter() < end:
                pass
        used = time.process_time() - cpu - calls * gap  # the busy gaps are not the call's
        out[mode] = [sorted(latencies)[len(latencies) // 2], used / calls]
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.calls)
        return
    results: dict[str, list[dict[str, list[float]]]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as data, running_daemon(Path(data)) as endpoint:
        for _ in range(args.reps):
            for name, experiments in SETTINGS.items():
                env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
                env["FAST_CREWAI_GRPC_TUNING"] = "0"  # the child sets (or not) the variable itself
                if experiments:
                    env["GRPC_EXPERIMENTS"] = experiments
                done = subprocess.run([sys.executable, __file__, "--child", endpoint,
                                       "--calls", str(args.calls)], env=env, check=True,
                                      capture_output=True, text=True)
                results[name].append(json.loads(done.stdout))
    for mode in ("back to back", "spaced 1 ms"):
        table = Table(f"empty unary call from Python, {mode} ({args.reps} x {args.calls} calls "
                      f"each, alternating interpreters)", "tuned", "grpcio default", unit="us")
        for index, label in ((0, "p50 latency"), (1, "client CPU per call")):
            table.add(label, median(r[mode][index] for r in results["tuned"]),
                      median(r[mode][index] for r in results["default"]))
        print(table.render())


if __name__ == "__main__":
    main()
