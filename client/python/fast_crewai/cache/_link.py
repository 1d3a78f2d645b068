"""The cache package's only coupling to the connection layer (fast_crewai.client).

* `cache_stub()`          -> the process-wide CacheServiceStub (one channel, reused).
* `daemon_available()`    -> `Connection.available()`: cached, no I/O while the state is known.
* `report_unavailable()`  -> tells the connection a call just failed with UNAVAILABLE.

Thread-safety: safe from any thread (the Connection is).
"""

from __future__ import annotations

from fast_crewai.client.connection import Connection, get_connection
from fast_crewai.config import ClientConfig
from fast_crewai.v1 import cache_pb2_grpc


def cache_stub(connection: Connection | None = None) -> cache_pb2_grpc.CacheServiceStub:
    """The CacheService stub of `connection` (default: the process-wide connection)."""
    return (connection or get_connection()).stub(cache_pb2_grpc.CacheServiceStub)


def daemon_available() -> bool:
    return get_connection().available()


def report_unavailable(reason: str, connection: Connection | None = None) -> None:
    (connection or get_connection()).mark_unavailable(reason)


def client_config() -> ClientConfig:
    return get_connection().config
