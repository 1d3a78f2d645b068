"""Without an embedder the daemon's BM25 search answers legacy memory searches, offline, with
scores on CrewAI's scale (0.5 + 0.5 * coverage, docs/legacy.md) so score_threshold keeps its
meaning; FAST_CREWAI_LEGACY_SEARCH=lexical forces it even when an embedder is configured."""

from __future__ import annotations

import itertools

import pytest

from legacy_support import require_legacy

require_legacy()

from crewai.memory.short_term.short_term_memory import ShortTermMemory  # noqa: E402
from crewai.memory.storage.rag_storage import RAGStorage  # noqa: E402

from fast_crewai.legacy import semantics  # noqa: E402

NOTES = [
    "Otters hold hands while sleeping so they do not drift apart.",
    "Sea otters use rocks as tools to open shellfish.",
    "The quarterly report shows revenue grew eight percent.",
    "Penguins huddle together to survive the antarctic winter.",
]
_counter = itertools.count()


def test_memory_search_without_embedder_returns_relevant_results(legacy_shim):
    legacy_shim()
    memory = ShortTermMemory(path=None)  # no crew, no embedder: CrewAI alone needs OpenAI here
    store = vars(memory.storage)["_fast_crewai_store"]
    assert store.mode == "lexical"
    for note in NOTES:
        memory.save(note, {"source": "notes"})

    found = memory.search("how do otters sleep holding hands", score_threshold=0.6)
    assert [r["content"] for r in found][:1] == [NOTES[0]]
    assert NOTES[2] not in [r["content"] for r in found]  # nothing in common: never returned
    assert all(0.6 <= r["score"] <= 1.0 for r in found)
    assert found == sorted(found, key=lambda r: -r["score"])
    assert found[0]["metadata"] == {"source": "notes"}

    tools = memory.search("otters rocks tools shellfish", score_threshold=0.0)
    assert tools[0]["content"] == NOTES[1]
    # A higher threshold keeps fewer results, and 1.0 asks for full coverage.
    strict = memory.search("otters rocks tools shellfish", score_threshold=0.9)
    assert 1 <= len(strict) < len(tools)
    assert memory.search("completely unrelated words", score_threshold=0.0) == []


def test_lexical_scores_follow_the_documented_formula(legacy_shim):
    legacy_shim()
    storage = RAGStorage(type=f"bm25formula{next(_counter)}")
    storage.save("alpha beta", {})
    storage.save("gamma delta", {})
    # One document holds both query terms once at average length: coverage 1, score 1.0.
    [hit] = storage.search("alpha beta", score_threshold=0.0)
    assert hit["score"] == pytest.approx(1.0)
    # Half the (equal-idf) query weight present: coverage 0.5 -> 0.75.
    [half] = storage.search("alpha gamma", limit=1, score_threshold=0.0)
    assert half["score"] == pytest.approx(0.75, abs=1e-6)
    assert storage.search("alpha gamma", score_threshold=0.76) == []
    assert len(storage.search("alpha gamma", score_threshold=0.75)) == 2
    assert semantics.lexical_score(0.0) == 0.5 and semantics.lexical_score(1 / 2.2) == 1.0


def test_lexical_setting_never_calls_the_embedder(legacy_shim):
    calls = []

    from legacy_fakes import HashEmbedding

    class CountingEmbedding(HashEmbedding):
        def __call__(self, input):  # noqa: A002
            calls.append(list(input))
            return super().__call__(input)

    legacy_shim(legacy_search="lexical")
    storage = RAGStorage(type=f"bm25forced{next(_counter)}", embedder_config={
        "provider": "custom", "config": {"embedding_callable": CountingEmbedding}})
    constructed = len(calls)  # CrewAI's own __init__ probes the embedder once
    assert vars(storage)["_fast_crewai_store"].mode == "lexical"
    storage.save("otters hold hands", {})
    assert storage.search("otters", score_threshold=0.0)[0]["content"] == "otters hold hands"
    assert len(calls) == constructed
