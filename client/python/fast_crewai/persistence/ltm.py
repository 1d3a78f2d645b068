"""DaemonLTMStorage: CrewAI's legacy long-term memory (LTMSQLiteStorage, CrewAI <= 1.9) kept in
the daemon, for the legacy-CrewAI support.

Same methods and results as LTMSQLiteStorage:

* `save(task_description, metadata, datetime, score)` stores one entry (`metadata` is
  json.dumps'ed, `datetime` is CrewAI's text, `str(time.time())`);
* `load(task_description, latest_n)` returns `[{"metadata": dict, "datetime": str, "score":
  float}]` ordered exactly as CrewAI's `ORDER BY datetime DESC, score ASC LIMIT latest_n`
  (datetime compared as text), or None when there is no entry;
* `reset()` deletes every entry.

Entries are kept per namespace, the real path of the SQLite file LTMSQLiteStorage would use
(default: db_storage_path()/long_term_memory_storage.db), so projects stay apart. Errors
propagate as `fast_crewai.errors.RpcError` subclasses (`DaemonUnavailable` when the daemon is
unreachable): the caller (the legacy patch) decides the fallback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fast_crewai.persistence import _link, conversions

__all__ = ["DaemonLTMStorage"]

DB_FILE_NAME = "long_term_memory_storage.db"


class DaemonLTMStorage:
    def __init__(self, db_path: str | None = None, verbose: bool = True) -> None:
        if db_path is None:
            from crewai_core.paths import db_storage_path

            db_path = str(Path(db_storage_path()) / DB_FILE_NAME)
        self.db_path = db_path
        self.namespace = os.path.realpath(db_path)
        self.verbose = verbose

    def save(self, task_description: str, metadata: dict[str, Any], datetime: str,
             score: int | float) -> None:
        _link.call("SaveLongTermMemory", conversions.save_ltm(
            self.namespace, task_description, json.dumps(metadata), str(datetime), float(score)))

    def load(self, task_description: str, latest_n: int) -> list[dict[str, Any]] | None:
        response = _link.call("LoadLongTermMemory",
                              conversions.load_ltm(self.namespace, task_description, latest_n))
        entries = conversions.ltm_entries(response)
        return entries or None

    def reset(self) -> None:
        _link.call("ResetLongTermMemory", conversions.reset_ltm(self.namespace))
