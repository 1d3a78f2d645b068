"""The point of the daemon cache: tool results shared across processes, tool bodies run once.

Each worker is a separate Python process that imports fast_crewai.shim and runs real CrewAI
crews (cache_worker.py) with the fake tool-calling LLM; the counting tool appends one line per
real run of its body to a file, whatever the process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from cache_fakes import runs

SHARED = {"FAST_CREWAI_CACHE_NAMESPACE": "shared-team-cache"}


def test_second_process_is_served_from_the_daemon_and_the_tool_runs_once(
        daemon: Any, run_worker: Callable[..., dict[str, Any]], counter: Path,
        use_daemon: Callable[..., None]) -> None:
    use_daemon(daemon)
    # The first process speaks ReAct text, the second native function calling: both form the
    # key as ("lookup", '{"query": "otters"}'), so the second is a hit on the first's result.
    first = run_worker(daemon, "crew", "--counter", str(counter), env=SHARED)
    second = run_worker(daemon, "crew", "--counter", str(counter), "--native", env=SHARED)

    assert first["handler"] == second["handler"] == "DaemonCacheHandler"
    assert first["namespace"] == second["namespace"] == "shared-team-cache"
    assert "answer for otters" in first["raw"]
    assert "answer for otters" in second["raw"]
    assert len(runs(counter)) == 1, runs(counter)  # the second process never ran the body

    from fast_crewai.cache import remote

    stats = remote.stats("shared-team-cache", timeout=5)
    assert (stats.entries, stats.hits, stats.misses) == (1, 1, 1)


def test_sixteen_concurrent_identical_misses_from_two_processes_run_the_tool_once(
        daemon: Any, start_worker: Callable[..., Any], counter: Path, tmp_path: Path,
        use_daemon: Callable[..., None]) -> None:
    use_daemon(daemon)
    go = tmp_path / "go"
    # 2 processes x 8 threads, each thread a whole Crew(cache=True) whose agent calls
    # lookup("burst"); the tool takes 0.5 s, so all 16 reads miss while it runs.
    workers = [start_worker(daemon, "burst", "--crews", "--counter", str(counter),
                            "--threads", "8", "--sleep", "0.5", "--go", str(go), env=SHARED)
               for _ in range(2)]
    for worker in workers:
        worker.wait_ready()
    go.touch()
    results = [worker.result() for worker in workers]

    values = [v for r in results for v in r["values"]]
    assert len(values) == 16
    assert all("answer for burst" in v for v in values), values
    lines = runs(counter)
    assert len(lines) == 1, lines

    from fast_crewai.cache import remote

    stats = remote.stats("", timeout=5)
    assert stats.claims == 0 and stats.waiters == 0
    assert stats.hits == 15
