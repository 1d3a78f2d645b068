"""The cache through the real daemon binary: budgets, restarts, bad input, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from support import Daemon, clean_environ, free_port, run_cli, server_binary, wait_serving


def test_byte_budget_holds_under_a_long_stream_of_inserts(
        start_daemon: Callable[..., Daemon], use_daemon: Callable[..., None]) -> None:
    from fast_crewai.cache import remote

    budget = 1 << 20
    daemon = start_daemon("--cache_max_bytes=1M")
    use_daemon(daemon)
    highest = 0
    for i in range(4000):
        ns = "stream" if i % 4 else "other"
        remote.put(ns, "fetch_page", json.dumps({"url": f"https://example.com/{i}"}),
                   b'"' + b"p" * (600 + (i * 37) % 1400) + b'"', "application/json")
        if i % 3 == 0:
            remote.get(ns, "fetch_page", json.dumps({"url": f"https://example.com/{i // 2}"}))
        if i % 100 == 99:
            stats = remote.stats("")
            highest = max(highest, stats.bytes)
            assert stats.bytes <= budget, f"after {i + 1} inserts: {stats.bytes} > {budget}"
    stats = remote.stats("")
    assert stats.max_bytes == budget
    assert stats.evictions > 2000
    assert highest > budget * 0.8  # the budget is used, not just respected
    assert sum(n.bytes for n in stats.namespaces) == stats.bytes


class _RestartableDaemon:
    """A daemon on a fixed port and data dir that can be stopped, killed and started again."""

    def __init__(self, data_dir: Path, *flags: str) -> None:
        self.endpoint = f"127.0.0.1:{free_port()}"
        self.data_dir = data_dir
        self.flags = flags
        self.log_path = data_dir.parent / "daemon.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        from fast_crewai.config import ClientConfig, Endpoint

        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(server_binary()), "--listen", self.endpoint, "--data_dir",
                 str(self.data_dir), *self.flags],
                stdout=log, stderr=subprocess.STDOUT, env=clean_environ(),
                stdin=subprocess.DEVNULL)
        wait_serving(ClientConfig(endpoint=Endpoint.parse(self.endpoint)), self.process,
                     self.log_path)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)
        return self.process.returncode


@pytest.fixture
def restartable(tmp_path: Path) -> Any:
    daemons: list[_RestartableDaemon] = []

    def make(*flags: str) -> _RestartableDaemon:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        daemon = _RestartableDaemon(data_dir, *flags)
        daemons.append(daemon)
        return daemon

    yield make
    for daemon in daemons:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.stop(signal.SIGKILL)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_persisted_entries_survive_a_daemon_restart(
        restartable: Callable[..., _RestartableDaemon], use_daemon: Callable[..., None],
        how: str) -> None:
    from fast_crewai.cache import remote
    from fast_crewai.client.connection import reset_connection

    daemon = restartable("--cache_persist")
    daemon.start()
    use_daemon(daemon.endpoint)
    remote.put("team", "search", '{"q": "forever"}', b'"kept"', "application/json")
    remote.put("team", "search", '{"q": "ttl"}', b'"timed"', "application/json", ttl=3600)
    remote.put("team", "search", '{"q": "short"}', b'"gone"', "application/json", ttl=0.2)
    remote.put("scratch", "search", '{"q": "x"}', b'"cleared"', "application/json")
    assert remote.clear("scratch") == 1
    before = remote.get("team", "search", '{"q": "ttl"}').expires_in
    assert daemon.stop(signal.SIGTERM if how == "sigterm" else signal.SIGKILL) in (
        (0,) if how == "sigterm" else (-signal.SIGKILL,))
    time.sleep(0.25)  # "short" expires while the daemon is down

    daemon.start()
    reset_connection()
    use_daemon(daemon.endpoint)
    kept = remote.get("team", "search", '{"q": "forever"}')
    assert (kept.found, kept.value, kept.expires_in) == (True, b'"kept"', None)
    timed = remote.get("team", "search", '{"q": "ttl"}')
    assert timed.found and timed.value == b'"timed"'
    assert timed.expires_in is not None and timed.expires_in <= before  # not reset by the restart
    assert not remote.get("team", "search", '{"q": "short"}').found  # expired while down
    assert not remote.get("scratch", "search", '{"q": "x"}').found  # the clear was durable
    assert (daemon.data_dir / "cache.db").exists()


def test_bad_input_gets_the_right_code_and_the_daemon_keeps_serving(
        start_daemon: Callable[..., Daemon], use_daemon: Callable[..., None]) -> None:
    from fast_crewai import errors
    from fast_crewai.cache import remote

    use_daemon(start_daemon("--cache_max_value_bytes=1K"))
    with pytest.raises(errors.InvalidArgument, match="key.tool: must not be empty"):
        remote.put("ns", "", "i", b"1", "application/json")
    with pytest.raises(errors.InvalidArgument, match="key.namespace"):
        remote.get("", "t", "i")
    with pytest.raises(errors.InvalidArgument, match="ttl_millis: -1000 is out of range"):
        remote.put("ns", "t", "i", b"1", "application/json", ttl=-1)
    with pytest.raises(errors.ResourceExhausted,
                       match=r"limit of 1024 bytes \(cache_max_value_bytes\)"):
        remote.put("ns", "t", "i", b"x" * 1025, "application/json")
    remote.put("ns", "t", "i", b'"fine"', "application/json")
    assert remote.get("ns", "t", "i").value == b'"fine"'


def test_oversized_result_stays_in_process(
        start_daemon: Callable[..., Daemon], use_daemon: Callable[..., None]) -> None:
    from fast_crewai.cache import DaemonCacheHandler, remote

    use_daemon(start_daemon("--cache_max_value_bytes=1K"))
    handler = DaemonCacheHandler.create("big")
    big = "x" * 5000
    handler.add(tool="t", input="i", output=big)
    assert handler.read(tool="t", input="i") == big
    assert remote.stats("big").entries == 0


def test_cli_stats_and_clear(daemon: Daemon, use_daemon: Callable[..., None]) -> None:
    from fast_crewai.cache import remote

    use_daemon(daemon)
    for i in range(3):
        remote.put("alpha", "t", str(i), b'"a"', "application/json")
    remote.put("beta", "t", "0", b'"b"', "application/json")
    remote.get("alpha", "t", "0")
    env = {"FAST_CREWAI_ENDPOINT": daemon.endpoint}

    result, _ = run_cli("cache", "stats", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["entries"], data["hits"]) == (4, 1)
    assert [n["namespace"] for n in data["namespaces"]] == ["alpha", "beta"]

    result, _ = run_cli("cache", "stats", "--namespace", "alpha", env=env)
    assert result.returncode == 0
    assert "entries:     3" in result.stdout
    assert "hits:        1 (100.0% hit ratio)" in result.stdout

    result, _ = run_cli("cache", "clear", "--namespace", "alpha", env=env)
    assert result.returncode == 0
    assert result.stdout.strip() == "removed 3 entries from namespace alpha"
    assert remote.stats("").entries == 1
    result, _ = run_cli("cache", "clear", "--endpoint", daemon.endpoint)
    assert result.stdout.strip() == "removed 1 entries from every namespace"
    assert remote.stats("").entries == 0


def test_cli_empty_namespace_is_a_usage_error_not_every_namespace(
        daemon: Daemon, use_daemon: Callable[..., None]) -> None:
    """`--namespace "$NS"` with NS unset must not clear the whole cache."""
    from fast_crewai.cache import remote

    use_daemon(daemon)
    remote.put("kept", "t", "0", b'"k"', "application/json")
    for command in ("clear", "stats"):
        result, _ = run_cli("cache", command, "--namespace", "", "--endpoint", daemon.endpoint)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stdout == ""
        assert (f"fast-crewai: cache {command}: --namespace must not be empty; omit it to mean "
                "every namespace") in result.stderr
    assert remote.stats("").entries == 1


def test_cli_stats_of_a_namespace_without_a_limit_reads_naturally(
        daemon: Daemon, use_daemon: Callable[..., None]) -> None:
    use_daemon(daemon)
    result, _ = run_cli("cache", "stats", "--namespace", "unused", "--endpoint", daemon.endpoint)
    assert result.returncode == 0, result.stderr
    assert "bytes:       0 (0 B, no namespace limit)" in result.stdout
    whole, _ = run_cli("cache", "stats", "--endpoint", daemon.endpoint)
    assert "bytes:       0 (0 B of 256.0 MiB)" in whole.stdout


def test_cli_against_a_dead_daemon_fails_with_exit_1(dead_endpoint: str) -> None:
    result, elapsed = run_cli("cache", "stats", "--endpoint", dead_endpoint)
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr
    assert elapsed < 10
