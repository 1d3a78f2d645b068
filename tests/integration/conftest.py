"""Fixtures for end-to-end tests of the real fast-crewai-server binary.

The binary is $FAST_CREWAI_SERVER_BIN (default <repo>/build/server/fast-crewai-server).

Fixtures (test modules use these rather than `import conftest`: `make test` runs this folder
together with tests/python, whose conftest.py would win an `import conftest`):

* ``daemon_factory``: ``start(*flags, unix_socket=False, env=None, credentials=None)`` starts
  the binary on a free loopback port (or a temporary Unix socket) with a temporary data
  directory, waits until health says SERVING and SIGTERMs it at teardown; returns a
  ``DaemonProcess``. ``daemon`` is one such daemon with default flags.
* ``run_server``: ``run_server(*args, env=None)`` runs the binary to completion (--help, bad
  flags, start failures) and returns the CompletedProcess.
* ``health_check``: ``health_check(channel, service="")`` calls grpc.health.v1.Health/Check
  with hand-encoded messages (no extra packages): 0 UNKNOWN, 1 SERVING, 2 NOT_SERVING.
* ``raw_call``: ``raw_call(channel, method, request=b"", metadata=None)`` makes a unary call
  with raw bytes and returns (code, details, response bytes): status codes of any RPC without
  generated stubs.
* ``free_port``, ``short_tmp_dir``: the helpers of the same name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import grpc
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER_BIN = REPO_ROOT / "build" / "server" / "fast-crewai-server"
SERVER_BIN = Path(os.environ.get("FAST_CREWAI_SERVER_BIN") or DEFAULT_SERVER_BIN)

SERVING = 1
NOT_SERVING = 2

STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The current environment without FAST_CREWAI_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAST_CREWAI_")}
    env.update(extra or {})
    return env


def free_port() -> int:
    """A TCP port that was free a moment ago (callers retry if someone takes it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def short_tmp_dir() -> Path:
    """A fresh directory with a short path (a Unix socket path must fit in 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="fc-", dir="/tmp"))


def run_server(*args: str, env: dict[str, str] | None = None,
               timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Runs the binary to completion and returns its exit code and output."""
    return subprocess.run([str(SERVER_BIN), *args], capture_output=True, text=True,
                          env=clean_env(env), timeout=timeout, check=False)


# ----- grpc.health.v1 by hand --------------------------------------------------------------

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_health_request(service: str) -> bytes:
    """HealthCheckRequest { string service = 1; }"""
    data = service.encode()
    return (b"\x0a" + _varint(len(data)) + data) if data else b""


def decode_health_response(data: bytes) -> int:
    """HealthCheckResponse { ServingStatus status = 1; } -> the enum value (0 when absent)."""
    status = 0
    i = 0
    while i < len(data):
        key = data[i]
        i += 1
        if key != 0x08:  # Only field 1 (varint) is defined.
            raise ValueError(f"unexpected HealthCheckResponse field tag {key:#x}")
        value, shift = 0, 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        status = value
    return status


def health_check(channel: grpc.Channel, service: str = "", timeout: float = 2.0) -> int:
    """Calls grpc.health.v1.Health/Check; raises grpc.RpcError on failure."""
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=encode_health_request,
        response_deserializer=decode_health_response,
    )
    return int(check(service, timeout=timeout))


def raw_call(channel: grpc.Channel, method: str, request: bytes = b"",
             metadata: Sequence[tuple[str, str]] | None = None,
             timeout: float = 5.0) -> tuple[grpc.StatusCode, str, bytes]:
    """Unary call with raw bytes; returns (code, details, response bytes or b"")."""
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    try:
        response, rpc = call.with_call(request, metadata=metadata, timeout=timeout)
        return rpc.code(), rpc.details() or "", response
    except grpc.RpcError as error:
        return error.code(), error.details() or "", b""


# ----- the daemon process --------------------------------------------------------------------

@dataclass
class DaemonProcess:
    """A running fast-crewai-server started by `daemon_factory`."""

    process: subprocess.Popen[bytes]
    target: str  # "127.0.0.1:<port>" or "unix:<path>"
    data_dir: Path
    log_path: Path
    unix_socket: Path | None = None
    port: int | None = None
    channels: list[grpc.Channel] = field(default_factory=list)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def channel(self, credentials: grpc.ChannelCredentials | None = None,
                options: Sequence[tuple[str, object]] = ()) -> grpc.Channel:
        if credentials is None:
            ch = grpc.insecure_channel(self.target, options=list(options))
        else:
            ch = grpc.secure_channel(self.target, credentials, options=list(options))
        self.channels.append(ch)
        return ch

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        """Sends `sig` (once) and waits; returns the exit code."""
        for ch in self.channels:
            ch.close()
        self.channels.clear()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"daemon did not stop within {timeout}s after {sig}:\n"
                                 f"{self.logs()}")


