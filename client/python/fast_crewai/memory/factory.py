"""Turning CrewAI's memory storage requests into daemon-backed stores.

* `open_storage(path, table_name)`: a DaemonStorage for the LanceDB store at `path`, or None
  when the daemon cannot serve it right now (unreachable, no memory service, token refused,
  namespace rejected). None always means "let CrewAI use its own LanceDBStorage".
* `storage_for_spec(spec)`: the body of the factory registered with CrewAI's
  `set_memory_storage_factory`: "lancedb" -> the default store, "qdrant-edge" -> None (CrewAI's
  Qdrant Edge backend is left alone), any other string -> the store at that directory, exactly
  as `Memory.model_post_init` reads the spec.
* `lancedb_compatible_class(LanceDBStorage)`: the subclass of both DaemonStorage and CrewAI's
  LanceDBStorage that a directly constructed `LanceDBStorage(...)` is turned into (see
  fast_crewai.patches.memory), so `isinstance(x, LanceDBStorage)` still holds.

Thread-safety: every function may be called from any thread.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from fast_crewai import errors
from fast_crewai.memory import _link
from fast_crewai.memory.daemon_storage import DaemonStorage
from fast_crewai.memory.namespace import DEFAULT_TABLE

_logger = logging.getLogger(__name__)

QDRANT_EDGE_SPEC = "qdrant-edge"
DEFAULT_SPEC = "lancedb"


def open_storage(
    path: str | Path | None = None,
    table_name: str = DEFAULT_TABLE,
    vector_dim: int | None = None,
) -> DaemonStorage | None:
    """A DaemonStorage standing for LanceDBStorage(path, table_name), or None when the daemon
    cannot serve it now. Never raises for daemon trouble."""
    if not _link.daemon_available(fresh=True):
        return None
    try:
        return DaemonStorage(path, table_name, vector_dim, require_daemon=True)
    except errors.DaemonUnavailable:
        return None
    except errors.RpcError as e:
        _logger.warning(
            "fast-crewai: the daemon cannot serve memory at %s (%s); using CrewAI's LanceDB "
            "storage",
            path or "the default path",
            e,
        )
        return None
    except ValueError as e:  # InvalidMemoryRequest: e.g. a namespace the daemon refuses
        _logger.warning(
            "fast-crewai: the daemon refused the memory store at %s (%s); using CrewAI's "
            "LanceDB storage",
            path or "the default path",
            e,
        )
        return None


def storage_for_spec(spec: str) -> DaemonStorage | None:
    """What the registered CrewAI memory storage factory returns for a `storage=` string."""
    if spec == QDRANT_EDGE_SPEC:
        return None
    return open_storage(None if spec == DEFAULT_SPEC else spec)


_compat_lock = threading.Lock()
_compat_classes: dict[type, type] = {}


def lancedb_compatible_class(lancedb_class: type) -> type:
    """`class DaemonLanceDBStorage(DaemonStorage, lancedb_class)`, created once per class.

    DaemonStorage comes first in the MRO, so every public LanceDBStorage method is the daemon's;
    LanceDBStorage's private helpers are reachable but meaningless (there is no local table).
    """
    with _compat_lock:
        cls = _compat_classes.get(lancedb_class)
        if cls is None:
            cls = type(
                "DaemonLanceDBStorage",
                (DaemonStorage, lancedb_class),
                {
                    "__module__": __name__,
                    "__doc__": "A LanceDBStorage whose records live in the fast-crewai daemon.",
                },
            )
            _compat_classes[lancedb_class] = cls
        return cls


def convert_lancedb_instance(instance: Any, args: tuple, kwargs: dict) -> bool:
    """Turns a LanceDBStorage being initialised with (args, kwargs) into a daemon-backed one.

    Returns True when `instance` is now a DaemonLanceDBStorage whose DaemonStorage.__init__ ran;
    False (instance untouched) when the daemon cannot serve it, in which case the caller runs
    LanceDBStorage.__init__ as usual.
    """
    if not _link.daemon_available(fresh=True):
        return False
    original_class = type(instance)
    instance.__class__ = lancedb_compatible_class(original_class)
    try:
        DaemonStorage.__init__(instance, *args, require_daemon=True, **kwargs)
    except BaseException as e:
        instance.__class__ = original_class
        instance.__dict__.clear()
        if isinstance(e, errors.DaemonUnavailable):
            return False
        if isinstance(e, (errors.RpcError, ValueError)):
            _logger.warning(
                "fast-crewai: the daemon cannot serve LanceDBStorage(*%r, **%r) (%s); using "
                "LanceDB",
                args,
                kwargs,
                e,
            )
            return False
        raise  # e.g. TypeError for arguments LanceDBStorage would refuse as well
    return True
