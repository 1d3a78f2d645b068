"""`fast-crewai` without a daemon: dead endpoint, malformed configuration, output formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fast_crewai import cli
from support import clean_environ, run_cli

# The contract: a dead endpoint is reported, with a non-zero exit, within 2 seconds.
DEAD_ENDPOINT_BUDGET_S = 2.0


def test_status_against_dead_endpoint_is_fast_and_fails(dead_endpoint):
    result, elapsed = run_cli("status", env={"FAST_CREWAI_ENDPOINT": dead_endpoint})
    assert result.returncode == 1, result.stderr
    assert elapsed < DEAD_ENDPOINT_BUDGET_S, f"took {elapsed:.2f}s"
    assert f"endpoint:  {dead_endpoint} (tcp, insecure, no token)" in result.stdout
    assert "reachable: no (UNAVAILABLE: " in result.stdout
    assert "patches on this installation" in result.stdout
    assert "tasks/task_scheduler   would apply" in result.stdout


def test_a_reader_that_goes_away_stops_the_command_quietly(dead_endpoint):
    """`fast-crewai status | head -1`: the pipe closes before the output is written."""
    script = Path(sys.executable).with_name("fast-crewai")
    process = subprocess.Popen([str(script), "status"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE,
                               env=clean_environ({"FAST_CREWAI_ENDPOINT": dead_endpoint}))
    process.stdout.close()  # before the command has printed anything (it imports CrewAI first)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 141, stderr.decode()
    assert stderr.decode() == ""


def test_status_json_against_dead_endpoint(dead_endpoint):
    result, elapsed = run_cli("status", "--json", "--endpoint", dead_endpoint)
    assert result.returncode == 1
    assert elapsed < DEAD_ENDPOINT_BUDGET_S
    data = json.loads(result.stdout)
    assert data["endpoint"] == dead_endpoint
    assert data["reachable"] is False and data["ok"] is False
    assert data["error"].startswith("UNAVAILABLE: ")
    assert data["server"] is None and data["services"] == []
    current = [p for p in data["patches"] if p["name"] != "legacy_memory"]
    assert {(p["area"], p["applied"]) for p in current} == {
        ("memory", True), ("cache", True), ("database", True), ("tasks", True)}
    # The legacy patch (CrewAI <= 1.9.3) reports why it does not apply to this CrewAI.
    [legacy] = [p for p in data["patches"] if p["name"] == "legacy_memory"]
    assert not legacy["applied"] and "not supported" in legacy["reason"]


def test_status_with_malformed_endpoint_is_one_line_exit_2():
    result, _ = run_cli("status", env={"FAST_CREWAI_ENDPOINT": "foo"})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        'fast-crewai: FAST_CREWAI_ENDPOINT: expected host:port or unix:/path, got "foo"\n')


def test_status_with_malformed_endpoint_flag_names_the_flag():
    result, _ = run_cli("status", "--endpoint", "nope")
    assert result.returncode == 2
    assert result.stderr == (
        'fast-crewai: --endpoint: expected host:port or unix:/path, got "nope"\n')


def test_status_with_other_malformed_variable_names_it():
    result, _ = run_cli("status", env={"FAST_CREWAI_MEMORY": "maybe"})
    assert result.returncode == 2
    assert result.stderr.startswith("fast-crewai: FAST_CREWAI_MEMORY: ")


def test_status_shows_switched_off_areas(dead_endpoint):
    result, _ = run_cli("status", "--endpoint", dead_endpoint,
                        env={"FAST_CREWAI_TOOLS": "false", "FAST_CREWAI_ACCELERATION": "1"})
    assert "cache/tool_cache       disabled by FAST_CREWAI_TOOLS=false" in result.stdout


def test_status_against_missing_unix_socket_fails_fast(tmp_path):
    result, elapsed = run_cli("status", "--endpoint", f"unix:{tmp_path}/none.sock")
    assert result.returncode == 1 and elapsed < DEAD_ENDPOINT_BUDGET_S
    assert "reachable: no" in result.stdout
    assert "unix socket" in result.stdout


def test_doctor_against_dead_endpoint_reports_what_to_fix(dead_endpoint):
    result, _ = run_cli("doctor", env={"FAST_CREWAI_ENDPOINT": dead_endpoint})
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "fast-crewai doctor (client 0.1.0)"
    status = {line.split()[1]: line.split()[0] for line in lines[1:] if not line.startswith(" ")
              and len(line.split()) > 1 and line.split()[0] in ("ok", "FAIL", "skip")}
    assert status == {"python": "ok", "crewai": "ok", "grpc": "ok", "config": "ok",
                      "tls": "skip", "endpoint": "FAIL", "server": "skip", "token": "skip"}
    assert f"fix: start the daemon (fast-crewai-server --listen {dead_endpoint})" in result.stdout
    assert lines[-1] == "1 check(s) failed"


def test_doctor_with_malformed_config_fails_the_config_check():
    result, _ = run_cli("doctor", "--json", env={"FAST_CREWAI_ENDPOINT": "foo"})
    assert result.returncode == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["config"]["status"] == "FAIL"
    assert checks["config"]["detail"] == (
        'FAST_CREWAI_ENDPOINT: expected host:port or unix:/path, got "foo"')
    assert checks["config"]["fix"] == "fix or unset FAST_CREWAI_ENDPOINT"
    assert checks["endpoint"]["status"] == "skip"


@pytest.mark.parametrize("version,status,detail", [
    ("1.15.30", "ok", "1.15.30: every area (memory/memory_storage, cache/tool_cache, "
     "database/task_outputs, tasks/task_scheduler)"),
    ("1.15.3", "ok", "1.15.3: every area ("),
    ("1.14.7", "ok", "1.14.7: memory/memory_storage, database/task_outputs; not on this "
     "version: cache/tool_cache needs crewai >= 1.15.3, < 2; tasks/task_scheduler needs "
     "crewai >= 1.15, < 2"),
    ("1.12.0", "FAIL", "CrewAI 1.12.0: no area can be patched on it (memory/memory_storage "
     "needs crewai >= 1.14.7, < 2; "),
    ("1.9.3", "ok", "1.9.3: legacy memory (RAGStorage, LTMSQLiteStorage) only"),
])
def test_doctor_names_the_areas_a_crewai_version_gets(version, status, detail):
    """Each patcher's own CrewAI range decides; a version none of them covers fails."""
    from fast_crewai.cli.doctor import FULL_SUPPORT_CREWAI, crewai_check

    check = crewai_check(version)
    assert (check.status, check.detail[:len(detail)]) == (status, detail)
    if status == "FAIL":
        assert check.fix == f"pip install '{FULL_SUPPORT_CREWAI.replace(' ', '')}'"
    assert crewai_check(None).status == "FAIL"


