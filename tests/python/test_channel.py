"""channel.create_channel: options, TLS file errors, the bearer-token interceptor."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from fast_crewai.client.channel import MAX_MESSAGE_BYTES, channel_options, create_channel
from fast_crewai.config import ClientConfig, Endpoint
from fast_crewai.errors import ConfigError


def test_options():
    options = dict(channel_options(ClientConfig()))
    assert MAX_MESSAGE_BYTES == 64 * 1024 * 1024
    assert options["grpc.max_send_message_length"] == MAX_MESSAGE_BYTES
    assert options["grpc.max_receive_message_length"] == MAX_MESSAGE_BYTES
    assert options["grpc.keepalive_time_ms"] > 0
    assert options["grpc.max_reconnect_backoff_ms"] <= 1000
    assert "grpc.ssl_target_name_override" not in options
    assert options["grpc.primary_user_agent"].startswith("fast-crewai-python/")


def test_server_name_override_only_with_tls():
    config = ClientConfig(tls_ca="/ca.pem", tls_server_name="daemon.local")
    assert dict(channel_options(config))["grpc.ssl_target_name_override"] == "daemon.local"


@pytest.mark.parametrize("field, variable", [
    ("tls_ca", "FAST_CREWAI_TLS_CA"),
    ("tls_cert", "FAST_CREWAI_TLS_CERT"),
    ("tls_key", "FAST_CREWAI_TLS_KEY"),
])
def test_unreadable_tls_file_names_its_variable(tmp_path, field, variable):
    pem = tmp_path / "ok.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    paths = {"tls_ca": str(pem), "tls_cert": str(pem), "tls_key": str(pem)}
    paths[field] = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigError) as info:
        create_channel(ClientConfig(**paths))
    assert str(info.value).startswith(f'{variable}: cannot read "{tmp_path / "missing.pem"}"')


@pytest.fixture
def echo_metadata_server():
    """A real gRPC server (python) that returns the metadata it received."""

    def handler(request, context):
        return repr(sorted((k, v) for k, v in context.invocation_metadata()
                           if k == "authorization")).encode()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Echo", {"Metadata": grpc.unary_unary_rpc_method_handler(
            handler, request_deserializer=bytes, response_serializer=bytes)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def _received_authorization(config: ClientConfig, metadata=None) -> str:
    channel = create_channel(config)
    try:
        call = channel.unary_unary("/test.Echo/Metadata", request_serializer=bytes,
                                   response_deserializer=bytes)
        return call(b"", timeout=5, metadata=metadata).decode()
    finally:
        channel.close()


def test_token_is_sent_as_bearer_metadata_on_an_insecure_channel(echo_metadata_server):
    config = ClientConfig(endpoint=Endpoint.parse(echo_metadata_server), token="t0ken")
    assert _received_authorization(config) == "[('authorization', 'Bearer t0ken')]"


def test_caller_metadata_is_kept_next_to_the_token(echo_metadata_server):
    config = ClientConfig(endpoint=Endpoint.parse(echo_metadata_server), token="t0ken")
    channel = create_channel(config)
    try:
        call = channel.unary_unary("/test.Echo/Metadata", request_serializer=bytes,
                                   response_deserializer=bytes)
        response, state = call.with_call(b"", timeout=5, metadata=(("x-trace", "1"),))
        assert response.decode() == "[('authorization', 'Bearer t0ken')]"
    finally:
        channel.close()


def test_no_token_no_authorization_header(echo_metadata_server):
    config = ClientConfig(endpoint=Endpoint.parse(echo_metadata_server))
    assert _received_authorization(config) == "[]"
