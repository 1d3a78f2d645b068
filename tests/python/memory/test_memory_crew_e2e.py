"""A CrewAI Crew(memory=True), with a fake LLM and a deterministic embedder, runs through the
daemon with the shim; its memories are then visible from a second process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import clean_environ

WORKER = Path(__file__).with_name("memory_worker.py")


def run_worker(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(WORKER), *args], env=clean_environ(env),
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_crew_memories_live_in_the_daemon_and_are_shared(memory_daemon: Any,
                                                        tmp_path: Path) -> None:
    env = {"FAST_CREWAI_ENDPOINT": memory_daemon.endpoint,
           "CREWAI_STORAGE_DIR": str(tmp_path / "crewai")}
    crew = run_worker(env, "crew")
    assert crew["daemon_backed"] is True
    assert crew["namespace"] == "lancedb:" + str((tmp_path / "crewai" / "memory").resolve())
    assert crew["output"]
    saved = crew["records"]
    assert saved and all(scope.startswith("/crew/e2e-crew/agent/researcher") for scope, _ in saved)
    # Nothing went to a local LanceDB table.
    assert not (tmp_path / "crewai" / "memory" / "memories.lance").exists()

    content = saved[0][1]
    seen = run_worker(env, "inspect", content)
    assert seen["daemon_backed"] is True
    assert seen["namespace"] == crew["namespace"]
    assert seen["count"] == len(saved)
    assert seen["scopes"] == ["/crew/e2e-crew/agent/researcher"]
    assert seen["top"] and seen["top"][0] == content
    assert seen["top_score"] == pytest.approx(1.0)
    assert seen["has_embeddings"] is True
