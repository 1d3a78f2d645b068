"""`fast-crewai memory import [PATH]`: copies what CrewAI stored in its own LanceDB store at PATH
(without the daemon: before fast-crewai was installed, or in a process that started while the
daemon was unreachable) into the daemon's store for PATH, skipping ids the daemon already has
(fast_crewai.memory.importer).

    fast-crewai memory import [PATH] [--table NAME] [--endpoint ADDRESS] [--json]

PATH defaults to CrewAI's default memory directory ($CREWAI_STORAGE_DIR/memory, else
db_storage_path()/memory), as `Memory()` uses it. Exit 0 on success (also when there is nothing
to import: the store holds nothing the daemon lacks, or the default PATH or table was never
written), 1 when the daemon cannot be reached or refuses the records (the message says why),
2 for a configuration error, or a PATH given that is not a directory, or a --table given that
is not in it (a typo must not read as "nothing to import").
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from fast_crewai.cli import common
from fast_crewai.errors import ConfigError, FastCrewAIError
from fast_crewai.memory import namespace as ns
from fast_crewai.memory.namespace import DEFAULT_TABLE

_LANCE_SUFFIX = ".lance"  # LanceDB keeps each table in <directory>/<table>.lance


def _check_store(path: str | None, table: str | None) -> str | None:
    """Why the store named on the command line cannot be imported (None: go ahead). Only what
    was named explicitly is checked: CrewAI's default directory and table may not exist yet."""
    if path is not None:
        resolved = ns.resolve_storage_path(path)
        if not resolved.exists():
            return f'PATH "{path}" does not exist'
        if not resolved.is_dir():
            return f'PATH "{path}" is not a directory (a LanceDB store is one)'
    if table is not None:
        resolved = ns.resolve_storage_path(path)
        if resolved.is_dir() and not (resolved / f"{table}{_LANCE_SUFFIX}").exists():
            tables = sorted(p.name[:-len(_LANCE_SUFFIX)] for p in resolved.iterdir()
                            if p.name.endswith(_LANCE_SUFFIX))
            there = f"tables: {', '.join(tables)}" if tables else "it has no tables"
            return f'--table "{table}" is not in the LanceDB directory {resolved} ({there})'
    return None


def run(args: argparse.Namespace) -> int:
    try:
        config = common.load_config(args)
    except ConfigError as e:
        return common.fail_usage(e)
    try:
        from crewai.memory.storage.backend import EmbeddingDimensionMismatchError
    except ImportError:  # CrewAI before 1.10: legacy memory (Chroma), no LanceDB store
        print("fast-crewai: memory import: copies CrewAI's unified-memory LanceDB store "
              "(CrewAI 1.10 and later); this CrewAI has only legacy memory (Chroma), "
              "which it cannot import (docs/legacy.md)", file=sys.stderr)
        return common.EXIT_USAGE
    problem = _check_store(args.path, args.table)
    if problem is not None:
        print(f"fast-crewai: memory import: {problem}", file=sys.stderr)
        return common.EXIT_USAGE
    table = DEFAULT_TABLE if args.table is None else args.table
    from fast_crewai.client.connection import reset_connection
    from fast_crewai.memory import importer

    # The memory store talks through the process-wide connection, made from the environment.
    os.environ["FAST_CREWAI_ENDPOINT"] = str(config.endpoint)
    reset_connection()
    try:
        result = importer.import_local(args.path, table)
    except (FastCrewAIError, EmbeddingDimensionMismatchError) as e:
        print(f"fast-crewai: memory import failed at {config.endpoint}: {e}", file=sys.stderr)
        return common.EXIT_FAILED
    if args.json:
        print(json.dumps({"path": str(result.path), "namespace": result.namespace,
                          "local": result.local, "imported": result.imported,
                          "present": result.present}))
    elif result.local == 0:
        print(f"nothing to import: no CrewAI memory records in {result.path}")
    else:
        print(f"imported {result.imported} of {result.local} record(s) from {result.path} into "
              f"namespace {result.namespace} ({result.present} already there)")
    return common.EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "memory",
        help="copy CrewAI's own LanceDB memory records into the daemon",
        description="Memory store tools.",
    )
    commands = parser.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    imp = commands.add_parser(
        "import",
        help="copy the records of CrewAI's LanceDB store at PATH that the daemon lacks",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    imp.add_argument("path", nargs="?", metavar="PATH",
                     help="the LanceDB directory (default: CrewAI's default memory directory)")
    imp.add_argument("--table", metavar="NAME",
                     help=f"LanceDB table name, which must be in PATH (default: {DEFAULT_TABLE}, "
                     "as CrewAI's Memory uses)")
    common.add_connection_arguments(imp)
    imp.set_defaults(func=run)
