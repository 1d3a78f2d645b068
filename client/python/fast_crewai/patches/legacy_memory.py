"""LegacyMemoryPatcher: CrewAI's legacy memory storages (CrewAI 0.193 to 1.9.3) served by the
fast-crewai daemon.

ShortTermMemory and EntityMemory build a `RAGStorage` and LongTermMemory an `LTMSQLiteStorage`
(crew.py with memory=True, or user code; ContextualMemory only holds the memories), and reach
them only through the storage's methods. So the patch wraps, on the storage classes:

1. `RAGStorage.__init__`: CrewAI's __init__ runs unchanged; then, when the daemon is reachable,
   a DaemonRAGStore (fast_crewai.legacy.rag) is attached to the instance. Otherwise nothing is
   attached and the storage stays CrewAI's own for its whole life.
2. `RAGStorage.save/search/reset` and, where they exist (1.x), `asave/asearch`: go to the
   attached store; CrewAI's own method on the same object is the store's local side during an
   outage (fast_crewai.legacy.outage) and the whole answer when nothing is attached.
3. `LTMSQLiteStorage.__init__` and `save/load/reset` plus, on 1.x, `asave/aload/areset`: the
   same with a DaemonLTMStore (fast_crewai.legacy.ltm).

Subclasses of the two classes are left alone (they may rely on the local store). The embedder
is CrewAI's own (the storage's embedder_config); with none, or FAST_CREWAI_LEGACY_SEARCH=lexical,
the daemon's BM25 search answers. Targets whose method does not exist in the installed release
(the async ones on 0.x) are skipped, not failed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import wrapt

from fast_crewai.patches.base import Patcher, WrapMethod, Wrapper

_log = logging.getLogger(__name__)

_RAG_MODULE = "crewai.memory.storage.rag_storage"
_LTM_MODULE = "crewai.memory.storage.ltm_sqlite_storage"
STORE_ATTRIBUTE = "_fast_crewai_store"
# The releases with RAGStorage behind crewai.rag and LTMSQLiteStorage (docs/legacy.md).
LEGACY_CREWAI = "crewai >= 0.193, < 1.10"


class _NothingApplied:
    def revert(self) -> None:
        return None


@dataclass(frozen=True)
class OptionalWrapMethod(WrapMethod):
    """A WrapMethod that is skipped when the method does not exist in the installed release."""

    def apply(self, module: ModuleType, patcher: Patcher) -> Any:
        try:
            wrapt.resolve_path(module, self.path)
        except AttributeError:
            return _NothingApplied()
        return super().apply(module, patcher)


def _lexical_only(patcher: Patcher) -> bool:
    config = patcher.config
    if config is None:
        from fast_crewai.config import get_config

        config = get_config()
    return getattr(config, "legacy_search", "auto") == "lexical"


def _store_of(instance: Any) -> Any:
    try:
        return vars(instance).get(STORE_ATTRIBUTE)
    except TypeError:
        return None


def _bind(names: tuple[str, ...], args: tuple, kwargs: dict, defaults: dict) -> dict:
    bound = dict(defaults)
    bound.update(zip(names, args))
    bound.update(kwargs)
    return bound


# ---- RAGStorage ------------------------------------------------------------------------------


def _rag_init(patcher: Patcher) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        result = wrapped(*args, **kwargs)
        from crewai.memory.storage.rag_storage import RAGStorage

        if type(instance) is not RAGStorage:
            return result
        from fast_crewai.legacy import _link

        if not _link.daemon_available():
            return result
        try:
            from fast_crewai.legacy.rag import DaemonRAGStore

            store = DaemonRAGStore(instance, lexical_only=_lexical_only(patcher))
        except Exception as e:  # noqa: BLE001 - CrewAI's own storage serves instead
            _log.warning("fast-crewai: %s memory stays in CrewAI's storage: %s: %s",
                         getattr(instance, "type", "?"), type(e).__name__, e)
            return result
        vars(instance)[STORE_ATTRIBUTE] = store
        return result

    return wrapper


_SAVE = ("value", "metadata")
_SAVE_DEFAULTS = {"metadata": None}
_SEARCH = ("query", "limit", "filter", "score_threshold")
_SEARCH_DEFAULTS = {"limit": 5, "filter": None, "score_threshold": 0.6}


def _run_local(coroutine_function: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """CrewAI's async method as the local side of a store call made in a worker thread."""
    return asyncio.run(coroutine_function(*args, **kwargs))


