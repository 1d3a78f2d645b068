"""End to end with the real binary and real CrewAI in separate processes: replay by task id in a
new process, concurrent kickoffs, kickoff_for_each, and `crewai log-tasks-outputs`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from persistence_support import WORKER, parse_result, worker_env


def _daemon_log(endpoint: str, kickoff_id: str) -> list[dict[str, Any]]:
    """The daemon's rows of one kickoff, read with a raw stub (not through the storage)."""
    import grpc

    from fast_crewai.persistence import conversions

    with grpc.insecure_channel(endpoint) as channel:
        stub = conversions.PersistenceServiceStub(channel)
        response = stub.LoadTaskOutputs(conversions.load_task_outputs(kickoff_id=kickoff_id),
                                        timeout=5)
        assert response.found, kickoff_id
        return [conversions.row_dict(row) for row in response.rows]


def _kickoffs(endpoint: str, namespace: str) -> list[Any]:
    import grpc

    from fast_crewai.persistence import conversions

    with grpc.insecure_channel(endpoint) as channel:
        stub = conversions.PersistenceServiceStub(channel)
        return list(stub.ListKickoffs(conversions.list_kickoffs(namespace), timeout=5).kickoffs)


def test_concurrent_kickoffs_keep_both_logs_and_replay_finds_either_from_a_new_process(
        daemon: Any, run_worker: Callable[..., dict[str, Any]], crewai_home: Any,
        tmp_path: Path) -> None:
    # Two crews kicked off at the same moment from two processes, on one project: CrewAI's
    # single "latest" table would keep one of them (or a mix); the daemon keeps both.
    go = tmp_path / "go"
    env = worker_env(daemon.endpoint, crewai_home)
    workers = [subprocess.Popen([sys.executable, str(WORKER), "crew", "--topic", topic,
                                 "--go-file", str(go)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=str(WORKER.parent))
               for topic in ("otters", "seals")]
    go.touch()  # both start their kickoff now
    results = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr
        results.append(parse_result(stdout))
    first, second = results
    assert first["storage"] == second["storage"] == "DaemonKickoffStorage"
    assert first["kickoff_id"] != second["kickoff_id"]
    assert first["outputs"] != second["outputs"]
    for result, topic in zip(results, ("otters", "seals")):
        rows = _daemon_log(daemon.endpoint, result["kickoff_id"])
        assert [r["task_id"] for r in rows] == result["task_ids"]
        assert [r["output"]["raw"] for r in rows] == result["outputs"]
        assert all(r["inputs"] == {"topic": topic} for r in rows)
        assert [r["was_replayed"] for r in rows] == [0, 0]

    # What `crewai replay -t <id>` runs: crew.replay(id) in a new process. Either kickoff's
    # task is found, whichever was "latest"; here the otters one.
    replay = run_worker("replay", "--task-id", first["task_ids"][1], endpoint=daemon.endpoint)
    assert replay["kickoff_id"] == first["kickoff_id"]
    assert replay["inputs"] == {"topic": "otters"}
    assert replay["llm_calls"] == 1  # only the second task ran again...
    # ...with the first task's stored output as context: the same prompt, the same answer.
    assert replay["outputs"][-1] == first["outputs"][1]
    # CrewAI's update gives the replayed row the task id of the replaying process's task.
    assert replay["rows"] == [[first["task_ids"][0], 0, 0], [replay["task_ids"][1], 1, 1]]
    stored = _daemon_log(daemon.endpoint, first["kickoff_id"])
    assert [r["task_id"] for r in stored] == [first["task_ids"][0], replay["task_ids"][1]]
    assert [r["was_replayed"] for r in stored] == [0, 1]
    assert stored[1]["output"]["raw"] == first["outputs"][1]
    # The other kickoff's log is untouched.
    assert [r["was_replayed"] for r in _daemon_log(daemon.endpoint, second["kickoff_id"])] == [0, 0]

    # `crewai log-tasks-outputs` (reads CrewAI's local file) shows the replayed kickoff.
    cli = Path(sys.executable).with_name("crewai")
    result = subprocess.run([str(cli), "log-tasks-outputs"], capture_output=True, text=True,
                            env=worker_env(None, crewai_home), timeout=60,
                            cwd=str(crewai_home.path))
    assert result.returncode == 0, result.stderr
    assert f"Task 1: {first['task_ids'][0]}" in result.stdout
    assert f"Task 2: {replay['task_ids'][1]}" in result.stdout
    assert first["outputs"][1] in result.stdout


def test_kickoff_for_each_keeps_every_copys_log(
        daemon: Any, run_worker: Callable[..., dict[str, Any]], crewai_home: Any) -> None:
    from crewai_cli.task_outputs import load_task_outputs

    result = run_worker("foreach", "--topics", "otters,seals,walrus", endpoint=daemon.endpoint)
    summaries = _kickoffs(daemon.endpoint, os.path.realpath(crewai_home.kickoff_db))
    assert len(summaries) == 3
    logs = {}
    for summary in summaries:
        rows = _daemon_log(daemon.endpoint, summary.kickoff_id)
        assert len(rows) == 2
        logs[rows[0]["inputs"]["topic"]] = [r["output"]["raw"] for r in rows]
    assert logs == dict(zip(("otters", "seals", "walrus"), result["outputs"]))
    # CrewAI empties its file after kickoff_for_each (crewAI issue #6650); the mirror keeps
    # the last copy's rows for `crewai log-tasks-outputs`.
    assert [r["output"]["raw"] for r in load_task_outputs(str(crewai_home.kickoff_db))] == \
        result["outputs"][-1]
