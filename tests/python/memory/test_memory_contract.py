"""The StorageBackend contract, run against CrewAI's own LanceDBStorage and against DaemonStorage
(the real daemon binary).

Tests taking `backend` run on both and must agree; tests taking `daemon_backend` run on the daemon
only, because there the documented contract (proto/fast_crewai/v1/memory.proto, issue 3) and
LanceDB's actual behaviour differ; each of them names LanceDB's behaviour in a comment. Records
use small dimensions (4) and created_at values with non-zero microseconds, so that LanceDB's
string comparison of ISO timestamps orders them correctly too.
"""

from __future__ import annotations

import asyncio
import copy
import math
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from crewai.memory.storage.backend import EmbeddingDimensionMismatchError, StorageBackend
from crewai.memory.types import MemoryRecord, ScopeInfo

BASE = datetime(2026, 3, 1, 12, 0, 0, 123456)


def f32(values: list[float]) -> list[float]:
    return [float(np.float32(v)) for v in values]


def score_of(query: list[float], vector: list[float]) -> float:
    q, v = np.asarray(f32(query), np.float64), np.asarray(f32(vector), np.float64)
    return 1.0 / (1.0 + float(np.sum((q - v) ** 2)))


def rec(
    content: str,
    embedding: list[float] | None = None,
    *,
    scope: str = "/",
    categories: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    minutes: int = 0,
    **kwargs: Any,
) -> MemoryRecord:
    """A record created `minutes` after BASE (microseconds kept non-zero)."""
    return MemoryRecord(
        content=content,
        embedding=embedding,
        scope=scope,
        categories=categories or [],
        metadata=metadata or {},
        created_at=BASE + timedelta(minutes=minutes),
        last_accessed=BASE + timedelta(minutes=minutes),
        **kwargs,
    )


def unit(i: int, dim: int = 4, scale: float = 1.0) -> list[float]:
    v = [0.0] * dim
    v[i % dim] = scale
    return v


def ids(results: list[Any]) -> list[str]:
    return [(r[0] if isinstance(r, tuple) else r).id for r in results]


# -------------------------------------------------------------------------------------------
# Protocol surface


def test_is_a_storage_backend(backend: Any) -> None:
    assert isinstance(backend, StorageBackend)
    for name in ("touch_records", "optimize", "asave", "asearch", "adelete"):
        assert callable(getattr(backend, name))


def test_empty_store_answers_empty(backend: Any) -> None:
    assert backend.search([0.1, 0.2, 0.3, 0.4]) == []
    assert backend.get_record("missing") is None
    assert backend.list_records() == []
    assert backend.count() == 0
    assert backend.count("/a") == 0
    assert backend.list_scopes() == []
    assert backend.list_categories() == {}
    assert backend.delete() == 0
    info = backend.get_scope_info("/")
    assert (info.path, info.record_count, info.categories, info.child_scopes) == ("/", 0, [], [])
    assert info.oldest_record is None and info.newest_record is None
    backend.save([])  # no-op
    backend.touch_records([])
    backend.touch_records(["missing"])
    backend.reset()
    assert backend.count() == 0


# -------------------------------------------------------------------------------------------
# Round trip of every field


def test_save_and_get_record_round_trips_every_field(backend: Any) -> None:
    r = rec(
        "Alice prefers tea",
        [0.1, -0.2, 0.3, 1e-7],
        scope="/crew/a",
        categories=["pref", "person"],
        metadata={"n": 1, "f": 2.5, "s": "x", "nested": {"k": [1, 2]}, "none": None, "b": True},
        importance=0.75,
        source="user-1",
        private=True,
    )
    backend.save([r])
    got = backend.get_record(r.id)
    assert got is not None
    assert got.id == r.id
    assert got.content == r.content
    assert got.scope == "/crew/a"
    assert got.categories == ["pref", "person"]
    assert got.metadata == r.metadata
    assert got.importance == pytest.approx(0.75)
    assert got.created_at == r.created_at and got.created_at.tzinfo is None
    assert got.last_accessed == r.last_accessed
    assert got.source == "user-1"
    assert got.private is True
    assert got.embedding == f32(r.embedding)


