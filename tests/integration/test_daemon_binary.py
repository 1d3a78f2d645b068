"""End-to-end tests of the fast-crewai-server binary: start, stop, flags, errors, socket, auth,
TLS. Everything runs against the real binary through the fixtures in conftest.py (used as
fixtures, never imported: see there)."""

from __future__ import annotations

import re
import signal
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import grpc
import pytest

if TYPE_CHECKING:
    from conftest import DaemonProcess, StartDaemon

RunServer = Callable[..., "subprocess.CompletedProcess[str]"]
HealthCheck = Callable[..., int]
RawCall = Callable[..., "tuple[grpc.StatusCode, str, bytes]"]

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVING = 1
NOT_SERVING = 2
VERSION = (REPO_ROOT / "VERSION").read_text().strip()
LOG_LINE = re.compile(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z '
                      r'level=(debug|info|warning|error) msg="[^"]*"')
COUNT = "/fast_crewai.v1.MemoryService/Count"
SERVER_INFO = "/fast_crewai.v1.ServerService/GetServerInfo"


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The daemon's single stderr line for a failed start."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got:\n{result.stderr}"
    assert lines[0].startswith("fast-crewai-server: "), lines[0]
    return lines[0]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


# ----- flags ---------------------------------------------------------------------------------

def test_version(run_server: RunServer) -> None:
    result = run_server("--version")
    assert result.returncode == 0
    assert result.stdout == f"fast-crewai-server {VERSION}\n"


def test_help_lists_every_option_with_env_var_and_default(run_server: RunServer) -> None:
    result = run_server("--help")
    assert result.returncode == 0
    for name, default in [("listen", "127.0.0.1:50051"), ("unix_socket", '""'),
                          ("unix_socket_mode", "0600"), ("data_dir", "./.fast-crewai"),
                          ("config", '""'), ("token", '""'), ("token_file", '""'),
                          ("tls_cert", '""'), ("tls_key", '""'), ("tls_client_ca", '""'),
                          ("log_level", "info"), ("grace_period", "5s")]:
        assert f"--{name}=" in result.stdout, name
        assert f"env FAST_CREWAI_{name.upper()}, default {default}" in result.stdout, name


def test_help_markdown_is_the_configuration_reference(run_server: RunServer) -> None:
    result = run_server("--help-markdown")
    assert result.returncode == 0
    assert result.stdout.startswith("# Configuration\n")
    assert "| `--listen` | `FAST_CREWAI_LISTEN` | `listen` | `127.0.0.1:50051` |" in result.stdout


@pytest.mark.parametrize("args, env, message", [
    (["--bogus"], {}, "fast-crewai-server: --bogus: unknown flag (see --help)"),
    (["--listen=127.0.0.1:99999"], {},
     'fast-crewai-server: --listen: invalid port "99999" (expected 1-65535)'),
    (["serve"], {}, 'fast-crewai-server: unexpected argument "serve"'),
    ([], {"FAST_CREWAI_LOG_LEVEL": "loud"},
     'fast-crewai-server: FAST_CREWAI_LOG_LEVEL: invalid log level "loud"'),
    (["--tls_cert=/etc/hostname"], {},
     "fast-crewai-server: --tls_cert: requires --tls_key"),
])
def test_usage_errors_exit_2_with_one_line(args: list[str], env: dict[str, str], message: str,
                                           tmp_path: Path, run_server: RunServer) -> None:
    result = run_server(*args, f"--data_dir={tmp_path / 'data'}", env=env)
    assert result.returncode == 2
    assert one_error_line(result).startswith(message)
    assert not (tmp_path / "data").exists()  # Nothing was created.


# ----- start and stop ------------------------------------------------------------------------

@pytest.mark.parametrize("sig, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")])
def test_signal_stops_cleanly(daemon_factory: StartDaemon, sig: int, name: str) -> None:
    daemon = daemon_factory()
    assert daemon.stop(sig) == 0
    lines = daemon.logs().splitlines()
    for line in lines:
        assert LOG_LINE.match(line), line
    assert any(re.search(rf'msg="serving" version={re.escape(VERSION)} '
                         rf'listen=127\.0\.0\.1:{daemon.port} unix_socket="" '
                         rf'data_dir=\S+ auth=off tls=off$', line) for line in lines), lines
    assert any(f'msg="shutting down" signal={name}' in line for line in lines), lines
    assert lines[-1].endswith('msg="stopped" exit_code=0'), lines
    # The LOCK is released: a new daemon can use the same data dir right away.
    again = daemon_factory(f"--data_dir={daemon.data_dir}")
    assert again.stop() == 0


