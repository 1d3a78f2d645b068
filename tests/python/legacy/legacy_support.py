"""Skip-or-fail for the legacy-CrewAI tests, and helpers shared by them.

The legacy tests need CrewAI's legacy memory classes (RAGStorage, LTMSQLiteStorage: CrewAI
0.193 to 1.9.3). In the main venv (CrewAI 1.15) they are skipped with the reason. `make
test-legacy` runs them in .venv-crewai-<version> with FAST_CREWAI_TEST_LEGACY_REQUIRED=<version>:
then a missing API or another installed version fails the run instead of skipping it, so the
matrix can never pass by skipping.
"""

from __future__ import annotations

import importlib.metadata
import os

import pytest

REQUIRED_VARIABLE = "FAST_CREWAI_TEST_LEGACY_REQUIRED"
REQUIRED = os.environ.get(REQUIRED_VARIABLE, "")


def crewai_version() -> str | None:
    try:
        return importlib.metadata.version("crewai")
    except importlib.metadata.PackageNotFoundError:
        return None


def _missing_reason() -> str | None:
    version = crewai_version()
    if version is None:
        return "CrewAI is not installed"
    if REQUIRED and version != REQUIRED:
        return f"{REQUIRED_VARIABLE}={REQUIRED} but CrewAI {version} is installed"
    try:
        import crewai.memory.storage.ltm_sqlite_storage  # noqa: F401
        import crewai.memory.storage.rag_storage  # noqa: F401
    except ImportError as e:
        return (f"CrewAI {version} has no legacy memory API ({e}; removed in 1.10): these tests "
                "run in the legacy venvs, `make test-legacy`")
    return None


def require_legacy() -> None:
    """Call at module level: skips the module without the legacy API, or fails it when the
    matrix asked for a legacy version (FAST_CREWAI_TEST_LEGACY_REQUIRED)."""
    reason = _missing_reason()
    if reason is None:
        return
    if REQUIRED:
        pytest.fail(f"legacy tests required but cannot run: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def is_one_x() -> bool:
    version = crewai_version() or "0"
    return int(version.split(".")[0]) >= 1