def test_source_none_and_defaults_round_trip(backend: Any) -> None:
    r = rec("plain", [1.0, 0.0, 0.0, 0.0])
    backend.save([r])
    got = backend.get_record(r.id)
    assert got.source is None
    assert got.private is False
    assert got.categories == [] and got.metadata == {}
    assert got.scope == "/"
    assert got.importance == pytest.approx(0.5)


def test_metadata_comes_back_as_json_decodes_it(backend: Any) -> None:
    r = rec("m", [1.0, 0, 0, 0], metadata={"t": (1, 2), "d": {3: "int key"}})
    backend.save([r])
    assert backend.get_record(r.id).metadata == {"t": [1, 2], "d": {"3": "int key"}}


def test_metadata_that_is_not_json_raises_type_error_and_stores_nothing(backend: Any) -> None:
    with pytest.raises(TypeError):
        backend.save([rec("bad", [1.0, 0, 0, 0], metadata={"when": datetime(2026, 1, 1)})])
    assert backend.count() == 0


def test_aware_datetimes_stay_aware_and_microsecond_free_ones_round_trip(backend: Any) -> None:
    aware = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    whole = datetime(2026, 1, 2, 3, 4, 5)  # isoformat() omits the microseconds
    r1 = MemoryRecord(content="aware", embedding=[1.0, 0, 0, 0], created_at=aware,
                      last_accessed=aware)
    r2 = MemoryRecord(content="whole", embedding=[0, 1.0, 0, 0], created_at=whole,
                      last_accessed=whole)
    backend.save([r1, r2])
    g1, g2 = backend.get_record(r1.id), backend.get_record(r2.id)
    assert g1.created_at == aware and g1.created_at.utcoffset() == timedelta(hours=2)
    assert g2.created_at == whole and g2.created_at.tzinfo is None


def test_record_saved_without_embedding_is_zero_filled_once_dim_known(backend: Any) -> None:
    backend.save([rec("with", [0.5, 0.5, 0.5, 0.5])])
    r = rec("without", None)
    backend.save([r])
    assert backend.get_record(r.id).embedding == [0.0, 0.0, 0.0, 0.0]
    # A zero-filled row scores 1 / (1 + |q|^2).
    results = dict((m.id, s) for m, s in backend.search([1.0, 0, 0, 0], limit=5))
    assert results[r.id] == pytest.approx(0.5, rel=1e-6)


def test_save_upserts_by_id_on_daemon(daemon_backend: Any) -> None:
    # LanceDB's save is an append: re-saving an id leaves two rows with that id (CrewAI never
    # re-saves ids). The daemon upserts, which is what makes journal replay idempotent.
    r = rec("v1", [1.0, 0, 0, 0])
    daemon_backend.save([r])
    daemon_backend.save([r.model_copy(update={"content": "v2"})])
    assert daemon_backend.count() == 1
    assert daemon_backend.get_record(r.id).content == "v2"


# -------------------------------------------------------------------------------------------
# search


@pytest.fixture
def populated(backend: Any) -> tuple[Any, dict[str, MemoryRecord]]:
    records = {
        "a1": rec("a1", [1.0, 0.0, 0.0, 0.0], scope="/a", categories=["x"],
                  metadata={"k": 1, "t": "p"}, minutes=1),
        "a2": rec("a2", [0.9, 0.1, 0.0, 0.0], scope="/a/b", categories=["y"],
                  metadata={"k": 2, "t": "p"}, minutes=2),
        "a3": rec("a3", [0.0, 1.0, 0.0, 0.0], scope="/a/b/c", categories=["x", "z"],
                  metadata={"k": 1, "t": "q"}, minutes=3),
        "c1": rec("c1", [0.0, 0.0, 1.0, 0.0], scope="/c", categories=["z"],
                  metadata={"k": 3}, minutes=4),
        "r1": rec("r1", [0.0, 0.0, 0.0, 1.0], scope="/", categories=[],
                  metadata={}, minutes=5),
    }
    backend.save(list(records.values()))
    return backend, records


