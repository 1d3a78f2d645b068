"""The persistence package's only coupling to the connection layer (fast_crewai.client).

* `stub()`               -> the process-wide PersistenceServiceStub (one channel, reused).
* `call(rpc, request)`   -> one unary call (`fast_crewai.client.remote.unary_call`): gRPC errors
  become `fast_crewai.errors` classes (`errors.from_rpc_error`) and an UNAVAILABLE /
  DEADLINE_EXCEEDED answer is reported to the connection, so every area stops trying at once.
* `daemon_available()`   -> `Connection.available()`: cached, no I/O while the daemon is known
  up or known down.

Thread-safety: safe from any thread (the Connection and gRPC stubs are).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from fast_crewai.client.connection import get_connection
from fast_crewai.client.remote import unary_call
from fast_crewai.persistence import conversions

# Deadline of one call when none is given. A write waits for its group commit (an fsync);
# longer than that means the daemon is in trouble and the caller falls back.
DEFAULT_TIMEOUT_S = 10.0


def stub() -> conversions.PersistenceServiceStub:
    """The process-wide PersistenceService stub."""
    return get_connection().stub(conversions.PersistenceServiceStub)


def daemon_available() -> bool:
    return get_connection().available()


def report_unavailable(reason: str) -> None:
    get_connection().mark_unavailable(reason)


def call(rpc: str, request: Message, timeout: float | None = None) -> Any:
    """Sends `request` to PersistenceService/<rpc>; returns the response.

    Raises the `errors.RpcError` subclass of the answer (`errors.DaemonUnavailable` when the
    daemon could not answer, after reporting it to the connection).
    """
    return unary_call(get_connection(), getattr(stub(), rpc), request,
                      DEFAULT_TIMEOUT_S if timeout is None else timeout)
