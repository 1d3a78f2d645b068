"""DAG mode (FAST_CREWAI_TASKS=dag) against CrewAI's own kickoff, real CrewAI, sleeping fake LLM.

Concurrency is measured from the LLM calls' recorded intervals (overlap, maximum in flight),
never from wall-time thresholds. No daemon: DAG mode runs in-process.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Callable

import pytest

from scheduler_support import TWELVE, Recorder, build_crew, overlaps, replay_rows, summary

DELAY = 0.25  # long enough that independent tasks overlap even on a loaded machine


def _run(spec: Any, recorder: Recorder, *, delay: float = DELAY, use_async: bool = False,
         **crew_kwargs: Any) -> tuple[Any, Any, list[str]]:
    completed: list[str] = []
    crew = build_crew(spec, delay=delay, recorder=recorder,
                      task_callback=lambda out: completed.append(out.raw), **crew_kwargs)
    if use_async:
        output = asyncio.run(crew.akickoff(inputs={"topic": "otters"}))
    else:
        output = crew.kickoff(inputs={"topic": "otters"})
    return crew, output, completed


def _task(i: int) -> str:
    return f"Task {i} about otters."


def _assert_dependencies_respected(spec: Any, recorder: Recorder) -> None:
    for i, (context, _) in enumerate(spec):
        if isinstance(context, tuple) and context and context[0] != "conditional":
            for j in context:
                assert recorder.interval(_task(j)).end <= recorder.interval(_task(i)).start, (j, i)


def _assert_agents_never_overlap(recorder: Recorder) -> None:
    for a, b in itertools.combinations(recorder.calls, 2):
        if a.agent == b.agent:
            assert not overlaps(a, b), (a, b)


@pytest.mark.parametrize("use_async", [False, True], ids=["kickoff", "akickoff"])
def test_twelve_task_crew_is_identical_to_crewai_and_runs_concurrently(
        crewai_home: Any, dag_mode: Callable[..., Any], use_async: bool) -> None:
    own = Recorder()
    own_crew, own_output, own_callbacks = _run(TWELVE, own, use_async=use_async)
    assert own.max_in_flight == 1  # CrewAI: one task after the other

    dag_mode()
    dag = Recorder()
    dag_crew, dag_output, dag_callbacks = _run(TWELVE, dag, use_async=use_async)

    assert summary(dag_output) == summary(own_output)
    assert len(set(summary(dag_output)["tasks"])) == 12  # every prompt (context) differs
    assert replay_rows(dag_crew) == replay_rows(own_crew)
    assert [r[0] for r in replay_rows(dag_crew)] == list(range(12))
    assert sorted(dag_callbacks) == sorted(own_callbacks)
    # Concurrency happened: the four independent first tasks overlapped.
    assert dag.max_in_flight >= 3
    first_level = [dag.interval(_task(i)) for i in range(4)]
    assert all(overlaps(a, b) for a, b in itertools.combinations(first_level, 2))
    _assert_dependencies_respected(TWELVE, dag)
    _assert_agents_never_overlap(dag)


@pytest.mark.parametrize("use_async", [False, True], ids=["kickoff", "akickoff"])
def test_the_output_log_shows_a_task_completed_before_the_tasks_it_made_ready_start(
        crewai_home: Any, dag_mode: Callable[..., Any], tmp_path: Any, use_async: bool) -> None:
    import json

    # 0, then 1 and 2 (each using 0), then 3 using 1 and 2; four agents.
    spec = (((), 0), ((0,), 1), ((0,), 2), ((1, 2), 3))
    dag_mode()
    log = tmp_path / f"log-{use_async}.json"
    _run(spec, Recorder(), use_async=use_async, output_log_file=str(log))
    entries = [(e["task"], e["status"]) for e in json.loads(log.read_text())]
    position = {entry: i for i, entry in enumerate(entries)}
    assert len(position) == 8, entries  # a "started" and a "completed" line per task
    for i, (context, _) in enumerate(spec):
        for j in context:
            assert position[(_task(j), "completed")] < position[(_task(i), "started")], entries


def test_shared_agent_tasks_never_overlap_even_when_independent(
        crewai_home: Any, dag_mode: Callable[..., Any]) -> None:
    # Six independent tasks on two agents: at most two run at once, one per agent, in order.
    spec = tuple(((), i % 2) for i in range(6))
    own = Recorder()
    _, own_output, _ = _run(spec, own)
    dag_mode()
    dag = Recorder()
    _, dag_output, _ = _run(spec, dag)
    assert summary(dag_output) == summary(own_output)
    assert dag.max_in_flight == 2
    _assert_agents_never_overlap(dag)
    for agent in ("agent-0", "agent-1"):
        mine = [c for c in dag.calls if c.agent == agent]
        assert [c.task for c in sorted(mine, key=lambda c: c.start)] == \
            [_task(i) for i in range(6) if f"agent-{i % 2}" == agent]


def test_default_context_and_conditional_tasks_keep_crewais_order(
        crewai_home: Any, dag_mode: Callable[..., Any]) -> None:
    spec = (
        ((), 0), ((), 1),
        ("default", 2),            # reads every earlier output: waits for 0 and 1
        ((), 3),                   # independent: may start at once
        (("conditional", False), 0),  # skipped: waits for everything before it
        ((), 1),                   # after the conditional task
        (("conditional", True), 2),   # runs: waits for everything before it
        ((), 3),
    )
    own = Recorder()
    own_crew, own_output, _ = _run(spec, own)
    dag_mode()
    dag = Recorder()
    dag_crew, dag_output, _ = _run(spec, dag)

    assert summary(dag_output) == summary(own_output)
    assert replay_rows(dag_crew) == replay_rows(own_crew)
    assert len(replay_rows(dag_crew)) == 8  # the skipped task is logged, as CrewAI does
    iv = dag.interval
    assert iv(_task(2)).start >= max(iv(_task(0)).end, iv(_task(1)).end)
    assert overlaps(iv(_task(3)), iv(_task(0)))  # 3 did not wait for 2's turn
    assert all(c.task != _task(4) for c in dag.calls)  # skipped: no LLM call
    assert iv(_task(5)).start >= max(iv(_task(i)).end for i in (0, 1, 2, 3))
    assert iv(_task(6)).start >= max(iv(_task(i)).end for i in (0, 1, 2, 3, 5))
    assert iv(_task(7)).start >= iv(_task(6)).end


def test_async_tasks_keep_crewais_empty_context(crewai_home: Any,
                                               dag_mode: Callable[..., Any]) -> None:
    # CrewAI gives async tasks with the default context an empty context (crewAI #6417); a
    # different context would change the prompt, hence the fake LLM's answer.
    spec = (((), 0), ("default", 1), ("async", 2), ("async", 3), ("default", 0))
    own = Recorder()
    _, own_output, _ = _run(spec, own)
    dag_mode()
    dag = Recorder()
    _, dag_output, _ = _run(spec, dag)
    assert summary(dag_output) == summary(own_output)
    assert overlaps(dag.interval(_task(2)), dag.interval(_task(3)))


def test_tasks_run_through_the_methods_crewais_loop_calls(
        crewai_home: Any, dag_mode: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # Crew._execute_tasks calls execute_async for an async_execution task and execute_sync for
    # the others; CrewAI's own tests count those calls (test_async_task_execution_call_count).
    from crewai import Task

    calls: list[tuple[str, str]] = []
    execute_sync, execute_async = Task.execute_sync, Task.execute_async

    def counted_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(("sync", self.description))
        return execute_sync(self, *args, **kwargs)

    def counted_async(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(("async", self.description))
        return execute_async(self, *args, **kwargs)

    monkeypatch.setattr(Task, "execute_sync", counted_sync)
    monkeypatch.setattr(Task, "execute_async", counted_async)
    spec = (((), 0), ("async", 1), ("async", 2), ("default", 0))
    _, own_output, _ = _run(spec, Recorder())
    own_calls = sorted(calls)
    calls.clear()
    dag_mode()
    _, dag_output, _ = _run(spec, Recorder())
    assert sorted(calls) == own_calls
    assert [kind for kind, _ in own_calls].count("async") == 2
    assert summary(dag_output) == summary(own_output)


def test_hierarchical_crew_is_left_to_crewai(crewai_home: Any, dag_mode: Callable[..., Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from crewai import Process

    from fast_crewai.scheduler import crew_dag, dag
    from scheduler_support import SleepyLLM

    spec = (((), 0), ((), 1), ((), 2))
    own = Recorder()
    manager = SleepyLLM(model="manager").configure(0.0, own)
    _, own_output, _ = _run(spec, own, process=Process.hierarchical, manager_llm=manager)

    dag_mode()
    monkeypatch.setattr(crew_dag, "execute", lambda *a, **k: pytest.fail("DAG used"))
    rec = Recorder()
    manager = SleepyLLM(model="manager").configure(0.0, rec)
    crew = build_crew(spec, delay=DELAY, recorder=rec, process=Process.hierarchical,
                      manager_llm=manager)
    assert dag.plan(crew, crew.tasks, 0, False) == "process is hierarchical"
    output = crew.kickoff(inputs={"topic": "otters"})
    assert summary(output) == summary(own_output)
    assert rec.max_in_flight == 1


def test_without_the_opt_in_crewais_order_stays(crewai_home: Any,
                                                dag_mode: Callable[..., Any]) -> None:
    dag_mode(FAST_CREWAI_TASKS="true")  # the tasks patch is on, DAG mode is not
    rec = Recorder()
    _run(TWELVE[:4], rec)
    assert rec.max_in_flight == 1


def test_a_failing_task_raises_its_error_after_committing_the_tasks_before_it(
        crewai_home: Any, dag_mode: Callable[..., Any]) -> None:
    from scheduler_support import SleepyLLM

    class Boom(RuntimeError):
        pass

    def explode(self: Any, *args: Any, **kwargs: Any) -> str:
        raise Boom("LLM down")

    spec = (((), 0), ((), 1), ((0,), 2), ((1,), 0))
    dag_mode()
    rec = Recorder()
    crew = build_crew(spec, delay=DELAY, recorder=rec)
    crew.tasks[2].agent.llm.call = explode.__get__(crew.tasks[2].agent.llm, SleepyLLM)
    with pytest.raises(Boom, match="LLM down"):
        crew.kickoff(inputs={"topic": "otters"})
    # Tasks 0 and 1 were logged, in order; nothing at or past the failed task.
    assert [r[0] for r in replay_rows(crew)] == [0, 1]


def test_plan_builds_crewai_edges(crewai_home: Any) -> None:
    from fast_crewai.scheduler import dag

    spec = (((), 0), ((0,), 1), ("default", 2), ("async", 3), ("async", 0),
            (("conditional", True), 1), ((), 2))
    crew = build_crew(spec, delay=0.0, recorder=Recorder())
    graph = dag.plan(crew, crew.tasks, 0, False)
    assert not isinstance(graph, str), graph
    assert [sorted(d) for d in graph.deps] == [
        [], [0], [0, 1], [0, 1, 2], [0, 1, 2],  # async: everything before their async run
        [0, 1, 2, 3, 4],                        # conditional: everything before it
        [2, 5],                                 # agent 2's previous task, the barrier
    ]
    assert dag.plan(crew, crew.tasks, 2, True) == "replay"
    assert graph.critical_path([1.0] * 7) == 6.0  # 0 -> 1 -> 2 -> 3 -> 5 -> 6


def test_uninstrument_restores_crewais_methods(dag_mode: Callable[..., Any]) -> None:
    from crewai.crew import Crew
    from crewai.utilities.rpm_controller import RPMController

    originals = (Crew.__dict__["_execute_tasks"], Crew.__dict__["kickoff_for_each"],
                 RPMController.__dict__["check_or_wait"])
    patcher = dag_mode()
    assert Crew.__dict__["_execute_tasks"] is not originals[0]
    patcher.uninstrument()
    assert (Crew.__dict__["_execute_tasks"], Crew.__dict__["kickoff_for_each"],
            RPMController.__dict__["check_or_wait"]) == originals
    dag_mode()
    assert Crew.__dict__["_execute_tasks"] is not originals[0]


def test_crews_with_memory_keep_crewais_order(crewai_home: Any, tmp_path: Any) -> None:
    from crewai.memory.unified_memory import Memory

    from fakes import FakeLLM, hash_embedder
    from fast_crewai.scheduler import dag

    memory = Memory(storage=str(tmp_path / "mem"), llm=FakeLLM(model="m"),
                    embedder=hash_embedder(16))
    crew = build_crew(TWELVE[:4], delay=0.0, recorder=Recorder(), memory=memory)
    assert dag.plan(crew, crew.tasks, 0, False) == "crew memory"