def test_health_and_server_info(daemon: DaemonProcess, health_check: HealthCheck,
                                raw_call: RawCall) -> None:
    channel = daemon.channel()
    assert health_check(channel, "") == SERVING
    assert health_check(channel, "fast_crewai.v1.ServerService") == SERVING
    for service in ("fast_crewai.v1.MemoryService", "fast_crewai.v1.CacheService",
                    "fast_crewai.v1.PersistenceService", "fast_crewai.v1.SchedulerService"):
        assert health_check(channel, service) == SERVING, service
    code, _, response = raw_call(channel, SERVER_INFO)
    assert code == grpc.StatusCode.OK
    assert VERSION.encode() in response
    assert b"fast_crewai.v1.MemoryService" in response


def test_reflection_lists_the_services(daemon_factory: StartDaemon) -> None:
    # ServerReflectionRequest { string list_services = 7; } -> the response names every service.
    request = b"\x3a\x00"
    method = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

    def list_services(d: DaemonProcess) -> tuple[grpc.StatusCode, bytes]:
        call = d.channel().stream_stream(method, request_serializer=None,
                                          response_deserializer=None)
        responses = call(iter([request]), timeout=5)
        try:
            return grpc.StatusCode.OK, b"".join(responses)
        except grpc.RpcError as error:
            return error.code(), b""

    code, data = list_services(daemon_factory("--token=reflection-needs-no-token"))
    assert code == grpc.StatusCode.OK
    for service in (b"fast_crewai.v1.MemoryService", b"fast_crewai.v1.ServerService",
                    b"grpc.health.v1.Health"):
        assert service in data
    code, _ = list_services(daemon_factory("--reflection=false"))
    assert code == grpc.StatusCode.UNIMPLEMENTED


# ----- start failures ------------------------------------------------------------------------

def test_data_dir_below_a_file_fails_and_touches_nothing(
        tmp_path: Path, run_server: RunServer, free_port: Callable[[], int]) -> None:
    # Works as root too: nobody can create a directory below a regular file.
    blocker = tmp_path / "file.txt"
    blocker.write_text("precious")
    result = run_server(f"--listen=127.0.0.1:{free_port()}", f"--data_dir={blocker}/sub")
    assert result.returncode == 1
    line = one_error_line(result)
    assert f"data_dir {blocker}/sub: " in line
    assert "Not a directory" in line
    assert blocker.read_text() == "precious"


def test_port_taken_fails_and_touches_nothing(tmp_path: Path, run_server: RunServer) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "memory.db").write_bytes(b"\x00existing database\xff")
    before = snapshot(data_dir)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = run_server(f"--listen=127.0.0.1:{port}", f"--data_dir={data_dir}")
    assert result.returncode == 1
    assert one_error_line(result) == (
        f"fast-crewai-server: listen 127.0.0.1:{port}: address already in use or unavailable")
    after = snapshot(data_dir)
    after.pop("LOCK", None)  # The failed daemon held the lock while it tried; the file stays.
    assert after == before


def test_second_daemon_on_the_same_data_dir_is_refused(
        daemon: DaemonProcess, run_server: RunServer, health_check: HealthCheck,
        free_port: Callable[[], int]) -> None:
    result = run_server(f"--listen=127.0.0.1:{free_port()}", f"--data_dir={daemon.data_dir}")
    assert result.returncode == 1
    line = one_error_line(result)
    assert f"data_dir {daemon.data_dir}: another fast-crewai-server" in line
    assert f"(pid {daemon.process.pid})" in line
    assert health_check(daemon.channel()) == SERVING  # Undisturbed.


def _memory_db_with_records(daemon_factory: StartDaemon) -> Path:
    """A data directory whose memory.db holds 200 records of 1536 dimensions (105 pages of
    16 KiB; page 4 is the records' namespace index), written by a daemon that then stopped
    cleanly."""
    from fast_crewai.v1 import memory_pb2, memory_pb2_grpc

    daemon = daemon_factory()
    stub = memory_pb2_grpc.MemoryServiceStub(daemon.channel())
    for batch in range(4):
        records = [memory_pb2.MemoryRecord(
            id=f"r{batch}-{i}", content=f"record {batch}-{i}", scope="/",
            metadata_json="{}", importance=0.5, created_at="2026-01-01T00:00:00",
            created_at_micros=1_767_225_600_000_000, last_accessed="2026-01-01T00:00:00",
            last_accessed_micros=1_767_225_600_000_000,
            embedding=[float((batch * 50 + i) % 7)] * 1536) for i in range(50)]
        stub.SaveRecords(memory_pb2.SaveRecordsRequest(namespace="ns", records=records),
                         timeout=30)
    assert daemon.stop() == 0
    return daemon.data_dir