def test_search_ranks_by_squared_l2_score(populated: Any) -> None:
    backend, records = populated
    query = [0.8, 0.3, 0.1, 0.0]
    results = backend.search(query, limit=5)
    expected = sorted(records.values(), key=lambda r: -score_of(query, r.embedding))
    assert ids(results) == [r.id for r in expected]
    for record, score in results:
        assert score == pytest.approx(score_of(query, records[record.content].embedding),
                                      rel=1e-5)
        assert record.embedding == f32(records[record.content].embedding)
    assert [s for _, s in results] == sorted((s for _, s in results), reverse=True)


def test_search_limit(populated: Any) -> None:
    backend, records = populated
    results = backend.search([1.0, 0, 0, 0], limit=2)
    assert ids(results) == [records["a1"].id, records["a2"].id]
    assert len(backend.search([1.0, 0, 0, 0], limit=50)) == 5


def test_search_scope_prefix(populated: Any) -> None:
    backend, records = populated
    got = {r.content for r, _ in backend.search([1.0, 0, 0, 0], scope_prefix="/a", limit=10)}
    assert got == {"a1", "a2", "a3"}
    got = {r.content for r, _ in backend.search([1.0, 0, 0, 0], scope_prefix="/a/b", limit=10)}
    assert got == {"a2", "a3"}
    got = {r.content for r, _ in backend.search([1.0, 0, 0, 0], scope_prefix="/a/b/", limit=10)}
    assert got == {"a2", "a3"}
    for root in (None, "", "/"):
        assert len(backend.search([1.0, 0, 0, 0], scope_prefix=root, limit=10)) == 5


def test_search_categories_any_of(populated: Any) -> None:
    backend, _ = populated
    got = {r.content for r, _ in backend.search([1.0, 0, 0, 0], categories=["x"], limit=10)}
    assert got == {"a1", "a3"}
    got = {r.content for r, _ in backend.search([1.0, 0, 0, 0], categories=["y", "z"],
                                                 limit=10)}
    assert got == {"a2", "a3", "c1"}
    assert backend.search([1.0, 0, 0, 0], categories=["nope"], limit=10) == []


def test_an_empty_category_is_stored_listed_and_filtered_like_any_other(backend: Any) -> None:
    # CrewAI saves the categories its LLM analysis returns as they are; an empty one must not
    # cost the whole batch.
    backend.save([rec("blank", unit(0), categories=["", "x"]), rec("plain", unit(1),
                                                                    categories=["x"])])
    blank = next(r for r in backend.list_records() if r.content == "blank")
    assert backend.get_record(blank.id).categories == ["", "x"]
    assert backend.list_categories() == {"": 1, "x": 2}
    assert ids(backend.search(unit(0), categories=[""], limit=10)) == [blank.id]


def test_search_metadata_filter_all_keys_equal(populated: Any) -> None:
    backend, _ = populated
    q = [1.0, 0, 0, 0]
    assert {r.content for r, _ in backend.search(q, metadata_filter={"k": 1}, limit=10)} == {
        "a1", "a3"}
    assert {r.content for r, _ in backend.search(q, metadata_filter={"k": 1, "t": "p"},
                                                 limit=10)} == {"a1"}
    # Python equality: 1 == 1.0 == True.
    assert {r.content for r, _ in backend.search(q, metadata_filter={"k": 1.0}, limit=10)} == {
        "a1", "a3"}
    assert {r.content for r, _ in backend.search(q, metadata_filter={"k": True}, limit=10)} == {
        "a1", "a3"}
    # A missing key equals only None.
    assert {r.content for r, _ in backend.search(q, metadata_filter={"t": None}, limit=10)} == {
        "c1", "r1"}
    assert backend.search(q, metadata_filter={"k": "1"}, limit=10) == []


