"""CrewAI's own tests, through the shim and a real daemon.

The suites of CrewAI's own test tree that exercise what the shim patches (memory and its
storage, the replay log, flow persistence, locks, the tool cache) run twice in subprocesses:
on plain CrewAI, and with `fast_crewai.shim` imported first against the daemon. Every test that
passes on plain CrewAI must pass through the daemon too, except the deliberate differences in
EXPECTED_DIFFERENCES (each documented, docs/memory.md), which must still differ: a difference
that no longer shows is a stale entry. Tests that fail on plain CrewAI on this machine (a missing
optional package, Debian's SQLite without `jsonb`, no network) say nothing about the shim and
are left out of the comparison.

The test tree comes from CrewAI's source distribution for the installed release
(upstream/fetch_crewai_tests.py; deploy/install-deps.sh fetches it into .cache/crewai-tests).
Runs in every venv of `make test`: CrewAI 1.15.x and the legacy releases.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support import REPO_ROOT, Daemon, clean_environ

sys.path.insert(0, str(Path(__file__).resolve().parent / "upstream"))
from fetch_crewai_tests import crewai_tests_dir  # noqa: E402

UPSTREAM_DIR = REPO_ROOT / ".cache" / "crewai-tests"
PLUGIN_DIR = Path(__file__).resolve().parent / "upstream"

# CrewAI's test modules that reach the patched call sites; those a release lacks are skipped.
MODULES = (
    # memory and its storage backends
    "tests/memory",
    "tests/storage",
    # flow state, pending feedback, checkpoints, locks
    "tests/test_flow_persistence.py",
    "tests/test_flow_persistence_factory.py",
    "tests/test_async_human_feedback.py",
    "tests/test_flow.py",
    "tests/test_flow_resumability_regression.py",
    "tests/test_checkpoint.py",
    "tests/test_sqlite_connection_lifecycle.py",
    "tests/utilities/test_lock_store.py",
    # the replay log and its commands
    "tests/cli/test_replay_from_task.py",
    "tests/cli/test_cli.py",
    # the tool cache and the tool hooks the cache patch wraps
    "tests/test_tool_cache_default.py",
    "tests/tools/test_tool_usage.py",
    "tests/agents/test_native_tool_hook_contract.py",
    "tests/agents/test_react_tool_hook_contract.py",
    # crews kicked off from many threads
    "tests/test_crew_thread_safety.py",
)

# Test id ("<module>::<test>") -> why the daemon deliberately answers otherwise.
EXPECTED_DIFFERENCES = {
    "tests.memory.test_lancedb_filter_escaping::"
    "test_percent_underscore_and_backslash_in_scope_names_match_literally":
        "scope prefixes are path components (docs/memory.md, difference 1): the test expects "
        "the prefix '/share\\' to match the scope '/share\\docs', a string-prefix match",
}

# Fewer passing tests on plain CrewAI than this means the tree or its run is broken.
MIN_PLAIN_PASSED = 10
RUN_TIMEOUT_S = 900


def _outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """Test id -> (passed | failed | skipped, message) from a JUnit XML report."""
    out: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", (child.get("message") or child.text or "")[:400]
            elif child.tag == "skipped":
                outcome = "skipped"
        out[f"{case.get('classname')}::{case.get('name')}"] = (outcome, message)
    return out


def _run_upstream(root: Path, modules: list[str], junit: Path, env: dict[str, str],
                  *extra: str) -> dict[str, tuple[str, str]]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "--continue-on-collection-errors", "--timeout", "120", "--rootdir", str(root),
               "--confcutdir", str(root), f"--junitxml={junit}", *extra, *modules]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S)
    if not junit.is_file():
        pytest.fail(f"CrewAI's tests did not run ({result.returncode}):\n{result.stdout[-3000:]}"
                    f"\n{result.stderr[-3000:]}")
    return _outcomes(junit)


def test_crewai_own_tests_pass_through_the_daemon(daemon: Daemon, tmp_path: Path) -> None:
    from fast_crewai.acceleration import preview
    from fast_crewai.config import ClientConfig, Endpoint

    version = importlib.metadata.version("crewai")
    tests = crewai_tests_dir(UPSTREAM_DIR, version)
    if not tests.is_dir():
        pytest.fail(f"CrewAI {version}'s own tests are not in {tests}: run deploy/install-deps.sh "
                    f"(or {sys.executable} {PLUGIN_DIR / 'fetch_crewai_tests.py'} {UPSTREAM_DIR})")
    root = tests.parent
    modules = [m for m in MODULES if (root / m).exists()]
    assert modules, f"none of {MODULES} in CrewAI {version}'s tests"

    def env(name: str, **extra: str) -> dict[str, str]:
        # CrewAI writes its default stores under the user's data directory: keep each run's apart.
        return clean_environ({"XDG_DATA_HOME": str(tmp_path / name / "data"),
                              "HOME": str(tmp_path / name / "home"), **extra})

    plain = _run_upstream(root, modules, tmp_path / "plain.xml", env("plain"))
    report_path = tmp_path / "patches.json"
    shim = _run_upstream(
        root, modules, tmp_path / "shim.xml",
        env("shim", FAST_CREWAI_ENDPOINT=daemon.endpoint,
            FAST_CREWAI_UPSTREAM_REPORT=str(report_path),
            PYTHONPATH=os.pathsep.join(filter(None, [str(PLUGIN_DIR),
                                                     os.environ.get("PYTHONPATH")])))
        , "-p", "shim_report")

    # The patches this CrewAI takes were on in the shim's run.
    would = {(r.area, r.name) for r in preview(ClientConfig(endpoint=Endpoint.parse(daemon.endpoint)))
             if r.applied}
    applied = {(r["area"], r["name"]) for r in json.loads(report_path.read_text()) if r["applied"]}
    assert would and applied == would, f"patched {sorted(applied)}, expected {sorted(would)}"

    passed_plain = {t for t, (outcome, _) in plain.items() if outcome == "passed"}
    assert len(passed_plain) >= MIN_PLAIN_PASSED, (
        f"only {len(passed_plain)} of CrewAI {version}'s tests passed on plain CrewAI")
    expected = {t for t in EXPECTED_DIFFERENCES if t in passed_plain}
    regressions = {t: shim.get(t, ("missing", ""))
                   for t in passed_plain - expected if shim.get(t, ("missing",))[0] != "passed"}
    assert not regressions, (
        f"{len(regressions)} of CrewAI {version}'s own tests pass on plain CrewAI but not through "
        "the daemon:\n" + "\n".join(f"{t}: {o}: {m}" for t, (o, m) in sorted(regressions.items())))
    stale = {t for t in expected if shim.get(t, ("missing",))[0] == "passed"}
    assert not stale, f"expected differences that no longer differ: {sorted(stale)}"
    passed_shim = sum(1 for outcome, _ in shim.values() if outcome == "passed")
    print(f"CrewAI {version}'s own tests ({len(modules)} modules): {len(passed_plain)} of "
          f"{len(plain)} pass on plain CrewAI, {passed_shim} of {len(shim)} through the daemon "
          f"({len(expected)} expected difference(s))")
