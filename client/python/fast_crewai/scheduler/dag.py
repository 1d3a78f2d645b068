"""The dependency graph of a crew's tasks in DAG mode, and the bookkeeping that runs it.

`plan(crew, tasks, ...)` decides whether a kickoff may run in DAG mode and, if so, returns the
graph; otherwise the reason it may not (the caller then runs CrewAI's own `_execute_tasks`).
The edges follow CrewAI's rules (docs/scheduler.md, "DAG mode"):

* an explicit `context=[...]` list: the task depends on those tasks; `context=None`/`[]`: on
  nothing (CrewAI gives it an empty context);
* the default context (NOT_SPECIFIED): a sync task depends on every earlier task (it reads all
  their outputs); an async task depends on every task before its contiguous run of async tasks
  (that is when CrewAI starts it, and it gets CrewAI's empty context);
* a ConditionalTask is a barrier: it depends on every earlier task, every later task depends
  on it (its condition reads the previous output, and CrewAI's order around it is kept);
* tasks of one agent run one at a time, in task order (`Agent.agent_executor` is one reused
  object; the order also keeps each agent's history as CrewAI builds them).

Crews with memory (crew or agent) keep CrewAI's order: a task's recall reads what every earlier
task saved, which only the sequential order reproduces.

Every edge points from a lower to a higher task index, so the graph is acyclic.

`DagState` is the pure part of the execution: which tasks are ready, which finished, which
prefix of the task list can be committed (replay log, output file) in task order. It has no
threads and no CrewAI import; the drivers in crew_dag.py use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

__all__ = ["DagState", "TaskGraph", "plan"]


@dataclass(frozen=True)
class TaskGraph:
    """`deps[i]`: the task indices task i waits for (all lower than i)."""

    deps: tuple[frozenset[int], ...]
    conditional: frozenset[int] = frozenset()

    def __len__(self) -> int:
        return len(self.deps)

    def dependents(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.deps]
        for i, deps in enumerate(self.deps):
            for d in deps:
                out[d].append(i)
        return out

    def critical_path(self, durations: Sequence[float]) -> float:
        """The longest chain of `durations` along the edges (the DAG's lower bound)."""
        finish: list[float] = []
        for i, deps in enumerate(self.deps):
            finish.append(max((finish[d] for d in deps), default=0.0) + durations[i])
        return max(finish, default=0.0)


def _is_not_specified(value: Any) -> bool:
    from crewai.utilities.constants import NOT_SPECIFIED

    return value is NOT_SPECIFIED


def plan(crew: Any, tasks: Sequence[Any], start_index: int | None,
         was_replayed: bool) -> TaskGraph | str:
    """The graph for this `_execute_tasks` call, or why CrewAI's own order must be kept."""
    from crewai.process import Process
    from crewai.tasks.conditional_task import ConditionalTask

    if crew.process != Process.sequential:
        return f"process is {getattr(crew.process, 'value', crew.process)}"
    if was_replayed or start_index not in (0, None):
        return "replay"
    if crew._get_execution_start_index(tasks) is not None:
        return "resumed from a checkpoint"
    if [id(t) for t in tasks] != [id(t) for t in crew.tasks] or len(tasks) < 2:
        return "not the crew's own task list" if len(tasks) >= 2 else "fewer than 2 tasks"
    if getattr(crew, "_memory", None) is not None or (
            crew.memory not in (None, False)):
        # Recall reads what earlier tasks saved: only CrewAI's order gives the same prompts.
        return "crew memory"
    position = {id(t): i for i, t in enumerate(tasks)}
    if len(position) != len(tasks):
        return "a task appears twice"
    deps: list[frozenset[int]] = []
    conditional: set[int] = set()
    last_of_agent: dict[int, int] = {}
    run_start = 0  # first index of the current contiguous run of async tasks
    for j, task in enumerate(tasks):
        agent = task.agent
        if agent is None:
            return f"task {j} has no agent"
        if getattr(agent, "memory", None) not in (None, False):
            return f"task {j}'s agent has memory"
        if getattr(task, "human_input", False):
            return f"task {j} asks for human input"
        if getattr(getattr(agent, "llm", None), "stream", False) is True:
            return "streaming"
        if not task.async_execution:
            run_start = j + 1
        elif j == 0 or not tasks[j - 1].async_execution:
            run_start = j
        d: set[int] = set()
        context = task.context
        if isinstance(task, ConditionalTask):
            d.update(range(j))
            conditional.add(j)
        elif _is_not_specified(context):
            d.update(range(run_start if task.async_execution else j))
        elif context:
            for c in context:
                i = position.get(id(c))
                if i is None or i >= j:
                    return f"task {j} has a context task outside the earlier tasks"
                d.add(i)
        d.update(c for c in conditional if c < j)
        previous = last_of_agent.get(id(agent))
        if previous is not None:
            d.add(previous)
        last_of_agent[id(agent)] = j
        deps.append(frozenset(d))
    return TaskGraph(tuple(deps), frozenset(conditional))


@dataclass
class DagState:
    """Progress of one DAG execution. Not thread-safe: one coordinator owns it.

    Protocol: `take_ready()` → start those; `finished(i, output)` or `failed(i, error)` for
    each; `commit_ready()` → indices to commit now, in order; done when `running` is empty and
    nothing is ready (`done`).
    """

    graph: TaskGraph
    outputs: list[Any] = field(init=False)
    errors: dict[int, BaseException] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)
    committed: int = 0
    _waiting: list[set[int]] = field(init=False)
    _dependents: list[list[int]] = field(init=False)
    _ready: set[int] = field(init=False)
    _started: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.outputs = [None] * len(self.graph)
        self._waiting = [set(d) for d in self.graph.deps]
        self._dependents = self.graph.dependents()
        self._ready = {i for i, w in enumerate(self._waiting) if not w}

    @property
    def failed_first(self) -> int | None:
        return min(self.errors) if self.errors else None

    def take_ready(self) -> list[int]:
        """Ready tasks in index order, marked running; none once a task failed."""
        if self.errors:
            return []
        ready = sorted(self._ready)
        self._ready.clear()
        self.running.update(ready)
        self._started.update(ready)
        return ready

    def finished(self, index: int, output: Any) -> None:
        self.running.discard(index)
        self.outputs[index] = output
        for j in self._dependents[index]:
            waiting = self._waiting[j]
            waiting.discard(index)
            if not waiting and j not in self._started:
                self._ready.add(j)

    def failed(self, index: int, error: BaseException) -> None:
        self.running.discard(index)
        self.errors[index] = error

    def commit_ready(self) -> list[int]:
        """The indices that can be committed now: the next ones in task order whose output is
        in (never past a failed or unfinished task)."""
        out = []
        while self.committed < len(self.outputs) and self.outputs[self.committed] is not None:
            out.append(self.committed)
            self.committed += 1
        return out

    @property
    def done(self) -> bool:
        return not self.running and (bool(self.errors) or not self._ready)
