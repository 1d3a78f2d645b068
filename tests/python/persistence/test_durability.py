"""kill -9 of the daemon during writes: after a restart every acknowledged write is there and
PRAGMA integrity_check says ok. Also a corrupt persistence.db stops the daemon with exit code 3
and is left untouched."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

from support import clean_environ, free_port, server_binary


def test_acknowledged_writes_survive_kill_9_of_the_daemon(
        restartable_daemon: Any, use_daemon: Callable[[Any], None]) -> None:
    from fast_crewai import errors
    from fast_crewai.client.connection import reset_connection
    from fast_crewai.persistence import _link, conversions

    daemon = restartable_daemon.start()
    use_daemon(daemon)
    acked: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(t: int) -> None:
        for i in range(100000):
            if stop.is_set():
                return
            try:
                if t == 0:
                    _link.call("SaveFlowState", conversions.save_flow_state(
                        "flow-0", "step", f'{{"i": {i}}}', ""), timeout=5)
                    key = "flow-0"
                elif t == 3:  # batches of 5 rows: acknowledged together, stored together
                    rows = [{"task_id": f"task-{t}-{i}-{j}", "task_key": None,
                             "expected_output": "e", "output_json": f'{{"raw": "r{i}"}}',
                             "task_index": i, "inputs_json": "{}", "was_replayed": False}
                            for j in range(5)]
                    _link.call("AddTaskOutputs", conversions.add_task_outputs(
                        kickoff_id=f"kickoff-{t}", namespace="/proj/db", rows=rows), timeout=5)
                    with lock:
                        acked.extend((f"kickoff-{t}", row["task_id"], i) for row in rows)
                    continue
                else:
                    _link.call("AddTaskOutput", conversions.add_task_output(
                        kickoff_id=f"kickoff-{t}", namespace="/proj/db", task_id=f"task-{t}-{i}",
                        task_key=None, expected_output="e", output_json=f'{{"raw": "r{i}"}}',
                        task_index=i, inputs_json="{}", was_replayed=False), timeout=5)
                    key = f"kickoff-{t}"
            except errors.RpcError:
                return  # the daemon is gone: nothing after this was acknowledged
            with lock:
                acked.append((key, f"task-{t}-{i}", i))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.005)
    daemon.kill()  # SIGKILL mid-stream
    stop.set()
    for thread in threads:
        thread.join(10)
    assert len(acked) >= 300

    daemon.start()  # same data dir and port
    reset_connection()
    use_daemon(daemon)
    for t in (1, 2, 3):
        response = _link.call("LoadTaskOutputs",
                              conversions.load_task_outputs(kickoff_id=f"kickoff-{t}"))
        stored = {row.task_id for row in response.rows}
        lost = [task for key, task, _ in acked if key == f"kickoff-{t}" and task not in stored]
        assert not lost, f"acknowledged rows lost: {lost[:5]}"
        if t == 3:  # a batch is atomic: all five rows of a call, or none (the unacknowledged last)
            by_call: dict[str, int] = {}
            for task in stored:
                call = task.rsplit("-", 1)[0]
                by_call[call] = by_call.get(call, 0) + 1
            assert set(by_call.values()) == {5}, by_call
    last_flow = max(i for key, _, i in acked if key == "flow-0")
    state = _link.call("LoadFlowState", conversions.load_flow_state("flow-0"))
    assert state.found and int(state.state_json.split(":")[1].strip(" }")) >= last_flow
    with sqlite3.connect(f"file:{daemon.data_dir / 'persistence.db'}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_corrupt_database_stops_the_daemon_with_exit_code_3(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    damaged = data_dir / "persistence.db"
    damaged.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 40)
    digest = hashlib.sha256(damaged.read_bytes()).hexdigest()
    result = subprocess.run([str(server_binary()), "--listen", f"127.0.0.1:{free_port()}",
                             "--data_dir", str(data_dir)], capture_output=True, text=True,
                            env=clean_environ(), timeout=30)
    assert result.returncode == 3, result.stderr
    assert "persistence.db" in result.stderr
    assert hashlib.sha256(damaged.read_bytes()).hexdigest() == digest  # never wiped
