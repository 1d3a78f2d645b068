"""MemoryService calls with the memory-specific error translation, in one place.

`call(rpc, request)` sends one unary request on the shared stub. gRPC failures are first turned
into fast_crewai.errors classes (`errors.from_rpc_error`, the package's one gRPC conversion), then
the two that CrewAI has its own words for are translated:

| daemon answer | raised | why |
| --- | --- | --- |
| UNAVAILABLE, DEADLINE_EXCEEDED | `errors.DaemonUnavailable` (`DeadlineExceeded`) | retry-the-call: DaemonStorage journals the write / reads locally |
| FAILED_PRECONDITION + `fast-crewai-reason: EMBEDDING_DIMENSION_MISMATCH` | crewai's `EmbeddingDimensionMismatchError(stored_dim, new_dim)` | the exact class CrewAI and its users catch |
| INVALID_ARGUMENT, OUT_OF_RANGE | `InvalidMemoryRequest` (an `errors.InvalidArgument` and a `ValueError`) | bad input, as a local storage raises ValueError |
| anything else | the `errors.RpcError` subclass | never a RuntimeError: Memory's background saver swallows RuntimeError as shutdown |

Thread-safety: safe from any thread (gRPC stubs are thread-safe).
"""

from __future__ import annotations

from typing import Any

import grpc
from crewai.memory.storage.backend import EmbeddingDimensionMismatchError
from google.protobuf.message import Message

from fast_crewai import errors
from fast_crewai.memory import _link

REASON_KEY = "fast-crewai-reason"
DIM_MISMATCH_REASON = "EMBEDDING_DIMENSION_MISMATCH"
STORED_DIM_KEY = "fast-crewai-stored-dim"
NEW_DIM_KEY = "fast-crewai-new-dim"


class InvalidMemoryRequest(errors.InvalidArgument, ValueError):
    """The daemon rejected the request's content (INVALID_ARGUMENT / OUT_OF_RANGE)."""


def _text(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def translate(error: errors.RpcError) -> Exception:
    """The exception to raise for a failed memory call (see the module table)."""
    if isinstance(error, errors.FailedPrecondition) and error.reason == DIM_MISMATCH_REASON:
        try:
            return EmbeddingDimensionMismatchError(
                int(_text(error.metadata[STORED_DIM_KEY]) or ""),
                int(_text(error.metadata[NEW_DIM_KEY]) or ""),
            )
        except (KeyError, ValueError):
            return error
    if isinstance(error, (errors.InvalidArgument, errors.OutOfRange)):
        return InvalidMemoryRequest(error.details, code=error.code, metadata=error.metadata)
    return error


def call(rpc: str, request: Message, timeout: float | None = None) -> Any:
    """Sends `request` to MemoryService/<rpc>; returns the response or raises (module table).

    `timeout` defaults to `_link.DEFAULT_TIMEOUT_S`. An UNAVAILABLE answer is also reported to
    the connection layer, so other areas stop trying at once.
    """
    method = getattr(_link.memory_stub(), rpc)
    try:
        return method(request, timeout=_link.call_timeout(timeout), wait_for_ready=False)
    except grpc.RpcError as e:
        error = translate(errors.from_rpc_error(e))
    if isinstance(error, errors.DaemonUnavailable):
        _link.report_unavailable(str(error))
    raise error
