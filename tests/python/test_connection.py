"""Connection: lazy channel, cached probe, background re-probe, thread and fork safety."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest

from fast_crewai.client.connection import (
    Connection,
    ProbeState,
    get_connection,
    reset_connection,
)
from fast_crewai.config import ClientConfig, Endpoint
from fast_crewai.errors import ConfigError, DaemonUnavailable, DeadlineExceeded
from support import clean_environ, free_port


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedProbe:
    """Answers from a list (the last answer repeats); counts calls; can block."""

    def __init__(self, *answers, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, connection: Connection) -> bool:
        with self.lock:
            self.calls += 1
            answer = self.answers[min(self.calls, len(self.answers)) - 1]
        time.sleep(self.delay)
        if isinstance(answer, Exception):
            raise answer
        return answer


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def config_for(endpoint: str, **changes) -> ClientConfig:
    return ClientConfig(endpoint=Endpoint.parse(endpoint), **changes)


def test_probe_result_up_is_cached():
    probe = ScriptedProbe(True)
    conn = Connection(ClientConfig(), probe=probe)
    assert conn.state is ProbeState.UNKNOWN
    assert conn.available() and conn.available() and conn.available()
    assert probe.calls == 1 and conn.state is ProbeState.UP and conn.last_error is None


def test_down_returns_immediately_and_reprobes_in_background_at_most_every_interval():
    clock = FakeClock()
    probe = ScriptedProbe(False, False, True)
    conn = Connection(ClientConfig(), probe=probe, clock=clock, reprobe_interval=3.0)
    assert conn.available() is False
    assert probe.calls == 1 and conn.last_error == "daemon is not SERVING"

    for _ in range(100):  # within the interval: no probe at all
        assert conn.available() is False
    assert probe.calls == 1

    clock.now += 3.0
    assert conn.available() is False  # answers at once; the re-probe runs in the background
    assert wait_until(lambda: probe.calls == 2 and not conn._reprobing)
    assert conn.available() is False and probe.calls == 2  # interval restarted

    clock.now += 3.0
    conn.available()
    assert wait_until(lambda: conn.state is ProbeState.UP)
    assert conn.available() is True and probe.calls == 3


def test_a_fresh_check_probes_a_stale_down_state_before_answering():
    """A store chooses its backend once, at construction: after an idle gap it must not get
    CrewAI's local one because nothing re-probed the daemon that came back meanwhile."""
    clock = FakeClock()
    probe = ScriptedProbe(False, True)
    conn = Connection(ClientConfig(), probe=probe, clock=clock, reprobe_interval=1.0)
    assert conn.available() is False and probe.calls == 1
    assert conn.available(fresh=True) is False and probe.calls == 1  # learnt just now
    clock.now += 5.0  # idle: no call started a background probe
    assert conn.available(fresh=True) is True  # probed first, synchronously
    assert probe.calls == 2 and conn.state is ProbeState.UP


def test_background_reprobe_does_not_block_the_caller():
    clock = FakeClock()
    probe = ScriptedProbe(False, True, delay=0.0)
    conn = Connection(ClientConfig(), probe=probe, clock=clock)
    conn.available()
    probe.delay = 1.0
    clock.now += 10
    start = time.monotonic()
    assert conn.available() is False
    assert time.monotonic() - start < 0.2
    assert wait_until(lambda: conn.available(), timeout=5)


def test_mark_unavailable_switches_to_down_at_once():
    clock = FakeClock()
    probe = ScriptedProbe(True)
    conn = Connection(ClientConfig(), probe=probe, clock=clock)
    assert conn.available()
    conn.mark_unavailable("UNAVAILABLE: connection reset")
    assert conn.available() is False
    assert conn.last_error == "UNAVAILABLE: connection reset"
    clock.now += 3.0
    conn.available()
    assert wait_until(lambda: conn.available())
    assert probe.calls == 2


def test_probe_exception_counts_as_down():
    conn = Connection(ClientConfig(), probe=ScriptedProbe(RuntimeError("boom")))
    assert conn.available() is False
    assert conn.last_error == "RuntimeError: boom"


