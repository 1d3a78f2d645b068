"""Deterministic fakes for the legacy-CrewAI tests (CrewAI 0.203.2 and 1.9.3, where BaseLLM is
a plain ABC, not the pydantic model fakes.FakeLLM subclasses).

* `LegacyFakeLLM`: answers an agent prompt with "Final Answer: <model>-<12 hex of sha256(prompt)>
  <a fixed sentence>", so outputs change whenever what reaches the LLM changes (a memory that
  was or was not recalled), and answers CrewAI's TaskEvaluator with a valid TaskEvaluation JSON
  (suggestions, quality, one entity), so long-term and entity memories are written.
* `HashEmbedding`: a Chroma/CrewAI custom embedding function (`{"provider": "custom", "config":
  {"embedding_callable": HashEmbedding}}`): a unit vector per text from SHA-256 of the text's
  words (a bag of hashed words, so texts sharing words are closer).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from typing import Any

from crewai.llms.base_llm import BaseLLM

# Crew's `embedder` validation asks a custom embedding_callable to be a subclass of Chroma's
# EmbeddingFunction and, on CrewAI 1.x, of CrewAI's CustomEmbeddingFunction.
from chromadb.api.types import EmbeddingFunction as _ChromaEmbeddingFunction

try:
    from crewai.rag.embeddings.providers.custom.embedding_callable import (
        CustomEmbeddingFunction,
    )

    _BASES: tuple[type, ...] = (CustomEmbeddingFunction, _ChromaEmbeddingFunction)
except ImportError:  # CrewAI 0.x
    _BASES = (_ChromaEmbeddingFunction,)
_EmbeddingBase = type("_EmbeddingBase", _BASES, {}) if len(_BASES) > 1 else _BASES[0]

DIM = 16
FACT = "Otters hold hands while sleeping so they do not drift apart in rivers."
EVALUATION = {
    "suggestions": ["Cite a source for every fact."],
    "quality": 8.0,
    "entities": [{"name": "Sea otter", "type": "animal",
                  "description": "A marine mammal that floats on its back in kelp forests.",
                  "relationships": ["eats sea urchins"]}],
}


def _prompt_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    return "\n".join(f"{m.get('role', '')}:{m.get('content', '')}" if isinstance(m, dict)
                     else str(m) for m in messages or ())


class LegacyFakeLLM(BaseLLM):
    """See the module docstring. `prompts` lists every prompt received, in order."""

    def __init__(self, model: str = "fake-llm") -> None:
        super().__init__(model=model)
        self.prompts: list[str] = []

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None,
             available_functions: Any = None, from_task: Any = None, from_agent: Any = None,
             response_model: Any = None) -> str:
        text = _prompt_text(messages)
        self.prompts.append(text)
        if "Assess the quality of the task completed" in text:
            return json.dumps(EVALUATION)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return f"Thought: I now can give a great answer\nFinal Answer: {self.model}-{digest} {FACT}"

    async def acall(self, *args: Any, **kwargs: Any) -> str:
        return self.call(*args, **kwargs)

    def supports_function_calling(self) -> bool:
        return False

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 8192


def hash_vector(text: str, dim: int = DIM) -> list[float]:
    """Sum of per-word hashed unit vectors, normalised."""
    total = [0.0] * dim
    for word in text.lower().split() or [""]:
        block = b""
        counter = 0
        while len(block) < 4 * dim:
            block += hashlib.sha256(f"{counter}:{word}".encode("utf-8")).digest()
            counter += 1
        values = struct.unpack(f"<{dim}i", block[:4 * dim])
        for i, v in enumerate(values):
            total[i] += v / 2**31
    norm = math.sqrt(sum(v * v for v in total)) or 1.0
    return [v / norm for v in total]


class HashEmbedding(_EmbeddingBase):
    """A deterministic embedding function usable by Chroma and by CrewAI's build_embedder."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, input: Any) -> Any:  # noqa: A002 - Chroma's parameter name
        import numpy as np

        return [np.array(hash_vector(text), dtype=np.float32) for text in input]

    @staticmethod
    def name() -> str:
        return "fast-crewai-hash"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashEmbedding:
        return HashEmbedding()


EMBEDDER = {"provider": "custom", "config": {"embedding_callable": HashEmbedding}}
