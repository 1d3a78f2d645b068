"""memory_max_records through DaemonStorage and the real daemon: a save that would pass the
limit raises RESOURCE_EXHAUSTED (never a fallback: the store is not degraded and nothing is
journaled), stores nothing of its batch, and leaves every stored record as it was; saving
existing records and deleting keep working, across namespaces (the limit is the daemon's). A
write journaled during an outage waits in the journal until the store has room."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest
from crewai.memory.types import MemoryRecord

from conftest import RestartableDaemon
from fast_crewai import errors
from fast_crewai.memory.daemon_storage import DaemonStorage
from fast_crewai.memory.outage import PROBE_INTERVAL_S
from fast_crewai.v1 import memory_pb2, memory_pb2_grpc

MAX_RECORDS = 3


@pytest.fixture
def small_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableDaemon]:
    data_dir = tmp_path_factory.mktemp("capacity-daemon")
    daemon = RestartableDaemon(data_dir, data_dir.parent / f"{data_dir.name}.log",
                               extra=("--memory_max_records", str(MAX_RECORDS))).start()
    yield daemon
    daemon.stop()


def rec(record_id: str, content: str, x: float) -> MemoryRecord:
    return MemoryRecord(id=record_id, content=content, scope="/crew", embedding=[x, 0.0, 1.0])


def test_a_save_past_memory_max_records_raises_and_changes_nothing(
    small_daemon: RestartableDaemon, use_daemon: Any, tmp_path: Path
) -> None:
    use_daemon(small_daemon)
    first = DaemonStorage(path=str(tmp_path / "first"), require_daemon=True)
    second = DaemonStorage(path=str(tmp_path / "second"), require_daemon=True)
    first.save([rec("a", "alpha", 1.0), rec("b", "beta", 2.0)])

    with pytest.raises(errors.ResourceExhausted) as info:
        second.save([rec("c", "gamma", 3.0), rec("d", "delta", 4.0)])
    assert "records: the memory store is full" in info.value.details
    assert f"memory_max_records is {MAX_RECORDS}" in info.value.details
    assert not second.degraded, "a full store is an answer, not an outage"
    journal_dir = tmp_path / "second" / ".fast-crewai-journal"
    assert not list(journal_dir.glob("*.journal")), "nothing may be journaled for a refused write"
    assert second.count() == 0
    assert [r.content for r in first.list_records()] == ["beta", "alpha"]

    # Re-saving existing records adds none; one new record fills the store.
    first.save([rec("a", "alpha again", 1.5), rec("b", "beta again", 2.5)])
    second.save([rec("c", "gamma", 3.0)])
    with pytest.raises(errors.ResourceExhausted):
        second.update(rec("d", "delta", 4.0))
    assert first.get_record("a").content == "alpha again"
    assert (first.count(), second.count()) == (2, 1)

    # Deleting makes room again.
    assert first.delete(record_ids=["a"]) == 1
    second.save([rec("d", "delta", 4.0)])
    assert sorted(r.id for r in second.list_records()) == ["c", "d"]
    assert [hit.id for hit, _ in second.search([4.0, 0.0, 1.0], limit=1)] == ["d"]


def test_a_write_journaled_in_an_outage_waits_in_the_journal_until_the_store_has_room(
    small_daemon: RestartableDaemon, use_daemon: Any, tmp_path: Path,
    caplog: pytest.LogCaptureFixture
) -> None:
    use_daemon(small_daemon)
    store_dir = tmp_path / "store"
    storage = DaemonStorage(path=str(store_dir), require_daemon=True)
    storage.save([rec("a", "alpha", 1.0), rec("b", "beta", 2.0), rec("c", "gamma", 3.0)])

    small_daemon.kill()
    storage.save([rec("d", "delta", 4.0)])  # journaled: the daemon is away
    assert storage.degraded
    small_daemon.start()

    # The replay meets a full store: the entry stays in the journal (nothing is dropped or set
    # aside), the namespace stays in outage mode, and the failure is logged. The first probes
    # may still find the restarted daemon unreachable (the channel's reconnect backoff, a
    # loaded machine): wait for the replay's attempt, answered locally meanwhile.
    deadline = time.monotonic() + 15
    with caplog.at_level(logging.WARNING):
        while True:
            time.sleep(PROBE_INTERVAL_S + 0.1)
            assert storage.count() == 1  # answered locally: the outage write only
            if "the memory store is full" in caplog.text or time.monotonic() > deadline:
                break
    assert storage.degraded
    assert "the memory store is full" in caplog.text
    journal_dir = store_dir / ".fast-crewai-journal"
    assert list(journal_dir.glob("*.journal"))

    # Room made by another client: the next probe replays the entry and service resumes.
    with grpc.insecure_channel(small_daemon.endpoint) as channel:
        memory_pb2_grpc.MemoryServiceStub(channel).DeleteRecords(memory_pb2.DeleteRecordsRequest(
            namespace=storage.namespace, record_ids=["a"]))
    deadline = time.monotonic() + 15
    while storage.degraded and time.monotonic() < deadline:
        time.sleep(PROBE_INTERVAL_S)
        storage.count()
    assert not storage.degraded
    assert not list(journal_dir.glob("*.journal"))
    assert sorted(r.id for r in storage.list_records()) == ["b", "c", "d"]
