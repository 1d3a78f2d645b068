"""Contract: the daemon-backed legacy storages answer exactly as CrewAI's own RAGStorage (Chroma)
and LTMSQLiteStorage (SQLite) on the same data: result shape, ids, order, scores, limit,
metadata filter, threshold, duplicates, reset, and LTM ordering / latest_n / None when empty.
Also: the patcher reverts cleanly and applies again (instrument, call, uninstrument, call,
re-instrument), and the async variants (CrewAI 1.x) agree with the sync ones."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from legacy_support import is_one_x, require_legacy

require_legacy()

from crewai.memory.storage.ltm_sqlite_storage import LTMSQLiteStorage  # noqa: E402
from crewai.memory.storage.rag_storage import RAGStorage  # noqa: E402

from fast_crewai.killswitch import suppress_acceleration  # noqa: E402
from legacy_fakes import EMBEDDER  # noqa: E402

DOCS = [
    ("otters hold hands while sleeping", {"observation": "facts", "n": 1}),
    ("sea otters eat urchins and crabs", {"observation": "facts", "n": 2}),
    ("the stock market fell on monday", {"observation": "news", "n": 3}),
    ("river otters live in burrows near water", {"observation": "facts", "n": 4}),
    ("otters hold hands while sleeping", {"observation": "facts", "n": 1}),  # duplicate
    ("a note without metadata", {}),
]
QUERIES = ["otters sleeping", "stock market news", "what do otters eat", "water burrows"]
_counter = itertools.count()


def _pair(**kwargs) -> tuple[RAGStorage, RAGStorage]:
    """(CrewAI's own storage, the daemon-backed one) for one fresh collection."""
    kind = f"contract{next(_counter)}"
    with suppress_acceleration():
        plain = RAGStorage(type=kind, embedder_config=EMBEDDER, **kwargs)
    patched = RAGStorage(type=kind, embedder_config=EMBEDDER, **kwargs)
    assert vars(plain).get("_fast_crewai_store") is None
    assert vars(patched).get("_fast_crewai_store") is not None
    return plain, patched


def _same(ours: list[dict], theirs: list[dict]) -> None:
    assert [(r["id"], r["content"], r["metadata"]) for r in ours] == \
        [(r["id"], r["content"], r["metadata"]) for r in theirs]
    for a, b in zip(ours, theirs):
        assert set(a) == {"id", "content", "metadata", "score"}
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)


def test_rag_search_matches_crewai(legacy_shim):
    legacy_shim()
    plain, patched = _pair()
    for value, metadata in DOCS:
        plain.save(value, metadata)
        patched.save(value, metadata)
    checked = 0
    for query in QUERIES:
        for limit, threshold in [(5, 0.6), (2, 0.0), (10, 0.7), (1, 0.0), (5, 0.0)]:
            theirs = plain.search(query, limit=limit, score_threshold=threshold)
            ours = patched.search(query, limit=limit, score_threshold=threshold)
            _same(ours, theirs)
            checked += len(theirs)
        for where in ({"observation": "facts"}, {"n": {"$gte": 2}},
                      {"$or": [{"n": 1}, {"observation": "news"}]}):
            theirs = plain.search(query, limit=3, filter=where, score_threshold=0.0)
            _same(patched.search(query, limit=3, filter=where, score_threshold=0.0), theirs)
            checked += len(theirs)
    assert checked > 40  # the comparison really compared results
    # The duplicate save is one document, as in Chroma (upsert by CrewAI's id).
    everything = patched.search("otters", limit=50, score_threshold=0.0)
    assert len(everything) == len({(v, str(sorted(m.items()))) for v, m in DOCS})


def test_scores_follow_the_distance_the_first_call_gave_the_collection(legacy_shim):
    # CrewAI's search creates a missing collection with Chroma's default distance (L2), its
    # save with cosine; the collection keeps it until a reset. A crew with memory searches
    # before its first save.
    legacy_shim()

    def fill_and_compare(plain: RAGStorage, patched: RAGStorage, first: str) -> float:
        for storage in (plain, patched):
            if first == "search":
                assert storage.search("otters", score_threshold=0.0) == []
            for value, metadata in DOCS:
                storage.save(value, metadata)
        for query in QUERIES:
            for threshold in (0.0, 0.6, 0.8):
                theirs = plain.search(query, limit=5, score_threshold=threshold)
                _same(patched.search(query, limit=5, score_threshold=threshold), theirs)
        return plain.search(QUERIES[0], limit=1, score_threshold=0.0)[0]["score"]

    searched_first = fill_and_compare(*_pair(), "search")
    plain, patched = _pair()
    saved_first = fill_and_compare(plain, patched, "save")
    plain.reset()
    patched.reset()
    searched_after_reset = fill_and_compare(plain, patched, "search")
    # The two distances score the same data differently: the comparisons above told them apart.
    assert searched_first != pytest.approx(saved_first, abs=1e-3)
    assert searched_after_reset == pytest.approx(searched_first)


def test_clauses_and_limits_chroma_refuses_are_refused_and_logged(legacy_shim, caplog):
    legacy_shim()
    plain, patched = _pair()
    for value, metadata in DOCS:
        plain.save(value, metadata)
        patched.save(value, metadata)
    for where in ({"observation": "facts", "n": 1}, {"$and": [{"n": 1}]},
                  {"n": {"$gte": 1, "$lte": 3}}):
        assert plain.search("otters", filter=where, score_threshold=0.0) == []
        caplog.clear()
        assert patched.search("otters", filter=where, score_threshold=0.0) == []
        assert "exactly one operator" in caplog.text or "at least two" in caplog.text, where
    for limit in (0, -1):
        assert plain.search("otters", limit=limit, score_threshold=0.0) == []
        caplog.clear()
        assert patched.search("otters", limit=limit, score_threshold=0.0) == []
        assert f"Number of requested results {limit}, cannot be negative" in caplog.text
    # The same filters written as Chroma wants them work on both.
    where = {"$and": [{"observation": "facts"}, {"n": 1}]}
    _same(patched.search("otters", filter=where, score_threshold=0.0),
          plain.search("otters", filter=where, score_threshold=0.0))
    assert len(plain.search("otters", filter=where, score_threshold=0.0)) == 1


