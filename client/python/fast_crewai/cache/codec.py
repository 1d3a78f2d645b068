"""Which tool results cross a process boundary, and how: JSON, and nothing else.

A value is shared through the daemon only if JSON reproduces it exactly: `str`, `int`, `bool`,
finite `float`, `None` inside containers, `list` and `dict` with `str` keys, nested. Anything else
(tuples, which JSON would turn into lists; dicts with non-str keys; NaN; Pydantic models; any
object) stays in the process that produced it, exactly as CrewAI's own CacheHandler keeps it.
No pickle ever crosses a process boundary.

Example:

    payload = encode({"temperature": 21.5})   # b'{"temperature":21.5}'
    decode(payload, CONTENT_TYPE)             # {'temperature': 21.5}
    encode(("a", "b"))                        # None: a tuple would come back as a list
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["CONTENT_TYPE", "decode", "encode"]

CONTENT_TYPE = "application/json"

_MAX_DEPTH = 64


def _plain(value: Any, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_plain(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(key) is str and _plain(item, depth + 1) for key, item in value.items())
    return False


def encode(value: Any) -> bytes | None:
    """UTF-8 JSON of `value`, or None when JSON would not give the same value back."""
    try:
        if type(value) is str:  # the common case: tools return text
            return json.dumps(value, ensure_ascii=False).encode("utf-8")
        if not _plain(value, 0):
            return None
        return json.dumps(value, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # lone surrogates, ...
        return None


def decode(payload: bytes, content_type: str) -> Any:
    """The value of a payload written by `encode`; None (a miss) for any other content type
    or for bytes that are not valid UTF-8 JSON."""
    if content_type != CONTENT_TYPE:
        return None
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
