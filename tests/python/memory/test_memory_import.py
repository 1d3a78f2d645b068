"""`fast-crewai memory import`: records CrewAI stored in its own LanceDB store at a path (a
process that ran without the daemon) are copied into the daemon's store for that path; what the
daemon already has stays as it is; a second import copies nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from crewai.memory.storage.lancedb_storage import LanceDBStorage
from crewai.memory.types import MemoryRecord
from support import run_cli

from fast_crewai.memory.daemon_storage import DaemonStorage


def _crewais_own_storage(path: Path) -> Any:
    storage = object.__new__(LanceDBStorage)  # CrewAI's class, whatever is patched
    LanceDBStorage.__init__(storage, path=str(path))
    return storage


def _import(path: Path, endpoint: str) -> dict[str, Any]:
    result, _ = run_cli("memory", "import", str(path), "--endpoint", endpoint, "--json",
                        timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_records_crewai_stored_without_the_daemon_are_imported_once(
    memory_daemon: Any, use_daemon: Callable[[Any], None], tmp_path: Path
) -> None:
    store = tmp_path / "memory"
    local = [
        MemoryRecord(content="first", scope="/a", categories=["x"], metadata={"n": 1},
                     embedding=[1.0, 0.0, 0.0, 0.0], source="agent", private=True),
        MemoryRecord(content="second", scope="/a/b", embedding=[0.0, 1.0, 0.0, 0.5]),
        MemoryRecord(content="third", embedding=[0.0, 0.0, 1.0, -0.25]),
    ]
    _crewais_own_storage(store).save(local)
    use_daemon(memory_daemon)
    daemon = DaemonStorage(path=str(store), require_daemon=True)
    newer = local[0].model_copy(update={"content": "first, updated in the daemon"})
    daemon.save([newer])

    first = _import(store, memory_daemon.endpoint)
    assert (first["local"], first["imported"], first["present"]) == (3, 2, 1)
    assert first["namespace"] == daemon.namespace
    got = {r.id: r for r in daemon.list_records(limit=10)}
    assert got[newer.id].content == "first, updated in the daemon"  # the daemon's is kept
    for record in local[1:]:
        copy = got[record.id]
        assert (copy.content, copy.scope, copy.categories, copy.metadata, copy.source,
                copy.private) == (record.content, record.scope, record.categories,
                                  record.metadata, record.source, record.private)
        assert copy.embedding == record.embedding
        assert copy.created_at == record.created_at
    hits = daemon.search([0.0, 1.0, 0.0, 0.5], limit=1)
    assert hits[0][0].id == local[1].id

    again = _import(store, memory_daemon.endpoint)
    assert (again["imported"], again["present"]) == (0, 3)
    assert daemon.count() == 3


def test_nothing_to_import_from_a_directory_crewai_never_saved_in(
        memory_daemon: Any, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result, _ = run_cli("memory", "import", str(tmp_path / "empty"), "--endpoint",
                        memory_daemon.endpoint, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "nothing to import" in result.stdout


def test_a_path_or_table_that_is_not_there_is_a_usage_error(
        memory_daemon: Any, tmp_path: Path) -> None:
    """A typo must not read as "nothing to import" (exit 0)."""
    endpoint = ("--endpoint", memory_daemon.endpoint)
    missing = tmp_path / "nonexistent"
    result, _ = run_cli("memory", "import", str(missing), *endpoint, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert f'fast-crewai: memory import: PATH "{missing}" does not exist' in result.stderr
    assert not missing.exists()

    a_file = tmp_path / "file"
    a_file.write_text("")
    result, _ = run_cli("memory", "import", str(a_file), *endpoint, timeout=120)
    assert result.returncode == 2 and "is not a directory" in result.stderr

    store = tmp_path / "store"
    _crewais_own_storage(store).save([MemoryRecord(content="x", embedding=[1.0, 0.0])])
    result, _ = run_cli("memory", "import", str(store), "--table", "nosuch", *endpoint,
                        timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (f'fast-crewai: memory import: --table "nosuch" is not in the LanceDB directory '
            f"{store.resolve()} (tables: memories)") in result.stderr


def test_an_unreachable_daemon_fails_the_import(dead_endpoint: str, tmp_path: Path) -> None:
    _crewais_own_storage(tmp_path / "m").save([MemoryRecord(content="x", embedding=[1.0, 0.0])])
    result, _ = run_cli("memory", "import", str(tmp_path / "m"), "--endpoint", dead_endpoint,
                        timeout=120)
    assert result.returncode == 1
    assert "memory import failed" in result.stderr