def test_a_damaged_memory_db_stops_the_daemon_with_exit_code_3(
        daemon_factory: StartDaemon, run_server: RunServer,
        free_port: Callable[[], int]) -> None:
    data_dir = _memory_db_with_records(daemon_factory)
    memory_db = data_dir / "memory.db"
    with memory_db.open("r+b") as f:  # garbage over one 4 KiB block inside page 4
        f.seek(12 * 4096)
        f.write(bytes((i * 97 + 13) % 256 for i in range(4096)))
    before = snapshot(data_dir)
    result = run_server(f"--listen=127.0.0.1:{free_port()}", f"--data_dir={data_dir}")
    assert result.returncode == 3, result.stderr
    assert "memory.db" in one_error_line(result)
    after = snapshot(data_dir)
    after.pop("LOCK", None)
    before.pop("LOCK", None)
    assert after == before  # never wiped nor rewritten


def test_another_programs_file_as_memory_db_stops_the_daemon_with_exit_code_3(
        tmp_path: Path, run_server: RunServer, free_port: Callable[[], int]) -> None:
    import sqlite3

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with sqlite3.connect(data_dir / "memory.db") as db:
        db.execute("PRAGMA application_id=1234")
        db.execute("CREATE TABLE notes(x)")
    before = (data_dir / "memory.db").read_bytes()
    result = run_server(f"--listen=127.0.0.1:{free_port()}", f"--data_dir={data_dir}")
    assert result.returncode == 3, result.stderr  # restarting cannot fix it (systemd: no retry)
    assert "belongs to another program" in one_error_line(result)
    assert (data_dir / "memory.db").read_bytes() == before


def test_a_tls_file_that_is_not_pem_is_a_configuration_error(
        tmp_path: Path, run_server: RunServer, free_port: Callable[[], int]) -> None:
    not_pem = tmp_path / "cert.txt"
    not_pem.write_text("not a certificate")
    result = run_server(f"--listen=127.0.0.1:{free_port()}", f"--data_dir={tmp_path / 'd'}",
                        f"--tls_cert={not_pem}", f"--tls_key={not_pem}")
    assert result.returncode == 2, result.stderr
    assert one_error_line(result) == (
        f'fast-crewai-server: --tls_cert: "{not_pem}" is not a PEM file')


def test_a_failing_write_is_logged_by_the_daemon(daemon_factory: StartDaemon) -> None:
    from fast_crewai.v1 import memory_pb2, memory_pb2_grpc

    data_dir = _memory_db_with_records(daemon_factory)
    with (data_dir / "memory.db").open("r+b") as f:
        f.seek(12 * 4096)
        f.write(bytes((i * 97 + 13) % 256 for i in range(4096)))
    daemon = daemon_factory(f"--data_dir={data_dir}", "--memory_integrity_check=off")
    stub = memory_pb2_grpc.MemoryServiceStub(daemon.channel())
    codes = set()
    for i in range(20):  # new records: their index entries go to the damaged page
        record = memory_pb2.MemoryRecord(
            id=f"new-{i}", content="new", scope="/", metadata_json="{}",
            importance=0.5, created_at="2026-01-01T00:00:00",
            created_at_micros=1_767_225_600_000_000, last_accessed="2026-01-01T00:00:00",
            last_accessed_micros=1_767_225_600_000_000, embedding=[1.0] * 1536)
        try:
            stub.SaveRecords(memory_pb2.SaveRecordsRequest(namespace="ns", records=[record]),
                             timeout=30)
        except grpc.RpcError as error:
            codes.add(error.code())
    assert grpc.StatusCode.DATA_LOSS in codes or grpc.StatusCode.INTERNAL in codes
    assert re.search(r'level=error msg="call failed" code=(DATA_LOSS|INTERNAL) error=".*malformed',
                     daemon.logs()), daemon.logs()


# ----- Unix socket ---------------------------------------------------------------------------

def test_unix_socket_is_owner_only_and_serves(daemon_factory: StartDaemon,
                                              health_check: HealthCheck) -> None:
    daemon = daemon_factory(unix_socket=True)
    assert daemon.unix_socket is not None
    mode = daemon.unix_socket.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert health_check(daemon.channel()) == SERVING
    assert re.search(r'msg="serving" .* listen="" unix_socket=\S+d\.sock', daemon.logs())
    assert daemon.stop() == 0
    assert not daemon.unix_socket.exists()


def test_unix_socket_mode_is_configurable(daemon_factory: StartDaemon) -> None:
    daemon = daemon_factory("--unix_socket_mode=0660", unix_socket=True)
    assert daemon.unix_socket is not None
    assert stat.S_IMODE(daemon.unix_socket.stat().st_mode) == 0o660


def test_existing_file_at_the_socket_path_is_not_replaced(
        tmp_path: Path, run_server: RunServer, short_tmp_dir: Callable[[], Path]) -> None:
    path = short_tmp_dir() / "d.sock"
    path.write_text("not a socket")
    try:
        result = run_server("--listen=", f"--unix_socket={path}",
                            f"--data_dir={tmp_path / 'data'}")
        assert result.returncode == 1
        assert "exists and is not a socket" in one_error_line(result)
        assert path.read_text() == "not a socket"
    finally:
        path.unlink()
        path.parent.rmdir()


