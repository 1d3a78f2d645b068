"""DaemonKickoffStorage against CrewAI's own KickoffTaskOutputsSQLiteStorage: the same calls give
the same load() results; per-kickoff logs survive later kickoffs; the local file stays what
`crewai log-tasks-outputs` expects; refused rows fall back to the local file."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from pydantic import BaseModel

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


class Verdict(BaseModel):
    ok: bool
    score: float


def _task(key: str | None = "k") -> Any:
    return SimpleNamespace(id=uuid.uuid4(), key=key and f"{key}-{uuid.uuid4().hex[:6]}",
                           expected_output=f"expected {key}")


def _output(raw: str) -> dict[str, Any]:
    # What Crew._store_execution_log stores, including values CrewJSONEncoder must convert.
    return {"description": f"do {raw}", "summary": raw[:10], "raw": raw,
            "pydantic": Verdict(ok=True, score=0.5), "json_dict": {"n": [1, 2.5, None]},
            "output_format": "raw", "agent": "Researcher",
            "messages": [{"role": "user", "content": f"prompt for {raw} \u00e9"}],
            "when": dt.datetime(2026, 1, 2, 3, 4, 5)}


def _without_timestamps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        assert TIMESTAMP.match(row["timestamp"]), row["timestamp"]
    return [{k: v for k, v in row.items() if k != "timestamp"} for row in rows]


def _run_script(storage: Any, tasks: list[Any]) -> list[dict[str, Any]]:
    """One kickoff's worth of calls, as CrewAI makes them (plus the odd ones)."""
    storage.delete_all()  # prepare_kickoff
    storage.add(tasks[2], _output("c"), 2, False, {"topic": "otters"})
    storage.add(tasks[0], _output("a"), 0, inputs={"topic": "otters"})
    storage.add(tasks[1], _output("b"), 1, False, None)
    storage.add(tasks[3], _output("b2"), 1, False, {"topic": "otters"})  # same index: after b
    storage.add(tasks[0], _output("a-again"), 0, True, {"topic": "seals"})  # INSERT OR REPLACE
    # What TaskOutputStorageHandler.update sends for a replayed task...
    storage.update(0, task_id=str(tasks[0].id), task_key=tasks[0].key,
                   expected_output="changed", output=_output("a-replayed"), was_replayed=True,
                   inputs={"topic": "walrus"})
    # ...and an update hitting two rows of one index.
    storage.update(1, output=_output("both"), was_replayed=True)
    storage.update(7, was_replayed=True)  # no such row: a warning only
    return storage.load()


@pytest.fixture
def reference(tmp_path: Path) -> Any:
    from crewai.memory.storage.kickoff_task_outputs_storage import (
        KickoffTaskOutputsSQLiteStorage,
    )

    return KickoffTaskOutputsSQLiteStorage(str(tmp_path / "reference.db"))


def test_same_calls_same_rows_as_crewai(daemon: Any, use_daemon: Callable[[Any], None],
                                        crewai_home: Any, reference: Any,
                                        caplog: pytest.LogCaptureFixture) -> None:
    from crewai.utilities.errors import DatabaseOperationError
    from crewai_cli.task_outputs import load_task_outputs

    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, mirror_flush

    use_daemon(daemon)
    tasks = [_task("a"), _task("b"), _task(None), _task("d")]
    ours = DaemonKickoffStorage()
    assert ours.db_path == str(crewai_home.kickoff_db)
    with caplog.at_level(logging.WARNING):
        got = _run_script(ours, tasks)
    expected = _run_script(reference, tasks)
    assert _without_timestamps(got) == _without_timestamps(expected)
    assert [r["task_index"] for r in got] == [0, 1, 1, 2]
    assert [r["was_replayed"] for r in got] == [1, 1, 1, 0]
    assert got[0]["inputs"] == {"topic": "walrus"}
    assert "No row found with task_index 7" in caplog.text
    # load() hands out copies: changing them changes nothing stored.
    got[0]["output"]["raw"] = "mutated"
    assert ours.load()[0]["output"]["raw"] == "a-replayed"
    for storage in (ours, reference):
        with pytest.raises(DatabaseOperationError):
            storage.update(0, no_such_column=1)

    # The local file is what `crewai log-tasks-outputs` reads: CrewAI's rows, CrewAI's shape.
    assert mirror_flush(10)
    assert _without_timestamps(load_task_outputs(str(crewai_home.kickoff_db))) == \
        _without_timestamps(load_task_outputs(reference.db_path))


