"""`fast-crewai doctor`: check the installation end to end and say what to fix.

Checks, in order (a check whose prerequisite failed is reported as `skip`):

  python     the interpreter is a supported version
  crewai     CrewAI is installed and its version is supported
  grpc       grpcio and protobuf import and load the generated stubs
  config     every FAST_CREWAI_* variable is valid
  tls        the TLS files are readable (skip when TLS is off)
  endpoint   the daemon answers the health check with SERVING
  server     GetServerInfo answers (reports the daemon's version)
  token      a token-protected call (MemoryService.DescribeNamespace) is accepted

Exit 0 when every check is ok, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable

from fast_crewai._version import __version__
from fast_crewai.cli import common
from fast_crewai.config import (
    ENV_ENDPOINT,
    ENV_TLS_CA,
    ENV_TLS_CERT,
    ENV_TLS_KEY,
    ENV_TOKEN,
    ENV_TOKEN_FILE,
    ClientConfig,
)
from fast_crewai.errors import ConfigError, FastCrewAIError
from fast_crewai.patches.requirements import installed_version, satisfies

if TYPE_CHECKING:  # the stubs are loaded by check_grpc, not at import
    from fast_crewai.client.remote import Remote

OK, FAIL, SKIP = "ok", "FAIL", "skip"

SUPPORTED_PYTHON = ((3, 10), (3, 13))
# Namespace used by the token check; DescribeNamespace never creates it.
PROBE_NAMESPACE = "fast-crewai-doctor"
CALL_TIMEOUT = 2.0


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass
class _Context:
    """What earlier checks learned, for later ones."""

    args: argparse.Namespace
    config: ClientConfig | None = None
    stubs_ok: bool = False
    tls_ok: bool = True
    remote: Remote | None = None  # set by check_endpoint once the stubs loaded
    reachable: bool = False
    auth_required: bool | None = None


def check_python(ctx: _Context) -> Check:
    version = sys.version_info[:2]
    text = ".".join(map(str, sys.version_info[:3]))
    low, high = SUPPORTED_PYTHON
    supported = f"{low[0]}.{low[1]} to {high[0]}.{high[1]}"
    if low <= version <= high:
        return Check("python", OK, f"{text} (supported: {supported})")
    return Check("python", FAIL, f"{text} is not supported",
                 f"use Python {supported} (CrewAI's range)")


# What a current CrewAI needs for every area to apply (the highest of the patchers' minimums).
FULL_SUPPORT_CREWAI = "crewai >= 1.15.3, < 2"


def check_crewai(ctx: _Context) -> Check:
    return crewai_check(installed_version("crewai"))


def crewai_check(version: str | None) -> Check:
    """The `crewai` check for an installed CrewAI `version` (None: not installed): which areas
    can be patched on it, each patcher's own version range deciding."""
    fix = f"pip install '{FULL_SUPPORT_CREWAI.replace(' ', '')}'"
    if version is None:
        return Check("crewai", FAIL, "CrewAI is not installed", fix)
    from fast_crewai.patches.legacy_memory import LEGACY_CREWAI

    if satisfies(LEGACY_CREWAI, version):
        return Check("crewai", OK, f"{version}: legacy memory (RAGStorage, LTMSQLiteStorage) "
                     "only, see docs/legacy.md")
    on, off = _areas_by_version(version)
    if not on:
        return Check("crewai", FAIL, f"CrewAI {version}: no area can be patched on it "
                     f"({'; '.join(off)})", fix)
    if off:
        return Check("crewai", OK, f"{version}: {', '.join(on)}; not on this version: "
                     f"{'; '.join(off)}", fix)
    return Check("crewai", OK, f"{version}: every area ({', '.join(on)})")


