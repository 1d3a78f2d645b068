"""CrewAI's own tests, through the shim and a real daemon.

The suites of CrewAI's own test tree that exercise what the shim patches (memory and its
storage, the replay log, flow persistence, locks, the tool cache) run in subprocesses: on plain
CrewAI; with `fast_crewai.shim` imported first against the daemon; and with the shim but the
daemon unreachable (the fallback to CrewAI's own code). Every test that passes on plain CrewAI
must pass through the daemon too, except the deliberate differences in EXPECTED_DIFFERENCES
(each documented, docs/memory.md), which must still differ: a difference that no longer shows
is a stale entry. With the daemon unreachable nothing may differ. Nor may the shim leave a
thread that keeps the process from exiting when plain CrewAI exits (upstream/exit_watchdog.py
ends a process still there 20 s after its session, and names the threads). Tests that fail on
plain CrewAI on this machine (a missing optional package, Debian's SQLite without `jsonb`, no
network) say nothing about the shim and are left out of the comparison.

The test tree comes from CrewAI's source distribution for the installed release
(upstream/fetch_crewai_tests.py; deploy/install-deps.sh fetches it into .cache/crewai-tests).
Runs in every venv of `make test`: CrewAI 1.15.x and the legacy releases. On releases DAG mode
supports, CrewAI's crew and task tests are compared the same way with FAST_CREWAI_TASKS=dag.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import REPO_ROOT, Daemon, clean_environ

PLUGIN_DIR = Path(__file__).resolve().parent / "upstream"
sys.path.insert(0, str(PLUGIN_DIR))
from fetch_crewai_tests import crewai_tests_dir  # noqa: E402

UPSTREAM_DIR = REPO_ROOT / ".cache" / "crewai-tests"

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

# CrewAI's tests of a kickoff, run again in DAG mode (FAST_CREWAI_TASKS=dag).
DAG_MODULES = ("tests/test_crew.py", "tests/test_task.py", "tests/crew")

# CrewAI's agent, tool, utility and event tests, run without an LLM key: agents run with the
# patched max_rpm limiter and tool cache, tools through the patched tool usage, and the event
# bus carries the events the patched stores emit. The modules MODULES runs already are left out.
AGENT_MODULES = ("tests/agents", "tests/tools", "tests/utilities", "tests/events")

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


def _outcome(results: dict[str, tuple[str, str]], test: str) -> tuple[str, str]:
    """`test`'s (outcome, message) in `results`; ("missing", "") when it did not run there."""
    return results.get(test, ("missing", ""))


@dataclass(frozen=True)
class UpstreamRun:
    """The outcome of one run of CrewAI's tests: test id -> (outcome, message), and the
    threads that held the process at exit until exit_watchdog ended it (None: it exited)."""

    results: dict[str, tuple[str, str]]
    exit_held_by: list[str] | None


def _run_upstream(root: Path, modules: list[str], junit: Path, env: dict[str, str],
                  *extra: str) -> UpstreamRun:
    exit_report = junit.with_suffix(".exit.json")
    env = {**env, "FAST_CREWAI_UPSTREAM_EXIT_REPORT": str(exit_report),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGIN_DIR), env.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-p", "exit_watchdog", "--continue-on-collection-errors", "--timeout", "120",
               "--rootdir", str(root), "--confcutdir", str(root), f"--junitxml={junit}", *extra,
               *modules]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S)
    if not junit.is_file():
        pytest.fail(f"CrewAI's tests did not run ({result.returncode}):\n{result.stdout[-3000:]}"
                    f"\n{result.stderr[-3000:]}")
    held = json.loads(exit_report.read_text())["held_by"] if exit_report.is_file() else None
    return UpstreamRun(_outcomes(junit), held)


def _node_id(root: Path, test: str) -> str:
    """JUnit "<dotted module[.Class]>::<name>" -> pytest node id "<path>.py[::Class]::<name>"."""
    dotted, name = test.split("::", 1)
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        path = Path(*parts[:cut]).with_suffix(".py")
        if (root / path).is_file():
            return "::".join([path.as_posix(), *parts[cut:], name])
    return test


