"""The pure score, threshold and filter rules of fast_crewai.legacy.semantics (docs/legacy.md).
They need no CrewAI, so they run in every venv, the main one included."""

from __future__ import annotations

import math
import random

import pytest

from fast_crewai.legacy import semantics


def _unit(rng: random.Random, dim: int = 16) -> list[float]:
    return semantics.unit([rng.gauss(0, 1) for _ in range(dim)])


def test_vector_score_is_crewais_cosine_score():
    rng = random.Random(3)
    for _ in range(200):
        a, b = _unit(rng), _unit(rng)
        cos = sum(x * y for x, y in zip(a, b))
        d2 = sum((x - y) ** 2 for x, y in zip(a, b))
        daemon = 1.0 / (1.0 + d2)
        crewai = max(0.0, min(1.0, 1.0 - 0.5 * (1.0 - cos)))  # 1 - 0.5 * cosine distance
        assert semantics.vector_score(daemon) == pytest.approx(crewai, abs=1e-9)


@pytest.mark.parametrize("threshold", [0.0, 0.35, 0.5, 0.6, 0.75, 0.99, 1.0])
def test_vector_bound_keeps_exactly_what_the_threshold_keeps(threshold):
    bound = semantics.vector_min_score(threshold)
    for daemon in [i / 1000 for i in range(1, 1001)]:
        score = semantics.vector_score(daemon)
        if semantics.kept(score, threshold):
            assert daemon >= bound, (daemon, score)


@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.6, 0.8, 1.0])
def test_lexical_bound_keeps_exactly_what_the_threshold_keeps(threshold):
    bound = semantics.lexical_min_score(threshold)
    for s in [i / 1000 for i in range(0, 1000)]:
        if semantics.kept(semantics.lexical_score(s), threshold):
            assert s >= bound
        elif s > 0:
            assert semantics.lexical_score(s) < threshold


def test_lexical_score_formula():
    assert semantics.lexical_score(0.0) == 0.5
    assert semantics.lexical_score(0.5 / 2.2) == pytest.approx(0.75)
    assert semantics.lexical_score(1 / 2.2) == pytest.approx(1.0)
    assert semantics.lexical_score(0.99) == 1.0  # saturates
    assert semantics.lexical_min_score(0.6) == pytest.approx(0.2 / 2.2)
    assert semantics.lexical_min_score(0.3) == 0.0


def test_document_id_is_crewai_1x_hash():
    import hashlib
    import json

    assert semantics.document_id("x", {}) == hashlib.sha256(b"x").hexdigest()
    meta = {"b": 1, "a": "z"}
    expected = hashlib.sha256(f"x|{json.dumps(meta, sort_keys=True)}".encode()).hexdigest()
    assert semantics.document_id("x", meta) == expected
    assert semantics.document_id("x", {"doc_id": 7}) == "7"


def test_unit_vectors():
    assert math.isclose(sum(v * v for v in semantics.unit([3.0, 4.0])), 1.0)
    assert semantics.unit([0.0, 0.0]) == [0.0, 0.0]


def test_where_clauses():
    eq = semantics.equality_filter
    assert eq(None) == {} and eq({"a": 1}) == {"a": 1}
    assert eq({"a": {"$eq": 1}, "$and": [{"b": 2}, {"c": {"$eq": "x"}}]}) == {
        "a": 1, "b": 2, "c": "x"}
    assert eq({"a": {"$gt": 1}}) is None and eq({"$or": [{"a": 1}]}) is None
    assert eq({"$and": [{"a": 1}, {"a": 2}]}) is None  # contradiction: evaluated locally

    meta = {"a": 1, "b": "x", "c": 2.5}
    m = semantics.matches
    assert m(meta, {"a": 1}) and not m(meta, {"a": 2}) and not m(meta, {"missing": 1})
    assert m(meta, {"c": {"$gte": 2.5}}) and not m(meta, {"c": {"$gt": 2.5}})
    assert m(meta, {"b": {"$in": ["x", "y"]}}) and m(meta, {"b": {"$nin": ["y"]}})
    assert m(meta, {"$or": [{"a": 2}, {"b": "x"}]}) and not m(meta, {"$and": [{"a": 2}]})
    assert m(meta, {"b": {"$ne": "y"}}) and not m(meta, {"b": {"$lt": 1}})  # str vs int
    with pytest.raises(ValueError):
        m(meta, {"a": {"$regex": "x"}})