def _areas_by_version(version: str) -> tuple[list[str], list[str]]:
    """The current-CrewAI patches (the legacy one left out) whose CrewAI range `version` is
    in, as "area/name", and those it is not in, as "area/name needs <range>"."""
    from fast_crewai.patches import load_patcher, registered
    from fast_crewai.patches.requirements import parse_spec

    on: list[str] = []
    off: list[str] = []
    for spec in registered():
        if spec.name == "legacy_memory":
            continue
        patcher = load_patcher(spec)
        if patcher is None:
            continue
        ranges = [r for r in patcher.instruments if parse_spec(r)[0].lower() == "crewai"]
        unmet = [r for r in ranges if not satisfies(r, version)]
        label = f"{spec.area}/{spec.name}"
        if unmet:
            off.append(f"{label} needs {unmet[0]}")
        else:
            on.append(label)
    return on, off


def check_grpc(ctx: _Context) -> Check:
    try:
        import grpc
        import google.protobuf

        from fast_crewai.client import remote  # loads every generated stub
    except Exception as e:  # noqa: BLE001
        return Check("grpc", FAIL, f"cannot load the gRPC stubs: {type(e).__name__}: {e}",
                     "pip install 'grpcio>=1.51' 'protobuf>=4.21,<8' (then reinstall fast-crewai)")
    ctx.stubs_ok = True
    return Check("grpc", OK, f"grpcio {grpc.__version__}, protobuf {google.protobuf.__version__}, "
                 f"{len(remote.SERVICE_NAMES)} services in the stubs")


def check_config(ctx: _Context) -> Check:
    try:
        ctx.config = common.load_config(ctx.args)
    except ConfigError as e:
        variable = str(e).split(":", 1)[0]
        return Check("config", FAIL, str(e), f"fix or unset {variable}")
    c = ctx.config
    return Check("config", OK, f"endpoint {c.endpoint.target} ({common.describe_transport(c)})")


def check_tls(ctx: _Context) -> Check:
    if ctx.config is None:
        return Check("tls", SKIP, "configuration invalid")
    c = ctx.config
    if not c.tls:
        return Check("tls", SKIP, "TLS is off (set FAST_CREWAI_TLS_CA to enable it)")
    problems = []
    for variable, path in ((ENV_TLS_CA, c.tls_ca), (ENV_TLS_CERT, c.tls_cert),
                           (ENV_TLS_KEY, c.tls_key)):
        if path is None:
            continue
        try:
            with open(path, "rb") as f:
                if b"-----BEGIN" not in f.read():
                    problems.append(f'{variable}: "{path}" is not PEM')
        except OSError as e:
            problems.append(f'{variable}: cannot read "{path}": {e.strerror or e}')
    if problems:
        ctx.tls_ok = False
        return Check("tls", FAIL, "; ".join(problems), "point the variables at readable PEM files")
    return Check("tls", OK, "mutual TLS files readable" if c.mutual_tls else "CA file readable")


def check_endpoint(ctx: _Context) -> Check:
    if ctx.config is None or not ctx.stubs_ok or not ctx.tls_ok:
        return Check("endpoint", SKIP, "an earlier check failed")
    from fast_crewai.client.connection import Connection, misconfiguration
    from fast_crewai.client.remote import Remote

    remote = Remote(Connection(ctx.config))
    ctx.remote = remote
    target = ctx.config.endpoint.target
    try:
        health = remote.health("", timeout=ctx.config.connect_timeout)
    except (FastCrewAIError, ConfigError) as e:
        why = misconfiguration(ctx.config, e)
        if why is not None:  # the daemon is there; this client's TLS settings do not match
            problem, _, fix = why.rpartition("; ")
            return Check("endpoint", FAIL, f"the daemon at {target} {problem or fix}",
                         fix if problem else "match FAST_CREWAI_TLS_* to the daemon's --tls_*")
        listen = f"--unix_socket {ctx.config.endpoint.path}" if ctx.config.endpoint.scheme == \
            "unix" else f"--listen {target}"
        return Check("endpoint", FAIL, f"{target} unreachable: {e}",
                     f"start the daemon (fast-crewai-server {listen}) or set {ENV_ENDPOINT}")
    if health.name != "SERVING":
        return Check("endpoint", FAIL, f"{target} answers but is {health.name}",
                     "check the daemon's log (stderr)")
    ctx.reachable = True
    return Check("endpoint", OK, f"{target} reachable, SERVING")


