"""The daemon's Prometheus endpoint (--metrics_listen), end to end: the real binary, CrewAI's
memory calls through the client, and a scrape over HTTP that counts them."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest


def _scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return response.read().decode()


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of the one sample `name{labels}` (labels in any order, all of them given)."""
    values = []
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if found == labels:
            values.append(float(match.group(3)))
    assert len(values) == 1, f"{name}{labels}: {values} in\n{text}"
    return values[0]


def _memory(endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from fast_crewai.client.connection import reset_connection
    from fast_crewai.memory.daemon_storage import DaemonStorage

    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", endpoint)
    reset_connection()
    return DaemonStorage(path=str(tmp_path / "store"), require_daemon=True)


def test_a_scrape_counts_the_calls_crewais_memory_made(daemon_factory: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       free_port: Callable[[], int]) -> None:
    from crewai.memory.types import MemoryRecord

    from fast_crewai import errors

    port = free_port()
    daemon = daemon_factory(f"--metrics_listen=127.0.0.1:{port}")
    address = f"127.0.0.1:{port}"
    assert f'msg="serving metrics" url=http://{address}/metrics' in daemon.logs()
    storage = _memory(daemon.target, tmp_path, monkeypatch)
    try:
        storage.save([MemoryRecord(content=f"fact {i}", scope="/facts", embedding=[0.1 * i, 1.0])
                      for i in range(3)])
        storage.save([MemoryRecord(content="one more", scope="/facts", embedding=[0.5, 0.5])])
        assert len(storage.search([0.1, 1.0], limit=2)) == 2
        with pytest.raises(Exception) as refused:  # a third dimension: FAILED_PRECONDITION
            storage.save([MemoryRecord(content="wrong", scope="/facts", embedding=[1.0, 2.0, 3.0])])
        assert not isinstance(refused.value, errors.DaemonUnavailable)
    finally:
        storage.close()

    text = _scrape(address)
    memory = {"grpc_service": "fast_crewai.v1.MemoryService", "grpc_type": "unary"}
    save = {**memory, "grpc_method": "SaveRecords"}
    assert _sample(text, "grpc_server_started_total", **save) == 3
    assert _sample(text, "grpc_server_handled_total", **save, grpc_code="OK") == 2
    assert _sample(text, "grpc_server_handled_total", **save,
                   grpc_code="FAILED_PRECONDITION") == 1
    assert _sample(text, "grpc_server_handling_seconds_count", **save) == 3
    assert _sample(text, "grpc_server_handling_seconds_bucket", **save, le="+Inf") == 3
    assert 0 < _sample(text, "grpc_server_handling_seconds_sum", **save) < 60
    search = {**memory, "grpc_method": "Search"}
    assert _sample(text, "grpc_server_handled_total", **search, grpc_code="OK") == 1
    assert _sample(text, "fast_crewai_memory_records") == 4
    assert "fast_crewai_memory_max_records" not in text  # no limit set
    assert _sample(text, "fast_crewai_memory_namespaces") == 1
    assert _sample(text, "fast_crewai_memory_writes_total", result="ok") == 2
    # Buckets are cumulative and end at the count.
    buckets = [_sample(text, "grpc_server_handling_seconds_bucket", **save, le=le)
               for le in ("0.0001", "0.001", "0.01", "0.1", "1", "10", "+Inf")]
    assert buckets == sorted(buckets) and buckets[-1] == 3


def test_a_full_memory_store_shows_in_the_metrics(daemon_factory: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  free_port: Callable[[], int]) -> None:
    from crewai.memory.types import MemoryRecord

    from fast_crewai import errors

    port = free_port()
    daemon = daemon_factory(f"--metrics_listen=127.0.0.1:{port}", "--memory_max_records=2")
    storage = _memory(daemon.target, tmp_path, monkeypatch)
    try:
        storage.save([MemoryRecord(content=f"fact {i}", embedding=[0.1 * i, 1.0]) for i in range(2)])
        with pytest.raises(errors.ResourceExhausted):
            storage.save([MemoryRecord(content="one too many", embedding=[0.5, 0.5])])
    finally:
        storage.close()

    text = _scrape(f"127.0.0.1:{port}")
    assert _sample(text, "fast_crewai_memory_records") == 2
    assert _sample(text, "fast_crewai_memory_max_records") == 2
    assert _sample(text, "fast_crewai_memory_writes_total", result="failed") == 1
    assert _sample(text, "grpc_server_handled_total", grpc_service="fast_crewai.v1.MemoryService",
                   grpc_method="SaveRecords", grpc_type="unary",
                   grpc_code="RESOURCE_EXHAUSTED") == 1


def test_the_endpoint_needs_no_token_and_only_serves_metrics(
        daemon_factory: Any, raw_call: Any, free_port: Callable[[], int]) -> None:
    port = free_port()
    daemon = daemon_factory(f"--metrics_listen=127.0.0.1:{port}",
                            env={"FAST_CREWAI_TOKEN": "s3cret-token"})
    code, _, _ = raw_call(daemon.channel(), "/fast_crewai.v1.MemoryService/Count")
    assert code.name == "UNAUTHENTICATED"
    text = _scrape(f"127.0.0.1:{port}")
    assert "s3cret-token" not in text
    # A call refused by the token check never reaches a handler: it is not counted.
    assert 'grpc_method="Count"' not in text
    with pytest.raises(urllib.error.HTTPError) as not_found:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
    assert not_found.value.code == 404


def test_a_taken_metrics_port_fails_the_start_and_touches_nothing(
        run_server: Any, tmp_path: Path, free_port: Callable[[], int]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_server(f"--listen=127.0.0.1:{free_port()}", f"--data_dir={tmp_path / 'd'}",
                            f"--metrics_listen=127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"metrics_listen 127.0.0.1:{port}: cannot listen" in result.stderr
    assert not (tmp_path / "d" / "memory.db").exists()
