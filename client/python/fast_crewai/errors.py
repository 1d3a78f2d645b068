"""Exceptions raised by fast_crewai, and the one conversion from gRPC errors.

Every exception the package raises on purpose derives from `FastCrewAIError`. Errors that come
from an RPC derive from `RpcError`, which keeps the gRPC status code, the status details and the
daemon's machine-readable trailing metadata (the `fast-crewai-*` keys, e.g.
`fast-crewai-reason: EMBEDDING_DIMENSION_MISMATCH`).

Subclasses follow the retry meaning of the canonical codes (abseil `status.h`):

* `DaemonUnavailable` (UNAVAILABLE) and its subclass `DeadlineExceeded` (DEADLINE_EXCEEDED):
  the daemon could not answer; callers fall back to CrewAI's local implementation.
* `Aborted`: retry at a higher level. `FailedPrecondition`: do not retry until fixed.
* `InvalidArgument`, `NotFound`, `AlreadyExists`, `OutOfRange`: the request itself is wrong.
* `Unauthenticated` / `PermissionDenied`: token missing or wrong.

`from_rpc_error()` is the only place that maps `grpc.RpcError` onto these classes.

Example:

    try:
        stub.GetServerInfo(request, timeout=1.0)
    except grpc.RpcError as e:
        raise from_rpc_error(e) from e
"""

from __future__ import annotations

from typing import Any, Mapping

import grpc

__all__ = [
    "FastCrewAIError",
    "ConfigError",
    "RpcError",
    "DaemonUnavailable",
    "DeadlineExceeded",
    "Cancelled",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "Unauthenticated",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "InternalError",
    "METADATA_PREFIX",
    "from_rpc_error",
]

# Trailing-metadata keys with this prefix are the daemon's machine-readable error details.
METADATA_PREFIX = "fast-crewai-"


class FastCrewAIError(Exception):
    """Root of every exception raised by fast_crewai."""


class ConfigError(FastCrewAIError, ValueError):
    """A configuration value is malformed.

    The message starts with the name of the offending variable, e.g.
    `FAST_CREWAI_ENDPOINT: expected host:port or unix:/path, got "foo"`.
    """


class RpcError(FastCrewAIError):
    """A call to the daemon failed.

    Attributes:
      code: the gRPC status code, or None when the failure happened before any RPC (for
        example a `DaemonUnavailable` raised because the daemon is known to be down).
      details: the status message as sent by the daemon ("" when none).
      metadata: the trailing metadata whose key starts with `fast-crewai-`, as a dict.
        Text values are `str`; values of binary (`-bin`) keys are `bytes`.
    """

    def __init__(
        self,
        details: str = "",
        *,
        code: grpc.StatusCode | None = None,
        metadata: Mapping[str, str | bytes] | None = None,
    ) -> None:
        self.code = code
        self.details = details
        self.metadata: dict[str, str | bytes] = dict(metadata or {})
        if code is not None:
            message = f"{code.name}: {details}" if details else code.name
        else:
            message = details or type(self).__name__
        super().__init__(message)

    @property
    def reason(self) -> str | None:
        """The `fast-crewai-reason` detail (e.g. "EMBEDDING_DIMENSION_MISMATCH"), if sent."""
        value = self.metadata.get(METADATA_PREFIX + "reason")
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value


class DaemonUnavailable(RpcError):
    """The daemon is not reachable (UNAVAILABLE), or is known to be down. Safe to fall back."""


class DeadlineExceeded(DaemonUnavailable):
    """The daemon did not answer in time (DEADLINE_EXCEEDED). Treated like UNAVAILABLE."""


class Cancelled(RpcError):
    """The call was cancelled (CANCELLED)."""


class InvalidArgument(RpcError):
    """The request was rejected (INVALID_ARGUMENT); details name the offending field."""


class NotFound(RpcError):
    """The addressed entity does not exist (NOT_FOUND)."""


class AlreadyExists(RpcError):
    """The entity to create exists already (ALREADY_EXISTS)."""


class PermissionDenied(RpcError):
    """The caller may not perform this call (PERMISSION_DENIED)."""


class Unauthenticated(RpcError):
    """Token missing or wrong (UNAUTHENTICATED): set FAST_CREWAI_TOKEN or FAST_CREWAI_TOKEN_FILE."""


class ResourceExhausted(RpcError):
    """A limit was hit (RESOURCE_EXHAUSTED), e.g. message size."""


class FailedPrecondition(RpcError):
    """The system is not in a state to perform the call (FAILED_PRECONDITION); do not retry."""


class Aborted(RpcError):
    """A conflict aborted the call (ABORTED); retry at a higher level."""


class OutOfRange(RpcError):
    """A value is past the valid range (OUT_OF_RANGE)."""


class Unimplemented(RpcError):
    """The daemon does not implement this call (UNIMPLEMENTED)."""


class InternalError(RpcError):
    """The daemon failed internally (INTERNAL, UNKNOWN or DATA_LOSS; `code` tells which)."""


_CLASS_BY_CODE: dict[grpc.StatusCode, type[RpcError]] = {
    grpc.StatusCode.UNAVAILABLE: DaemonUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNKNOWN: InternalError,
    grpc.StatusCode.DATA_LOSS: InternalError,
}


def _call_or_none(obj: Any, name: str) -> Any:
    method = getattr(obj, name, None)
    if not callable(method):
        return None
    try:
        return method()
    except Exception:  # A half-initialised call object must not mask the original error.
        return None


def from_rpc_error(error: grpc.RpcError) -> RpcError:
    """Converts a `grpc.RpcError` raised by a stub call into the matching `RpcError` subclass.

    Keeps `code`, `details` and the `fast-crewai-*` trailing metadata. An error object that
    carries no status (a bare `grpc.RpcError`) becomes `InternalError` with code UNKNOWN.
    Never raises.
    """
    code = _call_or_none(error, "code")
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    details = _call_or_none(error, "details")
    if not isinstance(details, str):
        details = "" if details is None else str(details)
    metadata: dict[str, str | bytes] = {}
    for item in _call_or_none(error, "trailing_metadata") or ():
        try:
            key, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(key, str) and key.lower().startswith(METADATA_PREFIX):
            metadata[key.lower()] = value
    cls = _CLASS_BY_CODE.get(code, InternalError)
    return cls(details, code=code, metadata=metadata)
