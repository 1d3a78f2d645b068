"""End to end: a real CrewAI crew (2 agents, 2 tasks, fake LLM) gives the same outputs with and
without `import fast_crewai.shim` pointed at a dead daemon, and the shim costs at most ~1 s."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import clean_environ, free_port

SCRIPT = Path(__file__).with_name("crew_script.py")
# The shim with an unreachable daemon may cost one connect timeout (1 s); allow scheduler noise.
SHIM_OVERHEAD_BUDGET_S = 1.5


def run_crew(*args: str, env: dict[str, str] | None = None) -> tuple[dict, float]:
    start = time.monotonic()
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                            text=True, env=clean_environ(env), timeout=300,
                            cwd=str(SCRIPT.parent))
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, result.stdout + result.stderr
    return json.loads(lines[0][len("RESULT "):]), elapsed


@pytest.mark.parametrize("memory", [False, True], ids=["no-memory", "memory"])
def test_shim_with_dead_daemon_gives_the_same_crew_output(tmp_path, memory):
    dead = f"127.0.0.1:{free_port()}"
    plain_args = ["--memory", str(tmp_path / "plain-memory")] if memory else []
    shim_args = ["--shim", *(["--memory", str(tmp_path / "shim-memory")] if memory else [])]

    plain, plain_elapsed = run_crew(*plain_args)
    shim, shim_elapsed = run_crew(*shim_args, env={"FAST_CREWAI_ENDPOINT": dead})

    assert plain["raw"] and len(plain["tasks"]) == 2 and all(plain["tasks"])
    assert plain["tasks"][0] != plain["tasks"][1]
    assert plain["raw"] == plain["tasks"][1]
    assert shim["raw"] == plain["raw"]
    assert shim["tasks"] == plain["tasks"]
    assert shim["llm_calls"] == plain["llm_calls"]
    assert {tuple(p[:2]) for p in shim["patches"]} >= {
        ("memory", "memory_storage"), ("cache", "tool_cache"),
        ("database", "task_outputs"), ("tasks", "task_scheduler")}
    assert shim_elapsed - plain_elapsed < SHIM_OVERHEAD_BUDGET_S, (plain_elapsed, shim_elapsed)
    assert shim["kickoff_seconds"] - plain["kickoff_seconds"] < SHIM_OVERHEAD_BUDGET_S


def test_memory_variant_really_uses_memory(tmp_path):
    """Guards the memory variant above: the crew must really save to and recall from its
    Memory, otherwise comparing the two runs would not exercise it."""
    without, _ = run_crew()
    storage = tmp_path / "m"
    with_memory, _ = run_crew("--memory", str(storage))
    assert with_memory["llm_calls"] > without["llm_calls"]  # extraction/analysis calls
    assert with_memory["tasks"] != without["tasks"]  # memory tools and recall change prompts
    assert storage.is_dir() and any(storage.iterdir())  # the store was written