def test_load_hands_out_copies_at_every_level(daemon: Any, use_daemon: Callable[[Any], None],
                                             crewai_home: Any, reference: Any) -> None:
    """As with CrewAI's load() (fresh json.loads every time), changing anything nested in what
    load() returned, or the dicts given to add(), changes no later load()."""
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage

    use_daemon(daemon)
    ours = DaemonKickoffStorage(mirror=False)
    task = _task("a")
    expected = []
    for storage in (ours, reference):
        storage.delete_all()
        output, inputs = _output("a"), {"topic": "otters", "tags": ["x", {"k": 1}]}
        storage.add(task, output, 0, False, inputs)
        output["messages"].append({"role": "late"})
        inputs["tags"][1]["k"] = 2
        first = storage.load()
        expected.append(_without_timestamps(storage.load()))
        first[0]["output"]["messages"][0]["content"] = "changed"
        first[0]["output"]["messages"].append({"role": "added"})
        first[0]["output"]["json_dict"]["n"].append(3)
        first[0]["inputs"]["tags"][1]["k"] = 3
        first[0]["task_index"] = 9
        first.append({})
        assert _without_timestamps(storage.load()) == expected[-1]
    assert expected[0] == expected[1]
    assert expected[0][0]["inputs"] == {"topic": "otters", "tags": ["x", {"k": 1}]}
    assert len(expected[0][0]["output"]["messages"]) == 1


def test_kickoffs_keep_their_logs_and_replay_finds_them(
        daemon: Any, use_daemon: Callable[[Any], None], crewai_home: Any) -> None:
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, hard_reset

    use_daemon(daemon)
    first, second = DaemonKickoffStorage(), DaemonKickoffStorage()
    first_tasks, second_tasks = [_task("x"), _task("y")], [_task("x"), _task("y")]
    first.delete_all()
    second.delete_all()
    for i in range(2):  # interleaved, as two crews running at once
        first.add(first_tasks[i], _output(f"first-{i}"), i, inputs={"run": 1})
        second.add(second_tasks[i], _output(f"second-{i}"), i, inputs={"run": 2})
    assert [r["output"]["raw"] for r in first.load()] == ["first-0", "first-1"]
    assert [r["output"]["raw"] for r in second.load()] == ["second-0", "second-1"]
    second.delete_all()  # e.g. kickoff_for_each's final reset: erases nothing

    # A fresh storage (another process) sees the project's latest kickoff, as CrewAI's file...
    fresh = DaemonKickoffStorage()
    assert [r["inputs"] for r in fresh.load()] == [{"run": 2}, {"run": 2}]
    # ...and replay by task id finds the kickoff that ran the task, not just the latest.
    assert fresh.attach_task(str(first_tasks[1].id))
    assert fresh.kickoff_id == first.kickoff_id
    fresh.update(1, output=_output("first-1-replayed"), was_replayed=True)
    rows = fresh.load()
    assert [r["output"]["raw"] for r in rows] == ["first-0", "first-1-replayed"]
    assert [r["was_replayed"] for r in rows] == [0, 1]
    assert not fresh.attach_task(str(uuid.uuid4()))  # unknown: CrewAI's local file decides

    with hard_reset():  # Crew.reset_memories("kickoff_outputs")
        fresh.delete_all()
    assert DaemonKickoffStorage().load() == []
    assert not DaemonKickoffStorage().attach_task(str(first_tasks[0].id))


def test_rows_the_daemon_refuses_continue_in_the_local_file(
        start_daemon: Callable[..., Any], use_daemon: Callable[[Any], None], crewai_home: Any,
        reference: Any, caplog: pytest.LogCaptureFixture) -> None:
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage

    use_daemon(start_daemon("--persistence_max_value_bytes=2K"))
    tasks = [_task("a"), _task("b"), _task("c")]
    big = _output("x" * 5000)  # CrewAI stores it; this daemon refuses it
    ours = DaemonKickoffStorage()
    for storage in (ours, reference):
        storage.delete_all()
        storage.add(tasks[0], _output("small"), 0)
        with caplog.at_level(logging.WARNING):
            storage.add(tasks[1], big, 1)  # must not raise
        storage.add(tasks[2], _output("after"), 2)
    assert "RESOURCE_EXHAUSTED" in caplog.text
    assert _without_timestamps(ours.load()) == _without_timestamps(reference.load())
    assert len(ours.load()) == 3
    # The next kickoff uses the daemon again.
    ours.delete_all()
    ours.add(tasks[0], _output("next"), 0)
    assert not ours._local_mode
    assert [r["output"]["raw"] for r in ours.load()] == ["next"]


