"""CrewAI's unified-memory storage served by the fast-crewai daemon.

Public API (imported lazily: importing fast_crewai.memory does not import CrewAI):

* `DaemonStorage(path=None, table_name="memories", vector_dim=None, compact_every=100, *,
  namespace=None, timeout=None, require_daemon=False)`: a CrewAI StorageBackend whose records
  live in the daemon namespace of the LanceDB directory `path` (daemon_storage.py).
* `open_storage(path=None, table_name="memories")`: a DaemonStorage, or None when the daemon
  cannot serve it now (factory.py).
* `storage_for_spec(spec)`: what fast-crewai's `set_memory_storage_factory` hook returns for a
  `Memory(storage=spec)` string.
* `namespace_for_path(path, table_name="memories")`: the daemon namespace of a store.

Module map: conversions (the one MemoryRecord <-> proto mapping), remote (calls and error
translation), journal (the durable outage journal), outage (per-namespace outage state: journal,
local fallback store, replay), namespace (paths), _link (the only coupling to
fast_crewai.client), daemon_storage, factory.

Example:

    from fast_crewai.memory import DaemonStorage
    from crewai import Memory

    memory = Memory(storage=DaemonStorage("/srv/app/memory"))
"""

from __future__ import annotations

from typing import Any

__all__ = ["DaemonStorage", "namespace_for_path", "open_storage", "storage_for_spec"]

_EXPORTS = {
    "DaemonStorage": "fast_crewai.memory.daemon_storage",
    "open_storage": "fast_crewai.memory.factory",
    "storage_for_spec": "fast_crewai.memory.factory",
    "namespace_for_path": "fast_crewai.memory.namespace",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fast_crewai.memory' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