def wait_serving(daemon: DaemonProcess, credentials: grpc.ChannelCredentials | None = None,
                 options: Sequence[tuple[str, object]] = (),
                 timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Waits for the `msg="serving"` log line, then for health SERVING; fails with the daemon's
    log if it exits or times out. (Waiting for the log line first avoids gRPC's one-second
    reconnect backoff after a first attempt that finds nothing listening.)"""
    deadline = time.monotonic() + timeout
    while 'msg="serving"' not in daemon.logs():
        if daemon.process.poll() is not None:
            raise AssertionError(f"daemon exited with {daemon.process.returncode}:\n"
                                 f"{daemon.logs()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no serving line after {timeout}s:\n{daemon.logs()}")
        time.sleep(0.01)
    channel = daemon.channel(credentials, options)
    last_error = ""
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise AssertionError(f"daemon exited with {daemon.process.returncode}:\n"
                                 f"{daemon.logs()}")
        try:
            if health_check(channel, "", timeout=1.0) == SERVING:
                return
        except grpc.RpcError as error:
            last_error = f"{error.code()}: {error.details()}"
        time.sleep(0.05)
    raise AssertionError(f"daemon not SERVING after {timeout}s ({last_error}):\n{daemon.logs()}")


StartDaemon = Callable[..., DaemonProcess]


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[StartDaemon]:
    """start(*flags, unix_socket=False, env=None, credentials=None, wait=True) -> DaemonProcess.

    TCP (default): --listen=127.0.0.1:<free port>. unix_socket=True: --listen= and
    --unix_socket=<short temp path>. Always a fresh --data_dir unless `flags` set one.
    `credentials`/`options` are used to wait for SERVING (TLS daemons).
    """
    started: list[DaemonProcess] = []
    counter = 0

    def start(*flags: str, unix_socket: bool = False, env: dict[str, str] | None = None,
              credentials: grpc.ChannelCredentials | None = None,
              options: Sequence[tuple[str, object]] = (), wait: bool = True) -> DaemonProcess:
        nonlocal counter
        counter += 1
        data_dir = tmp_path / f"data{counter}"
        log_path = tmp_path / f"daemon{counter}.log"
        has_data_dir = any(f.startswith("--data_dir") for f in flags)
        for attempt in range(3):
            args = [str(SERVER_BIN)]
            socket_path: Path | None = None
            port: int | None = None
            if unix_socket:
                socket_path = short_tmp_dir() / "d.sock"
                args += ["--listen=", f"--unix_socket={socket_path}"]
                target = f"unix:{socket_path}"
            else:
                port = free_port()
                args.append(f"--listen=127.0.0.1:{port}")
                target = f"127.0.0.1:{port}"
            if not has_data_dir:
                args.append(f"--data_dir={data_dir}")
            args += list(flags)
            with open(log_path, "wb") as log:
                process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                           env=clean_env(env))
            daemon = DaemonProcess(process, target, data_dir, log_path, socket_path, port)
            started.append(daemon)
            if not wait:
                return daemon
            try:
                wait_serving(daemon, credentials, options)
                return daemon
            except AssertionError:
                # Someone took the free port between free_port() and bind: try another one.
                if (process.poll() == 1 and "address already in use" in daemon.logs()
                        and attempt < 2):
                    continue
                raise
        raise AssertionError("unreachable")

    yield start

    for daemon in started:
        if daemon.process.poll() is None:
            daemon.stop()
        if daemon.unix_socket is not None:
            parent = daemon.unix_socket.parent
            for child in parent.glob("*"):
                child.unlink()
            parent.rmdir()


@pytest.fixture
def daemon(daemon_factory: StartDaemon) -> DaemonProcess:
    """One daemon on TCP with default flags."""
    return daemon_factory()


@pytest.fixture(name="run_server")
def run_server_fixture() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_server


@pytest.fixture(name="health_check")
def health_check_fixture() -> Callable[..., int]:
    return health_check


@pytest.fixture(name="raw_call")
def raw_call_fixture() -> Callable[..., tuple[grpc.StatusCode, str, bytes]]:
    return raw_call


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    return free_port


@pytest.fixture(name="short_tmp_dir")
def short_tmp_dir_fixture() -> Callable[[], Path]:
    return short_tmp_dir