def test_a_kickoff_that_went_on_in_the_file_replays_from_the_file(
        start_daemon: Callable[..., Any], use_daemon: Callable[[Any], None],
        crewai_home: Any) -> None:
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, mirror_flush

    use_daemon(start_daemon("--persistence_max_value_bytes=2K"))
    tasks = [_task("a"), _task("b"), _task("c")]
    running = DaemonKickoffStorage()
    running.delete_all()
    running.add(tasks[0], _output("a"), 0)
    running.add(tasks[1], _output("b" * 5000), 1)  # refused: CrewAI's file from here on
    running.add(tasks[2], _output("c"), 2)
    mirror_flush()

    # `crewai replay -t <first task>` in a new process: the daemon knows the task, but only the
    # part of its kickoff written before the refusal.
    replay = DaemonKickoffStorage()
    assert not replay.attach_task(str(tasks[0].id))
    assert [r["output"]["raw"][:1] for r in replay.load()] == ["a", "b", "c"]
    replay.update(0, output=_output("a-replayed"), was_replayed=True)
    replay.update(2, output=_output("c-replayed"), was_replayed=True)
    mirror_flush()
    from crewai.memory.storage.kickoff_task_outputs_storage import (
        KickoffTaskOutputsSQLiteStorage,
    )

    in_file = KickoffTaskOutputsSQLiteStorage(str(crewai_home.kickoff_db)).load()
    assert [r["output"]["raw"][:10] for r in in_file] == ["a-replayed", "b" * 10, "c-replayed"]


def test_a_replay_rewriting_crewais_file_keeps_the_rows_timestamps(
        daemon: Any, use_daemon: Callable[[Any], None], crewai_home: Any) -> None:
    import time

    from crewai.memory.storage.kickoff_task_outputs_storage import (
        KickoffTaskOutputsSQLiteStorage,
    )

    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, mirror_flush

    use_daemon(daemon)
    tasks = [_task("a"), _task("b")]
    first = DaemonKickoffStorage()
    first.delete_all()
    for i, task in enumerate(tasks):
        first.add(task, _output(str(i)), i)
    stored = [r["timestamp"] for r in first.load()]
    DaemonKickoffStorage().delete_all()  # another kickoff starts...
    DaemonKickoffStorage().add(_task("z"), _output("z"), 0)  # ...and takes the file
    time.sleep(1.1)  # CrewAI's CURRENT_TIMESTAMP has one-second steps

    replay = DaemonKickoffStorage()
    assert replay.attach_task(str(tasks[0].id))  # the file shows the replayed kickoff again
    mirror_flush()
    in_file = KickoffTaskOutputsSQLiteStorage(str(crewai_home.kickoff_db)).load()
    assert [r["task_id"] for r in in_file] == [str(t.id) for t in tasks]
    assert [r["timestamp"] for r in in_file] == stored


def test_concurrent_kickoffs_of_one_process_leave_one_kickoffs_log_in_the_file(
        daemon: Any, use_daemon: Callable[[Any], None], crewai_home: Any) -> None:
    from crewai.memory.storage.kickoff_task_outputs_storage import (
        KickoffTaskOutputsSQLiteStorage,
    )

    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, mirror_flush

    use_daemon(daemon)
    first, second = DaemonKickoffStorage(), DaemonKickoffStorage()  # kickoff_for_each_async
    tasks = {name: [_task(name), _task(name)] for name in ("first", "second")}
    first.delete_all()
    second.delete_all()
    for i in range(2):  # interleaved; `second` writes its first row last
        first.add(tasks["first"][i], _output(f"first-{i}"), i)
        second.add(tasks["second"][i], _output(f"second-{i}"), i)
    first.update(1, output=_output("first-1-replayed"), was_replayed=True)
    mirror_flush()
    in_file = KickoffTaskOutputsSQLiteStorage(str(crewai_home.kickoff_db)).load()
    assert [(r["output"]["raw"], r["was_replayed"]) for r in in_file] == [
        ("second-0", 0), ("second-1", 0)]
    # Each kickoff's own log is whole in the daemon.
    assert [r["output"]["raw"] for r in first.load()] == ["first-0", "first-1-replayed"]
    assert [r["output"]["raw"] for r in second.load()] == ["second-0", "second-1"]


