"""`fast-crewai runs`: the daemon scheduler's runs and their progress.

    fast-crewai runs [--limit N] [--json]         runs, newest first: id, state, done/running/
                                                   failed of total, name
    fast-crewai runs RUN_ID [--json]               one run and its nodes (state, attempts,
                                                   worker, error)
    fast-crewai runs RUN_ID --watch                a progress bar of done, running and failed
                                                   nodes until the run finishes (--json: one
                                                   JSON line per change)

All take --endpoint like `status`. Exit 0 on success (with --watch: the run succeeded), 1 when
the daemon cannot be reached, refuses the call (unknown run: the message says so) or the watched
run failed or was cancelled, 2 for a configuration error. Never imports CrewAI.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from dataclasses import asdict
from typing import Any, TextIO

from fast_crewai.cli import common
from fast_crewai.errors import ConfigError, FastCrewAIError
from fast_crewai.scheduler.types import NodeInfo, RunInfo, RunState

CALL_TIMEOUT = 5.0
BAR_WIDTH = 40


def _when(micros: int) -> str:
    if not micros:
        return "-"
    moment = datetime.datetime.fromtimestamp(micros / 1e6, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def run_json(run: RunInfo) -> dict[str, Any]:
    data = asdict(run)
    data["state"] = run.state.value
    data["labels"] = dict(run.labels)
    return data


def node_json(node: NodeInfo) -> dict[str, Any]:
    data = asdict(node)
    data["state"] = node.state.value
    data["depends_on"] = list(node.depends_on)
    for key in ("payload", "output"):
        data.pop(key)
    return data


def progress_bar(run: RunInfo, width: int = BAR_WIDTH) -> str:
    """`[#####>>>!!.....]  12/40 done, 3 running, 1 failed  running` style."""
    c = run.counts
    total = max(c.total, 1)
    done = round(width * c.succeeded / total)
    running = round(width * c.leased / total)
    failed = round(width * (c.failed + c.cancelled) / total)
    if c.failed + c.cancelled and not failed:
        failed = 1
    bar = ("#" * done + ">" * running + "!" * failed)[:width].ljust(width, ".")
    extra = f", {c.cancelled} cancelled" if c.cancelled else ""
    return (f"[{bar}] {c.succeeded}/{c.total} done, {c.leased} running, {c.failed} failed"
            f"{extra}  {run.state.value}")


def render_runs(runs: list[RunInfo]) -> str:
    if not runs:
        return "no runs"
    lines = [f"{'RUN':<36}  {'STATE':<9}  {'DONE':>11}  {'RUNNING':>7}  {'FAILED':>6}  "
             f"{'CREATED (UTC)':<19}  NAME"]
    for r in runs:
        c = r.counts
        lines.append(f"{r.run_id:<36}  {r.state.value:<9}  {f'{c.succeeded}/{c.total}':>11}  "
                     f"{c.leased:>7}  {c.failed:>6}  {_when(r.created_at_micros):<19}  {r.name}")
    return "\n".join(lines)


def render_run(run: RunInfo, nodes: list[NodeInfo]) -> str:
    lines = [f"run:      {run.run_id}", f"name:     {run.name}", f"queue:    {run.queue}",
             f"created:  {_when(run.created_at_micros)}",
             f"finished: {_when(run.finished_at_micros)}",
             f"progress: {progress_bar(run)}"]
    if run.labels:
        lines.append("labels:   " + ", ".join(f"{k}={v}" for k, v in sorted(run.labels.items())))
    lines.append("")
    lines.append(f"{'NODE':<24}  {'STATE':<9}  {'ATTEMPTS':>8}  {'WORKER':<24}  ERROR")
    for n in nodes:
        lines.append(f"{n.node_id:<24}  {n.state.value:<9}  {f'{n.attempts}/{n.max_attempts}':>8}  "
                     f"{n.worker_id:<24}  {n.error}")
    return "\n".join(lines)


def watch(client: Any, run_id: str, as_json: bool, out: TextIO) -> RunInfo:
    """Prints the progress of `run_id` until it finishes; returns the final run."""
    last: RunInfo | None = None
    tty = out.isatty() and not as_json
    for update in client.watch_run(run_id):
        last = update.run
        if as_json:
            out.write(json.dumps({"run": run_json(update.run),
                                  "nodes": [node_json(n) for n in update.nodes]}) + "\n")
        elif tty:
            out.write("\r" + progress_bar(update.run))
        else:
            out.write(progress_bar(update.run) + "\n")
        out.flush()
        if update.run.state.finished:
            break
    if tty:
        out.write("\n")
    if last is None:
        last = client.get_run(run_id)
    return last


def run(args: argparse.Namespace) -> int:
    try:
        config = common.load_config(args)
    except ConfigError as e:
        return common.fail_usage(e)
    from fast_crewai.client.connection import Connection
    from fast_crewai.scheduler.remote import SchedulerClient

    connection = Connection(config)
    client = SchedulerClient(connection)
    try:
        if args.run_id is None:
            if args.watch:
                print("fast-crewai: --watch needs a RUN_ID", file=sys.stderr)
                return common.EXIT_USAGE
            runs = client.list_runs(limit=args.limit, timeout=CALL_TIMEOUT)
            if args.json:
                print(json.dumps([run_json(r) for r in runs], indent=2))
            else:
                print(render_runs(runs))
        elif args.watch:
            final = watch(client, args.run_id, args.json, sys.stdout)
            if final.state is not RunState.SUCCEEDED:
                return common.EXIT_FAILED
        else:
            info = client.get_run(args.run_id, timeout=CALL_TIMEOUT)
            nodes = client.list_nodes(args.run_id, timeout=CALL_TIMEOUT)
            if args.json:
                print(json.dumps({"run": run_json(info), "nodes": [node_json(n) for n in nodes]},
                                 indent=2))
            else:
                print(render_run(info, nodes))
    except ConfigError as e:
        return common.fail_usage(e)
    except FastCrewAIError as e:
        print(f"fast-crewai: runs failed at {config.endpoint}: {e}", file=sys.stderr)
        return common.EXIT_FAILED
    finally:
        connection.close()
    sys.stdout.flush()
    return common.EXIT_OK


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be in 1..1000, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "runs",
        help="list the scheduler's runs, show one, or watch its progress",
        description="Runs of the fast-crewai daemon's scheduler (kickoff_for_each fan-outs).",
    )
    parser.add_argument("run_id", nargs="?", metavar="RUN_ID", help="show this run's nodes")
    parser.add_argument("--watch", action="store_true",
                        help="draw a progress bar until the run finishes")
    parser.add_argument("--limit", type=_limit, default=0, metavar="N",
                        help="runs listed (default: the daemon's 100)")
    common.add_connection_arguments(parser)
    parser.set_defaults(func=run)
