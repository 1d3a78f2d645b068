"""PersistenceService over the wire: bad input gets the right status naming the field and stores
nothing; `fast-crewai backup` makes a consistent copy; legacy long-term memory ordering."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest
from support import run_cli


def _add(task_id: str, index: int, output_json: str = '{"raw": "r"}') -> Any:
    from fast_crewai.persistence import conversions

    return conversions.add_task_output(
        kickoff_id="k", namespace="/proj/db", task_id=task_id, task_key="key",
        expected_output="e", output_json=output_json, task_index=index, inputs_json="{}",
        was_replayed=False)


def test_bad_input_is_refused_naming_the_field(start_daemon: Callable[..., Any],
                                               use_daemon: Callable[[Any], None]) -> None:
    from fast_crewai import errors
    from fast_crewai.persistence import _link, conversions

    use_daemon(start_daemon("--persistence_max_value_bytes=4K"))
    _link.call("AddTaskOutput", _add("kept", 0))
    with pytest.raises(errors.InvalidArgument, match=r"row\.output_json: invalid JSON at byte"):
        _link.call("AddTaskOutput", _add("t1", 1, '{"raw": '))
    with pytest.raises(errors.ResourceExhausted, match=r"row\.output_json: \d+ bytes is more"):
        _link.call("AddTaskOutput", _add("t1", 1, '"' + "x" * 5000 + '"'))
    with pytest.raises(errors.InvalidArgument, match=r"row\.timestamp: must be a UTC time"):
        _link.call("AddTaskOutput", conversions.with_timestamp(_add("t1", 1), "2026-11-27T10:00"))
    with pytest.raises(errors.NotFound, match="task_index: no row with task_index 9"):
        _link.call("UpdateTaskOutput",
                   conversions.update_task_output("k", 9, {"was_replayed": True}))
    with pytest.raises(errors.InvalidArgument, match="kickoff_id: must not be empty"):
        _link.call("UpdateTaskOutput",
                   conversions.update_task_output("", 0, {"was_replayed": True}))
    with pytest.raises(errors.InvalidArgument, match="metadata_json: invalid JSON"):
        _link.call("SaveLongTermMemory", conversions.save_ltm("ns", "d", "{nope", "1", 1.0))
    rows = _link.call("LoadTaskOutputs", conversions.load_task_outputs(kickoff_id="k")).rows
    assert [r.task_id for r in rows] == ["kept"]  # nothing of the rejected requests


def test_any_state_python_json_writes_and_reads_is_accepted(
        daemon: Any, use_daemon: Callable[[Any], None]) -> None:
    """CrewAI's own file keeps any JSON its json.dumps writes; the daemon must not refuse one
    for its nesting (it refused 511 levels; Python's json goes to nearly 1000)."""
    import json

    from fast_crewai.persistence import _link, conversions

    use_daemon(daemon)
    deepest = None
    for depth in range(1000, 0, -1):
        value: Any = "leaf"
        for _ in range(depth):
            value = [value]
        try:
            text = json.dumps({"id": "deep", "nested": value})
            json.loads(text)
        except RecursionError:
            continue
        deepest = depth
        break
    assert deepest is not None and deepest > 600, deepest
    _link.call("SaveFlowState", conversions.save_flow_state("deep", "step", text, "t"))
    state = _link.call("LoadFlowState", conversions.load_flow_state("deep"))
    assert state.state_json == text


def test_legacy_long_term_memory_orders_like_crewai(daemon: Any,
                                                    use_daemon: Callable[[Any], None],
                                                    tmp_path: Path) -> None:
    # The store the legacy patch attaches to LTMSQLiteStorage; `local` is its outage side,
    # which must not be reached while the daemon answers.
    from fast_crewai.legacy.ltm import DaemonLTMStore

    def local() -> Any:
        raise AssertionError("the daemon answered; CrewAI's local storage must not be used")

    use_daemon(daemon)
    ltm = DaemonLTMStore(str(tmp_path / "long_term_memory_storage.db"))
    (tmp_path / "other").mkdir()
    other = DaemonLTMStore(str(tmp_path / "other" / "long_term_memory_storage.db"))
    assert ltm.load("task", 3, local) is None
    for meta, when, score in ((1, "1700000001.5", 8), (2, "1700000003.0", 9),
                              (3, "1700000003.0", 2), (4, "1700000002.0", 1)):
        ltm.save("task", {"n": meta, "quality": score}, when, score, local)
    other.save("task", {"n": 99}, "1800000000.0", 1, local)
    got = ltm.load("task", 3, local)
    assert [e["metadata"]["n"] for e in got] == [3, 2, 4]  # datetime DESC, then score ASC
    assert got[0] == {"metadata": {"n": 3, "quality": 2}, "datetime": "1700000003.0",
                      "score": 2.0}
    ltm.reset(local)
    assert ltm.load("task", 3, local) is None
    assert other.load("task", 3, local) == [{"metadata": {"n": 99}, "datetime": "1800000000.0",
                                             "score": 1.0}]


def test_backup_cli_makes_a_consistent_copy(daemon: Any, use_daemon: Callable[[Any], None],
                                            tmp_path: Path) -> None:
    from fast_crewai.persistence import _link

    use_daemon(daemon)
    for i in range(3):
        _link.call("AddTaskOutput", _add(f"t{i}", i))
    dest = tmp_path / "backups" / "persistence-copy.db"
    dest.parent.mkdir()
    env = {"FAST_CREWAI_ENDPOINT": daemon.endpoint}
    result, _ = run_cli("backup", str(dest), env=env)
    assert result.returncode == 0, result.stderr
    assert "bytes" in result.stdout
    with sqlite3.connect(f"file:{dest}?mode=ro", uri=True) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT COUNT(*) FROM kickoff_task_outputs").fetchone()[0] == 3
    again, _ = run_cli("backup", str(dest), env=env)
    assert again.returncode == 1
    assert again.stderr.endswith("exists (pass --overwrite to replace it)\n"), again.stderr
    overwrite, _ = run_cli("backup", str(dest), "--overwrite", env=env)
    assert overwrite.returncode == 0, overwrite.stderr
    missing, _ = run_cli("backup", str(tmp_path / "no-such-dir" / "x.db"), env=env)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def _batch_row(task_id: str, index: int, output_json: str = '{"raw": "r"}') -> dict[str, Any]:
    return {"task_id": task_id, "task_key": None, "expected_output": "e",
            "output_json": output_json, "task_index": index, "inputs_json": "{}",
            "was_replayed": False}


def test_batch_add_is_validated_as_a_whole_and_stored_in_order(
        start_daemon: Callable[..., Any], use_daemon: Callable[[Any], None]) -> None:
    from fast_crewai import errors
    from fast_crewai.persistence import _link, conversions

    use_daemon(start_daemon("--persistence_max_value_bytes=200K"))

    def batch(rows: list[dict[str, Any]], kickoff: str = "kb") -> Any:
        return _link.call("AddTaskOutputs", conversions.add_task_outputs(
            kickoff_id=kickoff, namespace="/proj/db", rows=rows))

    with pytest.raises(errors.InvalidArgument, match=r"rows\[1\]\.output_json: invalid JSON"):
        batch([_batch_row("a", 0), _batch_row("b", 1, '{"raw": '), _batch_row("c", 2)])
    with pytest.raises(errors.ResourceExhausted, match=r"rows\[0\]\.output_json: \d+ bytes"):
        batch([_batch_row("a", 0, '"' + "x" * 300_000 + '"')])
    with pytest.raises(errors.InvalidArgument, match="rows: must not be empty"):
        batch([])
    found = _link.call("LoadTaskOutputs", conversions.load_task_outputs(kickoff_id="kb")).found
    assert not found  # a refused batch stores nothing, not even its first rows

    response = batch([_batch_row("c", 2), _batch_row("a", 0), _batch_row("b", 1)])
    assert [r.task_id for r in response.rows] == ["c", "a", "b"]  # request order
    assert all(r.timestamp for r in response.rows)
    # A batch too large to be queued from the gRPC thread takes the executor path, same result.
    big = '{"raw": "' + "y" * 100_000 + '"}'
    response = batch([_batch_row("d", 3, big), _batch_row("e", 4, big)])
    assert [r.task_id for r in response.rows] == ["d", "e"]
    rows = _link.call("LoadTaskOutputs", conversions.load_task_outputs(kickoff_id="kb")).rows
    assert [(r.task_id, r.task_index) for r in rows] == [("a", 0), ("b", 1), ("c", 2), ("d", 3),
                                                        ("e", 4)]


def test_queued_writes_leave_the_daemon_responsive_under_load(
        daemon: Any, use_daemon: Callable[[Any], None]) -> None:
    """Sixteen threads keep small writes (queued from gRPC threads, led by one leader at a
    time) in flight while other RPCs and a lock are served; every acknowledged row is stored."""
    import threading
    import time

    from fast_crewai.persistence import _link, conversions
    from fast_crewai.persistence import locks

    use_daemon(daemon)
    stop = threading.Event()
    acked: dict[int, list[str]] = {t: [] for t in range(16)}
    failures: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(100000):
                if stop.is_set():
                    return
                _link.call("AddTaskOutput", conversions.add_task_output(
                    kickoff_id=f"load-{t}", namespace="/proj/load", task_id=f"t{t}-{i}",
                    task_key=None, expected_output="e", output_json='{"raw": "' + "z" * 900 + '"}',
                    task_index=i, inputs_json="{}", was_replayed=False), timeout=10)
                acked[t].append(f"t{t}-{i}")
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 1.5
        served = 0
        while time.monotonic() < deadline:
            # Inline reads and an executor read answer while the writes go on.
            _link.call("LoadTaskOutputs", conversions.load_task_outputs(kickoff_id="load-0"),
                       timeout=5)
            _link.call("LoadFlowState", conversions.load_flow_state("nope"), timeout=5)
            served += 1
        hold = locks._Hold("persistence-under-load", 5.0, 10.0)  # the daemon's lock, no fallback
        hold.acquire()
        hold.release()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not failures, failures[:3]
    assert served > 0 and sum(len(v) for v in acked.values()) > 16
    for t, ids in acked.items():
        rows = _link.call("LoadTaskOutputs",
                          conversions.load_task_outputs(kickoff_id=f"load-{t}")).rows
        assert {r.task_id for r in rows} >= set(ids), f"writer {t} lost acknowledged rows"