def test_rag_reset_empties_the_collection_and_only_it(legacy_shim):
    legacy_shim()
    _, first = _pair()
    _, second = _pair()
    first.save("otters hold hands", {"k": "v"})
    second.save("otters hold hands", {"k": "v"})
    first.reset()
    assert first.search("otters", score_threshold=0.0) == []
    assert len(second.search("otters", score_threshold=0.0)) == 1
    first.reset()  # resetting an empty collection is fine, as in CrewAI


def test_collection_namespace_follows_crewai_naming(legacy_shim, storage_dir):
    legacy_shim()

    class Agent:
        def __init__(self, role: str) -> None:
            self.role = role

    class Crew:
        agents = [Agent("Senior Researcher"), Agent("Writer/Editor")]

    storage = RAGStorage(type="short_term", embedder_config=EMBEDDER, crew=Crew())
    store = vars(storage)["_fast_crewai_store"]
    assert storage.agents == "Senior_Researcher_Writer_Editor"
    assert store.namespace == (
        f"chroma:{storage_dir}#memory_short_term_Senior_Researcher_Writer_Editor")
    assert store.mode == "vector"


def test_ltm_matches_crewai(legacy_shim, tmp_path):
    legacy_shim()
    with suppress_acceleration():
        plain = LTMSQLiteStorage(db_path=str(tmp_path / "plain" / "ltm.db"))
    patched = LTMSQLiteStorage(db_path=str(tmp_path / "ours" / "ltm.db"))
    assert vars(patched)["_fast_crewai_store"].namespace == str(tmp_path / "ours" / "ltm.db")
    rows = [("task a", {"q": 1}, "1700000000.5", 8), ("task a", {"q": 2}, "1700000000.5", 3),
            ("task a", {"q": 3}, "999.0", 9), ("task a", {"q": 4}, "1700000001.25", 7.5),
            ("task b", {"q": 5, "nested": {"x": [1, 2]}}, "1700000002", 1),
            ("task a", {"q": 6}, "1700000000.5", 3)]
    for task, metadata, when, score in rows:
        plain.save(task, metadata, when, score)
        patched.save(task_description=task, metadata=metadata, datetime=when, score=score)
    for task in ("task a", "task b", "missing"):
        for latest_n in (1, 2, 3, 10, 0, -1):
            assert patched.load(task, latest_n) == plain.load(task, latest_n), (task, latest_n)
    assert patched.load("missing", 3) is None
    # datetime compared as text ("999.0" > "17..."), then score ascending, then insertion.
    assert [e["metadata"]["q"] for e in patched.load("task a", 10)] == [3, 4, 2, 6, 1]
    plain.reset()
    patched.reset()
    assert patched.load("task a", 3) is None and plain.load("task a", 3) is None


def test_async_variants_agree_with_sync(legacy_shim, tmp_path):
    legacy_shim()
    if not is_one_x():  # CrewAI 0.x has none: the optional targets were skipped, not failed
        assert not any(hasattr(RAGStorage, m) for m in ("asave", "asearch"))
        assert not any(hasattr(LTMSQLiteStorage, m) for m in ("asave", "aload", "areset"))
        from fast_crewai.patches.legacy_memory import LegacyMemoryPatcher

        assert LegacyMemoryPatcher().status().reason == "patched"
        return
    _, storage = _pair()
    ltm = LTMSQLiteStorage(db_path=str(tmp_path / "ltm.db"))

    async def scenario() -> tuple[list, list, list | None, list | None]:
        for value, metadata in DOCS:
            await storage.asave(value, metadata)
        found = await storage.asearch("otters sleeping", limit=3, score_threshold=0.0)
        await ltm.asave("t", {"a": 1}, "10", 2)
        loaded = await ltm.aload("t", 3)
        await ltm.areset()
        return found, storage.search("otters sleeping", limit=3, score_threshold=0.0), \
            loaded, await ltm.aload("t", 3)

    found, sync_found, loaded, after_reset = asyncio.run(scenario())
    assert found and found == sync_found
    assert loaded == [{"metadata": {"a": 1}, "datetime": "10", "score": 2.0}]
    assert after_reset is None


def test_patcher_reverts_and_reapplies(legacy_shim):
    from fast_crewai.acceleration import disable_acceleration

    original_save = vars(RAGStorage)["save"]
    original_load = vars(LTMSQLiteStorage)["load"]
    legacy_shim()
    assert vars(RAGStorage)["save"] is not original_save
    patched = RAGStorage(type=f"revert{next(_counter)}", embedder_config=EMBEDDER)
    patched.save("otters hold hands", {})
    assert len(patched.search("otters", score_threshold=0.0)) == 1
    disable_acceleration()
    assert vars(RAGStorage)["save"] is original_save
    assert vars(LTMSQLiteStorage)["load"] is original_load
    plain = RAGStorage(type=f"revert{next(_counter)}", embedder_config=EMBEDDER)
    assert vars(plain).get("_fast_crewai_store") is None
    plain.save("otters hold hands", {})  # CrewAI's own Chroma storage
    assert len(plain.search("otters", score_threshold=0.0)) == 1
    legacy_shim()
    again = RAGStorage(type=f"revert{next(_counter)}", embedder_config=EMBEDDER)
    assert vars(again).get("_fast_crewai_store") is not None
