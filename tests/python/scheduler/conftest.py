"""Fixtures of the scheduler suite (helpers live in scheduler_support.py).

* `crewai_home`: CrewAI's local storage (replay log) in a private tmp directory.
* `dag_mode(**env)`: instruments the tasks patcher with FAST_CREWAI_TASKS=dag (plus `env`),
  with no daemon needed; the suite-wide fixture uninstruments it afterwards.
* `use_daemon(d, **env)` comes from tests/python/conftest.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest


@pytest.fixture
def crewai_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setenv("CREWAI_STORAGE_DIR", "scheduler-tests")
    return home


@pytest.fixture
def dag_mode(monkeypatch: pytest.MonkeyPatch, dead_endpoint: str) -> Callable[..., Any]:
    from fast_crewai.client.connection import reset_connection
    from fast_crewai.config import get_config
    from fast_crewai.patches.tasks import TasksPatcher

    def enable(**env: str) -> Any:
        monkeypatch.setenv("FAST_CREWAI_TASKS", "dag")
        monkeypatch.setenv("FAST_CREWAI_ENDPOINT", env.pop("endpoint", dead_endpoint))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        reset_connection()
        result = TasksPatcher().instrument(get_config())
        assert result.applied, result
        return TasksPatcher()

    yield enable
    TasksPatcher().uninstrument()
