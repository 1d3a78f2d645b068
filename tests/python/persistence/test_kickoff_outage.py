"""The replay log across a daemon outage: the rows and updates a kickoff writes while the daemon
is away go to CrewAI's file (as without fast-crewai) and to a durable journal, and reach the
daemon once it is back, with the time they were written: a replay from any process (or another
machine) then finds the whole kickoff, not the part written before the outage.

The writer of the second test is a separate process that starts with the daemon up, goes on
after the daemon is SIGKILLed, and exits before it returns: its journal is replayed by the next
process that uses the same replay log."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# Runs the commands read from stdin, one per line, against one DaemonKickoffStorage of CrewAI's
# default file; answers each with one JSON line.
_WRITER = r"""
import json, sys
from types import SimpleNamespace
from fast_crewai.persistence.kickoff import DaemonKickoffStorage
storage = DaemonKickoffStorage()
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "start":
        storage.delete_all()
    elif command["op"] == "add":
        task = SimpleNamespace(id=command["task_id"], key="key-" + command["task_id"],
                               expected_output="expected")
        storage.add(task, {"raw": command["raw"]}, command["index"], False, {"topic": "otters"})
    elif command["op"] == "update":
        storage.update(command["index"], output={"raw": command["raw"]}, was_replayed=True)
    print(json.dumps({"kickoff_id": storage.kickoff_id,
                      "raws": [r["output"]["raw"] for r in storage.load()]}), flush=True)
