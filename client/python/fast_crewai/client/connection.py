"""The process-wide connection to the daemon: one channel, cached stubs, cheap reachability.

`Connection.available()` is what every patch asks before using the daemon. Its cost contract:

* the first call probes the daemon (health Check of "", then, since health checks need no
  token, one read-only call that does: DescribeNamespace of a name nobody uses, which never
  creates it) with a `config.connect_timeout` deadline each (1 s by default) and caches the
  answer;
* while the daemon is considered up, it returns True without any I/O;
* once a probe failed, or a caller reported an UNAVAILABLE call with `mark_unavailable()`, it
  returns False immediately and re-probes in a background daemon thread, at most once every
  `reprobe_interval` seconds (1 s by default), so an unreachable daemon costs about one
  connect timeout once per process, and a daemon that comes back is picked up within seconds.

A probe refused by authentication (UNAUTHENTICATED, PERMISSION_DENIED: a wrong or missing token)
or failed by TLS (a handshake that fails; a plaintext client whose connection a TLS daemon
closes, confirmed by a TLS handshake of its own) is a misconfiguration, not an outage: the
connection counts as down as for any failed probe (CrewAI's own code is used), and the process
gets one RuntimeWarning naming the endpoint and the reason (`warnings.warn`, since the package
logger has no handler by default). `reset_connection()` re-arms it.

Thread-safety: every method may be called from any thread. Fork safety: after `os.fork()` the
child drops every channel inherited from the parent (gRPC channels do not survive fork) and
starts over lazily; the parent is unaffected. gRPC itself only works in a forked child when the
parent had not used it yet, or when GRPC_ENABLE_FORK_SUPPORT=1 was set before grpc was imported
(prefork servers such as gunicorn or Celery: set it in the service's environment). Otherwise
the child logs one warning and every connection there stays unavailable, i.e. the child runs on
CrewAI's own code.

Example:

    conn = get_connection()
    if conn.available():
        stub = conn.stub(ServerServiceStub)
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import ssl
import threading
import time
import warnings
import weakref
from typing import Callable, TypeVar

import grpc

from fast_crewai.client import channel as channel_lib
from fast_crewai.client import health
from fast_crewai.config import (
    ENV_TLS_CA,
    ENV_TOKEN,
    ENV_TOKEN_FILE,
    ClientConfig,
    Endpoint,
    get_config,
    reset_config,
)
from fast_crewai.errors import (
    ConfigError,
    DaemonUnavailable,
    FastCrewAIError,
    PermissionDenied,
    Unauthenticated,
    from_rpc_error,
)
from fast_crewai.types import HealthStatus

__all__ = ["Connection", "ProbeState", "get_connection", "reset_connection"]

_log = logging.getLogger(__name__)

DEFAULT_REPROBE_INTERVAL = 1.0

T = TypeVar("T")
Probe = Callable[["Connection"], bool]


class ProbeState(enum.Enum):
    """What the connection currently believes about the daemon."""

    UNKNOWN = "unknown"  # never probed
    UP = "up"
    DOWN = "down"


# The namespace the probe describes to see that the token is accepted: DescribeNamespace reads
# (an unknown name is answered OK, and is not created) and, unlike health, needs the token.
PROBE_NAMESPACE = "fast-crewai-probe"


def default_probe(connection: Connection) -> bool:
    """True when the daemon answers health Check("") with SERVING and accepts this client's
    token (or lack of one), each within connect_timeout. Raises Unauthenticated or
    PermissionDenied when the token is refused, another RpcError when the daemon cannot be
    reached."""
    timeout = connection.config.connect_timeout
    status = health.check(connection.channel(), "", timeout=timeout)
    if status is not HealthStatus.SERVING:
        return False
    from fast_crewai.v1 import memory_pb2, memory_pb2_grpc

    stub = connection.stub(memory_pb2_grpc.MemoryServiceStub)
    try:
        stub.DescribeNamespace(memory_pb2.DescribeNamespaceRequest(namespace=PROBE_NAMESPACE),
                               timeout=timeout)
    except grpc.RpcError as e:
        error = from_rpc_error(e)
        if isinstance(error, (Unauthenticated, PermissionDenied, DaemonUnavailable)):
            raise error from None
        # Anything else (e.g. UNIMPLEMENTED from a daemon without memory) got past the token.
    return True


# TLS failures as grpc reports them on a TLS channel (grpc 1.5x-1.8x wording).
_TLS_FAILURE_MARKERS = ("handshake failed", "verification check failed",
                        "certificate verify failed", "ssl_error")


def _speaks_tls(endpoint: Endpoint, timeout: float) -> bool:
    """True when a TLS handshake (no verification) with `endpoint` completes: the daemon serves
    TLS. Used only to explain a plaintext probe that failed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        if endpoint.scheme == "unix":
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            raw.settimeout(timeout)
            raw.connect(endpoint.path)
        else:
            raw = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
        with context.wrap_socket(raw, server_hostname=endpoint.host or None):
            return True
    except (OSError, ValueError):
        return False


