"""`fast-crewai worker`: run kickoff inputs fanned out by `kickoff_for_each`.

    fast-crewai worker [--queue Q] [--concurrency N] [--max-tasks N] [--idle-exit SECONDS]
                       [--app-dir DIR] [--worker-id ID] [--endpoint ADDRESS]

Leases inputs from the daemon's queue Q (default $FAST_CREWAI_WORKER_QUEUE or "default"),
runs `factory().kickoff(inputs=...)` for each (N at once, default 1), and reports the result.
The factory module is imported from DIR (default: the current directory) or sys.path.
Acceleration is enabled as `import fast_crewai.shim` would (the worker's crews use the
daemon's memory, cache and persistence). Stops on SIGINT/SIGTERM after the inputs in hand,
after --max-tasks inputs, or after --idle-exit seconds without work.
Exit 0 on a clean stop, 1 when the daemon refused the worker or when it stopped idle while the
daemon was unreachable (its last lease call failed as unavailable: "no daemon" is not "no
work"), 2 for a configuration error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from fast_crewai.cli import common
from fast_crewai.config import valid_queue_name
from fast_crewai.errors import ConfigError, FastCrewAIError


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _log_line(message: str) -> None:
    # One write per line: slot threads log concurrently, and print() writes the text and the
    # newline separately.
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    try:
        config = common.load_config(args)
        if args.queue:
            config = config.replace(worker_queue=args.queue)
    except ConfigError as e:
        return common.fail_usage(e)
    if not valid_queue_name(config.worker_queue):
        print(f'fast-crewai: --queue: expected 1..128 characters of [A-Za-z0-9._:/-], got '
              f'"{config.worker_queue}"', file=sys.stderr)
        return common.EXIT_USAGE
    app_dir = os.path.abspath(args.app_dir or os.getcwd())
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)

    from fast_crewai.acceleration import enable_acceleration
    from fast_crewai.client.connection import Connection
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.worker import Worker

    if config.acceleration:
        enable_acceleration(config=config)
    try:  # warm: the first input must not pay CrewAI's import (seconds) while holding a lease
        import crewai  # noqa: F401
    except ImportError:
        pass
    connection = Connection(config)
    worker = Worker(SchedulerClient(connection), queue=config.worker_queue,
                    concurrency=args.concurrency, worker_id=args.worker_id,
                    max_tasks=args.max_tasks, idle_exit=args.idle_exit,
                    log=_log_line)

    def stop(signum: int, frame: Any) -> None:
        print("fast-crewai worker: stopping after the inputs in hand", file=sys.stderr,
              flush=True)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"fast-crewai worker {worker.worker_id}: queue {config.worker_queue} at "
          f"{config.endpoint}, concurrency {args.concurrency}", file=sys.stderr, flush=True)
    try:
        stats = worker.run()
    except FastCrewAIError as e:
        print(f"fast-crewai: worker failed at {config.endpoint}: {e}", file=sys.stderr)
        return common.EXIT_FAILED
    finally:
        connection.close()
    print(f"fast-crewai worker {worker.worker_id}: {stats.completed} done, {stats.failed} "
          f"failed, {stats.lost} lost", file=sys.stderr, flush=True)
    if worker.failure is not None:
        print(f"fast-crewai: worker refused at {config.endpoint}: {worker.failure}",
              file=sys.stderr)
        return common.EXIT_FAILED
    if worker.idle_exited and worker.unreachable is not None:
        print(f"fast-crewai: worker stopped idle while the daemon at {config.endpoint} was "
              f"unreachable: {worker.unreachable}", file=sys.stderr)
        return common.EXIT_FAILED
    return common.EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run kickoff_for_each inputs fanned out through the daemon",
        description="Lease kickoff inputs from the daemon and run them.",
    )
    parser.add_argument("--endpoint", metavar="ADDRESS",
                        help="daemon address; default: $FAST_CREWAI_ENDPOINT or 127.0.0.1:50051")
    parser.add_argument("--queue", metavar="Q",
                        help="queue to lease from; default: $FAST_CREWAI_WORKER_QUEUE or default")
    parser.add_argument("--concurrency", type=_positive_int, default=1, metavar="N",
                        help="inputs run at once (threads); default 1")
    parser.add_argument("--max-tasks", type=_positive_int, metavar="N",
                        help="exit after N inputs (default: run until stopped)")
    parser.add_argument("--idle-exit", type=_positive_float, metavar="SECONDS",
                        help="exit after SECONDS without work (default: never)")
    parser.add_argument("--app-dir", metavar="DIR",
                        help="directory put first on sys.path to import factories; default: .")
    parser.add_argument("--worker-id", metavar="ID",
                        help="name shown by `fast-crewai runs`; default host:pid")
    parser.set_defaults(func=run)
