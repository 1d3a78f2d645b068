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

Fallback: when the daemon does not answer, a write is journaled and applied to CrewAI's own
SQLiteFlowPersistence file, and replayed to the daemon once it answers again, by this process or
by the next one to use flow persistence in that directory (fast_crewai.persistence.outage);
meanwhile reads are answered from the file. A value the daemon refuses (one SQLite would take)
goes to the file only. `load_state` returns the newer of the daemon's latest state and the file's
(by their timestamps), so a state written to the file while the daemon was away, by any process
of this machine, is not hidden by an older one in the daemon; the daemon is then given it.
`load_pending_feedback` asks the file when the daemon has no feedback pending for the flow.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from fast_crewai import errors
from fast_crewai.persistence import _link, conversions, outage

__all__ = ["DaemonFlowPersistence", "daemon_flow_persistence_class", "default_flow_persistence"]

_log = logging.getLogger(__name__)

_class_lock = threading.Lock()
_class: type | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _newer(a: str, b: str) -> bool:
    """Whether timestamp text `a` is later than `b` (ISO 8601, as CrewAI writes them)."""
    try:
        return datetime.fromisoformat(a) > datetime.fromisoformat(b)
    except (TypeError, ValueError):
        return a > b


def _latest_local_state(path: str, flow_uuid: str) -> tuple[str, str, str] | None:
    """(state_json, method_name, timestamp) of the flow's latest state in CrewAI's file at
    `path` (SQLiteFlowPersistence's table), or None when the file has none."""
    if not Path(path).exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
            row = conn.execute(
                "SELECT state_json, method_name, timestamp FROM flow_states "
                "WHERE flow_uuid = ? ORDER BY id DESC LIMIT 1", (flow_uuid,)).fetchone()
    except sqlite3.Error as e:
        _log.warning("fast-crewai: could not read CrewAI's flow file %s: %s", path, e)
        return None
    return (str(row[0]), str(row[1]), str(row[2])) if row is not None else None


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
            self._write("SaveFlowState", request,
                        lambda: self._local().save_state(flow_uuid, method_name, state_dict))

        def load_state(self, flow_uuid: str) -> dict[str, Any] | None:
            local = _latest_local_state(self._local_path(), flow_uuid)
            response = self._read("LoadFlowState", conversions.load_flow_state(flow_uuid))
            if response is not None and response.found and (
                    local is None or local[0] == response.state_json
                    or not _newer(local[2], response.timestamp)):
                state_json = response.state_json
            elif local is not None:
                state_json = local[0]
                if response is not None:  # the daemon answered with an older state, or none
                    self._give_daemon(flow_uuid, *local)
            else:
                return None
            result = json.loads(state_json)
            return result if isinstance(result, dict) else None

        # ---- pending feedback ---------------------------------------------------------

        def save_pending_feedback(self, flow_uuid: str, context: Any,
                                  state_data: dict[str, Any] | BaseModel) -> None:
            state_dict = SQLiteFlowPersistence._to_state_dict(state_data)
            request = conversions.save_pending_feedback(
                flow_uuid, context.method_name,
                json.dumps(context.to_dict(), default=_json_default),
                json.dumps(state_dict, default=_json_default), _now())
            self._write("SavePendingFeedback", request,
                        lambda: self._local().save_pending_feedback(flow_uuid, context,
                                                                    state_dict))

        def load_pending_feedback(self, flow_uuid: str) -> tuple[dict[str, Any], Any] | None:
            from crewai.flow.async_feedback.types import PendingFeedbackContext

            response = self._read("LoadPendingFeedback",
                                  conversions.load_pending_feedback(flow_uuid))
            if response is not None and response.found:
                state = json.loads(response.state_json)
                context = PendingFeedbackContext.from_dict(json.loads(response.context_json))
                return (state, context)
            local = self._local_if_exists()
            return local.load_pending_feedback(flow_uuid) if local is not None else None

        def clear_pending_feedback(self, flow_uuid: str) -> None:
            def clear_local() -> None:
                local = self._local_if_exists()
                if local is not None:
                    local.clear_pending_feedback(flow_uuid)

            # Feedback pending in CrewAI's file (written while the daemon was away) goes too.
            if self._write("ClearPendingFeedback",
                           conversions.clear_pending_feedback(flow_uuid), clear_local):
                clear_local()

        # ---- internals ----------------------------------------------------------------

        def _session(self) -> outage.FlowSession:
            path = self._local_path()
            session = outage.session_for(Path(path).parent)
            if path not in session.local_files:
                with session.lock:
                    session.local_files.add(path)
            outage.connect_once(session)
            return session

        def _write(self, rpc: str, request: Any, local: Callable[[], None]) -> bool:
            """Sends a write; when the daemon does not answer, journals it and runs `local`;
            when it refuses the value, runs `local` only. True when the daemon took it."""
            try:
                response, _ = self._session().write(rpc, request, _link.call, local)
            except errors.RpcError as e:
                _log.warning("fast-crewai: flow persistence %s refused by the daemon (%s); "
                             "using CrewAI's local file", rpc, e)
                local()
                return False
            return response is not None

        def _read(self, rpc: str, request: Any) -> Any:
            """The daemon's answer, or None when the caller must use the local file."""
            try:
                return self._session().read(lambda: _link.call(rpc, request), lambda r: r,
                                            lambda: None)
            except errors.RpcError as e:
                _log.warning("fast-crewai: flow persistence %s refused by the daemon (%s); "
                             "using CrewAI's local file", rpc, e)
                return None

        def _give_daemon(self, flow_uuid: str, state_json: str, method_name: str,
                         timestamp: str) -> None:
            """Appends a state found only in CrewAI's file to the daemon's log (best effort:
            a load must not fail for it), so other processes see it too."""
            request = conversions.save_flow_state(flow_uuid, method_name, state_json, timestamp)
            try:
                _link.call("SaveFlowState", request)
            except errors.RpcError as e:
                _log.warning("fast-crewai: could not give the daemon flow %s's latest state: %s",
                             flow_uuid, e)

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
