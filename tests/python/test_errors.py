"""errors.from_rpc_error: codes, details and fast-crewai-* trailing metadata."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from fast_crewai import errors


class _Error(grpc.RpcError, grpc.Call):
    """A grpc.RpcError as the blocking stubs raise it (code/details/trailing_metadata)."""

    def __init__(self, code, details="", trailing=()):
        self._code, self._details, self._trailing = code, details, tuple(trailing)

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing

    def initial_metadata(self):
        return ()

    def is_active(self):
        return False

    def time_remaining(self):
        return None

    def cancel(self):
        return False

    def add_callback(self, callback):
        return False


@pytest.mark.parametrize(
    "code, cls",
    [
        (grpc.StatusCode.UNAVAILABLE, errors.DaemonUnavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceeded),
        (grpc.StatusCode.CANCELLED, errors.Cancelled),
        (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgument),
        (grpc.StatusCode.NOT_FOUND, errors.NotFound),
        (grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExists),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDenied),
        (grpc.StatusCode.UNAUTHENTICATED, errors.Unauthenticated),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ResourceExhausted),
        (grpc.StatusCode.FAILED_PRECONDITION, errors.FailedPrecondition),
        (grpc.StatusCode.ABORTED, errors.Aborted),
        (grpc.StatusCode.OUT_OF_RANGE, errors.OutOfRange),
        (grpc.StatusCode.UNIMPLEMENTED, errors.Unimplemented),
        (grpc.StatusCode.INTERNAL, errors.InternalError),
        (grpc.StatusCode.UNKNOWN, errors.InternalError),
        (grpc.StatusCode.DATA_LOSS, errors.InternalError),
    ],
)
def test_every_code_maps_to_its_class(code, cls):
    error = errors.from_rpc_error(_Error(code, "records[2].embedding: contains NaN"))
    assert type(error) is cls
    assert isinstance(error, errors.RpcError) and isinstance(error, errors.FastCrewAIError)
    assert error.code is code
    assert error.details == "records[2].embedding: contains NaN"
    assert str(error) == f"{code.name}: records[2].embedding: contains NaN"


def test_deadline_exceeded_is_a_daemon_unavailable():
    assert issubclass(errors.DeadlineExceeded, errors.DaemonUnavailable)


def test_keeps_only_fast_crewai_trailing_metadata():
    error = errors.from_rpc_error(_Error(
        grpc.StatusCode.FAILED_PRECONDITION, "dimension mismatch",
        [("fast-crewai-reason", "EMBEDDING_DIMENSION_MISMATCH"),
         ("fast-crewai-stored-dim", "3072"), ("fast-crewai-new-dim", "1536"),
         ("content-type", "application/grpc"), ("fast-crewai-blob-bin", b"\x00\x01")]))
    assert error.metadata == {
        "fast-crewai-reason": "EMBEDDING_DIMENSION_MISMATCH",
        "fast-crewai-stored-dim": "3072",
        "fast-crewai-new-dim": "1536",
        "fast-crewai-blob-bin": b"\x00\x01",
    }
    assert error.reason == "EMBEDDING_DIMENSION_MISMATCH"


def test_error_without_status_becomes_internal_unknown():
    error = errors.from_rpc_error(grpc.RpcError())
    assert type(error) is errors.InternalError
    assert error.code is grpc.StatusCode.UNKNOWN
    assert error.details == "" and error.metadata == {} and error.reason is None


def test_error_whose_accessors_raise_is_still_converted():
    class Broken(_Error):
        def trailing_metadata(self):
            raise RuntimeError("boom")

    error = errors.from_rpc_error(Broken(grpc.StatusCode.ABORTED, "x"))
    assert type(error) is errors.Aborted and error.metadata == {}


def test_daemon_unavailable_without_rpc():
    error = errors.DaemonUnavailable("daemon is down")
    assert error.code is None and str(error) == "daemon is down"


@pytest.fixture
def aborting_server():
    """A real gRPC server (python) whose one method fails with trailing metadata."""

    def handler(request, context):
        context.set_trailing_metadata((("fast-crewai-reason", "NAMESPACE_LOCKED"),
                                       ("x-other", "ignored")))
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, "namespace: locked by another op")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Svc", {"Fail": grpc.unary_unary_rpc_method_handler(
            handler, request_deserializer=bytes, response_serializer=bytes)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_converts_a_real_grpc_error_with_trailing_metadata(aborting_server):
    with grpc.insecure_channel(aborting_server) as channel:
        call = channel.unary_unary("/test.Svc/Fail", request_serializer=bytes,
                                   response_deserializer=bytes)
        with pytest.raises(grpc.RpcError) as info:
            call(b"", timeout=5)
    error = errors.from_rpc_error(info.value)
    assert type(error) is errors.FailedPrecondition
    assert error.details == "namespace: locked by another op"
    assert error.metadata == {"fast-crewai-reason": "NAMESPACE_LOCKED"}


def test_converts_a_real_unavailable_error(dead_endpoint):
    with grpc.insecure_channel(dead_endpoint) as channel:
        call = channel.unary_unary("/x.Y/Z", request_serializer=bytes,
                                   response_deserializer=bytes)
        with pytest.raises(grpc.RpcError) as info:
            call(b"", timeout=2)
    assert type(errors.from_rpc_error(info.value)) is errors.DaemonUnavailable