def test_search_filters_combine(populated: Any) -> None:
    backend, _ = populated
    got = backend.search([1.0, 0, 0, 0], scope_prefix="/a", categories=["x"],
                         metadata_filter={"t": "q"}, limit=10)
    assert [r.content for r, _ in got] == ["a3"]


def test_search_min_score_is_inclusive(populated: Any) -> None:
    backend, records = populated
    query = [1.0, 0, 0, 0]
    all_scores = {r.content: s for r, s in backend.search(query, limit=10)}
    threshold = all_scores["a2"]
    got = backend.search(query, limit=10, min_score=threshold)
    assert {r.content for r, _ in got} == {"a1", "a2"}
    assert backend.search(query, limit=10, min_score=1.01) == []


def test_search_dimension_mismatch_raises_crewai_error(populated: Any) -> None:
    backend, _ = populated
    with pytest.raises(EmbeddingDimensionMismatchError) as info:
        backend.search([1.0, 0.0, 0.0], limit=3)
    assert (info.value.stored_dim, info.value.new_dim) == (4, 3)
    assert "crewai reset-memories --memory" in str(info.value)


def test_search_limit_zero_is_a_value_error(populated: Any) -> None:
    backend, _ = populated
    with pytest.raises(ValueError):
        backend.search([1.0, 0, 0, 0], limit=0)


def test_search_returns_limit_results_when_filters_match_far_records(
    daemon_backend: Any,
) -> None:
    # Filters apply before ranking. LanceDB post-filters categories/metadata over the
    # `limit * 3` nearest rows only, so here it returns nothing although 3 records match.
    near = [rec(f"near{i}", [1.0, 0.01 * i, 0, 0]) for i in range(20)]
    far = [rec(f"far{i}", [0, 0, 0, 1.0 + i], categories=["rare"]) for i in range(3)]
    daemon_backend.save(near + far)
    got = daemon_backend.search([1.0, 0, 0, 0], categories=["rare"], limit=3)
    assert sorted(r.content for r, _ in got) == ["far0", "far1", "far2"]
    got = daemon_backend.search([1.0, 0, 0, 0], metadata_filter={}, categories=["rare"], limit=2)
    assert [r.content for r, _ in got] == ["far0", "far1"]


def test_scope_prefix_is_path_aware_on_daemon(daemon_backend: Any) -> None:
    # LanceDB matches scopes with `scope LIKE '<prefix>%'`: "/a" also covers "/ab" there.
    daemon_backend.save([
        rec("a", [1.0, 0, 0, 0], scope="/a"),
        rec("ab", [1.0, 0, 0, 0], scope="/ab"),
        rec("a-b", [1.0, 0, 0, 0], scope="/a/b"),
    ])
    got = {r.content for r, _ in daemon_backend.search([1.0, 0, 0, 0], scope_prefix="/a",
                                                       limit=10)}
    assert got == {"a", "a-b"}
    assert daemon_backend.count("/a") == 2
    assert {r.content for r in daemon_backend.list_records("/a")} == {"a", "a-b"}
    assert daemon_backend.get_scope_info("/a").record_count == 2
    assert daemon_backend.list_categories("/ab") == {}
    assert daemon_backend.delete(scope_prefix="/a") == 2
    assert [r.content for r in daemon_backend.list_records()] == ["ab"]


# -------------------------------------------------------------------------------------------
# Dimensions


def test_first_save_fixes_the_dimension(backend: Any) -> None:
    backend.save([rec("4d", [1.0, 0, 0, 0])])
    with pytest.raises(EmbeddingDimensionMismatchError) as info:
        backend.save([rec("3d", [1.0, 0, 0])])
    assert (info.value.stored_dim, info.value.new_dim) == (4, 3)
    assert backend.count() == 1


