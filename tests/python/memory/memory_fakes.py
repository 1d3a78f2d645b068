"""The embedder as a CrewAI custom embedding provider class, built on tests/python/fakes.py.

A Crew(memory=True) receives its embedder as a provider spec dict; the custom provider needs a
class that is both CrewAI's CustomEmbeddingFunction and chromadb's EmbeddingFunction:

    embedder={"provider": "custom", "config": {"embedding_callable": HashEmbeddingFunction}}

Its vectors are `fakes.hash_embedder(DIM)`'s, so any process can recompute them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/python, for subprocesses

from chromadb.api.types import EmbeddingFunction as ChromaEmbeddingFunction  # noqa: E402
from crewai.rag.embeddings.providers.custom.embedding_callable import (  # noqa: E402
    CustomEmbeddingFunction,
)
from fakes import FakeLLM, hash_embedder  # noqa: E402,F401 - re-exported for the suite

DIM = 16
embed = hash_embedder(DIM)


class HashEmbeddingFunction(CustomEmbeddingFunction, ChromaEmbeddingFunction):  # type: ignore[misc]
    """CrewAI custom-provider embedding function with `hash_embedder(DIM)`'s vectors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # the provider passes its config
        pass

    def __call__(self, input: list[str]) -> list[list[float]]:  # noqa: A002 - CrewAI's name
        return embed(list(input))
