"""Flow persistence across a daemon outage: what a process writes while the daemon is away (a
state, the clearing of pending feedback) is what the next process finds once it is back, as
with CrewAI's own file; a state only in CrewAI's file is not hidden by an older one in the
daemon.

The writer is a separate process that starts with the daemon up (so it holds the daemon-backed
persistence, as a flow that started normally does), goes on after the daemon is SIGKILLed, and
exits before it returns: its journal is replayed by the next process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# Runs the commands read from stdin, one per line, against DaemonFlowPersistence; answers each
# with one line.
_WRITER = r"""
import json, sys
from fast_crewai.persistence.flow import daemon_flow_persistence_class
from crewai.flow.async_feedback.types import PendingFeedbackContext
persistence = daemon_flow_persistence_class()()
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "save":
        persistence.save_state(command["flow"], command["method"], command["state"])
    elif command["op"] == "pending":
        context = PendingFeedbackContext(flow_id=command["flow"], flow_class="tests.Review",
                                         method_name="review", method_output="draft",
                                         message="Approve?")
        persistence.save_pending_feedback(command["flow"], context, command["state"])
    elif command["op"] == "clear":
        persistence.clear_pending_feedback(command["flow"])
    print("ok", flush=True)
"""


class _Writer:
    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _WRITER], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def do(self, **command: Any) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def exit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(60) == 0


def _env(endpoint: str, crewai_home: Any) -> dict[str, str]:
    from persistence_support import worker_env

    return worker_env(endpoint, crewai_home)


def _journals(crewai_home: Any) -> list[Path]:
    from fast_crewai.persistence.outage import JOURNAL_DIRNAME

    return sorted((crewai_home.data_dir / JOURNAL_DIRNAME).glob("*.journal"))


def test_states_and_a_cleared_feedback_written_during_an_outage_reach_the_next_process(
        restartable_daemon: Any, use_daemon: Any, crewai_home: Any) -> None:
    from fast_crewai.persistence import _link, conversions
    from fast_crewai.persistence.flow import daemon_flow_persistence_class

    daemon = restartable_daemon.start()
    writer = _Writer(_env(daemon.endpoint, crewai_home))
    writer.do(op="save", flow="f1", method="step1", state={"id": "f1", "count": 1})
    writer.do(op="pending", flow="f2", state={"id": "f2", "draft": "v1"})
    restartable_daemon.kill()
    writer.do(op="save", flow="f1", method="step2", state={"id": "f1", "count": 2})
    writer.do(op="save", flow="f1", method="step3", state={"id": "f1", "count": 3})
    writer.do(op="clear", flow="f2")
    writer.exit()
    assert len(_journals(crewai_home)) == 1  # the writer could not replay it: left for others

    restartable_daemon.start()
    use_daemon(daemon)
    reader = daemon_flow_persistence_class()()
    assert reader.load_state("f1") == {"id": "f1", "count": 3}
    assert reader.load_pending_feedback("f2") is None  # CrewAI: "No pending feedback found"
    assert _journals(crewai_home) == []
    # The daemon itself has them now (replayed in order), for processes on other machines.
    state = _link.call("LoadFlowState", conversions.load_flow_state("f1"))
    assert json.loads(state.state_json) == {"id": "f1", "count": 3}
    assert state.method_name == "step3"
    assert not _link.call("LoadPendingFeedback", conversions.load_pending_feedback("f2")).found


def test_a_newer_state_only_in_crewais_file_wins_over_the_daemons(
        daemon: Any, use_daemon: Any, crewai_home: Any) -> None:
    from crewai.flow.persistence.sqlite import SQLiteFlowPersistence

    from fast_crewai.persistence import _link, conversions
    from fast_crewai.persistence.flow import daemon_flow_persistence_class

    use_daemon(daemon)
    ours = daemon_flow_persistence_class()()
    ours.save_state("f1", "step1", {"id": "f1", "count": 1})
    # A process that started while the daemon was away used CrewAI's own persistence.
    SQLiteFlowPersistence(str(crewai_home.data_dir / "flow_states.db")).save_state(
        "f1", "step2", {"id": "f1", "count": 2})
    assert ours.load_state("f1") == {"id": "f1", "count": 2}
    state = _link.call("LoadFlowState", conversions.load_flow_state("f1"))
    assert json.loads(state.state_json) == {"id": "f1", "count": 2}  # given to the daemon
    ours.save_state("f1", "step3", {"id": "f1", "count": 3})  # newer than the file's again
    assert ours.load_state("f1") == {"id": "f1", "count": 3}


def test_feedback_paused_during_an_outage_and_resumed_elsewhere_is_not_pending_here_again(
        restartable_daemon: Any, use_daemon: Any, crewai_home: Any) -> None:
    """Pending feedback saved during an outage is journaled and copied into this machine's
    file. Once the journal is replayed the daemon holds it: the file's copy goes, so after
    another machine resumed the flow (clearing it in the daemon) it is not pending here again
    (CrewAI, one file: "No pending feedback found" for a second resume)."""
    import sqlite3

    from fast_crewai.persistence import _link, conversions
    from fast_crewai.persistence.flow import daemon_flow_persistence_class

    daemon = restartable_daemon.start()
    writer = _Writer(_env(daemon.endpoint, crewai_home))
    writer.do(op="save", flow="f3", method="draft", state={"id": "f3", "draft": "v0"})
    restartable_daemon.kill()
    writer.do(op="pending", flow="f3", state={"id": "f3", "draft": "v1"})
    writer.do(op="pending", flow="f4", state={"id": "f4", "draft": "v1"})
    writer.exit()
    local_file = crewai_home.data_dir / "flow_states.db"

    def pending_in_file() -> list[str]:
        with sqlite3.connect(local_file) as conn:
            return sorted(row[0] for row in conn.execute("SELECT flow_uuid FROM pending_feedback"))

    assert pending_in_file() == ["f3", "f4"]

    restartable_daemon.start()
    use_daemon(daemon)
    here = daemon_flow_persistence_class()()
    assert here.load_pending_feedback("f3") is not None  # replays the journal first
    assert pending_in_file() == []
    # Another machine resumes f3: the daemon's pending feedback is cleared.
    _link.call("ClearPendingFeedback", conversions.clear_pending_feedback("f3"))
    assert here.load_pending_feedback("f3") is None
    assert here.load_pending_feedback("f4") is not None


def test_a_process_that_stays_idle_hands_over_its_journal_once_the_daemon_is_back(
        restartable_daemon: Any, use_daemon: Any, crewai_home: Any) -> None:
    """A flow paused for a person during an outage makes no further call: its journal still
    reaches the daemon soon after it returns, not only when the process calls again or exits."""
    import time

    from fast_crewai.persistence import _link, conversions

    daemon = restartable_daemon.start()
    writer = _Writer(_env(daemon.endpoint, crewai_home))
    writer.do(op="save", flow="f5", method="step1", state={"id": "f5", "count": 1})
    restartable_daemon.kill()
    writer.do(op="pending", flow="f5", state={"id": "f5", "count": 2})
    restartable_daemon.start()
    use_daemon(daemon)
    deadline = time.monotonic() + 10
    found = False
    while not found and time.monotonic() < deadline:
        found = _link.call("LoadPendingFeedback", conversions.load_pending_feedback("f5")).found
        time.sleep(0.2)
    assert found, "the idle process's journal did not reach the daemon"
    assert _journals(crewai_home) == []
    writer.exit()
