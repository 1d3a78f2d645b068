"""DaemonFlowPersistence: CrewAI flow state and pending human feedback kept in the daemon.

A `FlowPersistence` (crewai.flow.persistence.base) whose state log lives in the daemon's
persistence.db, so a flow started (or paused for feedback) in one process can be resumed in
any other. Registered through `set_flow_persistence_factory` by the persistence patcher; the
factory returns one instance per call, all backed by the same daemon state (CrewAI calls it at
several sites per flow).

Serialisation is CrewAI's own (`SQLiteFlowPersistence._to_state_dict` and its JSON default
hook), so the stored JSON is exactly what SQLiteFlowPersistence would store. Semantics match
SQLiteFlowPersistence: `load_state` returns the latest state dict (None when there is none or
when it is not a dict); `save_pending_feedback` appends the state and stores the context in
one transaction; `load_pending_feedback` returns `(state, PendingFeedbackContext)` or None.

Fallback: when the daemon is unreachable (or refuses a value SQLite would take), writes go to
CrewAI's own SQLiteFlowPersistence file; reads ask the daemon first and fall back to that file
when the daemon does not have the flow, so state written during an outage is still found.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fast_crewai import errors
from fast_crewai.persistence import _link, conversions

__all__ = ["DaemonFlowPersistence", "daemon_flow_persistence_class", "default_flow_persistence"]

_log = logging.getLogger(__name__)

_class_lock = threading.Lock()
_class: type | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def daemon_flow_persistence_class() -> type:
    """The DaemonFlowPersistence class, defined on first use (it subclasses CrewAI's
    FlowPersistence, and importing fast_crewai must not import CrewAI)."""
    global _class
    with _class_lock:
        if _class is None:
            _class = _define_class()
        return _class


def __getattr__(name: str) -> Any:  # PEP 562: `from ... import DaemonFlowPersistence`
    if name == "DaemonFlowPersistence":
        return daemon_flow_persistence_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _define_class() -> type:
    from crewai.flow.persistence.base import FlowPersistence
    from crewai.flow.persistence.sqlite import SQLiteFlowPersistence, _json_default
    from pydantic import BaseModel, Field, PrivateAttr

    class DaemonFlowPersistence(FlowPersistence):
        """FlowPersistence backed by the daemon (see the module docstring).

        `local_db_path` is the SQLite file used while the daemon is unreachable (default:
        the one SQLiteFlowPersistence uses).
        """

        persistence_type: str = Field(default="DaemonFlowPersistence")
        local_db_path: str | None = Field(default=None)
        _local_store: Any = PrivateAttr(default=None)

        def init_db(self) -> None:
            """Nothing to do: the daemon owns the schema."""

        # ---- state log ----------------------------------------------------------------

        def save_state(self, flow_uuid: str, method_name: str,
                       state_data: dict[str, Any] | BaseModel) -> None:
            state_dict = SQLiteFlowPersistence._to_state_dict(state_data)
            request = conversions.save_flow_state(
                flow_uuid, method_name, json.dumps(state_dict, default=_json_default), _now())
            if self._remote("SaveFlowState", request) is None:
                self._local().save_state(flow_uuid, method_name, state_dict)

        def load_state(self, flow_uuid: str) -> dict[str, Any] | None:
            response = self._remote("LoadFlowState", conversions.load_flow_state(flow_uuid))
            if response is not None and response.found:
                result = json.loads(response.state_json)
                return result if isinstance(result, dict) else None
            local = self._local_if_exists()
            return local.load_state(flow_uuid) if local is not None else None

        # ---- pending feedback ---------------------------------------------------------

        def save_pending_feedback(self, flow_uuid: str, context: Any,
                                  state_data: dict[str, Any] | BaseModel) -> None:
            state_dict = SQLiteFlowPersistence._to_state_dict(state_data)
            request = conversions.save_pending_feedback(
                flow_uuid, context.method_name,
                json.dumps(context.to_dict(), default=_json_default),
                json.dumps(state_dict, default=_json_default), _now())
            if self._remote("SavePendingFeedback", request) is None:
                self._local().save_pending_feedback(flow_uuid, context, state_dict)

        def load_pending_feedback(self, flow_uuid: str) -> tuple[dict[str, Any], Any] | None:
            from crewai.flow.async_feedback.types import PendingFeedbackContext

            response = self._remote("LoadPendingFeedback",
                                    conversions.load_pending_feedback(flow_uuid))
            if response is not None and response.found:
                state = json.loads(response.state_json)
                context = PendingFeedbackContext.from_dict(json.loads(response.context_json))
                return (state, context)
            local = self._local_if_exists()
            return local.load_pending_feedback(flow_uuid) if local is not None else None

        def clear_pending_feedback(self, flow_uuid: str) -> None:
            self._remote("ClearPendingFeedback", conversions.clear_pending_feedback(flow_uuid))
            local = self._local_if_exists()
            if local is not None:
                local.clear_pending_feedback(flow_uuid)

        # ---- internals ----------------------------------------------------------------

        def _remote(self, rpc: str, request: Any) -> Any:
            """The daemon's answer, or None when the caller must use the local file."""
            if not _link.daemon_available():
                return None
            try:
                return _link.call(rpc, request)
            except errors.DaemonUnavailable:
                return None
            except errors.RpcError as e:
                _log.warning("fast-crewai: flow persistence %s refused by the daemon (%s); "
                             "using CrewAI's local file", rpc, e)
                return None

        def _local_path(self) -> str:
            if self.local_db_path is not None:
                return self.local_db_path
            from crewai_core.paths import db_storage_path

            return str(Path(db_storage_path()) / "flow_states.db")

        def _local(self) -> Any:
            if self._local_store is None:
                self._local_store = SQLiteFlowPersistence(self._local_path())
            return self._local_store

        def _local_if_exists(self) -> Any:
            """The local store when its file exists (never creates it just to read)."""
            if self._local_store is None and not Path(self._local_path()).exists():
                return None
            return self._local()

    return DaemonFlowPersistence


def default_flow_persistence() -> Any:
    """CrewAI's own default (SQLiteFlowPersistence), for when the daemon is unreachable."""
    from crewai.flow.persistence.sqlite import SQLiteFlowPersistence

    return SQLiteFlowPersistence()
