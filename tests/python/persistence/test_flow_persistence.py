"""Flow state through the daemon: a flow started in one process resumes in another; pending
feedback round-trips like CrewAI's SQLiteFlowPersistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable


def test_a_flow_started_in_one_process_resumes_in_another(
        daemon: Any, run_worker: Callable[..., dict[str, Any]], crewai_home: Any) -> None:
    first = run_worker("flow", endpoint=daemon.endpoint)
    assert first["persistence"] == "DaemonFlowPersistence"
    assert first["count"] == 1
    resumed = run_worker("flow", "--resume-id", first["id"], endpoint=daemon.endpoint)
    assert resumed["id"] == first["id"]
    assert resumed["count"] == 2  # the state of the first process was restored, then stepped
    assert resumed["history"][0] == first["history"][0] and len(resumed["history"]) == 2
    assert resumed["history"][0] != resumed["history"][1]  # two different processes
    # Nothing went to CrewAI's local flow file.
    assert not (crewai_home.data_dir / "flow_states.db").exists()


def test_a_checkpoint_of_a_flow_on_the_daemon_restores_in_a_new_process(
        daemon: Any, run_worker: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    """A checkpoint names its persistence by class ("DaemonFlowPersistence"); CrewAI looks the
    name up in a registry its subclasses join when defined, so a fresh process restoring it
    must have the class defined before any flow asks the factory for one."""
    outcomes = []
    for mode, expected in ((("--no-shim",), "SQLiteFlowPersistence"),
                           ((), "DaemonFlowPersistence")):
        run = run_worker(*mode, "checkpoint", "--dir", str(tmp_path / expected),
                         endpoint=daemon.endpoint)
        assert (run["persistence"], run["n"]) == (expected, 11)
        assert run["checkpoints"], run
        restored = run_worker(*mode, "checkpoint", "--restore", run["checkpoints"][0],
                              endpoint=daemon.endpoint)
        outcomes.append(restored)
    plain, shim = outcomes
    assert shim == plain and plain["restored"] >= 1, outcomes


def _context(flow_id: str) -> Any:
    from crewai.flow.async_feedback.types import PendingFeedbackContext

    return PendingFeedbackContext(flow_id=flow_id, flow_class="tests.ReviewFlow",
                                  method_name="review", method_output={"draft": "v1"},
                                  message="Approve?", emit=["approved", "rejected"],
                                  default_outcome="approved", metadata={"ticket": 7})


def test_state_and_pending_feedback_match_sqlite_flow_persistence(
        daemon: Any, use_daemon: Callable[[Any], None], crewai_home: Any, tmp_path: Path) -> None:
    from crewai.flow.persistence.sqlite import SQLiteFlowPersistence
    from pydantic import BaseModel

    from fast_crewai.persistence.flow import daemon_flow_persistence_class

    class State(BaseModel):
        id: str = "flow-1"
        step: int = 0
        notes: list[str] = []

    use_daemon(daemon)
    ours = daemon_flow_persistence_class()()
    reference = SQLiteFlowPersistence(str(tmp_path / "reference.db"))
    context_in = _context("flow-1")
    results = []
    for persistence in (ours, reference):
        persistence.save_state("flow-1", "start", State(step=1))
        persistence.save_state("flow-1", "next", {"id": "flow-1", "step": 2, "notes": ["é"]})
        persistence.save_pending_feedback("flow-1", context_in, State(step=3))
        state, context = persistence.load_pending_feedback("flow-1")
        results.append((persistence.load_state("flow-1"), state, context.to_dict(),
                        persistence.load_state("missing"),
                        persistence.load_pending_feedback("missing")))
        persistence.clear_pending_feedback("flow-1")
        assert persistence.load_pending_feedback("flow-1") is None
        assert persistence.load_state("flow-1") == {"id": "flow-1", "step": 3, "notes": []}
    assert results[0] == results[1]
    assert results[0][2] == context_in.to_dict()
    assert results[0][0] == {"id": "flow-1", "step": 3, "notes": []}
    assert not (crewai_home.data_dir / "flow_states.db").exists()
