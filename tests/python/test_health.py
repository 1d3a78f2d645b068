"""The hand-written grpc.health.v1 codec and Check call."""

from __future__ import annotations

import time

import grpc
import pytest

from fast_crewai.client import health
from fast_crewai.errors import DaemonUnavailable
from fast_crewai.types import HealthStatus


def test_encode_empty_service_is_empty_message():
    assert health.encode_request("") == b""


def test_encode_service_name():
    assert health.encode_request("a.B") == b"\x0a\x03a.B"


def test_encode_long_name_uses_multi_byte_length():
    name = "x" * 300
    encoded = health.encode_request(name)
    assert encoded[:3] == b"\x0a\xac\x02" and encoded[3:] == name.encode()


@pytest.mark.parametrize(
    "data, status",
    [
        (b"", HealthStatus.UNKNOWN),
        (b"\x08\x01", HealthStatus.SERVING),
        (b"\x08\x02", HealthStatus.NOT_SERVING),
        (b"\x08\x03", HealthStatus.SERVICE_UNKNOWN),
        (b"\x08\x63", HealthStatus.UNKNOWN),  # a status this client does not know
        # unknown fields of every wire type around the status are skipped
        (b"\x12\x02hi\x08\x01\x19" + b"\x00" * 8 + b"\x25" + b"\x00" * 4 + b"\x28\x05",
         HealthStatus.SERVING),
    ],
)
def test_decode(data, status):
    assert health.decode_response(data) is status


@pytest.mark.parametrize("data", [b"\x08", b"\x12\x05ab", b"\x0b", b"\x08\xff"])
def test_decode_rejects_malformed(data):
    with pytest.raises(ValueError):
        health.decode_response(data)


def test_codec_agrees_with_protobuf_for_a_dynamic_message():
    """Cross-check against protobuf's own encoder using an equivalent message type."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(name="health_check_test.proto", package="hc",
                                              syntax="proto3")
    request = file.message_type.add(name="Req")
    request.field.add(name="service", number=1, type=9, label=1)
    response = file.message_type.add(name="Resp")
    response.field.add(name="status", number=1, type=5, label=1)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    req_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("hc.Req"))
    resp_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("hc.Resp"))
    for name in ["", "fast_crewai.v1.MemoryService", "é" * 200]:
        assert health.encode_request(name) == req_cls(service=name).SerializeToString()
    for status in HealthStatus:
        assert health.decode_response(resp_cls(status=int(status)).SerializeToString()) is status


def test_check_against_dead_endpoint_fails_fast(dead_endpoint):
    with grpc.insecure_channel(dead_endpoint) as channel:
        start = time.monotonic()
        with pytest.raises(DaemonUnavailable):
            health.check(channel, "", timeout=1.0)
        assert time.monotonic() - start < 1.5


def test_check_against_live_daemon(daemon):
    with grpc.insecure_channel(daemon.endpoint) as channel:
        assert health.check(channel, "", timeout=2) is HealthStatus.SERVING
        assert health.check(channel, "fast_crewai.v1.MemoryService", timeout=2) in (
            HealthStatus.SERVING, HealthStatus.NOT_SERVING)
        assert health.check(channel, "no.such.Service", timeout=2) is (
            HealthStatus.SERVICE_UNKNOWN)