# ----- token ---------------------------------------------------------------------------------

TOKEN = "tok-7f3a9c2e-integration-secret"


def test_token_from_environment(daemon_factory: StartDaemon, health_check: HealthCheck,
                                raw_call: RawCall) -> None:
    daemon = daemon_factory("--log_level=debug", env={"FAST_CREWAI_TOKEN": TOKEN})
    channel = daemon.channel()
    code, details, _ = raw_call(channel, COUNT)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "missing token" in details
    code, details, _ = raw_call(channel, COUNT, metadata=[("authorization", "Bearer wrong")])
    assert (code, details) == (grpc.StatusCode.UNAUTHENTICATED, "invalid token")
    code, _, _ = raw_call(channel, COUNT, metadata=[("authorization", f"Bearer {TOKEN}")])
    # Past the token check: the memory service itself rejects the request (no namespace).
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # Exempt: health and ServerService.
    assert health_check(channel) == SERVING
    assert raw_call(channel, SERVER_INFO)[0] == grpc.StatusCode.OK
    assert re.search(r"auth=on tls=off", daemon.logs())
    assert daemon.stop() == 0
    assert TOKEN not in daemon.logs()


def test_token_from_file(daemon_factory: StartDaemon, tmp_path: Path, raw_call: RawCall) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    token_file.chmod(0o600)
    daemon = daemon_factory(f"--token_file={token_file}")
    channel = daemon.channel()
    assert raw_call(channel, COUNT)[0] == grpc.StatusCode.UNAUTHENTICATED
    code, _, _ = raw_call(channel, COUNT, metadata=[("authorization", f"Bearer {TOKEN}")])
    assert code == grpc.StatusCode.INVALID_ARGUMENT  # past the token check
    assert daemon.stop() == 0
    assert TOKEN not in daemon.logs()


def test_token_over_unix_socket(daemon_factory: StartDaemon, raw_call: RawCall) -> None:
    daemon = daemon_factory(unix_socket=True, env={"FAST_CREWAI_TOKEN": TOKEN})
    channel = daemon.channel()
    assert raw_call(channel, COUNT)[0] == grpc.StatusCode.UNAUTHENTICATED
    code, _, _ = raw_call(channel, COUNT, metadata=[("authorization", f"Bearer {TOKEN}")])
    assert code == grpc.StatusCode.INVALID_ARGUMENT  # past the token check


# ----- TLS -----------------------------------------------------------------------------------

@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate (openssl)."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=fast-crewai-test-ca")
    for name, ext in [("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")]:
        (d / f"{name}.ext").write_text(ext)
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=fast-crewai-test-{name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem",
               d / "client.key")


def test_tls(daemon_factory: StartDaemon, pki: Pki, health_check: HealthCheck,
             raw_call: RawCall) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
    daemon = daemon_factory(f"--tls_cert={pki.server_cert}", f"--tls_key={pki.server_key}",
                            credentials=creds)
    assert "auth=off tls=on" in daemon.logs()
    assert health_check(daemon.channel(creds)) == SERVING
    code, _, response = raw_call(daemon.channel(creds), SERVER_INFO)
    assert code == grpc.StatusCode.OK
    # A plaintext client cannot talk to it.
    with pytest.raises(grpc.RpcError) as error:
        health_check(daemon.channel(), timeout=2)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    # Nor can a client that does not trust the CA.
    with pytest.raises(grpc.RpcError) as error:
        health_check(daemon.channel(grpc.ssl_channel_credentials()), timeout=2)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_with_token(daemon_factory: StartDaemon, pki: Pki, health_check: HealthCheck,
                               raw_call: RawCall) -> None:
    client = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes(),
                                          private_key=pki.client_key.read_bytes(),
                                          certificate_chain=pki.client_cert.read_bytes())
    daemon = daemon_factory(f"--tls_cert={pki.server_cert}", f"--tls_key={pki.server_key}",
                            f"--tls_client_ca={pki.ca}", env={"FAST_CREWAI_TOKEN": TOKEN},
                            credentials=client)
    channel = daemon.channel(client)
    assert health_check(channel) == SERVING
    assert raw_call(channel, COUNT)[0] == grpc.StatusCode.UNAUTHENTICATED
    code, _, _ = raw_call(channel, COUNT, metadata=[("authorization", f"Bearer {TOKEN}")])
    assert code == grpc.StatusCode.INVALID_ARGUMENT  # past the token check
    # Without a client certificate the handshake fails.
    anonymous = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
    with pytest.raises(grpc.RpcError) as error:
        health_check(daemon.channel(anonymous), timeout=2)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert daemon.stop() == 0
    assert TOKEN not in daemon.logs()
