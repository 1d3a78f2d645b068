"""Typed calls to the daemon over a Connection: the gRPC side of fast_crewai.

Each method sends one RPC with a deadline, converts the reply with `conversions` and turns any
`grpc.RpcError` into a `fast_crewai.errors.RpcError` subclass via `errors.from_rpc_error`. A
DaemonUnavailable failure also marks the connection unavailable, so that the next
`Connection.available()` answers False without waiting.

Example:

    remote = Remote(get_connection())
    info = remote.server_info(timeout=1.0)
    info.version                      # "0.1.0"
"""

from __future__ import annotations

from typing import Any, Callable

import grpc

from fast_crewai.client import conversions, health
from fast_crewai.client.connection import Connection
from fast_crewai.errors import DaemonUnavailable, from_rpc_error
from fast_crewai.types import HealthStatus, NamespaceInfo, ServerInfo
from fast_crewai.v1 import (
    cache_pb2,
    memory_pb2,
    memory_pb2_grpc,
    persistence_pb2,
    scheduler_pb2,
    server_pb2,
    server_pb2_grpc,
)

__all__ = ["DEFAULT_TIMEOUT", "SERVICE_NAMES", "Remote", "unary_call"]

# Deadline of a call when the caller gives none, in seconds.
DEFAULT_TIMEOUT = 5.0

# Every service of the v1 API, fully qualified, in a stable order.
SERVICE_NAMES: tuple[str, ...] = tuple(
    service.full_name
    for module in (server_pb2, memory_pb2, cache_pb2, persistence_pb2, scheduler_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
)


def unary_call(connection: Connection, method: Callable[..., Any], request: Any,
               timeout: float) -> Any:
    """Calls the stub method `method` with `request` and a deadline of `timeout` seconds.

    Returns the response. A `grpc.RpcError` is raised as its `fast_crewai.errors.RpcError`
    subclass (`from_rpc_error`); a DaemonUnavailable one first marks `connection` unavailable,
    so every area stops trying at once.
    """
    try:
        return method(request, timeout=timeout)
    except grpc.RpcError as e:
        error = from_rpc_error(e)
    if isinstance(error, DaemonUnavailable):
        connection.mark_unavailable(str(error))
    raise error


class Remote:
    """Typed wrappers over the daemon's RPCs. Thread-safe (the Connection is)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def connection(self) -> Connection:
        return self._connection

    def _call(self, rpc: Callable[..., Any], request: Any, timeout: float) -> Any:
        return unary_call(self._connection, rpc, request, timeout)

    def health(self, service: str = "", *, timeout: float = DEFAULT_TIMEOUT) -> HealthStatus:
        """Health of `service` ("" = the daemon). SERVICE_UNKNOWN for a name it does not host."""
        try:
            return health.check(self._connection.channel(), service, timeout=timeout)
        except DaemonUnavailable as e:
            self._connection.mark_unavailable(str(e))
            raise

    def server_info(self, *, timeout: float = DEFAULT_TIMEOUT) -> ServerInfo:
        """ServerService.GetServerInfo. Needs no token."""
        stub = self._connection.stub(server_pb2_grpc.ServerServiceStub)
        response = self._call(stub.GetServerInfo, server_pb2.GetServerInfoRequest(), timeout)
        return conversions.server_info_from_proto(response)

    def describe_namespace(
        self, namespace: str, *, timeout: float = DEFAULT_TIMEOUT
    ) -> NamespaceInfo:
        """MemoryService.DescribeNamespace. Needs the token when the daemon requires one
        (raises Unauthenticated otherwise); never creates the namespace."""
        stub = self._connection.stub(memory_pb2_grpc.MemoryServiceStub)
        request = memory_pb2.DescribeNamespaceRequest(namespace=namespace)
        response = self._call(stub.DescribeNamespace, request, timeout)
        return conversions.namespace_info_from_proto(response)
