"""A journaled write the daemon rejects on replay (here: its dimension, since another store gave
the namespace one meanwhile) is set aside in `rejected/` and logged as an error, not retried;
the replay goes on with the next entry and the storage leaves outage mode."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

import pytest
from crewai.memory.types import MemoryRecord

from fast_crewai.memory import journal
from fast_crewai.memory.daemon_storage import DaemonStorage


def test_rejected_entry_is_set_aside_and_the_rest_replayed(
    memory_daemon: Any, use_daemon: Callable[[Any], None], dead_endpoint: str,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    store = tmp_path / "store"
    journal_dir = store / ".fast-crewai-journal"
    kept = MemoryRecord(content="kept", embedding=[1.0, 0, 0, 0])

    use_daemon(dead_endpoint)
    storage = DaemonStorage(path=str(store))
    assert storage.degraded
    storage.save([MemoryRecord(content="three dims", embedding=[1.0, 0, 0])])  # journaled
    storage.touch_records([kept.id])  # journaled, valid once `kept` exists

    # Meanwhile another store of the same namespace gives it 4 dimensions.
    use_daemon(memory_daemon)
    other = DaemonStorage(path=str(tmp_path / "other"), namespace=storage.namespace,
                          require_daemon=True)
    other.save([kept])

    with caplog.at_level(logging.ERROR):
        storage.close()  # forces the replay
    assert not storage.degraded
    assert [p for p in journal_dir.iterdir() if p.name.endswith(journal.SUFFIX)] == []
    rejected = list((journal_dir / "rejected").iterdir())
    assert len(rejected) == 1
    assert json.loads(rejected[0].read_text())["rpc"] == "SaveRecords"
    assert any(r.levelno == logging.ERROR and "rejected a journaled SaveRecords" in r.message
               for r in caplog.records)
    assert [r.content for r in other.list_records()] == ["kept"]
    assert other.get_record(kept.id).last_accessed > kept.last_accessed  # the touch came after
