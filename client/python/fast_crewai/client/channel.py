"""Creates the one gRPC channel to the daemon from a ClientConfig.

* Insecure when no TLS variable is set; TLS when FAST_CREWAI_TLS_CA (server verification) or
  FAST_CREWAI_TLS_CERT + _KEY (mutual TLS) is set; FAST_CREWAI_TLS_SERVER_NAME overrides the
  name checked in the daemon's certificate.
* The token travels as `authorization: Bearer <token>` metadata, added by a client
  interceptor. (Call credentials would need a secure channel; the interceptor works on both,
  including Unix sockets without TLS.)
* Options: 64 MiB messages both ways, keepalive pings only while calls are in flight (60 s),
  and a reconnect backoff of 1 s so a daemon that comes back is noticed within about a second
  (gRPC's default cap is 120 s; a connection attempt a second while the daemon is away).

Channels are expensive: `Connection` (connection.py) creates one per process and reuses it.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Sequence

import grpc

from fast_crewai._version import __version__
from fast_crewai.config import ENV_TLS_CA, ENV_TLS_CERT, ENV_TLS_KEY, ClientConfig
from fast_crewai.errors import ConfigError

__all__ = ["MAX_MESSAGE_BYTES", "channel_options", "create_channel"]

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
KEEPALIVE_TIME_MS = 60_000
KEEPALIVE_TIMEOUT_MS = 20_000
INITIAL_RECONNECT_BACKOFF_MS = 1_000
MAX_RECONNECT_BACKOFF_MS = 1_000


def channel_options(config: ClientConfig) -> list[tuple[str, Any]]:
    """The grpc channel arguments used for `config`."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.initial_reconnect_backoff_ms", INITIAL_RECONNECT_BACKOFF_MS),
        ("grpc.min_reconnect_backoff_ms", INITIAL_RECONNECT_BACKOFF_MS),
        ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
        ("grpc.primary_user_agent", f"fast-crewai-python/{__version__}"),
    ]
    if config.tls and config.tls_server_name:
        options.append(("grpc.ssl_target_name_override", config.tls_server_name))
    return options


def _read_pem(variable: str, path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(f'{variable}: cannot read "{path}": {e.strerror or e}') from None


def tls_credentials(config: ClientConfig) -> grpc.ChannelCredentials:
    """SSL channel credentials for `config`. Raises ConfigError naming an unreadable file."""
    return grpc.ssl_channel_credentials(
        root_certificates=_read_pem(ENV_TLS_CA, config.tls_ca),
        private_key=_read_pem(ENV_TLS_KEY, config.tls_key),
        certificate_chain=_read_pem(ENV_TLS_CERT, config.tls_cert),
    )


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class _BearerTokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Appends `authorization: Bearer <token>` to the metadata of every call."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata: Sequence[tuple[str, Any]] = tuple(details.metadata or ()) + (self._header,)
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def _intercept(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    intercept_unary_unary = _intercept
    intercept_unary_stream = _intercept
    intercept_stream_unary = _intercept
    intercept_stream_stream = _intercept


def create_channel(config: ClientConfig) -> grpc.Channel:
    """A new channel to `config.endpoint` (does not connect until the first call).

    Raises ConfigError naming the variable when a TLS file cannot be read.
    """
    options = channel_options(config)
    if config.tls:
        channel = grpc.secure_channel(config.endpoint.target, tls_credentials(config), options)
    else:
        channel = grpc.insecure_channel(config.endpoint.target, options)
    if config.token:
        channel = grpc.intercept_channel(channel, _BearerTokenInterceptor(config.token))
    return channel
