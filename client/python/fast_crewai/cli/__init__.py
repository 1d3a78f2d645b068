"""The `fast-crewai` command: `status`, `doctor`, `backup`, `cache`, `memory`, `runs`,
`worker`.

Each subcommand lives in its own module exposing `register(subparsers)`, which adds its parser
and sets `func=run`, where `run(args) -> int` returns the exit code. Adding a command (e.g.
`cache stats`) is a new module plus one entry in `_COMMANDS`.

Exit codes: 0 success, 1 the check failed (daemon unreachable, a doctor check failed),
2 usage or configuration error (argparse's convention; the message names the variable).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from fast_crewai._version import __version__
from fast_crewai.cli import backup, cache, doctor, memory, runs, status, worker

__all__ = ["build_parser", "main"]

_COMMANDS = (status, doctor, backup, cache, memory, runs, worker)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fast-crewai",
        description="Inspect the fast-crewai client installation and its daemon.",
    )
    parser.add_argument("--version", action="version", version=f"fast-crewai {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("fast-crewai: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`fast-crewai runs | head`): stop quietly, as other tools do.
        # Standard output now points at /dev/null, so the flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the pipe stopped