def test_concurrent_first_callers_share_one_probe():
    probe = ScriptedProbe(True, delay=0.2)
    conn = Connection(ClientConfig(), probe=probe)
    results = []
    threads = [threading.Thread(target=lambda: results.append(conn.available()))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8 and probe.calls == 1


def test_closed_connection_is_unavailable():
    conn = Connection(ClientConfig(), probe=ScriptedProbe(True))
    conn.close()
    conn.close()
    assert conn.available() is False


def test_dead_endpoint_costs_one_probe_then_nothing(dead_endpoint):
    conn = Connection(config_for(dead_endpoint))
    start = time.monotonic()
    assert conn.available() is False
    first = time.monotonic() - start
    start = time.monotonic()
    for _ in range(1000):
        assert conn.available() is False
    rest = time.monotonic() - start
    conn.close()
    assert first < 1.5
    assert rest < 0.1
    assert "UNAVAILABLE" in (conn.last_error or "")


@pytest.fixture
def silent_tcp_server():
    """Accepts TCP connections and never answers: the probe must give up at its deadline."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept_loop():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for s in accepted:
        s.close()
    listener.close()


def test_unresponsive_endpoint_is_bounded_by_the_connect_timeout(silent_tcp_server):
    conn = Connection(config_for(silent_tcp_server, connect_timeout=0.3))
    start = time.monotonic()
    assert conn.available() is False
    elapsed = time.monotonic() - start
    conn.close()
    assert 0.25 <= elapsed < 1.0
    assert "DEADLINE_EXCEEDED" in (conn.last_error or "")


def test_unreadable_tls_file_means_unavailable_not_a_crash(tmp_path):
    config = ClientConfig(tls_ca=str(tmp_path / "missing-ca.pem"))
    conn = Connection(config)
    with pytest.warns(RuntimeWarning, match="FAST_CREWAI_TLS_CA: cannot read "):
        assert conn.available() is False
    assert conn.last_error.startswith("FAST_CREWAI_TLS_CA: cannot read ")
    with pytest.raises(ConfigError):
        conn.channel()


TOKEN = "connection-secret"


@pytest.mark.parametrize("token, reason", [
    ("wrong", "refused the token (UNAUTHENTICATED: "),
    (None, "requires a token and none is set (UNAUTHENTICATED: "),
])
def test_a_refused_token_is_a_misconfiguration_warned_once_per_process(start_daemon, token,
                                                                       reason):
    """Health checks need no token, so the probe also makes a call that does; a refusal is not
    an outage: the process is told once (RuntimeWarning), and still runs on CrewAI's code."""
    daemon = start_daemon(token=TOKEN)
    with pytest.warns(RuntimeWarning) as record:
        conn = Connection(config_for(daemon.endpoint, token=token))
        assert conn.available() is False
        assert conn.state is ProbeState.DOWN and "UNAUTHENTICATED" in conn.last_error
        again = Connection(config_for(daemon.endpoint, token=token))
        assert again.available() is False
    messages = [str(w.message) for w in record if w.category is RuntimeWarning]
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"fast-crewai: the daemon at {daemon.endpoint} {reason}")
    assert "FAST_CREWAI_TOKEN or FAST_CREWAI_TOKEN_FILE" in messages[0]
    assert messages[0].endswith("; using CrewAI's local implementation")
    right = Connection(config_for(daemon.endpoint, token=TOKEN))
    assert right.available() is True
    for c in (conn, again, right):
        c.close()


def test_an_unreachable_daemon_is_an_outage_not_a_warning(dead_endpoint):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        conn = Connection(config_for(dead_endpoint))
        assert conn.available() is False
    assert "UNAVAILABLE" in conn.last_error


def test_live_daemon_is_available_and_stubs_are_cached(daemon):
    from fast_crewai.v1 import server_pb2_grpc

    conn = Connection(config_for(daemon.endpoint))
    assert conn.available() is True
    assert conn.stub(server_pb2_grpc.ServerServiceStub) is conn.stub(
        server_pb2_grpc.ServerServiceStub)
    assert conn.channel() is conn.channel()
    conn.close()


def test_daemon_started_later_is_picked_up_by_the_background_probe(start_daemon):
    port = free_port()
    conn = Connection(config_for(f"127.0.0.1:{port}"), reprobe_interval=0.2)
    assert conn.available() is False
    start_daemon(port=port)
    assert wait_until(conn.available, timeout=10), conn.last_error
    conn.close()


def test_daemon_stopping_is_noticed_via_mark_unavailable(daemon):
    from fast_crewai.client.remote import Remote

    conn = Connection(config_for(daemon.endpoint), reprobe_interval=0.2)
    remote = Remote(conn)
    assert conn.available()
    daemon.stop()
    with pytest.raises(DaemonUnavailable):
        remote.server_info(timeout=1.0)
    assert conn.available() is False
    conn.close()


def test_get_connection_is_process_wide_and_reset_rereads_the_environment(monkeypatch):
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", "127.0.0.1:1")
    first = get_connection()
    assert get_connection() is first
    assert first.config.endpoint.port == 1
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", "127.0.0.1:2")
    reset_connection()
    second = get_connection()
    assert second is not first and second.config.endpoint.port == 2
    assert first.available() is False  # closed by reset


def test_get_connection_with_malformed_environment_raises(monkeypatch):
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", "foo")
    with pytest.raises(ConfigError):
        get_connection()


FORK_SCRIPT = """
import os, sys
from fast_crewai.client.connection import Connection, ProbeState
from fast_crewai.config import ClientConfig, Endpoint
conn = Connection(ClientConfig(endpoint=Endpoint.parse(sys.argv[1])))
assert conn.available()
parent_channel = conn.channel()
pid = os.fork()
if pid == 0:
    if os.environ.get("GRPC_ENABLE_FORK_SUPPORT"):
        ok = conn.state is ProbeState.UNKNOWN and conn.available() and \\
            conn.channel() is not parent_channel
    else:  # gRPC is unusable here: unavailable at once, never a hang or a crash
        ok = conn.available() is False and "GRPC_ENABLE_FORK_SUPPORT" in conn.last_error
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert conn.available() and conn.channel() is parent_channel
print("fork-ok")
"""


@pytest.mark.parametrize("fork_support", [True, False])
def test_child_process_after_fork_starts_over(daemon, fork_support):
    env = clean_environ({"GRPC_ENABLE_FORK_SUPPORT": "1"} if fork_support else {})
    if not fork_support:
        env.pop("GRPC_ENABLE_FORK_SUPPORT", None)
    out = subprocess.run([sys.executable, "-c", FORK_SCRIPT, daemon.endpoint],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "fork-ok"


def test_deadline_exceeded_is_a_daemon_unavailable_for_callers():
    assert issubclass(DeadlineExceeded, DaemonUnavailable)
