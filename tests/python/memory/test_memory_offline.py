"""DaemonStorage while the daemon is unreachable: durable journal, local reads, local dimension
checks. (The replay into a real daemon is in test_memory_outage.py.)"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest
from crewai.memory.storage.backend import EmbeddingDimensionMismatchError
from crewai.memory.storage.lancedb_storage import LanceDBStorage
from crewai.memory.types import MemoryRecord

from fast_crewai import errors
from fast_crewai.memory import factory, journal
from fast_crewai.memory.daemon_storage import DaemonStorage
from fast_crewai.v1 import memory_pb2


@pytest.fixture
def offline(use_daemon: Callable[[Any], None], dead_endpoint: str) -> str:
    use_daemon(dead_endpoint)
    return dead_endpoint


def journal_entries(store: Path) -> list[tuple[str, bytes]]:
    directory = store / ".fast-crewai-journal"
    files = sorted(p for p in directory.iterdir() if p.name.endswith(journal.SUFFIX))
    return [e for f in files for e in journal.read_entries(f)]


def test_construction_never_fails_and_require_daemon_raises(offline: str, tmp_path: Path) -> None:
    storage = DaemonStorage(path=str(tmp_path / "s"))
    assert storage.degraded
    with pytest.raises(errors.DaemonUnavailable):
        DaemonStorage(path=str(tmp_path / "t"), require_daemon=True)


def test_factory_declines_when_unreachable_and_for_qdrant(offline: str, tmp_path: Path) -> None:
    assert factory.open_storage(str(tmp_path / "s")) is None
    assert factory.storage_for_spec(str(tmp_path / "s")) is None
    assert factory.storage_for_spec("lancedb") is None
    assert factory.storage_for_spec("qdrant-edge") is None


def test_writes_are_journaled_durably_and_visible_locally(offline: str, tmp_path: Path) -> None:
    store = tmp_path / "s"
    storage = DaemonStorage(path=str(store))
    a = MemoryRecord(content="a", scope="/x", embedding=[1.0, 0, 0, 0], categories=["c"])
    b = MemoryRecord(content="b", scope="/y", embedding=[0, 1.0, 0, 0])
    storage.save([a, b])
    storage.update(b.model_copy(update={"content": "b2"}))
    storage.touch_records([a.id])
    assert storage.delete(scope_prefix="/y") == 1  # the local store's count
    storage.reset("/nothing")

    rpcs = [rpc for rpc, _ in journal_entries(store)]
    assert rpcs == ["SaveRecords", "UpdateRecord", "TouchRecords", "DeleteRecords", "Reset"]
    saved = memory_pb2.SaveRecordsRequest.FromString(journal_entries(store)[0][1])
    assert saved.namespace == storage.namespace
    assert [r.content for r in saved.records] == ["a", "b"]
    assert list(saved.records[0].embedding) == [1.0, 0, 0, 0]

    # Reads come from the local LanceDB store at the same path, which has the outage writes.
    assert storage.count() == 1
    assert [r.content for r, _ in storage.search([1.0, 0, 0, 0], limit=5)] == ["a"]
    assert storage.get_record(a.id).categories == ["c"]
    assert storage.get_record(b.id) is None
    assert [r.content for r in storage.list_records()] == ["a"]
    assert storage.list_scopes() == ["/x"]
    assert storage.list_categories() == {"c": 1}
    assert storage.get_scope_info("/x").record_count == 1
    local = LanceDBStorage(path=str(store))
    assert local.count() == 1


def test_dimension_is_checked_while_offline(offline: str, tmp_path: Path) -> None:
    storage = DaemonStorage(path=str(tmp_path / "s"))
    storage.save([MemoryRecord(content="a", embedding=[1.0, 0, 0, 0])])
    with pytest.raises(EmbeddingDimensionMismatchError) as info:
        storage.save([MemoryRecord(content="b", embedding=[1.0, 0, 0])])
    assert (info.value.stored_dim, info.value.new_dim) == (4, 3)
    with pytest.raises(EmbeddingDimensionMismatchError):
        storage.search([1.0, 0, 0])
    with pytest.raises(EmbeddingDimensionMismatchError) as info:
        storage.save([MemoryRecord(content="c", embedding=[1.0, 0]),
                      MemoryRecord(content="d", embedding=[1.0, 0, 0])])
    assert (info.value.stored_dim, info.value.new_dim) == (2, 3)
    assert [rpc for rpc, _ in journal_entries(tmp_path / "s")] == ["SaveRecords"]
    storage.reset()  # a full reset frees the dimension, offline too
    storage.save([MemoryRecord(content="e", embedding=[1.0, 0, 0])])
    assert [rpc for rpc, _ in journal_entries(tmp_path / "s")] == ["SaveRecords", "Reset",
                                                                  "SaveRecords"]


def test_explicit_vector_dim_is_enforced_before_the_namespace_has_one(
    offline: str, tmp_path: Path
) -> None:
    storage = DaemonStorage(path=str(tmp_path / "s"), vector_dim=8)
    with pytest.raises(EmbeddingDimensionMismatchError) as info:
        storage.save([MemoryRecord(content="a", embedding=[1.0] * 4)])
    assert (info.value.stored_dim, info.value.new_dim) == (8, 4)


def test_non_json_metadata_raises_before_anything_is_journaled(offline: str,
                                                              tmp_path: Path) -> None:
    storage = DaemonStorage(path=str(tmp_path / "s"))
    with pytest.raises(TypeError):
        storage.save([MemoryRecord(content="a", metadata={"d": datetime.now()})])
    assert not (tmp_path / "s" / ".fast-crewai-journal").exists()


def test_storages_of_one_path_share_outage_state(offline: str, tmp_path: Path) -> None:
    one = DaemonStorage(path=str(tmp_path / "s"))
    two = DaemonStorage(path=str(tmp_path / "s" / "."))
    one.save([MemoryRecord(content="a", embedding=[1.0, 0])])
    assert two.count() == 1
    with pytest.raises(EmbeddingDimensionMismatchError):
        two.save([MemoryRecord(content="b", embedding=[1.0, 0, 0])])
    assert len([p for p in (tmp_path / "s" / ".fast-crewai-journal").iterdir()
                if p.name.endswith(journal.SUFFIX)]) == 1
