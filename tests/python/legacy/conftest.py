"""Fixtures for the legacy-CrewAI tests (see legacy_support.py for when they run).

CrewAI computes its Chroma directory (db_storage_path(), from CREWAI_STORAGE_DIR) once, when
crewai.rag is first imported, so the session's storage directory is set here, before any test
module imports CrewAI. Every test still gets its own daemon and its own collection names.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Callable, Iterator

import pytest

_STORAGE = tempfile.mkdtemp(prefix="fast-crewai-legacy-")
os.environ["CREWAI_STORAGE_DIR"] = _STORAGE
atexit.register(shutil.rmtree, _STORAGE, ignore_errors=True)


@pytest.fixture
def storage_dir() -> str:
    return os.path.realpath(_STORAGE)


@pytest.fixture
def legacy_shim(daemon, monkeypatch) -> Iterator[Callable[..., None]]:
    """Points the client at the test's daemon and enables acceleration (legacy patch on)."""
    from fast_crewai.acceleration import disable_acceleration, enable_acceleration
    from fast_crewai.client.connection import reset_connection
    from fast_crewai.config import ClientConfig, Endpoint

    def enable(**changes: object) -> None:
        monkeypatch.setenv("FAST_CREWAI_ENDPOINT", daemon.endpoint)
        reset_connection()
        config = ClientConfig(endpoint=Endpoint.parse(daemon.endpoint)).replace(**changes)
        results = {r.name: r for r in enable_acceleration(config=config)}
        assert results["legacy_memory"].applied, results["legacy_memory"]

    yield enable
    disable_acceleration()
