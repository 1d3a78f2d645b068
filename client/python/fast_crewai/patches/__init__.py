"""The registry of area patchers, in the order they are applied and reported.

Each entry names an area (memory, cache, database, tasks), a patch name and where the Patcher
class lives, as "module:Class" so that nothing is imported until acceleration is enabled (a
patcher module must not import CrewAI at import time; its targets are applied through post-import
hooks). `None` marks a patch that does not exist yet; it is reported as
"not implemented in fast-crewai <version>".

Adding a real patcher is one line: replace the `None` of its entry, e.g.

    PatcherSpec("memory", "memory_storage", "fast_crewai.patches.memory:MemoryPatcher"),

Tests may `register()` extra patchers (a class or a "module:Class" string) and `unregister()`
them afterwards.
"""

from __future__ import annotations

import importlib
import sys
import threading
from dataclasses import dataclass
from typing import Union

from fast_crewai._version import __version__
from fast_crewai.config import AREAS
from fast_crewai.patches.base import (
    SUPPORTED_CREWAI,
    PatchResult,
    Patcher,
    SetHook,
    Target,
    WrapFunction,
    WrapMethod,
    rebind,
    unwrap,
)

__all__ = [
    "NOT_IMPLEMENTED",
    "SUPPORTED_CREWAI",
    "PatchResult",
    "Patcher",
    "PatcherSpec",
    "SetHook",
    "Target",
    "WrapFunction",
    "WrapMethod",
    "load_patcher",
    "rebind",
    "register",
    "registered",
    "unregister",
    "unwrap",
]

NOT_IMPLEMENTED = f"not implemented in fast-crewai {__version__}"

PatcherRef = Union[str, "type[Patcher]", None]


@dataclass(frozen=True)
class PatcherSpec:
    """One registry entry: `patcher` is "module:Class", a Patcher subclass, or None."""

    area: str
    name: str
    patcher: PatcherRef

    @property
    def key(self) -> tuple[str, str]:
        return (self.area, self.name)


_DEFAULT: tuple[PatcherSpec, ...] = (
    PatcherSpec("memory", "memory_storage", "fast_crewai.patches.memory:MemoryPatcher"),
    PatcherSpec("memory", "legacy_memory", "fast_crewai.patches.legacy_memory:LegacyMemoryPatcher"),
    PatcherSpec("cache", "tool_cache", "fast_crewai.patches.cache:CachePatcher"),
    PatcherSpec("database", "task_outputs", "fast_crewai.patches.persistence:PersistencePatcher"),
    PatcherSpec("tasks", "task_scheduler", "fast_crewai.patches.tasks:TasksPatcher"),
)

_lock = threading.Lock()
_registry: list[PatcherSpec] = list(_DEFAULT)


def registered() -> tuple[PatcherSpec, ...]:
    """The current entries, in application order."""
    with _lock:
        return tuple(_registry)


def register(spec: PatcherSpec) -> None:
    """Adds `spec`, or replaces the entry with the same (area, name) in place."""
    if spec.area not in AREAS:
        raise ValueError(f"unknown area {spec.area!r}; expected one of {', '.join(AREAS)}")
    with _lock:
        for i, existing in enumerate(_registry):
            if existing.key == spec.key:
                _registry[i] = spec
                return
        _registry.append(spec)


def unregister(area: str, name: str) -> None:
    """Removes the entry (area, name); restores the built-in entry of that key if there is one."""
    with _lock:
        _registry[:] = [s for s in _registry if s.key != (area, name)]
        for default in _DEFAULT:
            if default.key == (area, name):
                _registry.insert(_DEFAULT.index(default), default)


def load_patcher(spec: PatcherSpec, *, import_module: bool = True) -> Patcher | None:
    """The Patcher singleton of `spec`; None if unimplemented, or if `import_module` is False
    and the patcher's module was never imported (so it cannot have been instrumented).

    Raises ImportError/AttributeError/TypeError when the reference is broken.
    """
    ref = spec.patcher
    if ref is None:
        return None
    if isinstance(ref, str):
        module_name, _, class_name = ref.partition(":")
        if not import_module and module_name not in sys.modules:
            return None
        cls = getattr(importlib.import_module(module_name), class_name)
    else:
        cls = ref
    if not (isinstance(cls, type) and issubclass(cls, Patcher)):
        raise TypeError(f"{ref!r} is not a Patcher subclass")
    return cls()
