"""DaemonLTMStore: one legacy LTMSQLiteStorage kept by the daemon's persistence service.

Namespace: the real path of the SQLite file CrewAI would use (`storage.db_path`), so processes
of one project share it. Results are CrewAI's exactly: `load(task, latest_n)` returns
`[{"metadata": dict, "datetime": str, "score": float}]` in `ORDER BY datetime DESC, score ASC`
order (datetime compared as text, ties in insertion order), at most `latest_n` of them, or None
when there is none. Like SQLite's `LIMIT`, `latest_n == 0` gives None and a negative one no
limit (up to the daemon's 10 000). Errors are printed by CrewAI's storage and swallowed there;
here they are logged and load returns None, save and reset do nothing, as CrewAI's do.

Outages: fast_crewai.legacy.outage; CrewAI's own methods on the same storage object (its local
SQLite file) are the local side.

Thread-safety: safe from any thread.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

from fast_crewai import errors
from fast_crewai.legacy import _link, conversions, outage

_logger = logging.getLogger(__name__)

MAX_LATEST_N = 10_000


class DaemonLTMStore:
    """The daemon side of one LTMSQLiteStorage (module docstring)."""

    def __init__(self, db_path: str) -> None:
        """Raises errors.DaemonUnavailable when the daemon does not answer."""
        self.db_path = db_path
        self.namespace = os.path.realpath(db_path)
        self._session = outage.session_for(os.path.dirname(self.namespace))
        outage.connect(self._session)

    def __repr__(self) -> str:
        return f"DaemonLTMStore(namespace={self.namespace!r})"

    def __copy__(self) -> DaemonLTMStore:
        return self

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> DaemonLTMStore:
        return self

    def save(self, task_description: str, metadata: dict[str, Any], datetime: str,
             score: int | float, local: Callable[[], Any]) -> None:
        try:
            request = conversions.save_ltm(self.namespace, task_description,
                                           json.dumps(metadata), str(datetime), float(score))
            self._session.write("SaveLongTermMemory", request, _link.call, local)
        except (errors.RpcError, TypeError, ValueError) as e:
            _logger.error("MEMORY ERROR: An error occurred while saving to LTM: %s", e)

    def load(self, task_description: str, latest_n: int,
             local: Callable[[], list[dict[str, Any]] | None]) -> list[dict[str, Any]] | None:
        try:
            n = int(latest_n)
        except (TypeError, ValueError):
            return None
        if n == 0:
            return None
        n = MAX_LATEST_N if n < 0 else min(n, MAX_LATEST_N)
        try:
            request = conversions.load_ltm(self.namespace, task_description, n)
            return self._session.read(
                lambda: _link.call("LoadLongTermMemory", request),
                lambda response: conversions.ltm_entries(response) or None, local)
        except (errors.RpcError, ValueError) as e:
            _logger.error("MEMORY ERROR: An error occurred while querying LTM: %s", e)
            return None

    def reset(self, local: Callable[[], Any]) -> None:
        try:
            self._session.write("ResetLongTermMemory", conversions.reset_ltm(self.namespace),
                                _link.call, local)
        except errors.RpcError as e:
            _logger.error("MEMORY ERROR: An error occurred while deleting all rows in LTM: %s", e)