def misconfiguration(config: ClientConfig, error: BaseException) -> str | None:
    """Why `error`, raised by a probe with `config`, is a misconfiguration rather than an
    outage (a sentence naming the variables to fix), or None when it may be an outage."""
    if isinstance(error, ConfigError):
        return str(error)
    if isinstance(error, (Unauthenticated, PermissionDenied)):
        if config.token is None:
            return (f"requires a token and none is set ({error}); set {ENV_TOKEN} or "
                    f"{ENV_TOKEN_FILE}")
        return f"refused the token ({error}); check {ENV_TOKEN} or {ENV_TOKEN_FILE}"
    if not isinstance(error, DaemonUnavailable):
        return None
    details = error.details.lower()
    if config.tls:
        if any(marker in details for marker in _TLS_FAILURE_MARKERS):
            return (f"failed the TLS handshake ({error.details}); check FAST_CREWAI_TLS_* "
                    "against the daemon's --tls_* options")
        return None
    if "socket closed" in details and _speaks_tls(config.endpoint, config.connect_timeout):
        return (f"serves TLS and this client connects in plaintext; set {ENV_TLS_CA} (and "
                "FAST_CREWAI_TLS_SERVER_NAME if the certificate names another host)")
    return None


_warn_lock = threading.Lock()
_warned = False  # one misconfiguration warning per process; guarded by _warn_lock


def _warn_misconfigured(config: ClientConfig, reason: str) -> None:
    global _warned
    with _warn_lock:
        if _warned:
            return
        _warned = True
    warnings.warn(f"fast-crewai: the daemon at {config.endpoint} {reason}; using CrewAI's "
                  "local implementation", RuntimeWarning)


_live_connections: weakref.WeakSet[Connection] = weakref.WeakSet()


