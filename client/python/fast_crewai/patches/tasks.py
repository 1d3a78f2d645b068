"""TasksPatcher: CrewAI's task execution through the fast-crewai scheduler.

Targets, applied in this order and reverted in reverse:

1. `Crew._execute_tasks(tasks, start_index=0, was_replayed=False)` (crewai.crew), which both
   `_run_sequential_process` and `_run_hierarchical_process` call, and `Crew.replay` with a
   start index. With FAST_CREWAI_TASKS=dag, a kickoff that `scheduler.dag.plan` accepts (a
   sequential crew, no replay or checkpoint resume, no human input, no streaming) runs along
   its task graph (scheduler/crew_dag.py); every other call runs CrewAI's own method.
2. `Crew._aexecute_tasks(...)`: the same for `akickoff` (asyncio tasks instead of threads).
3. `Crew.kickoff_for_each(inputs, input_files=None)`: with FAST_CREWAI_FAN_OUT=1, a crew built
   by a `fast_crewai.crew_factory` is fanned out to `fast-crewai worker` processes
   (scheduler/fanout.py) when the daemon is reachable; results come back in input order and
   `usage_metrics` is their sum, as CrewAI computes it. Streaming crews, `input_files`, other
   crews, or an unreachable daemon: CrewAI's own loop.
4. `RPMController.check_or_wait()` (crewai.utilities.rpm_controller), on the class so that
   controllers created before patching are reached too: with max_rpm set and the daemon
   reachable, one permit of the shared limit (scheduler/rate_limit.py); else CrewAI's own.

DAG mode needs no daemon: the graph runs in-process. When the daemon is reachable the
kickoff is also recorded there as a run (scheduler/recorder.py, from a background thread, never
waited for), so `fast-crewai runs` shows it.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Callable

from fast_crewai.patches.base import Patcher, WrapMethod, Wrapper

_log = logging.getLogger(__name__)

_CREW_MODULE = "crewai.crew"
_RPM_MODULE = "crewai.utilities.rpm_controller"


def _config(patcher: Patcher) -> Any:
    if patcher.config is not None:
        return patcher.config
    from fast_crewai.config import get_config

    return get_config()


def _bind_execute(args: tuple, kwargs: dict) -> tuple[Any, Any, bool]:
    bound = dict(zip(("tasks", "start_index", "was_replayed"), args), **kwargs)
    return bound.get("tasks"), bound.get("start_index", 0), bool(bound.get("was_replayed", False))


def _plan(patcher: Patcher, crew: Any, args: tuple, kwargs: dict) -> Any:
    """The TaskGraph when this call may run in DAG mode, else None."""
    if not _config(patcher).tasks_dag:
        return None
    from fast_crewai.scheduler import dag

    tasks, start_index, was_replayed = _bind_execute(args, kwargs)
    try:
        graph = dag.plan(crew, tasks, start_index, was_replayed)
    except Exception as e:  # noqa: BLE001 - never make CrewAI fail where it would succeed
        _log.debug("fast-crewai: DAG plan failed, CrewAI's order kept: %s", e)
        return None
    if isinstance(graph, str):
        _log.debug("fast-crewai: CrewAI's task order kept: %s", graph)
        return None
    return graph


def _recorder(crew: Any, tasks: Any, graph: Any) -> Any:
    """A RunRecorder for `fast-crewai runs` (background thread), or None if it cannot start."""
    try:
        from fast_crewai.scheduler.recorder import RunRecorder

        return RunRecorder(crew, tasks, graph)
    except Exception as e:  # noqa: BLE001 - recording is optional
        _log.debug("fast-crewai: DAG run not recorded: %s", e)
        return None


def _execute_tasks(patcher: Patcher) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        graph = _plan(patcher, instance, args, kwargs)
        if graph is None:
            return wrapped(*args, **kwargs)
        from fast_crewai.scheduler import crew_dag

        tasks = _bind_execute(args, kwargs)[0]
        recorder = _recorder(instance, tasks, graph)
        try:
            return crew_dag.execute(instance, tasks, graph,
                                    hook=recorder.hook if recorder else None)
        finally:
            if recorder is not None:
                recorder.close()

    return wrapper


def _aexecute_tasks(patcher: Patcher) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        graph = _plan(patcher, instance, args, kwargs)
        if graph is None:
            return wrapped(*args, **kwargs)
        from fast_crewai.scheduler import crew_dag

        async def run() -> Any:
            tasks = _bind_execute(args, kwargs)[0]
            recorder = _recorder(instance, tasks, graph)
            try:
                return await crew_dag.aexecute(instance, tasks, graph,
                                               hook=recorder.hook if recorder else None)
            finally:
                if recorder is not None:
                    recorder.close()

        return run()

    return wrapper


def _kickoff_for_each(patcher: Patcher) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        bound = dict(zip(("inputs", "input_files"), args), **kwargs)
        if (not _config(patcher).fan_out or bound.get("input_files")
                or getattr(instance, "stream", False) or set(bound) - {"inputs", "input_files"}):
            return wrapped(*args, **kwargs)
        from fast_crewai.scheduler import fanout

        reference = fanout.factory_of(instance)
        if reference is None:
            return wrapped(*args, **kwargs)
        from fast_crewai.scheduler.remote import SchedulerClient

        client = SchedulerClient()
        if not client.available():
            return wrapped(*args, **kwargs)
        from fast_crewai.errors import DaemonUnavailable, ResourceExhausted

        inputs = list(bound.get("inputs") or [])
        try:
            run = fanout.start_run(reference, inputs, client=client) if inputs else None
        except (DaemonUnavailable, ResourceExhausted, ValueError) as e:
            # Nothing was handed out (daemon gone, inputs JSON cannot carry, or over the
            # daemon's payload or node limits): CrewAI's loop.
            _log.debug("fast-crewai: kickoff_for_each stays in-process: %s", e)
            return wrapped(*args, **kwargs)
        if run is None:
            return wrapped(*args, **kwargs)
        results = fanout.collect(client, run, len(inputs))
        from crewai.types.usage_metrics import UsageMetrics

        total = UsageMetrics()
        for output in results:
            if output.token_usage:
                total.add_usage_metrics(output.token_usage)
        instance.usage_metrics = total
        instance._task_output_handler.reset()
        return results

    return wrapper


def _check_or_wait(patcher: Patcher) -> Wrapper:
    del patcher
    # CrewAI's own wait, as it is now: a controller whose class has another keeps that one.
    crewai_wait = vars(importlib.import_module(_RPM_MODULE).RPMController).get(
        "_wait_for_next_minute")

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        from fast_crewai.scheduler import rate_limit

        return rate_limit.check_or_wait(instance, lambda: wrapped(*args, **kwargs),
                                        crewai_wait=crewai_wait)

    return wrapper


class TasksPatcher(Patcher):
    """DAG mode, kickoff fan-out and shared rate limits (see the module docstring)."""

    area = "tasks"
    name = "task_scheduler"
    # Verified against 1.15.30 (_execute_tasks/_aexecute_tasks signatures, RPMController).
    instruments = ("crewai >= 1.15, < 2",)
    targets = (
        WrapMethod(_CREW_MODULE, "Crew._execute_tasks", _execute_tasks),
        WrapMethod(_CREW_MODULE, "Crew._aexecute_tasks", _aexecute_tasks),
        WrapMethod(_CREW_MODULE, "Crew.kickoff_for_each", _kickoff_for_each),
        WrapMethod(_RPM_MODULE, "RPMController.check_or_wait", _check_or_wait),
    )
