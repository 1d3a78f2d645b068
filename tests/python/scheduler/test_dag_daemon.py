"""DAG mode with the daemon reachable: the kickoff is recorded as a run `fast-crewai runs` shows,
without changing what the kickoff produces."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from scheduler_support import TWELVE, Recorder, build_crew, summary
from support import run_cli


def _dag_run(client: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in client.list_runs() if r.labels.get("kind") == "dag"]
        if runs and runs[0].state.finished:
            return runs[0]
        time.sleep(0.05)
    raise AssertionError(f"no finished DAG run recorded: {client.list_runs()}")


def test_dag_kickoff_is_recorded_as_a_run(daemon: Any, crewai_home: Any,
                                         dag_mode: Callable[..., Any]) -> None:
    from fast_crewai.killswitch import suppress_acceleration
    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.types import NodeState, RunState

    dag_mode(endpoint=daemon.endpoint)
    crew = build_crew(TWELVE, delay=0.05, recorder=Recorder(), name="twelve")
    output = crew.kickoff(inputs={"topic": "otters"})
    with suppress_acceleration():
        own = build_crew(TWELVE, delay=0.0, recorder=Recorder(), name="twelve").kickoff(
            inputs={"topic": "otters"})
    assert summary(output) == summary(own)

    client = SchedulerClient()
    run = _dag_run(client)
    assert run.state is RunState.SUCCEEDED and run.name == "dag twelve"
    assert run.counts.total == run.counts.succeeded == 12
    nodes = client.list_nodes(run.run_id, include_payload=True)
    assert [n.node_id for n in nodes] == [f"task-{i:03d}" for i in range(12)]
    assert nodes[4].depends_on == ("task-000", "task-001")
    assert json.loads(nodes[11].payload)["agent"] == "agent-3"
    assert all(n.state is NodeState.SUCCEEDED for n in nodes)

    listed, _ = run_cli("runs", "--endpoint", daemon.endpoint)
    assert run.run_id in listed.stdout and "12/12" in listed.stdout


def test_failed_dag_kickoff_is_recorded_as_failed(daemon: Any, crewai_home: Any,
                                                 dag_mode: Callable[..., Any]) -> None:
    import pytest

    from fast_crewai.scheduler.remote import SchedulerClient
    from fast_crewai.scheduler.types import NodeState, RunState

    dag_mode(endpoint=daemon.endpoint)
    crew = build_crew((((), 0), ((0,), 1), ((1,), 2)), delay=0.0, recorder=Recorder())

    def explode(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("LLM down")

    object.__setattr__(crew.tasks[1].agent.llm, "call", explode)
    with pytest.raises(RuntimeError, match="LLM down"):
        crew.kickoff(inputs={"topic": "otters"})
    client = SchedulerClient()
    run = _dag_run(client)
    assert run.state in (RunState.FAILED, RunState.CANCELLED)
    states = [n.state for n in client.list_nodes(run.run_id)]
    assert states[0] is NodeState.SUCCEEDED and states[1] is NodeState.FAILED
    assert states[2] is NodeState.CANCELLED
    assert "LLM down" in client.list_nodes(run.run_id)[1].error
