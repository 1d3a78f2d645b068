"""`fast-crewai status`: is the daemon reachable, what is it, and what would be patched here.

Exit 0 when the daemon is reachable and SERVING, 1 otherwise (decided within about the
connect timeout, 1 s by default, for a dead endpoint), 2 for a malformed configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from fast_crewai import grpc_tuning
from fast_crewai._version import __version__
from fast_crewai.acceleration import preview
from fast_crewai.cli import common
from fast_crewai.config import ClientConfig
from fast_crewai.errors import ConfigError, FastCrewAIError
from fast_crewai.patches import PatchResult
from fast_crewai.types import HealthStatus, ServerInfo

if TYPE_CHECKING:  # the gRPC side is imported when used, so `doctor` can report a broken one
    from fast_crewai.client.remote import Remote

# Deadline of each call made after the daemon answered the first probe.
CALL_TIMEOUT = 2.0


@dataclass
class ServiceHealth:
    name: str
    health: str
    implemented: bool | None = None


@dataclass
class StatusReport:
    """Everything `status` prints; `to_json()` is the --json form."""

    client_version: str
    endpoint: str
    transport: str
    tls: bool
    mutual_tls: bool
    token_set: bool
    reachable: bool
    health: str
    error: str | None = None
    server: ServerInfo | None = None
    server_error: str | None = None
    services: list[ServiceHealth] = field(default_factory=list)
    patches: list[PatchResult] = field(default_factory=list)
    grpc_tuning: str = field(default_factory=grpc_tuning.state)

    @property
    def ok(self) -> bool:
        return self.reachable and self.health == HealthStatus.SERVING.name

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.server is not None:
            data["server"].pop("services", None)
        data["ok"] = self.ok
        return data


def collect(config: ClientConfig) -> StatusReport:
    """Probes the daemon described by `config`; never raises for daemon-side failures."""
    report = StatusReport(
        client_version=__version__,
        endpoint=config.endpoint.target,
        transport=config.endpoint.scheme,
        tls=config.tls,
        mutual_tls=config.mutual_tls,
        token_set=bool(config.token),
        reachable=False,
        health=HealthStatus.UNKNOWN.name,
    )
    from fast_crewai.client.connection import Connection, misconfiguration
    from fast_crewai.client.remote import Remote

    report.patches = _patches(config)
    connection = Connection(config)
    try:
        remote = Remote(connection)
        try:
            overall = remote.health("", timeout=config.connect_timeout)
        except FastCrewAIError as e:  # ConfigError (TLS files) is handled by the caller
            if isinstance(e, ConfigError):
                raise
            why = misconfiguration(config, e)  # a TLS mismatch rather than a daemon down
            report.error = f"the daemon {why}" if why is not None else str(e)
            return report
        report.reachable = True
        report.health = overall.name
        try:
            report.server = remote.server_info(timeout=CALL_TIMEOUT)
        except FastCrewAIError as e:
            report.server_error = str(e)
        report.services = _service_health(remote, report.server)
        return report
    finally:
        connection.close()


def _patches(config: ClientConfig) -> list[PatchResult]:
    try:
        return preview(config)
    except Exception as e:  # noqa: BLE001 - status must still report the daemon
        return [PatchResult("-", "-", False, f"cannot evaluate patches: {e}")]


def _service_health(remote: Remote, server: ServerInfo | None) -> list[ServiceHealth]:
    from fast_crewai.client.remote import SERVICE_NAMES

    listed: list[tuple[str, bool | None]]
    if server is not None and server.services:
        listed = [(state.name, state.implemented) for state in server.services]
    else:
        listed = [(name, None) for name in SERVICE_NAMES]
    out = []
    for name, implemented in listed:
        try:
            health = remote.health(name, timeout=CALL_TIMEOUT).name
        except FastCrewAIError as e:
            health = f"ERROR ({e})"
        out.append(ServiceHealth(name=name, health=health, implemented=implemented))
    return out


def render_text(report: StatusReport, config: ClientConfig) -> str:
    lines = [
        f"endpoint:  {report.endpoint} ({common.describe_transport(config)})",
        f"reachable: {'yes' if report.reachable else 'no'}"
        + (f" ({report.error})" if report.error else ""),
    ]
    if report.reachable:
        lines.append(f"health:    {report.health}")
    if report.server is not None:
        info = report.server
        lines.append(f"server:    fast-crewai-server {info.version}, up "
                     f"{common.format_duration(info.uptime_seconds)}")
        lines.append(f"auth:      token {'required' if info.auth_required else 'not required'}"
                     f", TLS {'on' if info.tls else 'off'}")
    elif report.server_error:
        lines.append(f"server:    GetServerInfo failed: {report.server_error}")
    if report.services:
        lines.append("services:")
        width = max(len(service.name) for service in report.services)
        for service in report.services:
            note = "" if service.implemented is not False else "  (not implemented)"
            lines.append(f"  {service.name:<{width}}  {service.health}{note}")
    lines.append(f"patches on this installation (fast-crewai {report.client_version}):")
    width = max((len(f"{p.area}/{p.name}") for p in report.patches), default=0)
    for p in report.patches:
        mark = "on " if p.applied else "off"
        lines.append(f"  {mark}  {f'{p.area}/{p.name}':<{width}}  {p.reason}")
    lines.append(f"gRPC client tuning: {report.grpc_tuning}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        config = common.load_config(args)
        report = collect(config)
    except ConfigError as e:
        return common.fail_usage(e)
    except ImportError as e:
        print(f"fast-crewai: cannot load the gRPC stubs: {e} (run `fast-crewai doctor`)",
              file=sys.stderr)
        return common.EXIT_FAILED
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(render_text(report, config))
    sys.stdout.flush()
    return common.EXIT_OK if report.ok else common.EXIT_FAILED


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show whether the daemon is reachable, its version, health and the patches",
        description="Probe the fast-crewai daemon. Exit 0 when it is reachable and SERVING, "
        "1 otherwise, 2 on a configuration error.",
    )
    common.add_connection_arguments(parser)
    parser.set_defaults(func=run)
