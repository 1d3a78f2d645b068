"""The daemon goes away mid-run (SIGKILL) and comes back on the same port and data dir: writes
made meanwhile were journaled, are replayed in order before anything else, and none is lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from crewai.memory.types import MemoryRecord
from support import clean_environ

from fast_crewai.memory import journal
from fast_crewai.memory.daemon_storage import DaemonStorage

WORKER = Path(__file__).with_name("memory_worker.py")


def journal_files(store: Path) -> list[Path]:
    directory = store / ".fast-crewai-journal"
    if not directory.exists():
        return []
    return [p for p in directory.iterdir() if p.name.endswith(journal.SUFFIX)]


def until_recovered(storage: DaemonStorage, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        storage.count()  # any call tries to recover (and replays) once the daemon answers
        if not storage.degraded:
            return
        time.sleep(0.1)
    raise AssertionError("the storage did not leave outage mode")


def test_writes_during_an_outage_reach_the_daemon_after_restart(
    restartable_daemon: Any, use_daemon: Callable[[Any], None], tmp_path: Path
) -> None:
    daemon = restartable_daemon.start()
    use_daemon(daemon)
    store = tmp_path / "store"
    storage = DaemonStorage(path=str(store), require_daemon=True)
    before = MemoryRecord(content="before", scope="/a", embedding=[1.0, 0, 0, 0])
    doomed = MemoryRecord(content="doomed", scope="/a", embedding=[0, 1.0, 0, 0])
    storage.save([before, doomed])

    daemon.kill()
    during = [MemoryRecord(content=f"during-{i}", scope="/b", embedding=[0, 0, 1.0, float(i)])
              for i in range(3)]
    storage.save(during[:2])  # returns only once journaled
    assert storage.degraded
    storage.save(during[2:])
    storage.update(before.model_copy(update={"content": "before, updated"}))
    assert storage.delete(record_ids=[doomed.id]) == 0  # not in the local store
    storage.touch_records([during[0].id])
    assert len(journal_files(store)) == 1
    # Reads meanwhile come from the local store: the outage writes are there.
    assert {r.content for r in storage.list_records()} == {
        "during-0", "during-1", "during-2", "before, updated"}

    daemon.start()  # same port, same data dir
    until_recovered(storage)
    assert journal_files(store) == []
    assert storage.get_record(before.id).content == "before, updated"
    assert storage.get_record(doomed.id) is None
    for r in during:
        got = storage.get_record(r.id)
        assert got is not None and got.content == r.content
        assert got.embedding == r.embedding
    assert storage.count() == 4
    touched = storage.get_record(during[0].id)
    assert touched.last_accessed > during[0].last_accessed

    # Another process-level view (fresh connection, fresh storage) sees the same.
    use_daemon(daemon)
    fresh = DaemonStorage(path=str(store), require_daemon=True)
    assert sorted(r.content for r in fresh.list_records()) == [
        "before, updated", "during-0", "during-1", "during-2"]


def test_a_later_outage_does_not_bring_back_what_the_daemon_deleted(
    restartable_daemon: Any, use_daemon: Callable[[Any], None], tmp_path: Path
) -> None:
    daemon = restartable_daemon.start()
    use_daemon(daemon)
    storage = DaemonStorage(path=str(tmp_path / "s"), require_daemon=True)
    kept = MemoryRecord(content="kept", scope="/s", embedding=[1.0, 0, 0, 0])
    daemon.kill()
    forgotten = MemoryRecord(content="forgotten", scope="/s", embedding=[0, 1.0, 0, 0])
    storage.save([forgotten])  # journaled, and in the local store meanwhile
    storage.update(kept)  # an upsert: also lands in the local store
    daemon.start()
    until_recovered(storage)
    assert storage.delete(record_ids=[forgotten.id]) == 1
    assert [r.content for r in storage.list_records()] == ["kept"]

    daemon.kill()  # a second outage: the local store must not answer with the first one's
    storage.save([MemoryRecord(content="second", scope="/s", embedding=[0, 0, 1.0, 0])])
    assert storage.degraded
    assert [r.content for r in storage.list_records()] == ["second"]
    assert [r.content for r, _ in storage.search([0, 1.0, 0, 0], limit=5)] == ["second"]
    daemon.start()
    until_recovered(storage)
    assert sorted(r.content for r in storage.list_records()) == ["kept", "second"]


def test_search_ranks_replayed_records_like_a_brute_force_scan(
    restartable_daemon: Any, use_daemon: Callable[[Any], None], tmp_path: Path
) -> None:
    daemon = restartable_daemon.start()
    use_daemon(daemon)
    storage = DaemonStorage(path=str(tmp_path / "s"), require_daemon=True)
    vectors = [[1.0, float(i) * 0.1, 0.5, -0.25 * i] for i in range(10)]
    records = [MemoryRecord(content=f"r{i}", embedding=v) for i, v in enumerate(vectors)]
    storage.save(records[:5])
    daemon.kill()
    storage.save(records[5:])
    daemon.start()
    until_recovered(storage)
    query = [0.9, 0.3, 0.4, -1.0]
    got = storage.search(query, limit=10)
    expected = sorted(records, key=lambda r: sum((a - b) ** 2 for a, b in zip(query, r.embedding)))
    assert [r.content for r, _ in got] == [r.content for r in expected]


def test_orphaned_journal_of_a_dead_process_is_replayed_by_the_next_opener(
    restartable_daemon: Any, use_daemon: Callable[[Any], None], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    # The daemon is not running yet: the worker journals its saves and dies without replaying.
    env = clean_environ({"FAST_CREWAI_ENDPOINT": restartable_daemon.endpoint})
    out = subprocess.run([sys.executable, str(WORKER), "journal", str(store)], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    reply = json.loads(out.stdout.strip().splitlines()[-1])
    assert reply["degraded"] is True
    assert len(journal_files(store)) == 1

    daemon = restartable_daemon.start()
    use_daemon(daemon)
    storage = DaemonStorage(path=str(store), require_daemon=True)  # replays orphans on open
    assert journal_files(store) == []
    assert sorted(r.content for r in storage.list_records("/orphan")) == [
        "orphan-0", "orphan-1", "orphan-2"]
    assert {r.id for r in storage.list_records("/orphan")} == set(reply["ids"])

    # The dead process had also put them in the local store at this path; the daemon has them
    # now, so they leave it: a later outage must not answer with one the daemon deleted since.
    assert storage.delete(record_ids=[reply["ids"][0]]) == 1
    daemon.kill()
    assert sorted(r.content for r in storage.list_records("/orphan")) == []
    storage.save([MemoryRecord(content="during the second outage", scope="/orphan",
                               embedding=[0, 0, 1.0, 0])])
    assert [r.content for r in storage.list_records("/orphan")] == ["during the second outage"]
    daemon.start()
    until_recovered(storage)
    assert len(storage.list_records("/orphan")) == 3  # two orphans and the new one