@dataclass(frozen=True)
class ShimRun:
    """One run through the shim: its label, endpoint, extra variables and the tests expected to
    differ from plain CrewAI in it."""

    label: str
    endpoint: str
    env: dict[str, str] = field(default_factory=dict)
    expected_differences: frozenset[str] = frozenset()


def _compare(tmp_path: Path, modules: tuple[str, ...], runs: list[ShimRun],
             llm_key: bool = True, skip: tuple[str, ...] = ()) -> None:
    """Runs CrewAI's `modules` once plain and once per run through the shim, and asserts for
    each run that every test passing plain passes through the shim, except the run's expected
    differences, which must still differ. A test that fails through the shim is run once more,
    alone, before it counts: a test of CrewAI's that is flaky on this machine must not fail the
    suite (it is reported). Files under `modules` that are in `skip` are not run."""
    from fast_crewai.acceleration import preview
    from fast_crewai.config import ClientConfig

    version = importlib.metadata.version("crewai")
    tests = crewai_tests_dir(UPSTREAM_DIR, version)
    if not tests.is_dir():
        pytest.fail(f"CrewAI {version}'s own tests are not in {tests}: run deploy/install-deps.sh "
                    f"(or {sys.executable} {PLUGIN_DIR / 'fetch_crewai_tests.py'} {UPSTREAM_DIR})")
    root = tests.parent
    present = [m for m in modules if (root / m).exists()]
    assert present, f"none of {modules} in CrewAI {version}'s tests"
    ignore = [f"--ignore={m}" for m in skip if (root / m).exists()]

    def env(name: str, **extra: str) -> dict[str, str]:
        # CrewAI writes its default stores under the user's data directory: keep each run's apart.
        environ = clean_environ({"XDG_DATA_HOME": str(tmp_path / name / "data"),
                                 "HOME": str(tmp_path / name / "home"), **extra})
        if not llm_key:
            # A test that would call a real LLM then fails at once, on both sides, instead of
            # waiting on the network (CrewAI's crew tests; its memory tests need a key to set up).
            environ.pop("OPENAI_API_KEY", None)
        return environ

    plain_run = _run_upstream(root, present, tmp_path / "plain.xml", env("plain"), *ignore)
    plain = plain_run.results
    passed_plain = {t for t, (outcome, _) in plain.items() if outcome == "passed"}
    assert len(passed_plain) >= MIN_PLAIN_PASSED, (
        f"only {len(passed_plain)} of CrewAI {version}'s tests passed on plain CrewAI")
    summary = [f"CrewAI {version}'s own tests ({len(present)} modules): {len(passed_plain)} of "
               f"{len(plain)} pass on plain CrewAI"
               + (f" (its exit held by {plain_run.exit_held_by})" if plain_run.exit_held_by
                  else "")]
    for n, run in enumerate(runs):
        report_path = tmp_path / f"patches-{n}.json"
        shim_environ = env(f"shim-{n}", FAST_CREWAI_ENDPOINT=run.endpoint,
                           FAST_CREWAI_UPSTREAM_REPORT=str(report_path), **run.env)
        shim_run = _run_upstream(root, present, tmp_path / f"shim-{n}.xml", shim_environ,
                                 "-p", "shim_report", *ignore)
        shim = shim_run.results
        # The shim must not leave a thread that keeps the process from exiting.
        assert plain_run.exit_held_by is not None or shim_run.exit_held_by is None, (
            f"{run.label}: the process did not exit; threads left running: "
            f"{shim_run.exit_held_by} (plain CrewAI exits)")

        # The patches this CrewAI takes with this configuration were on in the shim's run.
        config = ClientConfig.from_env({"FAST_CREWAI_ENDPOINT": run.endpoint, **run.env})
        would = {(r.area, r.name) for r in preview(config) if r.applied}
        applied = {(r["area"], r["name"])
                   for r in json.loads(report_path.read_text()) if r["applied"]}
        assert would and applied == would, (
            f"{run.label}: patched {sorted(applied)}, expected {sorted(would)}")

        expected = run.expected_differences & passed_plain
        regressions = {t: _outcome(shim, t) for t in passed_plain - expected
                       if _outcome(shim, t)[0] != "passed"}
        flaky: list[str] = []
        if regressions:
            again = _run_upstream(root, [_node_id(root, t) for t in sorted(regressions)],
                                  tmp_path / f"again-{n}.xml", shim_environ,
                                  "-p", "shim_report").results
            flaky = sorted(t for t in regressions if _outcome(again, t)[0] == "passed")
            for t in flaky:
                del regressions[t]
        assert not regressions, (
            f"{len(regressions)} of CrewAI {version}'s own tests pass on plain CrewAI but not "
            f"{run.label}:\n"
            + "\n".join(f"{t}: {o}: {m}" for t, (o, m) in sorted(regressions.items())))
        stale = {t for t in expected if _outcome(shim, t)[0] == "passed"}
        assert not stale, f"{run.label}: expected differences that no longer differ: " + "; ".join(
            f"{t} ({EXPECTED_DIFFERENCES.get(t, '')})" for t in sorted(stale))
        passed_shim = sum(1 for outcome, _ in shim.values() if outcome == "passed")
        summary.append(f"{passed_shim} of {len(shim)} {run.label} ({len(expected)} expected "
                       f"difference(s); passed when run again: {flaky or 'none'}"
                       + (f"; exit held by {shim_run.exit_held_by}" if shim_run.exit_held_by
                          else "") + ")")
    print("; ".join(summary))


