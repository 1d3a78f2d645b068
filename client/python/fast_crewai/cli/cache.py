"""`fast-crewai cache stats|clear`: the daemon's tool-result cache.

    fast-crewai cache stats [--namespace N] [--json]   hits, misses, evictions, expirations,
                                                       bytes and entries (whole cache with one
                                                       line per namespace, or one namespace)
    fast-crewai cache clear [--namespace N]            remove the entries of N, or of every
                                                       namespace (counters are kept)

An empty --namespace is a usage error (omit the option to mean every namespace), so that
`--namespace "$NS"` with NS unset cannot clear the whole cache.

Both take --endpoint like `status`. Exit 0 on success, 1 when the daemon cannot be reached or
refuses the call (the message says why), 2 for a configuration error. Never imports CrewAI.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fast_crewai.cli import common
from fast_crewai.errors import ConfigError, FastCrewAIError

if TYPE_CHECKING:
    from fast_crewai.cache.remote import CacheStats

CALL_TIMEOUT = 5.0


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _ttl(seconds: float | None) -> str:
    return "never" if seconds is None else common.format_duration(int(seconds))


def render_stats(stats: CacheStats, namespace: str) -> str:
    lookups = stats.hits + stats.misses
    ratio = f" ({stats.hit_ratio:.1%} hit ratio)" if lookups else ""
    if stats.max_bytes:
        size = f"{_size(stats.bytes)} of {_size(stats.max_bytes)}"
    else:
        size = f"{_size(stats.bytes)}, no {'namespace ' if namespace else ''}limit"
    lines = [
        f"namespace:   {namespace or '(all)'}",
        f"entries:     {stats.entries}",
        f"bytes:       {stats.bytes} ({size})",
        f"hits:        {stats.hits}{ratio}",
        f"misses:      {stats.misses}",
        f"evictions:   {stats.evictions}",
        f"expirations: {stats.expirations}",
    ]
    if not namespace:
        lines.append(f"claims:      {stats.claims} in flight, {stats.waiters} waiting")
    if stats.namespaces:
        lines.append("namespaces:")
        width = max(len(n.namespace) for n in stats.namespaces)
        for n in stats.namespaces:
            lines.append(f"  {n.namespace:<{width}}  {n.entries:>8} entries  {_size(n.bytes):>10}  "
                         f"{n.hits:>8} hits  {n.misses:>8} misses  ttl {_ttl(n.default_ttl)}")
    return "\n".join(lines)


def _stats_json(stats: CacheStats, namespace: str) -> dict[str, Any]:
    data = asdict(stats)
    data["namespace"] = namespace
    data["hit_ratio"] = stats.hit_ratio
    if namespace:
        data.pop("namespaces")
        data.pop("claims")
        data.pop("waiters")
    return data


def run(args: argparse.Namespace) -> int:
    try:
        config = common.load_config(args)
    except ConfigError as e:
        return common.fail_usage(e)
    from fast_crewai.cache import remote
    from fast_crewai.client.connection import Connection

    if args.namespace == "":
        # An unset shell variable ("$NS") must not widen `clear` to every namespace.
        print(f"fast-crewai: cache {args.cache_command}: --namespace must not be empty; omit "
              "it to mean every namespace", file=sys.stderr)
        return common.EXIT_USAGE
    namespace = args.namespace or ""
    connection = Connection(config)
    try:
        if args.cache_command == "stats":
            stats = remote.stats(namespace, timeout=CALL_TIMEOUT, connection=connection)
            if args.json:
                print(json.dumps(_stats_json(stats, namespace), indent=2))
            else:
                print(render_stats(stats, namespace))
        else:
            removed = remote.clear(namespace, timeout=CALL_TIMEOUT, connection=connection)
            if args.json:
                print(json.dumps({"namespace": namespace, "removed": removed}))
            else:
                where = f"namespace {namespace}" if namespace else "every namespace"
                print(f"removed {removed} entries from {where}")
    except ConfigError as e:
        return common.fail_usage(e)
    except FastCrewAIError as e:
        print(f"fast-crewai: cache {args.cache_command} failed at {config.endpoint}: {e}",
              file=sys.stderr)
        return common.EXIT_FAILED
    finally:
        connection.close()
    sys.stdout.flush()
    return common.EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cache",
        help="show statistics of the daemon's tool-result cache, or clear it",
        description="Inspect or clear the fast-crewai daemon's tool-result cache.",
    )
    commands = parser.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    stats = commands.add_parser("stats", help="hits, misses, evictions, bytes, entries")
    clear = commands.add_parser("clear", help="remove cached tool results")
    for sub in (stats, clear):
        common.add_connection_arguments(sub)
        sub.add_argument("--namespace", metavar="N",
                         help="one namespace, not empty (omit it for every namespace)")
        sub.set_defaults(func=run)