def _delegate(method: str, names: tuple[str, ...] = (), defaults: dict | None = None, *,
              is_async: bool = False) -> Callable[[Patcher], Wrapper]:
    """A wrapper that hands CrewAI's `method(names...)` to the daemon store attached by the
    __init__ patch, with CrewAI's own method as the store's `local` side (used while the daemon
    is away). Objects without a store (daemon unreachable at construction) keep CrewAI's
    method. The async variants run the store call in a worker thread, as CrewAI's do."""
    defaults = defaults or {}

    def factory(patcher: Patcher) -> Wrapper:
        del patcher

        def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple,
                    kwargs: dict) -> Any:
            store = _store_of(instance)
            if store is None:
                return wrapped(*args, **kwargs)
            bound = _bind(names, args, kwargs, defaults)
            values = [bound[name] for name in names]
            call = getattr(store, method)
            if not is_async:
                return call(*values, local=lambda: wrapped(*args, **kwargs))
            return asyncio.to_thread(call, *values,
                                     local=lambda: _run_local(wrapped, args, kwargs))

        return wrapper

    return factory


# ---- LTMSQLiteStorage ------------------------------------------------------------------------


def _ltm_init(patcher: Patcher) -> Wrapper:
    del patcher

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        result = wrapped(*args, **kwargs)
        from crewai.memory.storage.ltm_sqlite_storage import LTMSQLiteStorage

        if type(instance) is not LTMSQLiteStorage:
            return result
        from fast_crewai.legacy import _link

        if not _link.daemon_available():
            return result
        try:
            from fast_crewai.legacy.ltm import DaemonLTMStore

            store = DaemonLTMStore(str(instance.db_path))
        except Exception as e:  # noqa: BLE001 - CrewAI's own storage serves instead
            _log.warning("fast-crewai: long-term memory stays in CrewAI's storage: %s: %s",
                         type(e).__name__, e)
            return result
        vars(instance)[STORE_ATTRIBUTE] = store
        return result

    return wrapper


_LTM_SAVE = ("task_description", "metadata", "datetime", "score")
_LTM_LOAD = ("task_description", "latest_n")
_LTM_LOAD_DEFAULTS = {"latest_n": 3}


class LegacyMemoryPatcher(Patcher):
    """Routes the legacy RAGStorage and LTMSQLiteStorage to the daemon (module docstring)."""

    area = "memory"
    name = "legacy_memory"
    instruments = (LEGACY_CREWAI,)
    targets = (
        WrapMethod(_RAG_MODULE, "RAGStorage.__init__", _rag_init),
        WrapMethod(_RAG_MODULE, "RAGStorage.save", _delegate("save", _SAVE, _SAVE_DEFAULTS)),
        WrapMethod(_RAG_MODULE, "RAGStorage.search",
                   _delegate("search", _SEARCH, _SEARCH_DEFAULTS)),
        WrapMethod(_RAG_MODULE, "RAGStorage.reset", _delegate("reset")),
        OptionalWrapMethod(_RAG_MODULE, "RAGStorage.asave",
                           _delegate("save", _SAVE, _SAVE_DEFAULTS, is_async=True)),
        OptionalWrapMethod(_RAG_MODULE, "RAGStorage.asearch",
                           _delegate("search", _SEARCH, _SEARCH_DEFAULTS, is_async=True)),
        WrapMethod(_LTM_MODULE, "LTMSQLiteStorage.__init__", _ltm_init),
        WrapMethod(_LTM_MODULE, "LTMSQLiteStorage.save", _delegate("save", _LTM_SAVE)),
        WrapMethod(_LTM_MODULE, "LTMSQLiteStorage.load",
                   _delegate("load", _LTM_LOAD, _LTM_LOAD_DEFAULTS)),
        WrapMethod(_LTM_MODULE, "LTMSQLiteStorage.reset", _delegate("reset")),
        OptionalWrapMethod(_LTM_MODULE, "LTMSQLiteStorage.asave",
                           _delegate("save", _LTM_SAVE, is_async=True)),
        OptionalWrapMethod(_LTM_MODULE, "LTMSQLiteStorage.aload",
                           _delegate("load", _LTM_LOAD, _LTM_LOAD_DEFAULTS, is_async=True)),
        OptionalWrapMethod(_LTM_MODULE, "LTMSQLiteStorage.areset",
                           _delegate("reset", is_async=True)),
    )
