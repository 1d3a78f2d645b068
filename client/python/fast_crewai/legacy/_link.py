"""The legacy package's only coupling to the connection layer: one unary call to the memory or
persistence service (fast_crewai.client.remote.unary_call: gRPC errors turned into
fast_crewai.errors classes, an UNAVAILABLE/DEADLINE_EXCEEDED answer reported to the connection
so every area stops trying).

Thread-safety: safe from any thread.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from fast_crewai.client.connection import get_connection
from fast_crewai.client.remote import unary_call
from fast_crewai.legacy import conversions
from fast_crewai.memory import _link as memory_link
from fast_crewai.persistence import _link as persistence_link

# A legacy call waits for a group commit at most; longer means trouble, and the write is
# journaled instead.
DEFAULT_TIMEOUT_S = 10.0


def daemon_available() -> bool:
    """Cached reachability (no I/O while the daemon is known up or down)."""
    return memory_link.daemon_available()


def call(rpc: str, request: Message, timeout: float | None = None) -> Any:
    """Sends `request` to MemoryService/<rpc> or PersistenceService/<rpc> (the LTM RPCs).

    Raises the `errors.RpcError` subclass of the answer (`errors.DaemonUnavailable` when the
    daemon could not answer).
    """
    if rpc in conversions.PERSISTENCE_WRITES or rpc == "LoadLongTermMemory":
        return persistence_link.call(rpc, request, timeout=timeout or DEFAULT_TIMEOUT_S)
    return unary_call(get_connection(), getattr(memory_link.memory_stub(), rpc), request,
                      timeout or DEFAULT_TIMEOUT_S)


def send_journaled(rpc: str, payload: bytes, timeout: float | None = None) -> None:
    """Sends one journaled write again (its request names its own namespace)."""
    request_class = conversions.MEMORY_WRITES.get(rpc) or conversions.PERSISTENCE_WRITES.get(rpc)
    if request_class is None:
        raise ValueError(f"unknown journaled rpc {rpc!r}")
    call(rpc, request_class.FromString(payload), timeout)
