"""Deterministic fakes for the only parts tests may fake: the LLM and the embedder.

`FakeLLM` is a real CrewAI `BaseLLM` subclass (CrewAI 1.15.30: `call` is the one abstract
method). It answers every call with a ReAct-style final answer derived from a hash of the
prompt, so a crew completes without network, its outputs are reproducible run to run, and any
change in what reaches the LLM (a lost memory, a different context) changes the outputs.

`hash_embedder(dim)` returns an embedder callable `list[str] -> list[list[float]]` (what CrewAI's
Memory accepts as `embedder=`): a unit vector per text, derived from SHA-256 of the text.
"""

from __future__ import annotations

import hashlib
import math
import struct
from typing import Any, Callable

from crewai.llms.base_llm import BaseLLM
from pydantic import PrivateAttr


def _prompt_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    parts = []
    for message in messages or ():
        content = message.get("content") if isinstance(message, dict) else message
        parts.append(f"{message.get('role', '') if isinstance(message, dict) else ''}:{content}")
    return "\n".join(parts)


class FakeLLM(BaseLLM):
    """Answers "Final Answer: <model>-<12 hex digits of sha256(prompt)>"; records the prompts."""

    _prompts: list[str] = PrivateAttr(default_factory=list)

    def call(
        self,
        messages: Any,
        tools: Any = None,
        callbacks: Any = None,
        available_functions: Any = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> str:
        text = _prompt_text(messages)
        self._prompts.append(text)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return f"Thought: I now can give a great answer\nFinal Answer: {self.model}-{digest}"

    def supports_function_calling(self) -> bool:
        return False

    @property
    def prompts(self) -> list[str]:
        """Every prompt received so far, in call order."""
        return list(self._prompts)


def hash_embedder(dim: int = 16) -> Callable[[list[str]], list[list[float]]]:
    """An embedder mapping each text to a deterministic unit vector of `dim` floats."""
    if dim <= 0:
        raise ValueError("dim must be positive")

    def embed(texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            values: list[float] = []
            counter = 0
            while len(values) < dim:
                block = hashlib.sha256(f"{counter}:{text}".encode("utf-8")).digest()
                values.extend(v / 2**31 for v in struct.unpack("<8i", block))
                counter += 1
            values = values[:dim]
            norm = math.sqrt(sum(v * v for v in values)) or 1.0
            vectors.append([v / norm for v in values])
        return vectors

    return embed
