"""Runs every benchmark in bench/ one after another, each against its peer (`make bench`).

Each suite is its own process with the interpreter it needs (the legacy one runs in
.venv-crewai-1.9.3) and prints its own table of ratios. Suites run sequentially: running them at
once would make each the other's noise.

  .venv/bin/python bench/run.py                     # every suite
  .venv/bin/python bench/run.py memory scheduler    # some of them
  .venv/bin/python bench/run.py --list

FAST_CREWAI_SERVER_BIN picks the daemon binary (default build/server/fast-crewai-server).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Suite:
    name: str
    interpreter: Path
    script: str
    what: str


SUITES = (
    Suite("memory", REPO / ".venv/bin/python", "bench/memory_bench.py",
          "memory store vs CrewAI's LanceDB storage"),
    Suite("cache", REPO / ".venv/bin/python", "bench/cache_bench.py",
          "tool-result cache vs CrewAI's in-process cache and Redis"),
    Suite("persistence", REPO / ".venv/bin/python", "bench/persistence_bench.py",
          "replay log and durable writes vs CrewAI's SQLite storage"),
    Suite("scheduler", REPO / ".venv/bin/python", "bench/scheduler_bench.py",
          "DAG mode vs CrewAI's kickoff; dispatch vs Dask distributed"),
    Suite("grpc-client", REPO / ".venv/bin/python", "bench/grpc_client_bench.py",
          "the Python client's gRPC call with fast_crewai's tuning vs grpcio's default"),
    Suite("metrics", REPO / ".venv/bin/python", "bench/metrics_bench.py",
          "what --metrics_listen costs a call: daemons with and without it"),
    Suite("legacy", REPO / ".venv-crewai-1.9.3/bin/python", "bench/legacy_bench.py",
          "legacy RAGStorage vs CrewAI 1.9.3's Chroma storage"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", help="suite names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    args = parser.parse_args(argv)

    by_name = {suite.name: suite for suite in SUITES}
    if args.list:
        for suite in SUITES:
            print(f"{suite.name:12} {suite.what}")
        return 0
    unknown = [name for name in args.suites if name not in by_name]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    chosen = [by_name[name] for name in args.suites] if args.suites else list(SUITES)

    env = dict(os.environ)
    env.setdefault("FAST_CREWAI_SERVER_BIN", str(REPO / "build/server/fast-crewai-server"))
    failed: list[str] = []
    for suite in chosen:
        print(f"\n===== {suite.name}: {suite.what}", flush=True)
        if not suite.interpreter.exists():
            print(f"skipped: {suite.interpreter} is missing "
                  f"(bash deploy/install-deps.sh{' --legacy' if suite.name == 'legacy' else ''})")
            failed.append(suite.name)
            continue
        started = time.monotonic()
        code = subprocess.call([str(suite.interpreter), suite.script], cwd=REPO, env=env)
        print(f"===== {suite.name}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(suite.name)
    if failed:
        print(f"\nfailed or missing: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