def check_server(ctx: _Context) -> Check:
    if not ctx.reachable:
        return Check("server", SKIP, "daemon unreachable")
    try:
        assert ctx.remote is not None
        info = ctx.remote.server_info(timeout=CALL_TIMEOUT)
    except FastCrewAIError as e:
        return Check("server", FAIL, f"GetServerInfo failed: {e}",
                     "upgrade the daemon to the client's version")
    ctx.auth_required = info.auth_required
    detail = f"fast-crewai-server {info.version} (client {__version__})"
    if info.version != __version__:
        detail += "; versions differ"
    return Check("server", OK, detail)


def check_token(ctx: _Context) -> Check:
    if not ctx.reachable:
        return Check("token", SKIP, "daemon unreachable")
    from fast_crewai.errors import (
        InvalidArgument,
        NotFound,
        PermissionDenied,
        Unauthenticated,
        Unimplemented,
    )

    config = ctx.config
    assert config is not None and ctx.remote is not None
    try:
        ctx.remote.describe_namespace(PROBE_NAMESPACE, timeout=CALL_TIMEOUT)
    except Unauthenticated as e:
        if config.token:
            return Check("token", FAIL, f"token rejected by the daemon ({e.details or e})",
                         f"set {ENV_TOKEN} (or {ENV_TOKEN_FILE}) to the daemon's --token value")
        return Check("token", FAIL, "the daemon requires a token and none is set",
                     f"set {ENV_TOKEN} or {ENV_TOKEN_FILE} to the daemon's --token value")
    except PermissionDenied as e:
        return Check("token", FAIL, f"token not allowed: {e}", "use a token the daemon accepts")
    except (NotFound, InvalidArgument, Unimplemented):
        pass  # the call got past authentication
    except FastCrewAIError as e:
        return Check("token", FAIL, f"token check failed: {e}", "check the daemon's log")
    if config.token:
        return Check("token", OK, "token accepted")
    return Check("token", OK, "no token needed")


CHECKS: tuple[Callable[[_Context], Check], ...] = (
    check_python,
    check_crewai,
    check_grpc,
    check_config,
    check_tls,
    check_endpoint,
    check_server,
    check_token,
)


def run_checks(args: argparse.Namespace) -> list[Check]:
    ctx = _Context(args=args)
    results = []
    try:
        for check in CHECKS:
            try:
                results.append(check(ctx))
            except Exception as e:  # noqa: BLE001 - a crashing check is a failed check
                name = check.__name__.removeprefix("check_")
                results.append(Check(name, FAIL, f"{type(e).__name__}: {e}",
                                     "report this as a fast-crewai bug"))
    finally:
        if ctx.remote is not None:
            ctx.remote.connection.close()
    return results


def render_text(results: list[Check]) -> str:
    lines = [f"fast-crewai doctor (client {__version__})"]
    width = max(len(r.name) for r in results)
    for r in results:
        lines.append(f"{r.status:<4}  {r.name:<{width}}  {r.detail}")
        if r.status == FAIL and r.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {r.fix}")
    failed = sum(r.status == FAIL for r in results)
    lines.append("all checks passed" if not failed else f"{failed} check(s) failed")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    results = run_checks(args)
    if args.json:
        ok = all(r.status != FAIL for r in results)
        print(json.dumps({"ok": ok, "checks": [asdict(r) for r in results]}, indent=2))
    else:
        print(render_text(results))
    return common.EXIT_OK if all(r.status != FAIL for r in results) else common.EXIT_FAILED


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check Python, CrewAI, gRPC, configuration, daemon and token; say what to fix",
        description="Run every installation check. Exit 0 when all pass, 1 otherwise.",
    )
    common.add_connection_arguments(parser)
    parser.set_defaults(func=run)
