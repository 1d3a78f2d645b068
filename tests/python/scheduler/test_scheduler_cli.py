"""`fast-crewai runs` and `fast-crewai worker` against the real daemon and a dead endpoint."""

from __future__ import annotations

import json
from typing import Any, Callable

from support import run_cli


def test_runs_against_a_dead_endpoint_fails_fast(dead_endpoint: str) -> None:
    result, elapsed = run_cli("runs", "--endpoint", dead_endpoint)
    assert result.returncode == 1
    assert elapsed < 5.0
    assert f"fast-crewai: runs failed at {dead_endpoint}: UNAVAILABLE" in result.stderr


def test_usage_errors_exit_2(dead_endpoint: str) -> None:
    result, _ = run_cli("runs", "--watch", "--endpoint", dead_endpoint)
    assert result.returncode == 2 and "--watch needs a RUN_ID" in result.stderr
    result, _ = run_cli("worker", "--queue", "no spaces", "--endpoint", dead_endpoint)
    assert result.returncode == 2 and "--queue: expected" in result.stderr
    result, _ = run_cli("worker", "--concurrency", "0")
    assert result.returncode == 2 and "must be at least 1" in result.stderr
    result, _ = run_cli("worker", env={"FAST_CREWAI_WORKER_QUEUE": "a b"})
    assert result.returncode == 2 and "FAST_CREWAI_WORKER_QUEUE: " in result.stderr


def test_runs_lists_shows_and_watches(daemon: Any, use_daemon: Callable[..., None]) -> None:
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.types import NodeSpec

    use_daemon(daemon)
    client = SchedulerClient()
    run = client.create_run([NodeSpec("a"), NodeSpec("b", ("a",)), NodeSpec("c")],
                            queue="cli", name="cli test", labels={"kind": "test"})

    result, _ = run_cli("runs", "--endpoint", daemon.endpoint)
    assert result.returncode == 0, result.stderr
    assert run.run_id in result.stdout and "cli test" in result.stdout
    assert "0/3" in result.stdout

    for lease in client.lease_nodes("tester", queue="cli", max_nodes=2, wait=2.0):
        if lease.node_id == "a":
            client.complete_node(lease.lease_id, b"A")
        else:
            client.fail_node(lease.lease_id, "boom")
    result, _ = run_cli("runs", run.run_id, "--json", "--endpoint", daemon.endpoint)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["run"]["run_id"] == run.run_id and shown["run"]["labels"] == {"kind": "test"}
    states = {n["node_id"]: n["state"] for n in shown["nodes"]}
    assert states["a"] == "succeeded" and states["c"] == "failed"
    assert [n["node_id"] for n in shown["nodes"]] == ["a", "b", "c"]

    text, _ = run_cli("runs", run.run_id, "--endpoint", daemon.endpoint)
    assert "boom" in text.stdout and "progress: [" in text.stdout

    # b is ready now; finish it so the run ends, then --watch draws the bar and exits.
    (lease,) = client.lease_nodes("tester", queue="cli", wait=2.0)
    client.complete_node(lease.lease_id, b"B")
    watched, _ = run_cli("runs", run.run_id, "--watch", "--endpoint", daemon.endpoint)
    assert watched.returncode == 1  # the run failed (node c)
    last = watched.stdout.strip().splitlines()[-1]
    assert last.startswith("[") and "2/3 done, 0 running, 1 failed" in last and "failed" in last

    result, _ = run_cli("runs", "no-such-run", "--endpoint", daemon.endpoint)
    assert result.returncode == 1 and "NOT_FOUND" in result.stderr


def test_worker_runs_until_idle(daemon: Any, use_daemon: Callable[..., None]) -> None:
    result, elapsed = run_cli("worker", "--idle-exit", "0.5", "--queue", "empty",
                              "--endpoint", daemon.endpoint)
    assert result.returncode == 0, result.stderr
    assert "idle for" in result.stderr and "0 done, 0 failed, 0 lost" in result.stderr


def test_worker_idle_exit_with_the_daemon_unreachable_exits_1(dead_endpoint: str) -> None:
    """"No daemon" is not "no work": every command exits 1 when the daemon is unreachable."""
    result, elapsed = run_cli("worker", "--idle-exit", "1", "--endpoint", dead_endpoint)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fast-crewai: worker stopped idle while the daemon at "
                           f"{dead_endpoint} was unreachable: UNAVAILABLE"), result.stderr
    assert elapsed < 10.0
