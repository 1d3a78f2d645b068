"""The only mapping between protobuf messages (fast_crewai.v1) and fast_crewai's Python types.

One function per message direction; no I/O, no gRPC. Area code (memory, cache, ...) adds its
own conversions here, so that the protobuf types never leak past fast_crewai/client/.
"""

from __future__ import annotations

from fast_crewai.types import NamespaceInfo, ServerInfo, ServiceState
from fast_crewai.v1 import memory_pb2, server_pb2

__all__ = ["namespace_info_from_proto", "server_info_from_proto"]


def server_info_from_proto(response: server_pb2.GetServerInfoResponse) -> ServerInfo:
    """GetServerInfoResponse -> ServerInfo."""
    return ServerInfo(
        version=response.version,
        uptime_seconds=int(response.uptime_seconds),
        start_time_unix=int(response.start_time_unix),
        services=tuple(
            ServiceState(name=s.name, implemented=s.implemented, health=s.health)
            for s in response.services
        ),
        auth_required=response.auth_required,
        tls=response.tls,
    )


def namespace_info_from_proto(response: memory_pb2.DescribeNamespaceResponse) -> NamespaceInfo:
    """DescribeNamespaceResponse -> NamespaceInfo."""
    return NamespaceInfo(
        exists=response.exists,
        vector_dim=int(response.vector_dim),
        record_count=int(response.record_count),
    )
