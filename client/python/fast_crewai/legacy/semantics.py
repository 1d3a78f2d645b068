"""CrewAI's legacy RAGStorage rules, as pure functions: document ids, scores, thresholds and
Chroma `where` filters. No CrewAI, no gRPC.

Scores. CrewAI >= 0.193 scores by the distance of the Chroma collection, clamped to [0, 1],
and drops results whose score is below a non-zero `score_threshold`. The collection's distance
is fixed by the call that created it: RAGStorage.save asks for cosine, RAGStorage.search gets
Chroma's default, squared L2 (a crew with memory searches before its first save):

* Vector mode, cosine collection: CrewAI reports `1 - 0.5 * cosine_distance` (`0.5 + 0.5 cos`).
  Embeddings are sent unit-normalised, so the daemon's `1 / (1 + d2)` (d2 = squared L2 distance
  = 2 - 2 cos) gives it exactly: `score = 1 - d2 / 4`, with `d2 = 1 / daemon_score - 1`. A
  threshold t becomes the daemon bound `min_score = 1 / (1 + 4 (1 - t))`.
* Vector mode, L2 collection: CrewAI reports `1 / (1 + d2)` of the embeddings as the embedder
  gave them, which is the daemon's own score of the same (unnormalised) vectors; a threshold is
  the daemon bound itself.
* Lexical mode (BM25, no embedder). The daemon's score is `s = bm25 / sum_t idf(t) (k1 + 1)`,
  in [0, 1). `coverage = min(1, (k1 + 1) s) = min(1, bm25 / sum_t idf(t))` is the idf-weighted
  share of the query's terms the document holds (1 when each term occurs once in a document of
  average length, more occurrences saturate at 1). It is put on the same scale as the vector
  score, coverage playing the role of the cosine: `score = 0.5 + 0.5 * coverage`. So
  CrewAI's default threshold 0.6 asks for 20% of the query's weight, as it asks a cosine of 0.2
  of an embedding, and a document sharing no term is never returned (the daemon returns only
  documents holding a query term). A threshold t becomes `min_score = max(0, 2t - 1) / (k1 + 1)`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

# The daemon's BM25 parameter k1 (server/memory/text_index.h).
BM25_K1 = 1.2
# Slack given to the daemon's bound so that float rounding never drops a result CrewAI keeps;
# the exact CrewAI comparison is applied afterwards.
_BOUND_SLACK = 1e-9


def document_id(content: str, metadata: Mapping[str, Any] | None) -> str:
    """CrewAI 1.x's document id (the fallback when CrewAI's own function is not importable):
    `metadata["doc_id"]` when present, else sha256 of `content`, plus `"|" +
    json.dumps(metadata, sort_keys=True)` when there is metadata."""
    if metadata and "doc_id" in metadata:
        return str(metadata["doc_id"])
    text = content
    if metadata:
        text = f"{content}|{json.dumps(metadata, sort_keys=True)}"
    return hashlib.sha256(text.encode()).hexdigest()


def unit(vector: Sequence[float]) -> list[float]:
    """`vector` scaled to length 1 (a zero vector is returned unchanged)."""
    values = [float(v) for v in vector]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values] if norm > 0 else values


def _clamp(score: float) -> float:
    return max(0.0, min(1.0, score))


def vector_score(daemon_score: float) -> float:
    """CrewAI's cosine score of a daemon vector score (unit vectors)."""
    if daemon_score <= 0:
        return 0.0
    return _clamp(1.0 - (1.0 / daemon_score - 1.0) / 4.0)


def vector_min_score(threshold: float) -> float:
    """The daemon bound equivalent to CrewAI's `score >= threshold` in vector mode."""
    if threshold <= 0:
        return 0.0
    return max(0.0, 1.0 / (1.0 + 4.0 * (1.0 - min(threshold, 1.0))) - _BOUND_SLACK)


def l2_score(daemon_score: float) -> float:
    """CrewAI's score in an L2 collection: the daemon's `1 / (1 + d2)`, clamped."""
    return _clamp(daemon_score)


