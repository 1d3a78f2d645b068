"""Starts the real fast-crewai-server for a benchmark and stops it afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent


def server_binary() -> Path:
    return Path(os.environ.get("FAST_CREWAI_SERVER_BIN", REPO / "build" / "server" / "fast-crewai-server"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_daemon(data_dir: Path, *extra: str) -> Iterator[str]:
    """Yields the endpoint "127.0.0.1:<port>" of a daemon serving `data_dir`."""
    with running_daemon_process(data_dir, *extra) as (endpoint, _):
        yield endpoint


@contextlib.contextmanager
def running_daemon_process(data_dir: Path, *extra: str) -> Iterator[tuple[str, int]]:
    """Yields (endpoint, pid) of a daemon serving `data_dir`."""
    import grpc

    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(server_binary()), f"--listen={endpoint}", f"--data_dir={data_dir}", "--log_level=warning", *extra],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with grpc.insecure_channel(endpoint) as channel:
                try:
                    grpc.channel_ready_future(channel).result(timeout=0.5)
                    break
                except grpc.FutureTimeoutError:
                    pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"fast-crewai-server did not start (exit code {proc.poll()})")
        yield endpoint, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
