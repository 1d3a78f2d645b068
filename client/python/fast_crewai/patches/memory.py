"""MemoryPatcher: CrewAI's unified Memory stores its records in the fast-crewai daemon.

Two targets, applied in this order and reverted in reverse:

1. `crewai.memory.storage.factory.set_memory_storage_factory(factory)` (CrewAI >= 1.14.7): every
   `Memory(storage="<spec>")` asks the factory first. "lancedb" (the default) and directory specs
   get a DaemonStorage whose namespace is the resolved LanceDB directory, so all processes using
   one directory share one store; "qdrant-edge" and an unreachable daemon get None, i.e. CrewAI's
   own backend. A factory registered before us is asked first and wins when it returns a
   backend; on uninstrument the previous factory is restored (unless someone replaced ours).

2. `LanceDBStorage.__init__`, wrapped on the class object, so code that constructs the class
   directly is covered too (the `crewai memory` TUI, user code, and modules that did
   `from crewai.memory.storage.lancedb_storage import LanceDBStorage` before patching, since the
   class object itself changes). When the daemon can serve the store, the new instance's
   `__class__` becomes `DaemonLanceDBStorage(DaemonStorage, LanceDBStorage)` and
   DaemonStorage.__init__ runs with the same arguments instead of LanceDB's: `isinstance(x,
   LanceDBStorage)` stays true, every public method is the daemon's, and no LanceDB directory is
   opened. Otherwise the original __init__ runs unchanged. Subclasses of LanceDBStorage are left
   alone (they may rely on its internals). We wrap __init__ rather than __new__ because
   assigning `__new__` on a class that inherits object.__new__ cannot be undone in CPython
   (after deleting it, `LanceDBStorage(path=...)` raises "object.__new__() takes exactly one
   argument"); an `__init__` wrapper unwraps cleanly.

Storages already handed out stay daemon-backed after uninstrument (their records live there).
"""

from __future__ import annotations

from typing import Any, Callable

from fast_crewai.patches.base import Patcher, SetHook, WrapMethod, Wrapper

_FACTORY_MODULE = "crewai.memory.storage.factory"
_LANCEDB_MODULE = "crewai.memory.storage.lancedb_storage"


def _storage_factory(patcher: Patcher, previous: Any) -> Callable[[str], Any]:
    del patcher

    def factory(spec: str) -> Any:
        if previous is not None:
            chosen = previous(spec)
            if chosen is not None:
                return chosen
        from fast_crewai.memory.factory import storage_for_spec

        return storage_for_spec(spec)

    return factory


def _lancedb_init(patcher: Patcher) -> Wrapper:
    del patcher

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        from crewai.memory.storage.lancedb_storage import LanceDBStorage

        if type(instance) is LanceDBStorage:
            from fast_crewai.memory.factory import convert_lancedb_instance

            if convert_lancedb_instance(instance, args, kwargs):
                return None
        return wrapped(*args, **kwargs)

    return wrapper


class MemoryPatcher(Patcher):
    """Routes CrewAI's memory storage to the daemon (see the module docstring)."""

    area = "memory"
    name = "memory_storage"
    instruments = ("crewai >= 1.14.7, < 2",)
    targets = (
        SetHook(_FACTORY_MODULE, "set_memory_storage_factory", "_factory", _storage_factory),
        WrapMethod(_LANCEDB_MODULE, "LanceDBStorage.__init__", _lancedb_init),
    )
