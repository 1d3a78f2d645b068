"""CacheService calls, with the one conversion of their messages into Python values.

Every function sends one unary request on the shared stub. gRPC failures become
fast_crewai.errors classes (`errors.from_rpc_error`); an UNAVAILABLE or DEADLINE_EXCEEDED
answer is also reported to the connection, so every area stops trying at once.
Strings that protobuf cannot carry (not valid UTF-8) raise ValueError before anything is sent.

Every function takes an optional `connection` (default: the process-wide one, configured from
FAST_CREWAI_*); the CLI passes its own.

Thread-safety: safe from any thread (gRPC stubs are thread-safe).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import grpc

from fast_crewai import errors
from fast_crewai.client.connection import Connection
from fast_crewai.cache import _link
from fast_crewai.v1 import cache_pb2

__all__ = [
    "CacheStats",
    "GetResult",
    "NamespaceStats",
    "PutResult",
    "clear",
    "configure_namespace",
    "get",
    "put",
    "release",
    "stats",
]

# Deadline of calls that never wait, in seconds.
DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class GetResult:
    found: bool
    value: bytes = b""
    content_type: str = ""
    claimed: bool = False
    lease_id: int = 0
    waited: bool = False
    in_flight: bool = False
    # Seconds until the entry expires; None = never (found only).
    expires_in: float | None = None


@dataclass(frozen=True)
class PutResult:
    stored: bool
    woken_waiters: int
    expires_in: float | None


@dataclass(frozen=True)
class NamespaceStats:
    namespace: str
    hits: int
    misses: int
    evictions: int
    expirations: int
    bytes: int
    entries: int
    max_bytes: int
    default_ttl: float | None  # seconds; None = never expire


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    evictions: int
    expirations: int
    bytes: int
    entries: int
    max_bytes: int
    claims: int = 0
    waiters: int = 0
    namespaces: tuple[NamespaceStats, ...] = field(default_factory=tuple)

    @property
    def hit_ratio(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


def _call(rpc: str, request: Any, timeout: float, connection: Connection | None) -> Any:
    method: Callable[..., Any] = getattr(_link.cache_stub(connection), rpc)
    try:
        return method(request, timeout=timeout, wait_for_ready=False)
    except grpc.RpcError as e:
        error = errors.from_rpc_error(e)
    if isinstance(error, errors.DaemonUnavailable):
        _link.report_unavailable(str(error), connection)
    raise error


def _key(namespace: str, tool: str, input: str) -> cache_pb2.CacheKey:
    return cache_pb2.CacheKey(namespace=namespace, tool=tool, input=input)


def _seconds(millis: int) -> float | None:
    return millis / 1000.0 if millis > 0 else None


def get(namespace: str, tool: str, input: str, *, claim: bool = False,
        lease: float | None = None, wait: float | None = None,
        timeout: float | None = None, connection: Connection | None = None) -> GetResult:
    """CacheService.Get. With `wait` (seconds) the call may block up to that long behind another
    claimer; its deadline is then `wait` plus a margin unless `timeout` is given."""
    request = cache_pb2.CacheGetRequest(
        key=_key(namespace, tool, input), claim=claim,
        lease_millis=int((lease or 0) * 1000), wait_millis=int((wait or 0) * 1000))
    deadline = timeout if timeout is not None else DEFAULT_TIMEOUT_S + (wait or 0.0)
    r = _call("Get", request, deadline, connection)
    return GetResult(found=r.found, value=r.value, content_type=r.content_type,
                     claimed=r.claimed, lease_id=r.lease_id, waited=r.waited,
                     in_flight=r.in_flight,
                     expires_in=_seconds(r.expires_in_millis) if r.found else None)


def put(namespace: str, tool: str, input: str, value: bytes, content_type: str, *,
        ttl: float | None = None, lease_id: int = 0, timeout: float = DEFAULT_TIMEOUT_S,
        connection: Connection | None = None) -> PutResult:
    """CacheService.Put; `ttl` in seconds (None = the namespace default)."""
    request = cache_pb2.CachePutRequest(
        key=_key(namespace, tool, input), value=value, content_type=content_type,
        ttl_millis=int(round((ttl or 0) * 1000)), lease_id=lease_id)
    r = _call("Put", request, timeout, connection)
    return PutResult(stored=r.stored, woken_waiters=r.woken_waiters,
                     expires_in=_seconds(r.expires_in_millis))


def release(namespace: str, tool: str, input: str, lease_id: int, *, uncacheable: bool,
            timeout: float = DEFAULT_TIMEOUT_S, connection: Connection | None = None) -> bool:
    """CacheService.ReleaseClaim; True when the claim was still live."""
    request = cache_pb2.CacheReleaseClaimRequest(
        key=_key(namespace, tool, input), lease_id=lease_id, uncacheable=uncacheable)
    return bool(_call("ReleaseClaim", request, timeout, connection).released)


def clear(namespace: str = "", *, timeout: float = DEFAULT_TIMEOUT_S,
          connection: Connection | None = None) -> int:
    """CacheService.Clear of one namespace, or of all when `namespace` is empty."""
    request = cache_pb2.CacheClearRequest(namespace=namespace)
    return int(_call("Clear", request, timeout, connection).removed)


def stats(namespace: str = "", *, timeout: float = DEFAULT_TIMEOUT_S,
          connection: Connection | None = None) -> CacheStats:
    """CacheService.Stats of one namespace, or of the whole cache with every namespace."""
    r = _call("Stats", cache_pb2.CacheStatsRequest(namespace=namespace), timeout, connection)
    namespaces = tuple(
        NamespaceStats(namespace=n.namespace, hits=n.hits, misses=n.misses,
                       evictions=n.evictions, expirations=n.expirations, bytes=n.bytes,
                       entries=n.entries, max_bytes=n.max_bytes,
                       default_ttl=_seconds(n.default_ttl_millis))
        for n in r.namespaces)
    return CacheStats(hits=r.hits, misses=r.misses, evictions=r.evictions,
                      expirations=r.expirations, bytes=r.bytes, entries=r.entries,
                      max_bytes=r.max_bytes, claims=r.claims, waiters=r.waiters,
                      namespaces=namespaces)


def configure_namespace(namespace: str, *, default_ttl: float | None = None,
                        max_bytes: int | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                        connection: Connection | None = None) -> None:
    """CacheService.ConfigureNamespace; arguments left None are kept as they are."""
    request = cache_pb2.CacheConfigureNamespaceRequest(namespace=namespace)
    if default_ttl is not None:
        request.default_ttl_millis = int(round(default_ttl * 1000))
    if max_bytes is not None:
        request.max_bytes = max_bytes
    _call("ConfigureNamespace", request, timeout, connection)