def l2_min_score(threshold: float) -> float:
    """The daemon bound equivalent to CrewAI's `score >= threshold` in an L2 collection."""
    return max(0.0, min(threshold, 1.0) - _BOUND_SLACK) if threshold > 0 else 0.0


def lexical_score(daemon_score: float) -> float:
    """The CrewAI-scale score of a daemon BM25 score (see the module docstring)."""
    coverage = min(1.0, max(0.0, daemon_score) * (BM25_K1 + 1.0))
    return _clamp(0.5 + 0.5 * coverage)


def lexical_min_score(threshold: float) -> float:
    """The daemon bound equivalent to `lexical_score(s) >= threshold`."""
    return max(0.0, (2.0 * min(threshold, 1.0) - 1.0) / (BM25_K1 + 1.0) - _BOUND_SLACK)


def kept(score: float, threshold: float | None) -> bool:
    """CrewAI's rule: `if score_threshold and score < score_threshold: drop`."""
    return not (threshold and score < threshold)


# --------------------------------------------------------------------------------------------
# Chroma `where` filters.

_COMPARISONS = {
    "$eq": lambda a, b: a == b,
    "$ne": lambda a, b: a != b,
    "$gt": lambda a, b: a is not None and a > b,
    "$gte": lambda a, b: a is not None and a >= b,
    "$lt": lambda a, b: a is not None and a < b,
    "$lte": lambda a, b: a is not None and a <= b,
    "$in": lambda a, b: a in b,
    "$nin": lambda a, b: a not in b,
}


def check_where(where: Mapping[str, Any] | None) -> None:
    """Raises ValueError where Chroma refuses the clause: each clause (the whole `where`, and
    each part of an `$and` / `$or`) has exactly one key, each operator expression exactly one
    operator; `{"a": 1, "b": 2}` must be written `{"$and": [{"a": 1}, {"b": 2}]}`."""
    if not where:
        return
    if len(where) != 1:
        raise ValueError(f"Expected where to have exactly one operator, got {dict(where)}")
    for key, value in where.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or len(value) < 2:
                raise ValueError("Expected where value for $and or $or to be a list with at "
                                 f"least two where expressions, got {value}")
            for part in value:
                if not isinstance(part, Mapping):
                    raise ValueError(f"Expected where to be a dict, got {part}")
                check_where(part)
        elif isinstance(value, Mapping) and len(value) != 1:
            raise ValueError(f"Expected operator expression to have exactly one operator, "
                             f"got {dict(value)}")


def equality_filter(where: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`where` as a plain {key: value} equality map when it is one (the daemon evaluates those
    itself): `{"k": v}`, `{"k": {"$eq": v}}` and `$and` of such. None when it uses any other
    operator (then `matches` decides, in this process)."""
    if not where:
        return {}
    out: dict[str, Any] = {}
    for key, value in where.items():
        if key == "$and" and isinstance(value, list):
            for part in value:
                sub = equality_filter(part) if isinstance(part, Mapping) else None
                if sub is None:
                    return None
                for k, v in sub.items():
                    if k in out and out[k] != v:
                        return None
                    out[k] = v
        elif key.startswith("$"):
            return None
        elif isinstance(value, Mapping):
            if set(value) != {"$eq"}:
                return None
            out[key] = value["$eq"]
        else:
            out[key] = value
    return out


def matches(metadata: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """Whether `metadata` satisfies the Chroma `where` clause. Raises ValueError for an
    operator Chroma does not know (Chroma refuses those too)."""
    for key, value in (where or {}).items():
        if key == "$and":
            if not all(matches(metadata, part) for part in value):
                return False
        elif key == "$or":
            if not any(matches(metadata, part) for part in value):
                return False
        elif key.startswith("$"):
            raise ValueError(f"unsupported where operator {key!r}")
        elif isinstance(value, Mapping):
            for op, operand in value.items():
                compare = _COMPARISONS.get(op)
                if compare is None:
                    raise ValueError(f"unsupported where operator {op!r}")
                if key not in metadata and op not in ("$ne", "$nin"):
                    return False
                try:
                    if not compare(metadata.get(key), operand):
                        return False
                except TypeError:
                    return False
        elif key not in metadata or metadata[key] != value:
            return False
    return True
