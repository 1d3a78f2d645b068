"""Crews and fakes the scheduler tests and the bench share (import as `scheduler_support`).

`SleepyLLM` is tests/python/fakes.FakeLLM (answers derived from a hash of the prompt, so any
change in what reaches the LLM changes the outputs) that sleeps `delay` seconds per call and
records each call's interval in a shared `Recorder`, keyed by the calling agent's role and the
task description: overlap is measured from those intervals, never from wall-time thresholds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import PrivateAttr

from fakes import FakeLLM


@dataclass
class Call:
    task: str
    agent: str
    start: float
    end: float


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> float:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return time.monotonic()

    def leave(self, task: str, agent: str, start: float) -> None:
        end = time.monotonic()
        with self.lock:
            self.in_flight -= 1
            self.calls.append(Call(task, agent, start, end))

    def interval(self, task: str) -> Call:
        matches = [c for c in self.calls if c.task == task]
        assert len(matches) == 1, (task, matches)
        return matches[0]


def overlaps(a: Call, b: Call) -> bool:
    return a.start < b.end and b.start < a.end


class SleepyLLM(FakeLLM):
    """FakeLLM that takes `delay` seconds per call (sync: time.sleep, async: asyncio.sleep)."""

    _delay: float = PrivateAttr(default=0.0)
    _recorder: Recorder | None = PrivateAttr(default=None)

    def configure(self, delay: float, recorder: Recorder) -> SleepyLLM:
        self._delay = delay
        self._recorder = recorder
        return self

    def _names(self, kwargs: dict[str, Any]) -> tuple[str, str]:
        task = kwargs.get("from_task")
        agent = kwargs.get("from_agent")
        return (getattr(task, "description", "?"), getattr(agent, "role", "?"))

    def call(self, messages: Any, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
        recorder = self._recorder
        start = recorder.enter() if recorder else 0.0
        try:
            time.sleep(self._delay)
            return super().call(messages, *args, **kwargs)
        finally:
            if recorder:
                recorder.leave(*self._names(kwargs), start)

    async def acall(self, messages: Any, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
        recorder = self._recorder
        start = recorder.enter() if recorder else 0.0
        try:
            await asyncio.sleep(self._delay)
            return super().call(messages, *args, **kwargs)
        finally:
            if recorder:
                recorder.leave(*self._names(kwargs), start)


# The 12-task crew: (context task indices, agent index). Four levels; tasks of one agent are
# already ordered by their contexts, so the critical path is 4 LLM calls.
TWELVE: tuple[tuple[tuple[int, ...], int], ...] = (
    ((), 0), ((), 1), ((), 2), ((), 3),          # level 1
    ((0, 1), 0), ((2,), 2), ((3,), 3), ((1, 2), 1),  # level 2
    ((4, 5), 0), ((6, 7), 1), ((5, 6), 2),       # level 3
    ((8, 9, 10), 3),                             # level 4
)


def build_crew(spec: tuple[tuple[Any, int], ...], *, delay: float, recorder: Recorder,
               topic_key: str = "topic", **crew_kwargs: Any) -> Any:
    """A sequential crew from `spec`: per task (context, agent index); context is a tuple of
    earlier task indices, or the string "default" for CrewAI's default context, or
    ("conditional", bool) for a ConditionalTask whose condition returns that bool."""
    from crewai import Agent, Crew, Task
    from crewai.tasks.conditional_task import ConditionalTask

    agents: dict[int, Any] = {}
    tasks: list[Any] = []
    for i, (context, agent_index) in enumerate(spec):
        if agent_index not in agents:
            llm = SleepyLLM(model=f"llm{agent_index}").configure(delay, recorder)
            agents[agent_index] = Agent(role=f"agent-{agent_index}",
                                        goal=f"Work on {{{topic_key}}}",
                                        backstory="A test agent.", llm=llm,
                                        allow_delegation=False)
        kwargs: dict[str, Any] = {"description": f"Task {i} about {{{topic_key}}}.",
                                  "expected_output": f"Result {i}.",
                                  "agent": agents[agent_index]}
        if isinstance(context, tuple) and context[:1] == ("conditional",):
            verdict = context[1]
            tasks.append(ConditionalTask(condition=lambda _out, v=verdict: v, **kwargs))
            continue
        if context == "async":
            tasks.append(Task(async_execution=True, **kwargs))
            continue
        if context != "default":
            kwargs["context"] = [tasks[j] for j in context]
        tasks.append(Task(**kwargs))
    return Crew(agents=list(agents.values()), tasks=tasks, **crew_kwargs)


def summary(output: Any) -> dict[str, Any]:
    return {"raw": output.raw, "tasks": [t.raw for t in output.tasks_output]}


def replay_rows(crew: Any) -> list[tuple[Any, ...]]:
    """The crew's replay log as CrewAI stores it, without the per-build task ids/timestamps."""
    rows = crew._task_output_handler.load() or []
    return [(r["task_index"], r["expected_output"], r["output"]["raw"], r["inputs"],
             r["was_replayed"]) for r in rows]