"""


class _Writer:
    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _WRITER], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def do(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def exit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(60) == 0


def _task(name: str) -> Any:
    return SimpleNamespace(id=f"{name}-{uuid.uuid4().hex[:8]}", key=f"key-{name}",
                           expected_output=f"expected {name}")


def _journals(crewai_home: Any) -> list[Path]:
    from fast_crewai.persistence.outage import KICKOFF_JOURNAL_DIRNAME

    return sorted((crewai_home.data_dir / KICKOFF_JOURNAL_DIRNAME).glob("*/*.journal"))


def _in_file(crewai_home: Any) -> list[dict[str, Any]]:
    from crewai.memory.storage.kickoff_task_outputs_storage import (
        KickoffTaskOutputsSQLiteStorage,
    )

    from fast_crewai.persistence.kickoff import mirror_flush

    mirror_flush()
    rows: list[dict[str, Any]] = KickoffTaskOutputsSQLiteStorage(
        str(crewai_home.kickoff_db)).load()
    return rows


def _in_daemon(**selector: str) -> list[dict[str, Any]]:
    """The rows the daemon itself has (what a process on another machine would load)."""
    from fast_crewai.persistence import _link, conversions

    response = _link.call("LoadTaskOutputs", conversions.load_task_outputs(**selector))
    assert response.found, selector
    return [conversions.row_dict(row) for row in response.rows]


def _raws(rows: list[dict[str, Any]]) -> list[str]:
    return [row["output"]["raw"] for row in rows]


def test_rows_written_during_an_outage_reach_the_daemon_when_it_returns(
        restartable_daemon: Any, use_daemon: Any, crewai_home: Any) -> None:
    from fast_crewai.memory import outage_session
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage

    daemon = restartable_daemon.start()
    use_daemon(daemon)
    a, b, c, d = (_task(name) for name in "abcd")
    storage = DaemonKickoffStorage()
    storage.delete_all()
    storage.add(a, {"raw": "a"}, 0)
    restartable_daemon.kill()
    storage.add(b, {"raw": "b"}, 1)  # must not raise: journaled, and in CrewAI's file
    time.sleep(1.1)  # rows in other seconds: their times must be the ones the file has
    storage.add(c, {"raw": "c"}, 2)
    storage.update(1, output={"raw": "b-updated"}, was_replayed=True)
    during = storage.load()
    assert _raws(during) == ["a", "b-updated", "c"]  # read from the file meanwhile
    assert _raws(_in_file(crewai_home)) == ["a", "b-updated", "c"]
    assert len(_journals(crewai_home)) == 1

    restartable_daemon.start()
    use_daemon(daemon)
    time.sleep(outage_session.PROBE_INTERVAL_S + 0.1)  # the session's next probe is due
    storage.add(d, {"raw": "d"}, 3)  # the journal goes first, then this row
    assert _journals(crewai_home) == []
    in_daemon = _in_daemon(kickoff_id=storage.kickoff_id)
    assert _raws(in_daemon) == ["a", "b-updated", "c", "d"]
    assert [r["was_replayed"] for r in in_daemon] == [0, 1, 0, 0]
    # The rows keep the time they were written (the file's), not the time of the replay.
    assert [r["timestamp"] for r in in_daemon[:3]] == [r["timestamp"] for r in during]
    assert in_daemon[1]["timestamp"] < in_daemon[2]["timestamp"]
    assert storage.load() == in_daemon  # served from the daemon's rows again
    assert DaemonKickoffStorage().load() == in_daemon  # the project's latest kickoff
    assert _raws(_in_file(crewai_home)) == ["a", "b-updated", "c", "d"]


def test_a_kickoff_that_went_on_during_an_outage_replays_whole_from_the_next_process(
        restartable_daemon: Any, use_daemon: Any, crewai_home: Any) -> None:
    from persistence_support import worker_env

    from fast_crewai.persistence.kickoff import DaemonKickoffStorage

    daemon = restartable_daemon.start()
    writer = _Writer(worker_env(daemon.endpoint, crewai_home))
    writer.do(op="start")
    first = writer.do(op="add", task_id="task-a", raw="a", index=0)
    restartable_daemon.kill()
    writer.do(op="add", task_id="task-b", raw="b", index=1)
    last = writer.do(op="add", task_id="task-c", raw="c", index=2)
    assert last["raws"] == ["a", "b", "c"]
    writer.exit()
    assert len(_journals(crewai_home)) == 1  # the writer could not replay it: left for others

    restartable_daemon.start()
    use_daemon(daemon)
    # `crewai replay -t task-a` in a new process: the daemon gets the journal first.
    replay = DaemonKickoffStorage()
    assert replay.attach_task("task-a")
    assert replay.kickoff_id == first["kickoff_id"]
    assert _raws(replay.load()) == ["a", "b", "c"]
    assert _journals(crewai_home) == []
    assert _raws(_in_daemon(task_id="task-c")) == ["a", "b", "c"]  # from anywhere
    replay.update(2, output={"raw": "c-replayed"}, was_replayed=True)
    assert _raws(_in_daemon(task_id="task-a")) == ["a", "b", "c-replayed"]
    assert _raws(_in_file(crewai_home)) == ["a", "b", "c-replayed"]


def test_an_erase_during_an_outage_is_not_undone_by_the_rows_journaled_before_it(
        restartable_daemon: Any, use_daemon: Any, crewai_home: Any) -> None:
    from fast_crewai.persistence import _link, conversions
    from fast_crewai.persistence.kickoff import DaemonKickoffStorage, hard_reset

    daemon = restartable_daemon.start()
    use_daemon(daemon)
    storage = DaemonKickoffStorage()
    storage.delete_all()
    storage.add(_task("a"), {"raw": "a"}, 0)
    restartable_daemon.kill()
    storage.add(_task("b"), {"raw": "b"}, 1)
    with hard_reset():  # `crewai reset-memories -k` while the daemon is away
        storage.delete_all()
    assert _in_file(crewai_home) == []

    restartable_daemon.start()
    use_daemon(daemon)
    assert DaemonKickoffStorage().load() == []  # replayed in order: the rows, then the erase
    assert _journals(crewai_home) == []
    response = _link.call("LoadTaskOutputs",
                          conversions.load_task_outputs(namespace=storage.namespace))
    assert not response.found