def test_mixed_batch_raises_with_first_and_other_dim(backend: Any) -> None:
    with pytest.raises(EmbeddingDimensionMismatchError) as info:
        backend.save([rec("a", [1.0, 0, 0, 0]), rec("b", [1.0, 0])])
    assert (info.value.stored_dim, info.value.new_dim) == (4, 2)
    assert backend.count() == 0


def test_update_with_other_dimension_raises(backend: Any) -> None:
    r = rec("a", [1.0, 0, 0, 0])
    backend.save([r])
    with pytest.raises(EmbeddingDimensionMismatchError) as info:
        backend.update(r.model_copy(update={"embedding": [1.0, 0, 0, 0, 0, 0]}))
    assert (info.value.stored_dim, info.value.new_dim) == (4, 6)
    assert backend.get_record(r.id).embedding == [1.0, 0, 0, 0]


def test_full_reset_frees_the_dimension(backend: Any) -> None:
    backend.save([rec("4d", [1.0, 0, 0, 0])])
    backend.reset()
    backend.save([rec("3d", [1.0, 0, 0])])
    assert [r.content for r, _ in backend.search([1.0, 0, 0])] == ["3d"]


def test_scoped_reset_keeps_the_dimension(backend: Any) -> None:
    backend.save([rec("a", [1.0, 0, 0, 0], scope="/a"), rec("b", [1.0, 0, 0, 0], scope="/b")])
    backend.reset("/a")
    with pytest.raises(EmbeddingDimensionMismatchError):
        backend.save([rec("3d", [1.0, 0, 0])])


def test_first_record_without_embedding_leaves_dimension_open_on_daemon(
    daemon_backend: Any,
) -> None:
    # LanceDB creates its table at the first save, with DEFAULT_VECTOR_DIM (3072) when that
    # save has no embedding, so a later 4-d save raises EmbeddingDimensionMismatchError(3072, 4).
    daemon_backend.save([rec("no vector", None)])
    daemon_backend.save([rec("4d", [1.0, 0, 0, 0])])
    assert daemon_backend.count() == 2
    assert [r.content for r, _ in daemon_backend.search([1.0, 0, 0, 0], limit=1)] == ["4d"]


# -------------------------------------------------------------------------------------------
# update / touch


def test_update_replaces_the_record(backend: Any) -> None:
    r = rec("old", [1.0, 0, 0, 0], scope="/a", categories=["x"])
    backend.save([r, rec("other", [0, 1.0, 0, 0])])
    new_time = BASE + timedelta(days=1, microseconds=7)
    backend.update(r.model_copy(update={
        "content": "new", "categories": ["y"], "importance": 0.9, "last_accessed": new_time,
        "embedding": [0, 0, 1.0, 0],
    }))
    got = backend.get_record(r.id)
    assert (got.content, got.categories, got.scope) == ("new", ["y"], "/a")
    assert got.importance == pytest.approx(0.9)
    assert got.created_at == r.created_at and got.last_accessed == new_time
    assert got.embedding == [0, 0, 1.0, 0]
    assert backend.count() == 2
    assert backend.search([0, 0, 1.0, 0], limit=1)[0][0].id == r.id


def test_update_of_an_absent_id_inserts_it(backend: Any) -> None:
    backend.save([rec("seed", [1.0, 0, 0, 0])])
    r = rec("fresh", [0, 1.0, 0, 0])
    backend.update(r)
    assert backend.get_record(r.id).content == "fresh"
    assert backend.count() == 2


def test_touch_records_updates_last_accessed_only(backend: Any) -> None:
    a, b = rec("a", [1.0, 0, 0, 0]), rec("b", [0, 1.0, 0, 0])
    backend.save([a, b])
    before = datetime.utcnow()
    backend.touch_records([a.id, "missing"])
    got_a, got_b = backend.get_record(a.id), backend.get_record(b.id)
    assert got_a.last_accessed >= before - timedelta(seconds=1)
    assert got_a.last_accessed.tzinfo is None
    assert got_a.created_at == a.created_at and got_a.content == "a"
    assert got_a.embedding == [1.0, 0, 0, 0]
    assert got_b.last_accessed == b.last_accessed