def test_patched_handler_skips_the_load_before_every_task(
        daemon: Any, use_daemon: Callable[[Any], None], crewai_home: Any, reference: Any) -> None:
    from crewai.utilities.task_output_storage_handler import TaskOutputStorageHandler

    from fast_crewai.client.connection import get_connection
    from fast_crewai.patches.persistence import PersistencePatcher
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage

    use_daemon(daemon)
    patcher = PersistencePatcher()
    assert patcher.instrument(get_connection().config).applied
    try:
        ours = TaskOutputStorageHandler()
        assert isinstance(ours.storage, DaemonKickoffStorage)
        loads: list[int] = []
        original_load = ours.storage.load
        ours.storage.load = (  # type: ignore[method-assign]
            lambda: loads.append(1) or original_load())
        crewai = TaskOutputStorageHandler()
        crewai.storage = reference  # a plain storage: the original update runs
        tasks = [_task("a"), _task("b")]
        replayed_task = _task("b")
        for handler in (ours, crewai):
            handler.reset()
            for i, task in enumerate(tasks):
                handler.update(i, {"task": task, "output": _output(f"o{i}"), "task_index": i,
                                   "inputs": {"topic": "otters"}, "was_replayed": False})
            handler.update(1, {"task": replayed_task, "output": _output("again"),
                               "task_index": 1, "inputs": {"topic": "otters"},
                               "was_replayed": True})
        assert loads == []  # CrewAI's handler loads the whole log before each of these
        got = ours.load()
        assert _without_timestamps(got) == _without_timestamps(crewai.load())
        assert [r["task_id"] for r in got] == [str(tasks[0].id), str(replayed_task.id)]
    finally:
        patcher.uninstrument()


def test_the_mirror_guards_crewais_file_with_crewais_own_lock(
        daemon: Any, use_daemon: Callable[[Any], None], crewai_home: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the shim's lock backend in place (every lock_store.lock held in the daemon), the
    thread that mirrors the replay log into CrewAI's local file locks that file with CrewAI's
    own file lock: the file is this machine's, the lock then also excludes CrewAI processes
    without fast-crewai, and a daemon lock cost a HoldLock stream per row."""
    import os
    import threading

    from crewai_cli.task_outputs import load_task_outputs
    from crewai_core import lock_store

    from fast_crewai.client.connection import get_connection
    from fast_crewai.patches.persistence import PersistencePatcher
    from fast_crewai.persistence import locks
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, mirror_flush

    use_daemon(daemon)
    asked_daemon: list[tuple[str, str]] = []  # (lock name, thread)
    real_acquire = locks._Hold.acquire

    def acquire(self: Any) -> None:
        asked_daemon.append((self.name, threading.current_thread().name))
        real_acquire(self)

    file_locked: list[str] = []
    real_file_lock = locks.crewai_default_lock

    def file_lock(name: str, *, timeout: float = 120.0) -> Any:
        file_locked.append(name)
        return real_file_lock(name, timeout=timeout)

    monkeypatch.setattr(locks._Hold, "acquire", acquire)
    monkeypatch.setattr(locks, "crewai_default_lock", file_lock)
    patcher = PersistencePatcher()
    assert patcher.instrument(get_connection().config).applied
    try:
        with lock_store.lock("foreground", timeout=5):  # any other lock: held in the daemon
            pass
        storage = DaemonKickoffStorage()
        tasks = [_task(key) for key in "abc"]
        for i, task in enumerate(tasks):
            storage.add(task, _output(f"row {i}"), i, False, {})
        assert mirror_flush(10)
    finally:
        patcher.uninstrument()
    assert asked_daemon == [("foreground", threading.current_thread().name)]
    file_name = f"sqlite:{os.path.realpath(storage.db_path)}"
    # The first row clears the file, then each row is added: every change under the file lock.
    assert file_locked.count(file_name) >= len(tasks), file_locked
    assert set(file_locked) == {file_name}
    assert [row["task_id"] for row in load_task_outputs(storage.db_path)] == \
        [str(task.id) for task in tasks]


def test_rows_queued_for_the_mirror_are_written_in_one_transaction(
        daemon: Any, use_daemon: Callable[[Any], None], crewai_home: Any,
        reference: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """When rows arrive faster than the mirror writes CrewAI's file (a burst, parallel crews in
    one process), the adds queued for one file are applied in one transaction, and the file
    ends as CrewAI's own storage leaves it after the same calls."""
    import threading

    from crewai_cli.task_outputs import load_task_outputs

    from fast_crewai.persistence import kickoff
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, mirror_flush

    use_daemon(daemon)
    batches: list[int] = []
    real_apply = kickoff._apply_adds

    def apply_adds(adds: list[Any]) -> None:
        batches.append(len(adds))
        real_apply(adds)

    monkeypatch.setattr(kickoff, "_apply_adds", apply_adds)
    gate = threading.Event()
    kickoff._mirror.submit(lambda: gate.wait(10))  # the mirror is busy meanwhile
    ours = DaemonKickoffStorage()
    tasks = [_task(key) for key in "abcde"]
    for storage in (ours, reference):
        storage.delete_all()  # kickoff 1
        for i, task in enumerate(tasks[:3]):
            storage.add(task, _output(f"first {i}"), i, False, {"topic": "otters"})
        storage.delete_all()  # kickoff 2: the file shows it alone
        for i, task in enumerate(tasks[3:]):
            storage.add(task, _output(f"second {i}"), i, i == 1, None)
    gate.set()
    assert mirror_flush(10)
    assert batches == [5]
    assert _without_timestamps(load_task_outputs(ours.db_path)) == \
        _without_timestamps(load_task_outputs(reference.db_path))
    assert [row["task_id"] for row in load_task_outputs(ours.db_path)] == \
        [str(task.id) for task in tasks[3:]]


