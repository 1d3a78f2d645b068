"""grpc.health.v1.Health/Check without the grpcio-health-checking dependency.

The two messages are tiny, so they are encoded by hand (protobuf wire format):

    HealthCheckRequest  { string service = 1; }
    HealthCheckResponse { ServingStatus status = 1; }   // 0 UNKNOWN 1 SERVING 2 NOT_SERVING
                                                          // 3 SERVICE_UNKNOWN

Example:

    status = check(channel, "fast_crewai.v1.MemoryService", timeout=1.0)
    status is HealthStatus.SERVING
"""

from __future__ import annotations

import grpc

from fast_crewai.errors import NotFound, from_rpc_error
from fast_crewai.types import HealthStatus

__all__ = ["CHECK_METHOD", "check", "decode_response", "encode_request"]

CHECK_METHOD = "/grpc.health.v1.Health/Check"

_WIRE_VARINT, _WIRE_FIXED64, _WIRE_LEN, _WIRE_FIXED32 = 0, 1, 2, 5


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise ValueError("varint longer than 10 bytes")


def encode_request(service: str) -> bytes:
    """Serializes HealthCheckRequest{service}. The empty name ("" = whole server) is b""."""
    if not service:
        return b""
    payload = service.encode("utf-8")
    return bytes([(1 << 3) | _WIRE_LEN]) + _encode_varint(len(payload)) + payload


def decode_response(data: bytes) -> HealthStatus:
    """Parses HealthCheckResponse, skipping unknown fields.

    An absent status is UNKNOWN (proto3 default); a status number this client does not know
    is also UNKNOWN. Raises ValueError on malformed input.
    """
    status = 0
    pos = 0
    while pos < len(data):
        key, pos = _decode_varint(data, pos)
        field, wire = key >> 3, key & 0x7
        if wire == _WIRE_VARINT:
            value, pos = _decode_varint(data, pos)
            if field == 1:
                status = value
        elif wire == _WIRE_LEN:
            length, pos = _decode_varint(data, pos)
            pos += length
        elif wire == _WIRE_FIXED64:
            pos += 8
        elif wire == _WIRE_FIXED32:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated field")
    try:
        return HealthStatus(status)
    except ValueError:
        return HealthStatus.UNKNOWN


def check(channel: grpc.Channel, service: str = "", *, timeout: float) -> HealthStatus:
    """Asks the daemon's health service about `service` ("" = the server as a whole).

    Returns SERVICE_UNKNOWN when the daemon does not know the name (it answers NOT_FOUND).
    Raises a `fast_crewai.errors.RpcError` subclass for any other failure, e.g.
    DaemonUnavailable when nothing listens or DeadlineExceeded after `timeout` seconds.
    """
    method = channel.unary_unary(
        CHECK_METHOD,
        request_serializer=encode_request,
        response_deserializer=decode_response,
    )
    try:
        status: HealthStatus = method(service, timeout=timeout, wait_for_ready=False)
        return status
    except grpc.RpcError as e:
        error = from_rpc_error(e)
    if isinstance(error, NotFound):
        return HealthStatus.SERVICE_UNKNOWN
    raise error