def test_doctor_flags_unreadable_tls_files(tmp_path, dead_endpoint):
    result, _ = run_cli("doctor", "--json", "--endpoint", dead_endpoint,
                        env={"FAST_CREWAI_TLS_CA": str(tmp_path / "ca.pem")})
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["tls"]["status"] == "FAIL"
    assert checks["tls"]["detail"].startswith(f'FAST_CREWAI_TLS_CA: cannot read "{tmp_path}')
    assert checks["endpoint"]["status"] == "skip"


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == "fast-crewai 0.1.0"


def test_main_returns_exit_code_in_process(dead_endpoint, capsys):
    assert cli.main(["status", "--endpoint", dead_endpoint]) == 1
    assert "reachable: no" in capsys.readouterr().out


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (59, "59s"), (61, "1m 01s"), (3723, "1h 02m 03s"), (90061, "1d 01h 01m")])
def test_duration_format(seconds, text):
    from fast_crewai.cli.common import format_duration

    assert format_duration(seconds) == text


def test_doctor_reports_stubs_that_do_not_load(tmp_path, dead_endpoint):
    # A sitecustomize that makes every generated module fail to import, as a protobuf runtime
    # too old for the stubs would.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('fast_crewai.v1.'):\n"
        "            raise ImportError('stub import blocked by the test')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Block())\n")
    result, _ = run_cli("doctor", "--json", "--endpoint", dead_endpoint,
                        env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 1, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["grpc"]["status"] == "FAIL"
    assert "stub import blocked by the test" in checks["grpc"]["detail"]
    assert checks["endpoint"]["status"] == "skip"