# -------------------------------------------------------------------------------------------
# delete


def test_delete_by_ids(populated: Any) -> None:
    backend, records = populated
    assert backend.delete(record_ids=[records["a1"].id, records["c1"].id, "missing"]) == 2
    assert backend.get_record(records["a1"].id) is None
    assert backend.count() == 3


def test_delete_by_scope_without_root_records(backend: Any) -> None:
    backend.save([
        rec("a", [1.0, 0, 0, 0], scope="/a"),
        rec("ab", [1.0, 0, 0, 0], scope="/a/b"),
        rec("c", [1.0, 0, 0, 0], scope="/c"),
    ])
    assert backend.delete(scope_prefix="/a") == 2
    assert [r.content for r in backend.list_records()] == ["c"]


def test_delete_by_categories(populated: Any) -> None:
    backend, _ = populated
    assert backend.delete(categories=["z"]) == 2
    assert sorted(r.content for r in backend.list_records()) == ["a1", "a2", "r1"]


def test_delete_by_metadata(populated: Any) -> None:
    backend, _ = populated
    assert backend.delete(metadata_filter={"k": 1}) == 2
    assert sorted(r.content for r in backend.list_records()) == ["a2", "c1", "r1"]


def test_delete_categories_and_older_than(populated: Any) -> None:
    backend, _ = populated
    # x: a1 (minute 1), a3 (minute 3); only a1 is older than minute 2.
    assert backend.delete(categories=["x"], older_than=BASE + timedelta(minutes=2)) == 1
    assert sorted(r.content for r in backend.list_records()) == ["a2", "a3", "c1", "r1"]


def test_delete_scope_and_categories(populated: Any) -> None:
    backend, _ = populated
    assert backend.delete(scope_prefix="/a/b", categories=["x", "y"]) == 2
    assert sorted(r.content for r in backend.list_records()) == ["a1", "c1", "r1"]


def test_delete_older_than_alone(populated: Any) -> None:
    backend, _ = populated
    assert backend.delete(older_than=BASE + timedelta(minutes=3)) == 2
    assert sorted(r.content for r in backend.list_records()) == ["a3", "c1", "r1"]


def test_delete_without_criteria_deletes_everything(populated: Any) -> None:
    backend, _ = populated
    assert backend.delete() == 5
    assert backend.count() == 0


def test_delete_criteria_are_all_anded_on_daemon(daemon_backend: Any) -> None:
    # LanceDB (1.15.30, delete()): with record_ids and no categories/metadata it deletes the ids
    # and ignores scope_prefix and older_than; a scope delete also deletes every root-scope ("/")
    # record (`... OR scope = '/'`); and scope + older_than only restricts the root rows
    # (`A OR B AND C` without parentheses). The daemon requires every given criterion.
    old_a = rec("old-a", [1.0, 0, 0, 0], scope="/a", minutes=1)
    new_a = rec("new-a", [1.0, 0, 0, 0], scope="/a", minutes=10)
    root = rec("root", [1.0, 0, 0, 0], scope="/", minutes=1)
    other = rec("other", [1.0, 0, 0, 0], scope="/b", minutes=1)
    daemon_backend.save([old_a, new_a, root, other])
    # ids AND scope: the /b id is outside the scope.
    assert daemon_backend.delete(scope_prefix="/a", record_ids=[other.id]) == 0
    # scope AND older_than: only old-a; the root record is not under /a.
    assert daemon_backend.delete(scope_prefix="/a", older_than=BASE + timedelta(minutes=5)) == 1
    assert sorted(r.content for r in daemon_backend.list_records()) == ["new-a", "other", "root"]
    # ids AND older_than.
    assert daemon_backend.delete(record_ids=[new_a.id, root.id],
                                 older_than=BASE + timedelta(minutes=5)) == 1
    assert sorted(r.content for r in daemon_backend.list_records()) == ["new-a", "other"]
    # ids AND categories (LanceDB ignores record_ids once categories are given).
    assert daemon_backend.delete(record_ids=[other.id], categories=["none"]) == 0


