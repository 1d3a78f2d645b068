"""The memory package's only coupling to the connection layer (fast_crewai.client).

Everything in fast_crewai.memory reaches the daemon through these functions, so a change in the
connection layer's API is a change here only:

* `memory_stub()`        -> the process-wide MemoryServiceStub (one channel, reused; the bearer
  token and TLS are the channel's business).
* `call_timeout(t)`      -> the deadline of one memory call.
* `daemon_available()`   -> `Connection.available()`: cached, costs no I/O while the daemon is
  known up, or known down since less than a second; with `fresh=True` (before constructing a
  daemon-backed store) a down state older than that is probed again first.
* `report_unavailable()` -> tells the connection a call just failed with UNAVAILABLE, so other
  areas stop trying at once (`Connection.mark_unavailable`).

Thread-safety: safe from any thread (the Connection is).
"""

from __future__ import annotations

from fast_crewai.client.connection import get_connection
from fast_crewai.v1 import memory_pb2_grpc

# Deadline of one memory call when none is given. Longer than the connection layer's default:
# a large save waits for its group commit. A call that exceeds it is treated like an outage
# (the write is journaled and replayed, which is safe because writes are idempotent).
DEFAULT_TIMEOUT_S = 30.0


def memory_stub() -> memory_pb2_grpc.MemoryServiceStub:
    """The process-wide MemoryService stub."""
    return get_connection().stub(memory_pb2_grpc.MemoryServiceStub)


def call_timeout(timeout: float | None) -> float:
    return DEFAULT_TIMEOUT_S if timeout is None else timeout


def probe_timeout() -> float:
    """Deadline of a reachability probe (FAST_CREWAI_CONNECT_TIMEOUT)."""
    return get_connection().config.connect_timeout


def daemon_available(*, fresh: bool = False) -> bool:
    """`fresh`: see Connection.available (for the backend a store keeps for its lifetime)."""
    return get_connection().available(fresh=fresh)


def report_unavailable(reason: str) -> None:
    get_connection().mark_unavailable(reason)
