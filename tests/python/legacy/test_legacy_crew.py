"""End to end on the installed legacy CrewAI: a crew with memory=True, the fake LLM and the fake
embedder runs through the daemon and a second process sees its short-term, entity and long-term
memories; without an embedder the crew's memory works offline (BM25); with the daemon
unreachable CrewAI's own storage is used and the crew's output is unchanged; a daemon lost
mid-run loses nothing (journal, replay)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from legacy_support import require_legacy

require_legacy()

from support import clean_environ, free_port  # noqa: E402

SCRIPT = Path(__file__).with_name("legacy_crew_script.py")


def crew(action: str, storage: Path, *args: str, endpoint: str | None = None) -> dict:
    env = {"CREWAI_STORAGE_DIR": str(storage), "ANONYMIZED_TELEMETRY": "False"}
    if endpoint:
        env["FAST_CREWAI_ENDPOINT"] = endpoint
    result = subprocess.run([sys.executable, str(SCRIPT), action, *args], capture_output=True,
                            text=True, env=clean_environ(env), timeout=300,
                            cwd=str(SCRIPT.parent), stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # CrewAI 0.203.2 may print a tracing prompt without a newline before our line.
    lines = [line.split("RESULT ", 1)[1] for line in result.stdout.splitlines()
             if "RESULT {" in line]
    assert len(lines) == 1, result.stdout[-4000:] + result.stderr[-4000:]
    return json.loads(lines[0])


def test_second_process_sees_the_crews_memories(daemon, tmp_path):
    storage = tmp_path / "project"
    run = crew("run", storage, "--shim", endpoint=daemon.endpoint)
    assert len(run["tasks"]) == 2 and all(run["tasks"])
    assert ["memory", "legacy_memory", True, "patched"] in run["patches"]
    # The current-CrewAI patches skip this release cleanly and patch nothing.
    others = [p for p in run["patches"] if p[1] != "legacy_memory"]
    assert len(others) >= 4
    assert all(not applied and "not supported" in reason for _, _, applied, reason in others)

    seen = crew("read", storage, "--shim", endpoint=daemon.endpoint)
    assert all(s.startswith("Daemon") for s in seen["stores"]), seen["stores"]
    stm = [r["content"] for r in seen["stm"]]
    assert any(task in content for task in run["tasks"] for content in stm), (stm, run["tasks"])
    assert {r["metadata"]["observation"] for r in seen["stm"]} == {
        "List three facts about otters.", "Summarise the facts about otters in one sentence."}
    assert [r["content"] for r in seen["entities"]][:1] == [
        "Sea otter(animal): A marine mammal that floats on its back in kelp forests."]
    assert seen["ltm"] and seen["ltm"][0]["metadata"]["agent"] == "Researcher"
    assert seen["ltm"][0]["metadata"]["quality"] == 8.0

    # The memories live in the daemon, not in CrewAI's local files: CrewAI alone sees none.
    local = crew("read", storage)
    assert local["stm"] == [] and local["entities"] == [] and not local["ltm"]


def test_crews_through_the_daemon_recall_what_crewai_recalls(daemon, tmp_path):
    # Two kickoffs, each in its own process: the prompts (hence the fake LLM's answers) hold
    # what memory recalled, so equal outputs mean equal recalls. CrewAI's crew searches its
    # collections before it first saves, which gives them Chroma's L2 distance.
    plain = [crew("run", tmp_path / "plain") for _ in range(2)]
    shim = [crew("run", tmp_path / "shim", "--shim", endpoint=daemon.endpoint) for _ in range(2)]
    assert [(r["raw"], r["tasks"]) for r in shim] == [(r["raw"], r["tasks"]) for r in plain]
    assert plain[1]["tasks"] != plain[0]["tasks"]  # the second kickoff recalled the first


def test_crew_memory_without_embedder_works_offline(daemon, tmp_path):
    storage = tmp_path / "project"
    run = crew("run", storage, "--shim", "--no-embedder", endpoint=daemon.endpoint)
    assert len(run["tasks"]) == 2
    seen = crew("read", storage, "--shim", "--no-embedder", endpoint=daemon.endpoint)
    assert "mode=lexical" in seen["stores"][0]
    assert len(seen["stm"]) == 2 and all(seen["fact"] in r["content"] for r in seen["stm"])
    assert seen["entities"][0]["content"].startswith("Sea otter(animal)")
    assert seen["ltm"]


def test_unreachable_daemon_leaves_crewai_output_unchanged(tmp_path):
    dead = f"127.0.0.1:{free_port()}"
    plain = crew("run", tmp_path / "plain")
    shim = crew("run", tmp_path / "shim", "--shim", endpoint=dead)
    assert plain["tasks"] and shim["tasks"] == plain["tasks"]
    assert shim["raw"] == plain["raw"] and shim["llm_calls"] == plain["llm_calls"]
    # The second task's prompt held the first one's memory: outputs depend on memory.
    assert plain["tasks"][0] != plain["tasks"][1]
    # CrewAI's own storage was used and holds the memories.
    local = crew("read", tmp_path / "shim")
    assert len(local["stm"]) == 2 and local["entities"] and local["ltm"]


def test_daemon_lost_mid_run_loses_no_write(start_daemon, tmp_path, monkeypatch):
    """Writes made while the daemon is down are journaled (and kept locally), then replayed
    into the daemon when it is back."""
    from crewai.memory.storage.ltm_sqlite_storage import LTMSQLiteStorage
    from crewai.memory.storage.rag_storage import RAGStorage

    from fast_crewai.acceleration import enable_acceleration
    from fast_crewai.client.connection import reset_connection
    from fast_crewai.config import ClientConfig, Endpoint
    from legacy_fakes import EMBEDDER

    port = free_port()
    first = start_daemon(port=port)
    data_dir = first.data_dir
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", first.endpoint)
    reset_connection()
    enable_acceleration(config=ClientConfig(endpoint=Endpoint.parse(first.endpoint)))
    rag = RAGStorage(type="outage", embedder_config=EMBEDDER)
    ltm = LTMSQLiteStorage(db_path=str(tmp_path / "ltm.db"))
    rag.save("saved before the outage", {"n": 1})
    first.stop()

    rag.save("otters saved during the outage", {"n": 2})
    ltm.save("task", {"during": True}, "100", 5)
    journal = Path(os.environ["CREWAI_STORAGE_DIR"]).resolve() / ".fast-crewai-legacy-journal"
    assert list(journal.glob("*.journal")), "the outage writes were not journaled"
    # During the outage CrewAI's own storage answers, with the write made meanwhile.
    assert ltm.load("task", 3) == [{"metadata": {"during": True}, "datetime": "100", "score": 5.0}]

    second = start_daemon("--data_dir", str(data_dir), port=port)
    del second
    reset_connection()
    import time

    deadline = time.monotonic() + 10
    found: list = []
    while time.monotonic() < deadline:
        found = rag.search("otters saved during the outage", limit=5, score_threshold=0.0)
        if len(found) == 2:
            break
        time.sleep(0.3)
    assert sorted(r["metadata"]["n"] for r in found) == [1, 2]
    assert ltm.load("task", 3) == [{"metadata": {"during": True}, "datetime": "100", "score": 5.0}]
    assert not list(journal.glob("*.journal"))


def test_journal_of_a_dead_process_is_replayed_by_the_next_one(start_daemon, tmp_path,
                                                               monkeypatch):
    """A process that wrote during an outage and ended before the daemon came back leaves its
    journal on disk; the next process using the same directory replays it into the daemon."""
    from crewai.memory.storage.ltm_sqlite_storage import LTMSQLiteStorage

    from fast_crewai.acceleration import enable_acceleration
    from fast_crewai.client.connection import reset_connection
    from fast_crewai.config import ClientConfig, Endpoint
    from fast_crewai.legacy import _link, conversions, outage

    port = free_port()
    first = start_daemon(port=port)
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", first.endpoint)
    reset_connection()
    enable_acceleration(config=ClientConfig(endpoint=Endpoint.parse(first.endpoint)))
    db_path = tmp_path / "project" / "long_term_memory_storage.db"
    ltm = LTMSQLiteStorage(db_path=str(db_path))
    first.stop()
    ltm.save("task", {"written": "offline"}, "5", 1)
    journal = db_path.parent / ".fast-crewai-legacy-journal"
    assert len(list(journal.glob("*.journal"))) == 1
    # This process "dies" before the daemon returns: its journal stays, unlocked.
    session = outage.session_for(db_path.parent)
    with session.lock:
        session.journal.close()

    start_daemon("--data_dir", str(first.data_dir), port=port)
    code = ("import json, sys, fast_crewai.shim\n"
            "from crewai.memory.storage.ltm_sqlite_storage import LTMSQLiteStorage\n"
            "s = LTMSQLiteStorage(db_path=sys.argv[1])\n"
            "print('RESULT ' + json.dumps([repr(vars(s).get('_fast_crewai_store'))]))\n")
    result = subprocess.run([sys.executable, "-c", code, str(db_path)], capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL,
                            env=clean_environ({"FAST_CREWAI_ENDPOINT": first.endpoint}))
    assert result.returncode == 0 and "DaemonLTMStore" in result.stdout, result.stderr[-3000:]
    assert not list(journal.glob("*.journal"))

    reset_connection()
    answer = _link.call("LoadLongTermMemory",
                        conversions.load_ltm(os.path.realpath(db_path), "task", 3))
    assert conversions.ltm_entries(answer) == [
        {"metadata": {"written": "offline"}, "datetime": "5", "score": 1.0}]


def test_status_and_doctor_on_the_legacy_release(daemon):
    from support import run_cli

    result, _ = run_cli("doctor", "--json", "--endpoint", daemon.endpoint)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["crewai"]["status"] == "ok", checks["crewai"]
    assert "legacy memory" in checks["crewai"]["detail"]
    status, _ = run_cli("status", "--endpoint", daemon.endpoint)
    assert "on   memory/legacy_memory" in status.stdout, status.stdout
    assert "off  memory/memory_storage" in status.stdout


def test_memory_import_says_it_has_nothing_to_do_on_legacy_memory(daemon, tmp_path):
    from support import run_cli

    result, _ = run_cli("memory", "import", str(tmp_path), "--endpoint", daemon.endpoint)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("fast-crewai: memory import: copies CrewAI's unified-memory")
    assert "Traceback" not in result.stderr
