"""PersistencePatcher round trip: instrument twice, the kill switch, uninstrument restores every
original, re-instrument works."""

from __future__ import annotations

from typing import Any, Callable

import pytest


def _originals() -> dict[str, Any]:
    from crewai.crew import Crew
    from crewai.flow.persistence import factory
    from crewai.utilities.task_output_storage_handler import TaskOutputStorageHandler
    from crewai_core import lock_store

    return {
        "handler_init": vars(TaskOutputStorageHandler)["__init__"],
        "handler_update": vars(TaskOutputStorageHandler)["update"],
        "replay": vars(Crew)["replay"],
        "reset_memories": vars(Crew)["reset_memories"],
        "flow_factory": factory._factory,
        "lock_backend": lock_store._backend,
    }


def test_round_trip(daemon: Any, use_daemon: Callable[[Any], None], crewai_home: Any) -> None:
    from crewai.flow.persistence.factory import default_flow_persistence
    from crewai.flow.persistence.sqlite import SQLiteFlowPersistence
    from crewai.memory.storage.kickoff_task_outputs_storage import (
        KickoffTaskOutputsSQLiteStorage,
    )
    from crewai.utilities.task_output_storage_handler import TaskOutputStorageHandler
    from crewai_core import lock_store

    from fast_crewai.client.connection import get_connection
    from fast_crewai.killswitch import suppress_acceleration
    from fast_crewai.patches.persistence import PersistencePatcher
    from fast_crewai.persistence.flow import daemon_flow_persistence_class
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage

    use_daemon(daemon)
    config = get_connection().config
    before = _originals()
    assert before["flow_factory"] is None and before["lock_backend"] is None

    patcher = PersistencePatcher()
    for _ in range(2):  # idempotent
        result = patcher.instrument(config)
        assert result.applied and result.reason == "patched", result
    patched = _originals()
    assert patched["handler_init"] is not before["handler_init"]
    assert patched["handler_update"] is not before["handler_update"]
    assert patched["replay"] is not before["replay"]
    assert patched["reset_memories"] is not before["reset_memories"]
    assert callable(patched["flow_factory"]) and callable(patched["lock_backend"])

    assert isinstance(TaskOutputStorageHandler().storage, DaemonKickoffStorage)
    assert isinstance(default_flow_persistence(), daemon_flow_persistence_class())
    with lock_store.lock("round-trip", timeout=5):
        pass

    with suppress_acceleration():  # the kill switch: CrewAI's own objects
        assert isinstance(TaskOutputStorageHandler().storage, KickoffTaskOutputsSQLiteStorage)
        assert type(default_flow_persistence()) is SQLiteFlowPersistence
        with lock_store.lock("round-trip", timeout=5):
            pass

    patcher.uninstrument()
    patcher.uninstrument()
    assert _originals() == before
    assert isinstance(TaskOutputStorageHandler().storage, KickoffTaskOutputsSQLiteStorage)
    assert type(default_flow_persistence()) is SQLiteFlowPersistence

    assert patcher.instrument(config).applied
    assert isinstance(TaskOutputStorageHandler().storage, DaemonKickoffStorage)
    patcher.uninstrument()
    assert _originals() == before


def test_unreachable_daemon_keeps_crewai_objects(dead_endpoint: str, crewai_home: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from crewai.flow.persistence.factory import default_flow_persistence
    from crewai.flow.persistence.sqlite import SQLiteFlowPersistence
    from crewai.memory.storage.kickoff_task_outputs_storage import (
        KickoffTaskOutputsSQLiteStorage,
    )
    from crewai.utilities.task_output_storage_handler import TaskOutputStorageHandler
    from crewai_core import lock_store

    from fast_crewai.client.connection import get_connection, reset_connection
    from fast_crewai.patches.persistence import PersistencePatcher

    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", dead_endpoint)
    monkeypatch.setenv("FAST_CREWAI_CONNECT_TIMEOUT", "200ms")
    reset_connection()
    patcher = PersistencePatcher()
    assert patcher.instrument(get_connection().config).applied
    try:
        assert isinstance(TaskOutputStorageHandler().storage, KickoffTaskOutputsSQLiteStorage)
        assert type(default_flow_persistence()) is SQLiteFlowPersistence
        with lock_store.lock("unreachable", timeout=5):  # CrewAI's file lock
            pass
    finally:
        patcher.uninstrument()
