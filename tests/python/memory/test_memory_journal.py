"""fast_crewai.memory.journal: the durable per-process outage journal."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fast_crewai.memory import journal as jl


class Recorder:
    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.fail_at = fail_at

    def __call__(self, rpc: str, request: bytes) -> None:
        if self.fail_at is not None and len(self.sent) == self.fail_at:
            self.fail_at = None
            raise ConnectionError("daemon still down")
        self.sent.append((rpc, request))


def test_nothing_is_created_until_the_first_append(tmp_path: Path) -> None:
    j = jl.Journal(tmp_path / "j")
    assert j.pending() == 0 and j.path is None
    assert j.replay(Recorder()) == 0
    assert not (tmp_path / "j").exists()


def test_append_is_on_disk_and_replay_sends_in_order_then_deletes(tmp_path: Path) -> None:
    j = jl.Journal(tmp_path)
    entries = [("SaveRecords", b"\x00\x01binary\n"), ("DeleteRecords", b""), ("Reset", b"x" * 5000)]
    for rpc, req in entries:
        j.append(rpc, req)
    assert j.pending() == 3
    assert j.path is not None and j.path.exists() and j.path.suffix == jl.SUFFIX
    assert jl.read_entries(j.path) == entries
    rec = Recorder()
    assert j.replay(rec) == 3
    assert rec.sent == entries
    assert j.pending() == 0 and j.path is None
    assert list(tmp_path.iterdir()) == []


def test_failed_replay_resumes_at_the_failed_entry(tmp_path: Path) -> None:
    j = jl.Journal(tmp_path)
    for i in range(4):
        j.append("SaveRecords", bytes([i]))
    rec = Recorder(fail_at=2)
    with pytest.raises(ConnectionError):
        j.replay(rec)
    assert j.pending() == 2 and j.path is not None and j.path.exists()
    j.append("Reset", b"late")
    assert j.replay(rec) == 3
    assert [r for _, r in rec.sent] == [b"\x00", b"\x01", b"\x02", b"\x03", b"late"]
    assert j.path is None


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    j = jl.Journal(tmp_path)
    j.append("SaveRecords", b"one")
    path = j.path
    assert path is not None
    with open(path, "ab") as f:
        f.write(b'{"rpc": "SaveRecords", "req": "dHdv')  # crash mid-write: no newline
    assert jl.read_entries(path) == [("SaveRecords", b"one")]


def test_live_journals_are_not_orphans(tmp_path: Path) -> None:
    j = jl.Journal(tmp_path)
    j.append("SaveRecords", b"mine")
    rec = Recorder()
    assert jl.replay_orphans(tmp_path, rec) == 0  # locked by this (live) journal
    assert rec.sent == []
    assert j.path is not None and j.path.exists()


def _write_journal_in_dead_process(directory: Path, payloads: list[bytes]) -> None:
    code = textwrap.dedent(f"""
        import os
        from fast_crewai.memory.journal import Journal
        j = Journal({str(directory)!r})
        for p in {payloads!r}:
            j.append("SaveRecords", p)
        os._exit(0)  # dies without replaying or closing
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_orphans_of_dead_processes_are_replayed_oldest_first_and_deleted(tmp_path: Path) -> None:
    _write_journal_in_dead_process(tmp_path, [b"first-1", b"first-2"])
    _write_journal_in_dead_process(tmp_path, [b"second-1"])
    assert len([p for p in tmp_path.iterdir() if p.name.endswith(jl.SUFFIX)]) == 2
    rec = Recorder()
    assert jl.replay_orphans(tmp_path, rec) == 3
    assert [r for _, r in rec.sent] == [b"first-1", b"first-2", b"second-1"]
    assert not any(p.name.endswith(jl.SUFFIX) for p in tmp_path.iterdir())
    assert jl.replay_orphans(tmp_path, Recorder()) == 0


def test_orphan_replay_failure_keeps_the_file(tmp_path: Path) -> None:
    _write_journal_in_dead_process(tmp_path, [b"a", b"b"])
    with pytest.raises(ConnectionError):
        jl.replay_orphans(tmp_path, Recorder(fail_at=1))
    rec = Recorder()
    assert jl.replay_orphans(tmp_path, rec) == 2  # again from its start (entries idempotent)
    assert [r for _, r in rec.sent] == [b"a", b"b"]


def test_close_leaves_pending_entries_for_orphan_replay(tmp_path: Path) -> None:
    j = jl.Journal(tmp_path)
    j.append("TouchRecords", b"t")
    j.close()
    rec = Recorder()
    assert jl.replay_orphans(tmp_path, rec) == 1
    assert rec.sent == [("TouchRecords", b"t")]


def test_missing_directory_has_no_orphans(tmp_path: Path) -> None:
    assert jl.replay_orphans(tmp_path / "absent", Recorder()) == 0


def test_failed_append_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    j = jl.Journal(tmp_path)
    j.append("SaveRecords", b"ok")
    size = os.path.getsize(j.path)

    def broken_fsync(fd: int) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(jl.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        j.append("SaveRecords", b"lost")
    monkeypatch.undo()
    assert os.path.getsize(j.path) == size
    assert j.pending() == 1
    j.append("SaveRecords", b"next")
    assert [r for _, r in jl.read_entries(j.path)] == [b"ok", b"next"]


def test_set_aside_keeps_the_rejected_request_readable(tmp_path: Path) -> None:
    import base64
    import json

    first = jl.set_aside(tmp_path / "j", "SaveRecords", b"\x00\x01req", ValueError("bad row"))
    second = jl.set_aside(tmp_path / "j", "Reset", b"", ValueError("bad scope"))
    assert first.parent == tmp_path / "j" / "rejected" and first != second
    entry = json.loads(first.read_text())
    assert entry == {"rpc": "SaveRecords", "error": "bad row",
                     "req": base64.b64encode(b"\x00\x01req").decode("ascii")}
    # Outside the journal files: an orphan replay never sends a set-aside request again.
    sent = Recorder()
    assert jl.replay_orphans(tmp_path / "j", sent) == 0 and sent.sent == []
