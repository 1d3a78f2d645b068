"""`fast-crewai backup PATH`: an online copy of the daemon's persistence.db.

The daemon copies its persistence database (kickoff replay logs, flow states, legacy long-term
memory) with SQLite's online backup API while it keeps serving, checks the copy with
PRAGMA quick_check and renames it into place, so PATH never holds a partial copy. PATH is a
path on the daemon's machine; a relative PATH is made absolute against the current directory
(right when the daemon runs on this machine). To restore, stop the daemon and put the copy in
its data directory as persistence.db.

Exit 0 on success, 1 when the daemon refused or could not be reached (the message says why:
the file exists and --overwrite was not given, the directory does not exist, ...), 2 on a
configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from fast_crewai.cli import common
from fast_crewai.errors import ConfigError, FastCrewAIError

# A backup copies the whole file; give large databases time.
CALL_TIMEOUT = 600.0


def run(args: argparse.Namespace) -> int:
    try:
        config = common.load_config(args)
    except ConfigError as e:
        return common.fail_usage(e)
    import grpc

    from fast_crewai.client.connection import Connection
    from fast_crewai.errors import from_rpc_error
    from fast_crewai.persistence import conversions

    dest = os.path.abspath(args.path)
    connection = Connection(config)
    try:
        stub = connection.stub(conversions.PersistenceServiceStub)
        response = stub.Backup(conversions.backup(dest, args.overwrite), timeout=CALL_TIMEOUT)
    except grpc.RpcError as e:
        error = from_rpc_error(e)
        # The daemon names the request's field; here it is this command's flag.
        message = str(error.details or error).replace("pass overwrite", "pass --overwrite")
        print(f"fast-crewai backup: {message}", file=sys.stderr)
        return common.EXIT_FAILED
    except FastCrewAIError as e:
        print(f"fast-crewai backup: {e}", file=sys.stderr)
        return common.EXIT_FAILED
    finally:
        connection.close()
    if args.json:
        print(json.dumps({"path": dest, "source": response.source_path, "pages": response.pages,
                          "bytes": response.bytes}))
    else:
        print(f"backed up {response.source_path} to {dest} ({response.bytes} bytes)")
    return common.EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "backup",
        help="copy the daemon's persistence database to PATH while it keeps running",
        description="Online backup of the daemon's persistence.db (kickoff replay logs, flow "
        "states, legacy long-term memory) to PATH on the daemon's machine.",
    )
    parser.add_argument("path", metavar="PATH", help="destination file (its directory must exist)")
    parser.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")
    common.add_connection_arguments(parser)
    parser.set_defaults(func=run)