def test_crewai_own_tests_pass_through_the_daemon(daemon: Daemon, dead_endpoint: str,
                                                  tmp_path: Path) -> None:
    """Through the daemon, and with the daemon unreachable, where the shim falls back to
    CrewAI's own code: there nothing may differ, not even the documented differences."""
    _compare(tmp_path, MODULES, [
        ShimRun("through the daemon", daemon.endpoint,
                expected_differences=frozenset(EXPECTED_DIFFERENCES)),
        ShimRun("with the daemon unreachable", dead_endpoint),
    ])


def test_crewai_own_agent_tests_pass_through_the_daemon(daemon: Daemon, dead_endpoint: str,
                                                        tmp_path: Path) -> None:
    """CrewAI's agent, tool, utility and event tests, without an LLM key (the tests that
    would call one fail on plain CrewAI too and are left out), through the daemon and with the
    daemon unreachable."""
    _compare(tmp_path, AGENT_MODULES, [
        ShimRun("through the daemon", daemon.endpoint),
        ShimRun("with the daemon unreachable", dead_endpoint),
    ], llm_key=False, skip=MODULES)


def test_crewai_own_crew_tests_pass_in_dag_mode(daemon: Daemon, tmp_path: Path) -> None:
    """CrewAI's crew and task tests with FAST_CREWAI_TASKS=dag (and every other patch): DAG
    mode must keep what CrewAI's own tests check of a kickoff (outputs, their order, callbacks,
    which Task methods run). Without recorded LLM answers the tests that call an LLM fail on
    plain CrewAI too and are left out; those that script the LLM or the tasks are compared."""
    from fast_crewai.acceleration import preview
    from fast_crewai.config import ClientConfig

    dag = {(r.area, r.name) for r in preview(ClientConfig.from_env({
        "FAST_CREWAI_ENDPOINT": daemon.endpoint, "FAST_CREWAI_TASKS": "dag"})) if r.applied}
    if not any(area == "tasks" for area, _ in dag):
        pytest.skip(f"DAG mode does not apply to CrewAI {importlib.metadata.version('crewai')}")
    _compare(tmp_path, DAG_MODULES, [ShimRun("in DAG mode", daemon.endpoint,
                                             env={"FAST_CREWAI_TASKS": "dag"})], llm_key=False)