class Connection:
    """One channel to the daemon plus its stubs, created lazily, with a cached probe result.

    `probe` and `clock` are injectable for tests; `probe` returns True when the daemon is usable
    and may raise (an exception counts as "down").
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        reprobe_interval: float = DEFAULT_REPROBE_INTERVAL,
        probe: Probe | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._reprobe_interval = reprobe_interval
        self._probe = probe or default_probe
        self._clock = clock
        self._init_state()
        _live_connections.add(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()  # guards every field below
        self._first_probe_lock = threading.Lock()  # serializes the one synchronous probe
        self._channel: grpc.Channel | None = None
        self._stubs: dict[object, object] = {}
        self._state = ProbeState.UNKNOWN
        self._last_probe = float("-inf")
        self._last_error: str | None = None
        self._reprobing = False
        self._closed = False

    @property
    def config(self) -> ClientConfig:
        return self._config

    @property
    def state(self) -> ProbeState:
        with self._lock:
            return self._state

    @property
    def last_error(self) -> str | None:
        """Why the last probe failed (None after a successful probe)."""
        with self._lock:
            return self._last_error

    def channel(self) -> grpc.Channel:
        """The channel, created on first use. Raises ConfigError for unreadable TLS files,
        FastCrewAIError after close()."""
        with self._lock:
            if self._closed:
                raise FastCrewAIError("connection is closed")
            if self._channel is None:
                self._channel = channel_lib.create_channel(self._config)
            return self._channel

    def stub(self, factory: Callable[[grpc.Channel], T]) -> T:
        """The stub built by `factory(channel)` (a generated `*Stub` class), cached per factory."""
        channel = self.channel()
        with self._lock:
            stub = self._stubs.get(factory)
            if stub is None:
                stub = factory(channel)
                self._stubs[factory] = stub
            return stub  # type: ignore[return-value]

    def available(self, *, fresh: bool = False) -> bool:
        """Whether the daemon should be used now. See the module docstring for the cost.

        `fresh`: when the daemon is known down and that was learnt more than
        `reprobe_interval` ago, probe now (at most connect_timeout) instead of answering from
        that state. For a decision that lasts (which backend a store gets at construction): a
        daemon that came back while nothing asked is not missed.
        """
        with self._lock:
            if self._closed:
                return False
            if self._state is ProbeState.UP:
                return True
            if self._state is ProbeState.DOWN:
                stale = self._clock() - self._last_probe >= self._reprobe_interval
                if not (fresh and stale and not self._reprobing):
                    self._maybe_start_reprobe_locked()
                    return False
                self._reprobing = True  # this caller probes; no background probe meanwhile
                probe_now = True
            else:
                probe_now = False
        if probe_now:
            return self._run_probe()
        with self._first_probe_lock:
            with self._lock:
                if self._state is not ProbeState.UNKNOWN or self._closed:
                    return self._state is ProbeState.UP and not self._closed
            ok = self._run_probe()
            return ok

    def mark_unavailable(self, reason: str = "marked unavailable") -> None:
        """Records that a call just failed with UNAVAILABLE; available() turns False at once
        and a background re-probe runs after `reprobe_interval`."""
        with self._lock:
            self._state = ProbeState.DOWN
            self._last_probe = self._clock()
            self._last_error = reason

    def close(self) -> None:
        """Closes the channel. available() is False afterwards. Idempotent."""
        with self._lock:
            channel, self._channel = self._channel, None
            self._stubs.clear()
            self._closed = True
        if channel is not None:
            channel.close()

    def _run_probe(self) -> bool:
        try:
            ok = bool(self._probe(self))
            error = None if ok else "daemon is not SERVING"
        except Exception as e:  # noqa: BLE001 - any failure means "not usable now"
            ok = False
            error = str(e) if isinstance(e, ConfigError) else f"{type(e).__name__}: {e}"
            with _warn_lock:
                warned = _warned
            reason = None if warned else misconfiguration(self._config, e)
            if reason is not None:
                _log.warning("fast-crewai: the daemon at %s %s; using CrewAI's local "
                             "implementation", self._config.endpoint, reason)
                _warn_misconfigured(self._config, reason)
        with self._lock:
            if not self._closed:
                self._state = ProbeState.UP if ok else ProbeState.DOWN
            self._last_probe = self._clock()
            self._last_error = error
            self._reprobing = False
        if not ok:
            _log.debug("fast-crewai daemon at %s unavailable: %s", self._config.endpoint, error)
        return ok

    def _maybe_start_reprobe_locked(self) -> None:
        if self._reprobing or self._clock() - self._last_probe < self._reprobe_interval:
            return
        self._reprobing = True
        thread = threading.Thread(
            target=self._run_probe, name="fast-crewai-reprobe", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down
            self._reprobing = False

    def _after_fork_in_child(self, grpc_usable: bool) -> None:
        # The parent's channel and locks are unusable here; drop them without closing.
        closed = self._closed
        self._init_state()
        self._closed = closed
        if not grpc_usable:
            self._state = ProbeState.DOWN
            self._last_error = _FORK_UNSUPPORTED
            self._reprobing = True  # never re-probe: gRPC cannot work in this process


_global_lock = threading.Lock()
_connection: Connection | None = None


def get_connection() -> Connection:
    """The process-wide Connection for `fast_crewai.config.get_config()`, created lazily.

    Raises ConfigError when the environment is malformed.
    """
    global _connection
    with _global_lock:
        if _connection is None:
            _connection = Connection(get_config())
        return _connection


def reset_connection() -> None:
    """Closes and forgets the process-wide connection and the cached config; the next
    get_connection() re-reads the environment. For tests and reconfiguration."""
    global _connection, _warned
    with _global_lock:
        connection, _connection = _connection, None
    if connection is not None:
        connection.close()
    with _warn_lock:
        _warned = False
    reset_config()


_FORK_UNSUPPORTED = (
    "gRPC was in use before fork() and GRPC_ENABLE_FORK_SUPPORT is not set; this process uses "
    "CrewAI's local code (set GRPC_ENABLE_FORK_SUPPORT=1 in the environment to fix)"
)


def _grpc_fork_support_enabled() -> bool:
    return os.environ.get("GRPC_ENABLE_FORK_SUPPORT", "").strip().lower() in ("1", "true")


def _after_fork_in_child() -> None:
    global _global_lock
    _global_lock = threading.Lock()
    connections = list(_live_connections)
    # A channel created in the parent means gRPC core was initialised there.
    grpc_used = any(c._channel is not None for c in connections)
    grpc_usable = not grpc_used or _grpc_fork_support_enabled()
    if not grpc_usable:
        _log.warning("fast-crewai: %s", _FORK_UNSUPPORTED)
    for connection in connections:
        connection._after_fork_in_child(grpc_usable)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