def test_a_replay_in_the_file_that_renamed_tasks_still_replays_from_the_file(
        start_daemon: Callable[..., Any], use_daemon: Callable[[Any], None],
        crewai_home: Any) -> None:
    """A kickoff that went on in the file (a row the daemon refused) was replayed there, which
    gave the tasks it reran new ids in the file only. A later replay must still use the file
    (the daemon has the part before the refusal): replacing the file with it lost rows."""
    from crewai.memory.storage.kickoff_task_outputs_storage import (
        KickoffTaskOutputsSQLiteStorage,
    )

    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, mirror_flush

    use_daemon(start_daemon("--persistence_max_value_bytes=2K"))
    tasks = [_task("a"), _task("b"), _task("c")]
    running = DaemonKickoffStorage()
    running.delete_all()
    running.add(tasks[0], _output("a"), 0)
    running.add(tasks[1], _output("b"), 1)
    running.add(tasks[2], _output("c" * 5000), 2)  # refused: CrewAI's file from here on
    mirror_flush()
    # A replay from task b in a new process reruns b and c: new task ids, in the file only.
    first_replay = DaemonKickoffStorage()
    assert not first_replay.attach_task(str(tasks[1].id))
    rerun = [_task("b"), _task("c")]
    first_replay.update(1, task_id=str(rerun[0].id), output=_output("b2"), was_replayed=True)
    first_replay.update(2, task_id=str(rerun[1].id), output=_output("c2"), was_replayed=True)
    mirror_flush()

    for replayed in (tasks[0], tasks[1]):  # the first task, and the one renamed since
        again = DaemonKickoffStorage()
        assert not again.attach_task(str(replayed.id))
        mirror_flush()
        in_file = KickoffTaskOutputsSQLiteStorage(str(crewai_home.kickoff_db)).load()
        assert [r["output"]["raw"] for r in in_file] == ["a", "b2", "c2"], replayed
        assert [r["output"]["raw"] for r in again.load()] == ["a", "b2", "c2"]


def test_an_erase_by_one_crew_is_seen_by_the_others_of_the_process(
        daemon: Any, use_daemon: Callable[[Any], None], crewai_home: Any) -> None:
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, hard_reset

    use_daemon(daemon)
    running, resetting = DaemonKickoffStorage(), DaemonKickoffStorage()
    running.delete_all()
    running.add(_task("a"), _output("a"), 0)
    assert len(running.load()) == 1
    with hard_reset():  # another crew's reset_memories("kickoff_outputs")
        resetting.delete_all()
    assert running.load() == []  # CrewAI's emptied file says the same
    running.add(_task("b"), _output("b"), 1)
    assert [r["output"]["raw"] for r in running.load()] == ["b"]


def test_a_multiprocessing_child_writes_its_pending_rows_to_crewais_file_before_exiting(
        tmp_path: Any) -> None:
    """A multiprocessing (fork) child ends with os._exit, which skips atexit."""
    import multiprocessing
    import time

    from fast_crewai.persistence import kickoff

    marker = tmp_path / "applied"

    def child() -> None:
        def slow_write() -> None:
            time.sleep(0.5)
            marker.write_text("written")

        kickoff._mirror.submit(slow_write)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(30)
    assert process.exitcode == 0
    assert marker.read_text() == "written"
