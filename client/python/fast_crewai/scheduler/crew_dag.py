"""Runs a crew's tasks along their dependency graph (DAG mode), in-process.

`execute(crew, tasks, graph)` stands in for `Crew._execute_tasks` and `aexecute(...)` for
`Crew._aexecute_tasks` once `dag.plan` accepted the kickoff. Each task runs, as soon as the
tasks it depends on are done, through the method CrewAI's own loop calls for it: in `kickoff`,
`Task.execute_sync` (in a worker thread, with a copy of the caller's contextvars, as CrewAI's
`execute_async` does), or `Task.execute_async` for an `async_execution` task, whose future the
worker thread then waits on; in `akickoff`, `Task.aexecute_sync` (an asyncio task). What CrewAI
produces is kept:

* the context string of each task is CrewAI's `Crew._get_context` over the same outputs (async
  tasks with the default context get CrewAI's empty context);
* ConditionalTasks are decided by CrewAI's `check_conditional_skip` on the previous output;
* `_process_task_result` and `_store_execution_log` (output log file, replay log) run in task
  order, from the coordinating thread, as each prefix of the task list completes, and before
  the tasks that a completion made ready start;
* `tasks_output` is in task order and the final output is CrewAI's `_create_crew_output`;
* events and callbacks are CrewAI's, emitted by the tasks themselves.

When a task raises, no new task starts; the ones running finish; the error of the lowest
failed task index is raised, after the tasks before it were committed, as CrewAI would have.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from fast_crewai.scheduler.dag import DagState, TaskGraph

__all__ = ["aexecute", "execute"]

_log = logging.getLogger(__name__)

# Observers for tests and the run recorder: called as hook(event, index, error) with event in
# ("start", "finish", "fail") and error the failure's text ("" otherwise), from the
# coordinating thread. A hook must not block.
Hook = Callable[[str, int, str], None]


class _Coordinator:
    """The CrewAI-facing half shared by the thread and asyncio drivers."""

    def __init__(self, crew: Any, tasks: Sequence[Any], graph: TaskGraph,
                 hook: Hook | None) -> None:
        self.crew = crew
        self.tasks = list(tasks)
        self.state = DagState(graph)
        self.hook = hook
        self.prelogged: set[int] = set()  # skipped conditional tasks: CrewAI logged them

    def _notify(self, event: str, index: int) -> None:
        if self.hook is not None:
            error = self.state.errors.get(index) if event == "fail" else None
            text = f"{type(error).__name__}: {error}" if error is not None else ""
            try:
                self.hook(event, index, text)
            except Exception:  # noqa: BLE001 - an observer never changes the run
                _log.debug("fast-crewai: DAG hook failed", exc_info=True)

    def prepare(self, index: int) -> tuple[Any, str, list[Any]] | None:
        """CrewAI's per-task preparation. Returns (agent, context, tools) to run, or None when
        the task is settled here (a skipped ConditionalTask: its output is recorded as
        finished). Raises what CrewAI raises."""
        from crewai.crews.utils import prepare_task_execution
        from crewai.tasks.conditional_task import ConditionalTask

        crew, task = self.crew, self.tasks[index]
        exec_data, _, _ = prepare_task_execution(crew, task, index, 0, [], None)
        earlier = self.state.outputs[:index]
        if isinstance(task, ConditionalTask):
            # Every earlier task is done and committed (the graph makes it a barrier).
            skipped = crew._handle_conditional_task(task, list(earlier), [], index, False)
            if skipped:
                self.prelogged.add(index)
                self.state.finished(index, skipped)
                self._notify("finish", index)
                return None
        if task.async_execution:
            context = crew._get_context(task, [])
        else:
            context = crew._get_context(task, list(earlier))
        return exec_data.agent, context, exec_data.tools

    def commit(self) -> None:
        for index in self.state.commit_ready():
            if index in self.prelogged:
                continue
            task, output = self.tasks[index], self.state.outputs[index]
            self.crew._process_task_result(task, output)
            self.crew._store_execution_log(task, output, index, False)

    def result(self) -> Any:
        first = self.state.failed_first
        if first is not None:
            raise self.state.errors[first]
        return self.crew._create_crew_output(list(self.state.outputs))


def execute(crew: Any, tasks: Sequence[Any], graph: TaskGraph, *,
            hook: Hook | None = None) -> Any:
    """Crew._execute_tasks along `graph`; returns the CrewOutput (see the module docstring)."""
    co = _Coordinator(crew, tasks, graph, hook)
    done: queue.SimpleQueue[tuple[int, Any, BaseException | None]] = queue.SimpleQueue()
    max_workers = max(1, len(co.tasks))
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fast-crewai-dag")

    def run(index: int, agent: Any, context: str, tools: list[Any]) -> None:
        task = co.tasks[index]
        try:
            if task.async_execution:
                future = task.execute_async(agent=agent, context=context, tools=tools)
                output = future.result()
            else:
                output = task.execute_sync(agent=agent, context=context, tools=tools)
        except BaseException as e:  # noqa: BLE001 - handed to the coordinator, re-raised there
            done.put((index, None, e))
        else:
            done.put((index, output, None))

    try:
        while True:
            # What finished is committed (its "completed" log line, its replay row) before the
            # tasks it made ready start (their "started" line), as in CrewAI's loop.
            co.commit()
            for index in co.state.take_ready():
                try:
                    prepared = co.prepare(index)
                except Exception as e:  # noqa: BLE001 - CrewAI raises it at this task
                    co.state.failed(index, e)
                    co._notify("fail", index)
                    continue
                if prepared is None:
                    continue
                co._notify("start", index)
                ctx = contextvars.copy_context()
                pool.submit(ctx.run, run, index, *prepared)
            if co.state.done:
                break  # the commit after the loop logs what is left
            if not co.state.running:
                continue  # a skipped task made others ready (committed at the top)
            index, output, error = done.get()
            if error is not None:
                co.state.failed(index, error)
                co._notify("fail", index)
            else:
                co.state.finished(index, output)
                co._notify("finish", index)
    finally:
        pool.shutdown(wait=True)
    co.commit()
    return co.result()


async def aexecute(crew: Any, tasks: Sequence[Any], graph: TaskGraph, *,
                   hook: Hook | None = None) -> Any:
    """Crew._aexecute_tasks along `graph` (asyncio tasks over Task.aexecute_sync)."""
    co = _Coordinator(crew, tasks, graph, hook)
    pending: dict[asyncio.Task[Any], int] = {}
    try:
        while True:
            co.commit()  # before what it made ready starts (execute)
            for index in co.state.take_ready():
                try:
                    prepared = co.prepare(index)
                except Exception as e:  # noqa: BLE001
                    co.state.failed(index, e)
                    co._notify("fail", index)
                    continue
                if prepared is None:
                    continue
                agent, context, tools = prepared
                co._notify("start", index)
                job = asyncio.ensure_future(co.tasks[index].aexecute_sync(
                    agent=agent, context=context, tools=tools))
                pending[job] = index
            if co.state.done:
                break  # the commit after the loop logs what is left
            if not pending:
                continue
            finished, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for job in sorted(finished, key=pending.__getitem__):
                index = pending.pop(job)
                error = job.exception()
                if error is not None:
                    co.state.failed(index, error)
                    co._notify("fail", index)
                else:
                    co.state.finished(index, job.result())
                    co._notify("finish", index)
    finally:
        if pending:
            await asyncio.wait(pending)
    co.commit()
    return co.result()