def test_delete_with_aware_older_than_compares_instants_on_daemon(daemon_backend: Any) -> None:
    # LanceDB compares isoformat strings (or raises TypeError naive-vs-aware when categories
    # are given); the daemon compares instants (naive = UTC).
    daemon_backend.save([rec("a", [1.0, 0, 0, 0], minutes=0)])  # 12:00:00.123456 UTC
    cutoff = datetime(2026, 3, 1, 13, 0, 0, tzinfo=timezone(timedelta(hours=2)))  # 11:00 UTC
    assert daemon_backend.delete(older_than=cutoff) == 0
    cutoff = datetime(2026, 3, 1, 15, 0, 0, tzinfo=timezone(timedelta(hours=2)))  # 13:00 UTC
    assert daemon_backend.delete(older_than=cutoff) == 1


# -------------------------------------------------------------------------------------------
# list_records / scopes / categories / count / reset


def test_list_records_newest_first_with_pagination(backend: Any) -> None:
    records = [rec(f"r{i:02d}", [1.0, 0, 0, float(i)], scope="/p" if i % 2 else "/q",
                   minutes=i) for i in range(12)]
    backend.save(list(reversed(records)))
    newest_first = [r.content for r in reversed(records)]
    assert [r.content for r in backend.list_records()] == newest_first
    assert [r.content for r in backend.list_records(limit=5)] == newest_first[:5]
    assert [r.content for r in backend.list_records(limit=5, offset=5)] == newest_first[5:10]
    assert [r.content for r in backend.list_records(limit=5, offset=10)] == newest_first[10:]
    assert backend.list_records(limit=5, offset=12) == []
    assert [r.content for r in backend.list_records("/p")] == [
        c for c in newest_first if int(c[1:]) % 2]
    assert backend.list_records(limit=0) == []
    assert backend.list_records(offset=-1) == []
    first = backend.list_records(limit=1)[0]
    assert first.embedding == [1.0, 0, 0, 11.0]


def test_list_records_breaks_created_at_ties_by_id_on_daemon(daemon_backend: Any) -> None:
    # LanceDB orders by the created_at text only; ties come back in storage order.
    same = [MemoryRecord(id=f"id-{c}", content=c, embedding=[1.0, 0, 0, 0], created_at=BASE)
            for c in "dbca"]
    daemon_backend.save(same)
    assert [r.id for r in daemon_backend.list_records()] == ["id-a", "id-b", "id-c", "id-d"]


def test_list_records_orders_by_instant_across_time_zones_on_daemon(daemon_backend: Any) -> None:
    # LanceDB sorts the ISO text, so "13:00+02:00" (11:00 UTC) sorts after "12:00" (UTC).
    utc_noon = MemoryRecord(content="noon", embedding=[1.0, 0, 0, 0], created_at=BASE)
    earlier = MemoryRecord(content="earlier", embedding=[1.0, 0, 0, 0],
                           created_at=datetime(2026, 3, 1, 13, 0, 0, 1,
                                               tzinfo=timezone(timedelta(hours=2))))
    daemon_backend.save([earlier, utc_noon])
    assert [r.content for r in daemon_backend.list_records()] == ["noon", "earlier"]


def test_get_scope_info(populated: Any) -> None:
    backend, records = populated
    info = backend.get_scope_info("/a")
    assert isinstance(info, ScopeInfo)
    assert info.path == "/a"
    assert info.record_count == 3
    assert info.categories == ["x", "y", "z"]
    assert info.oldest_record == records["a1"].created_at
    assert info.newest_record == records["a3"].created_at
    assert info.child_scopes == ["/a/b"]
    root = backend.get_scope_info("/")
    assert (root.path, root.record_count) == ("/", 5)
    assert root.child_scopes == ["/a", "/c"]
    assert root.oldest_record == records["a1"].created_at
    assert root.newest_record == records["r1"].created_at
    assert backend.get_scope_info("/a/").record_count == 3
    empty = backend.get_scope_info("/nothing")
    assert (empty.record_count, empty.oldest_record, empty.child_scopes) == (0, None, [])


