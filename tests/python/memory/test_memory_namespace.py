"""fast_crewai.memory.namespace: store path -> daemon namespace, as LanceDBStorage resolves it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fast_crewai.memory import namespace as ns


def test_default_path_follows_crewai_storage_dir(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("CREWAI_STORAGE_DIR", str(tmp_path / "sd"))
    assert ns.default_storage_path() == tmp_path / "sd" / "memory"
    assert ns.namespace_for_path(None) == "lancedb:" + str((tmp_path / "sd" / "memory").resolve())


def test_default_path_without_env_is_db_storage_path(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.delenv("CREWAI_STORAGE_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    from crewai_core.paths import db_storage_path

    assert ns.default_storage_path() == Path(db_storage_path()) / "memory"


def test_default_path_is_where_lancedb_storage_goes(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("CREWAI_STORAGE_DIR", str(tmp_path / "sd"))
    from crewai.memory.storage.lancedb_storage import LanceDBStorage

    storage = LanceDBStorage()
    assert ns.resolve_storage_path(None) == storage._path.resolve()
    assert ns.namespace_for_path(None) == "lancedb:" + storage._lock_name.split(":", 1)[1]


def test_relative_and_symlinked_paths_resolve_to_one_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    monkeypatch.chdir(tmp_path)
    expected = "lancedb:" + str(real.resolve())
    assert ns.namespace_for_path("real") == expected
    assert ns.namespace_for_path("./real/") == expected
    assert ns.namespace_for_path(str(tmp_path / "link")) == expected
    assert ns.namespace_for_path(real) == expected
    # No ~ expansion: LanceDBStorage does none either.
    assert ns.namespace_for_path("~x") == "lancedb:" + str(tmp_path / "~x")


def test_table_name_is_part_of_the_namespace(tmp_path: Path) -> None:
    assert ns.namespace_for_path(tmp_path, "memories") == "lancedb:" + str(tmp_path.resolve())
    assert ns.namespace_for_path(tmp_path, "other").endswith("#other")


def test_long_paths_are_shortened_with_a_digest(tmp_path: Path) -> None:
    long_a = tmp_path / ("é" * 300) / "a"
    long_b = tmp_path / ("é" * 300) / "b"
    a, b = ns.namespace_for_path(long_a), ns.namespace_for_path(long_b)
    assert len(a.encode()) <= ns.MAX_NAMESPACE_BYTES and len(b.encode()) <= ns.MAX_NAMESPACE_BYTES
    assert a != b
    assert a.startswith("lancedb:" + str(tmp_path)) and "~sha256:" in a
    assert ns.namespace_for_path(long_a) == a  # deterministic


def test_unprintable_paths_become_a_digest(tmp_path: Path) -> None:
    weird = ns.namespace_for_path(str(tmp_path / "a\nb"))
    undecodable = ns.namespace_for_path(os.fsdecode(bytes(tmp_path) + b"/\xff"))
    for name in (weird, undecodable):
        assert name.startswith("lancedb:~sha256:") and name.isprintable()
        name.encode("utf-8")
    assert weird != undecodable


def test_journal_dir_is_inside_the_store(tmp_path: Path) -> None:
    assert ns.journal_dir_for_path(tmp_path) == tmp_path.resolve() / ".fast-crewai-journal"
