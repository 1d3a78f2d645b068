"""PersistencePatcher: CrewAI's SQLite persistence goes through the fast-crewai daemon.

Targets, applied in this order and reverted in reverse:

1. `TaskOutputStorageHandler.__init__` (crewai.utilities.task_output_storage_handler), wrapped
   on the class: when the daemon can serve, the handler's `storage` becomes a
   DaemonKickoffStorage (persistence/kickoff.py) instead of CrewAI's
   KickoffTaskOutputsSQLiteStorage; otherwise the original __init__ runs. Every Crew (and every
   copy made by kickoff_for_each) builds its own handler, so every kickoff gets its own log.
2. `TaskOutputStorageHandler.update(task_index, log)`: for a daemon storage, the same choice
   as CrewAI's (a replayed task updates its row by index, any other task adds one) without the
   full load() CrewAI's handler makes before every task only to check it is not None (the
   daemon storage never returns None). Other storages get the original method.
3. `Crew.replay(task_id, inputs=None)`: first points the crew's daemon storage at the kickoff
   that ran `task_id` (from any process), then runs CrewAI's replay unchanged.
4. `Crew.reset_memories(command_type)`: runs with `kickoff.hard_reset()` set, so the handler's
   delete_all() erases the project's kickoff logs instead of starting a new one.
5. `set_flow_persistence_factory` (crewai.flow.persistence.factory, CrewAI >= 1.14.7): flows
   without an explicit `persistence=` persist to the daemon (DaemonFlowPersistence); a factory
   registered before us is used instead when the daemon is unreachable.
6. `set_lock_backend` (crewai_core.lock_store): every `lock_store.lock(name, timeout=...)` holds
   a daemon lock (persistence/locks.py); the previous backend, else CrewAI's own file/Redis
   lock, when the daemon is unreachable.

Storages and flow persistences already handed out stay daemon-backed after uninstrument (their
data lives there); new ones are CrewAI's again.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from fast_crewai.patches.base import Patcher, SetHook, WrapMethod, Wrapper

_log = logging.getLogger(__name__)

_HANDLER_MODULE = "crewai.utilities.task_output_storage_handler"
_CREW_MODULE = "crewai.crew"
_FLOW_FACTORY_MODULE = "crewai.flow.persistence.factory"
_LOCK_MODULE = "crewai_core.lock_store"


def _handler_init(patcher: Patcher) -> Wrapper:
    del patcher

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        from fast_crewai.persistence import _link

        if not args and not kwargs and _link.daemon_available():
            try:
                from fast_crewai.persistence.kickoff import DaemonKickoffStorage

                instance.storage = DaemonKickoffStorage()
                return None
            except Exception as e:  # noqa: BLE001 - never break Crew construction
                _log.warning("fast-crewai: kickoff outputs stay local: %s: %s",
                             type(e).__name__, e)
        return wrapped(*args, **kwargs)

    return wrapper


def _handler_update(patcher: Patcher) -> Wrapper:
    del patcher

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        from fast_crewai.persistence.kickoff import DaemonKickoffStorage

        storage = getattr(instance, "storage", None)
        if not isinstance(storage, DaemonKickoffStorage):
            return wrapped(*args, **kwargs)
        bound = dict(zip(("task_index", "log"), args), **kwargs)
        task_index, log = bound["task_index"], bound["log"]
        if log.get("was_replayed", False):
            task = log["task"]
            storage.update(task_index, task_id=str(task.id), task_key=task.key,
                           expected_output=task.expected_output, output=log["output"],
                           was_replayed=log["was_replayed"], inputs=log["inputs"])
        else:
            storage.add(**log)
        return None

    return wrapper


def _daemon_storage_of(crew: Any) -> Any:
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage

    handler = getattr(crew, "_task_output_handler", None)
    storage = getattr(handler, "storage", None)
    return storage if isinstance(storage, DaemonKickoffStorage) else None


def _replay(patcher: Patcher) -> Wrapper:
    del patcher

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        task_id = kwargs.get("task_id", args[0] if args else None)
        storage = _daemon_storage_of(instance)
        if storage is not None and isinstance(task_id, str):
            storage.attach_task(task_id)
        return wrapped(*args, **kwargs)

    return wrapper


def _reset_memories(patcher: Patcher) -> Wrapper:
    del patcher

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        from fast_crewai.persistence.kickoff import hard_reset

        with hard_reset():
            return wrapped(*args, **kwargs)

    return wrapper


def _flow_factory(patcher: Patcher, previous: Any) -> Callable[[], Any]:
    del patcher
    from fast_crewai.persistence.flow import daemon_flow_persistence_class

    # Defined now, as CrewAI's flow persistence loads: defining it registers the class by name
    # in CrewAI's persistence registry, which is where a checkpoint naming
    # "DaemonFlowPersistence" is restored from, in a process that has not run a flow yet.
    daemon_flow_persistence_class()

    def factory() -> Any:
        from fast_crewai.persistence import _link

        if _link.daemon_available():
            from fast_crewai.persistence.flow import daemon_flow_persistence_class

            return daemon_flow_persistence_class()()
        if previous is not None:
            return previous()
        from fast_crewai.persistence.flow import default_flow_persistence

        return default_flow_persistence()

    return factory


def _default_flow_persistence() -> Any:
    from crewai.flow.persistence.sqlite import SQLiteFlowPersistence

    return SQLiteFlowPersistence()


def _lock_backend(patcher: Patcher, previous: Any) -> Callable[..., Any]:
    del patcher

    def backend(name: str, *, timeout: float = 120) -> Any:
        from fast_crewai.persistence.locks import daemon_lock

        return daemon_lock(name, timeout=timeout, fallback=previous)

    return backend


def _default_lock(name: str, *, timeout: float = 120) -> Any:
    from fast_crewai.persistence.locks import crewai_default_lock

    return crewai_default_lock(name, timeout=timeout)


class PersistencePatcher(Patcher):
    """Routes CrewAI's replay log, flow state and locks to the daemon (module docstring)."""

    area = "database"
    name = "task_outputs"
    instruments = ("crewai >= 1.14.7, < 2",)
    targets = (
        WrapMethod(_HANDLER_MODULE, "TaskOutputStorageHandler.__init__", _handler_init),
        WrapMethod(_HANDLER_MODULE, "TaskOutputStorageHandler.update", _handler_update),
        WrapMethod(_CREW_MODULE, "Crew.replay", _replay),
        WrapMethod(_CREW_MODULE, "Crew.reset_memories", _reset_memories),
        SetHook(_FLOW_FACTORY_MODULE, "set_flow_persistence_factory", "_factory", _flow_factory,
                fallback=_default_flow_persistence),
        SetHook(_LOCK_MODULE, "set_lock_backend", "_backend", _lock_backend,
                fallback=_default_lock),
    )