def test_list_scopes(populated: Any) -> None:
    backend, _ = populated
    assert backend.list_scopes() == ["/a", "/c"]
    assert backend.list_scopes("/") == ["/a", "/c"]
    assert backend.list_scopes("/a") == ["/a/b"]
    assert backend.list_scopes("/a/b") == ["/a/b/c"]
    assert backend.list_scopes("/a/b/c") == []
    assert backend.list_scopes("/zzz") == []


def test_list_categories(populated: Any) -> None:
    backend, _ = populated
    assert backend.list_categories() == {"x": 2, "y": 1, "z": 2}
    assert backend.list_categories("/a/b") == {"x": 1, "y": 1, "z": 1}
    assert backend.list_categories("/c") == {"z": 1}


def test_count(populated: Any) -> None:
    backend, _ = populated
    assert backend.count() == 5
    assert backend.count("/") == 5
    assert backend.count("/a") == 3
    assert backend.count("/a/b/c") == 1
    assert backend.count("/zzz") == 0


def test_reset_scope_and_all(populated: Any) -> None:
    backend, _ = populated
    backend.reset("/a/b")
    assert sorted(r.content for r in backend.list_records()) == ["a1", "c1", "r1"]
    backend.reset(None)
    assert backend.count() == 0
    assert backend.list_scopes() == []


# -------------------------------------------------------------------------------------------
# async, copying, threads


def test_async_variants(backend: Any) -> None:
    async def run() -> tuple[list[Any], int]:
        await backend.asave([rec("a", [1.0, 0, 0, 0], scope="/s"),
                             rec("b", [0, 1.0, 0, 0], scope="/t")])
        found = await backend.asearch([1.0, 0, 0, 0], scope_prefix="/s", limit=5)
        deleted = await backend.adelete(scope_prefix="/s")
        return found, deleted

    found, deleted = asyncio.run(run())
    assert [r.content for r, _ in found] == ["a"]
    assert deleted == 1
    assert backend.count() == 1


def test_copies_are_the_same_store_on_daemon(daemon_backend: Any) -> None:
    # Memory deep-copies its private attributes (Crew copies); LanceDBStorage has no copy hooks.
    assert copy.copy(daemon_backend) is daemon_backend
    assert copy.deepcopy(daemon_backend) is daemon_backend
    assert copy.deepcopy({"s": daemon_backend})["s"] is daemon_backend
    daemon_backend.extra_attribute = 1  # plain instance attributes are allowed
    assert daemon_backend.extra_attribute == 1


def test_concurrent_saves_and_searches_from_threads(backend: Any) -> None:
    backend.save([rec("seed", [1.0, 0, 0, 0])])
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(5):
                backend.save([rec(f"t{t}-{i}", [1.0, float(t), float(i), 0.0], scope=f"/t{t}")])
                found = backend.search([1.0, float(t), float(i), 0.0], scope_prefix=f"/t{t}",
                                       limit=1)
                assert found and found[0][0].content == f"t{t}-{i}"
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert backend.count() == 31
    assert all(backend.count(f"/t{t}") == 5 for t in range(6))


def test_score_for_unit_vectors_follows_cosine(backend: Any) -> None:
    # For unit vectors, squared L2 = 2 - 2 cos: cos 0 -> 1/3, cos -1 -> 1/5.
    backend.save([rec("orth", [0, 1.0, 0, 0]), rec("anti", [-1.0, 0, 0, 0])])
    got = {r.content: s for r, s in backend.search([1.0, 0, 0, 0], limit=2)}
    assert got["orth"] == pytest.approx(1 / 3, rel=1e-6)
    assert got["anti"] == pytest.approx(1 / 5, rel=1e-6)
    assert math.isfinite(got["orth"])
