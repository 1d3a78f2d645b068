"""Subprocess side of the multi-process cache tests: `python cache_worker.py <mode> ...`.

Modes (FAST_CREWAI_* variables come from the parent test; acceleration is on via the shim):
* `crew --counter F --query Q [--native] [--sleep S] [--go G]`: runs one Crew(cache=True)
  whose agent calls lookup(Q); prints `RESULT {"raw": ..., "handler": ..., "namespace": ...}`.
* `burst --counter F --threads N --go G [--sleep S] [--crews]`: N threads do what CrewAI does
  around a tool call, on one DaemonCacheHandler obtained through the patched Agent wiring:
  read; on a miss run the tool body (counted in F), then add. With --crews each thread runs a
  whole Crew(cache=True) instead (CrewAI's real tool path). Prints `RESULT {"values": [...]}`.
With --go, the worker prints READY and waits until file G exists, so that several processes
start their calls together.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # cache_fakes
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # support

import support  # noqa: E402,F401  (quiet CrewAI environment)

import fast_crewai.shim  # noqa: E402,F401


def _wait_for_go(go: str | None) -> None:
    if not go:
        return
    print("READY", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.005)


def crew(args: argparse.Namespace) -> None:
    from cache_fakes import make_crew

    c = make_crew(args.counter, args.query, native=args.native, sleep=args.sleep)
    _wait_for_go(args.go)
    out = c.kickoff()
    handler = c.agents[0].cache_handler
    print("RESULT " + json.dumps({"raw": out.raw, "handler": type(handler).__name__,
                                  "namespace": getattr(handler, "namespace", None)}), flush=True)


def burst(args: argparse.Namespace) -> None:
    from crewai import Agent

    from cache_fakes import ToolCallingLLM, counting_tool

    agent = Agent(role="R", goal="G", backstory="B", llm=ToolCallingLLM(model="fake"),
                  cache=True)
    handler = agent.cache_handler
    lookup = counting_tool(args.counter, args.sleep)
    values: list[object] = []
    lock = threading.Lock()
    barrier = threading.Barrier(args.threads)
    tool_input = json.dumps({"query": "burst"})

    crews = []
    if args.crews:
        from cache_fakes import make_crew

        crews = [make_crew(args.counter, "burst", sleep=args.sleep) for _ in range(args.threads)]

    def one(i: int) -> None:
        barrier.wait()
        if crews:
            value: object = crews[i].kickoff().raw
        else:
            value = handler.read(tool="lookup", input=tool_input)
            if value is None:
                value = lookup.run(query="burst")
                handler.add(tool="lookup", input=tool_input, output=value)
        with lock:
            values.append(value)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(args.threads)]
    _wait_for_go(args.go)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("RESULT " + json.dumps({"values": values, "handler": type(handler).__name__}),
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["crew", "burst"])
    parser.add_argument("--counter", required=True)
    parser.add_argument("--query", default="otters")
    parser.add_argument("--native", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--go")
    parser.add_argument("--crews", action="store_true")
    args = parser.parse_args()
    {"crew": crew, "burst": burst}[args.mode](args)


if __name__ == "__main__":
    main()
