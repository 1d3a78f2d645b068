"""Plain Python types returned by the client; no gRPC or protobuf in here.

`fast_crewai.client.conversions` is the only code that builds them from protobuf messages.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["HealthStatus", "NamespaceInfo", "ServerInfo", "ServiceState"]


class HealthStatus(enum.IntEnum):
    """grpc.health.v1 `HealthCheckResponse.ServingStatus`."""

    UNKNOWN = 0
    SERVING = 1
    NOT_SERVING = 2
    SERVICE_UNKNOWN = 3


@dataclass(frozen=True)
class ServiceState:
    """One service hosted by the daemon, as GetServerInfo reports it."""

    name: str
    implemented: bool
    health: str


@dataclass(frozen=True)
class ServerInfo:
    """ServerService.GetServerInfo: version, uptime and hosted services of the daemon."""

    version: str
    uptime_seconds: int
    start_time_unix: int
    services: tuple[ServiceState, ...]
    auth_required: bool
    tls: bool


@dataclass(frozen=True)
class NamespaceInfo:
    """MemoryService.DescribeNamespace: whether a memory namespace exists and its size."""

    exists: bool
    vector_dim: int
    record_count: int
