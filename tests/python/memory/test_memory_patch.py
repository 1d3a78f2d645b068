"""MemoryPatcher: the storage factory hook and the LanceDBStorage constructor patch, reversible.

Tests with `memory_daemon` use the real daemon; the others run with nothing listening, where the
patch must leave CrewAI on its own LanceDB storage."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from fakes import FakeLLM, hash_embedder

import crewai.memory.storage.factory as crewai_factory
from crewai.memory.storage.lancedb_storage import LanceDBStorage  # imported BEFORE patching
from crewai.memory.types import MemoryRecord
from crewai.memory.unified_memory import Memory

from fast_crewai.killswitch import suppress_acceleration
from fast_crewai.memory.daemon_storage import DaemonStorage
from fast_crewai.patches.memory import MemoryPatcher

ORIGINAL_INIT = LanceDBStorage.__dict__["__init__"]


@pytest.fixture
def patcher() -> Iterator[MemoryPatcher]:
    p = MemoryPatcher()
    yield p
    p.uninstrument()
    crewai_factory.set_memory_storage_factory(None)
    assert LanceDBStorage.__dict__["__init__"] is ORIGINAL_INIT


def make_memory(storage: Any) -> Memory:
    return Memory(storage=storage, llm=FakeLLM(model="fake"), embedder=hash_embedder(4))


def test_instrument_uninstrument_round_trip(patcher: MemoryPatcher) -> None:
    assert crewai_factory._factory is None
    result = patcher.instrument()
    assert result.applied and result.reason == "patched"
    assert crewai_factory._factory is not None
    assert LanceDBStorage.__dict__["__init__"] is not ORIGINAL_INIT
    assert patcher.instrument().applied  # idempotent
    patcher.uninstrument()
    assert crewai_factory._factory is None
    assert LanceDBStorage.__dict__["__init__"] is ORIGINAL_INIT
    patcher.uninstrument()  # idempotent
    assert patcher.instrument().applied  # re-instrument
    assert LanceDBStorage.__dict__["__init__"] is not ORIGINAL_INIT


def test_unreachable_daemon_leaves_crewai_on_lancedb(
    patcher: MemoryPatcher, use_daemon: Callable[[Any], None], dead_endpoint: str,
    tmp_path: Path,
) -> None:
    use_daemon(dead_endpoint)
    patcher.instrument()
    memory = make_memory(str(tmp_path / "m"))
    assert type(memory._storage) is LanceDBStorage
    direct = LanceDBStorage(path=str(tmp_path / "d"))
    assert type(direct) is LanceDBStorage and direct._table is None  # original __init__ ran
    memory.remember("Paris is the capital of France", scope="/geo", categories=["fact"],
                    importance=0.5)
    assert memory._storage.count() == 1


def test_previous_factory_is_asked_first_and_restored(
    patcher: MemoryPatcher, use_daemon: Callable[[Any], None], dead_endpoint: str,
    tmp_path: Path,
) -> None:
    use_daemon(dead_endpoint)
    seen: list[str] = []
    sentinel = LanceDBStorage(path=str(tmp_path / "user"))

    def user_factory(spec: str) -> Any:
        seen.append(spec)
        return sentinel if spec == "mine" else None

    crewai_factory.set_memory_storage_factory(user_factory)
    patcher.instrument()
    assert make_memory("mine")._storage is sentinel
    assert type(make_memory(str(tmp_path / "x"))._storage) is LanceDBStorage
    assert seen == ["mine", str(tmp_path / "x")]
    patcher.uninstrument()
    assert crewai_factory._factory is user_factory


def test_factory_routes_specs_to_the_daemon(
    patcher: MemoryPatcher, memory_daemon: Any, use_daemon: Callable[[Any], None],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_daemon(memory_daemon)
    monkeypatch.setenv("CREWAI_STORAGE_DIR", str(tmp_path / "crewai"))
    patcher.instrument()
    by_path = make_memory(str(tmp_path / "m"))._storage
    assert isinstance(by_path, DaemonStorage)
    assert by_path.namespace == "lancedb:" + str((tmp_path / "m").resolve())
    default = make_memory("lancedb")._storage
    assert isinstance(default, DaemonStorage)
    assert default.namespace == "lancedb:" + str((tmp_path / "crewai" / "memory").resolve())
    with suppress_acceleration():
        assert type(make_memory(str(tmp_path / "k"))._storage) is LanceDBStorage
    patcher.uninstrument()
    assert type(make_memory(str(tmp_path / "after"))._storage) is LanceDBStorage


def test_direct_construction_of_an_early_imported_class_is_covered(
    patcher: MemoryPatcher, memory_daemon: Any, use_daemon: Callable[[Any], None],
    tmp_path: Path,
) -> None:
    use_daemon(memory_daemon)
    patcher.instrument()
    storage = LanceDBStorage(path=str(tmp_path / "direct"))  # the name imported at the top
    assert isinstance(storage, LanceDBStorage) and isinstance(storage, DaemonStorage)
    assert storage.namespace == "lancedb:" + str((tmp_path / "direct").resolve())
    assert not (tmp_path / "direct").exists()  # no LanceDB directory was opened
    r = MemoryRecord(content="x", embedding=[1.0, 0, 0, 0])
    storage.save([r])
    assert storage.get_record(r.id).content == "x"
    assert copy.deepcopy(storage) is storage
    # Same path, another construction route, same store.
    assert DaemonStorage(path=str(tmp_path / "direct")).count() == 1

    class UserSubclass(LanceDBStorage):
        pass

    assert type(UserSubclass(path=str(tmp_path / "sub"))) is UserSubclass  # left alone

    patcher.uninstrument()
    plain = LanceDBStorage(path=str(tmp_path / "plain"))
    assert type(plain) is LanceDBStorage and plain._table is None
    assert storage.count() == 1  # handed-out storages stay daemon-backed


def test_memory_remember_and_recall_through_the_daemon(
    patcher: MemoryPatcher, memory_daemon: Any, use_daemon: Callable[[Any], None],
    tmp_path: Path,
) -> None:
    use_daemon(memory_daemon)
    patcher.instrument()
    memory = make_memory(str(tmp_path / "m"))
    assert isinstance(memory._storage, DaemonStorage)
    memory.remember("Paris is the capital of France", scope="/geo", categories=["fact"],
                    importance=0.9)
    memory.remember("The Loire is a river", scope="/geo", categories=["fact"], importance=0.4)
    matches = memory.recall("Paris is the capital of France", scope="/geo", depth="shallow",
                            limit=2)
    assert matches and matches[0].record.content == "Paris is the capital of France"
    assert matches[0].record.embedding is not None
    other = DaemonStorage(path=str(tmp_path / "m"))
    assert other.count("/geo") == 2
    memory.close()


def test_token_is_sent_and_a_refused_token_falls_back_to_lancedb(
    patcher: MemoryPatcher, token_daemon: Any, use_daemon: Callable[[Any], None],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    patcher.instrument()
    monkeypatch.setenv("FAST_CREWAI_TOKEN", "memory-secret")
    use_daemon(token_daemon)
    storage = make_memory(str(tmp_path / "m"))._storage
    assert isinstance(storage, DaemonStorage)
    storage.save([MemoryRecord(content="x", embedding=[1.0, 0, 0, 0])])
    assert storage.count() == 1

    monkeypatch.setenv("FAST_CREWAI_TOKEN", "wrong")
    use_daemon(token_daemon)
    with pytest.warns(RuntimeWarning) as record:
        assert type(make_memory(str(tmp_path / "m"))._storage) is LanceDBStorage
        assert type(LanceDBStorage(path=str(tmp_path / "d"))) is LanceDBStorage
    # A refusal is a misconfiguration, not an outage: said once, where a user sees it.
    (warning,) = [w for w in record if w.category is RuntimeWarning]
    assert str(warning.message).startswith(
        f"fast-crewai: the daemon at {token_daemon.endpoint} refused the token "
        "(UNAUTHENTICATED: ")
