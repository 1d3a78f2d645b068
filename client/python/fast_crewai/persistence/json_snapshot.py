"""JsonSnapshot: a private copy of a decoded JSON value that hands out fresh copies cheaply.

A value decoded by json.loads is made of dict, list, str, int, float, bool and None. Only the
dicts and lists can be changed in place; the other values are immutable and may be shared by
every copy. A snapshot looks at the value's shape once and builds a copier for exactly that
shape: each copy has new dicts and lists at every level (dict.copy() or a list copy, in C, for
a container holding no container), and the same immutable leaves. That is what a caller who may
change what it gets needs, at about a third of the cost of pickle.loads (which also recreates
every string) and a tenth of copy.deepcopy.

A value holding anything else (a tuple, a set, an object, a dict subclass), or nested too deeply
for a copier written in Python, is kept pickled instead and copied with pickle.loads; a value
nested too deeply even for pickle (json.loads decodes deeper arrays than pickle.dumps encodes) is
kept as JSON text and copied with json.loads.

Example:
    snapshot = JsonSnapshot({"output": {"raw": "x", "messages": [{"role": "user"}]}})
    row = snapshot.copy()          # new dicts and lists, equal to the original
    row["output"]["messages"].append({})   # changes nothing in the snapshot

Thread-safety: a snapshot is immutable; copy() may be called from any thread.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Callable

__all__ = ["JsonSnapshot"]

_Copier = Callable[[Any], Any]
_IMMUTABLE_LEAVES = frozenset({str, int, float, bool, type(None)})


class _NotJson(Exception):
    pass


def _copy_flat_dicts(values: list[Any]) -> list[Any]:
    return [value.copy() for value in values]


def _copier(value: Any) -> _Copier | None:
    """A function copying values of exactly `value`'s shape; None for an immutable leaf.

    Raises _NotJson for a value that is not decoded JSON, RecursionError when nested too deeply.
    """
    kind = type(value)
    if kind in _IMMUTABLE_LEAVES:
        return None
    if kind is dict:
        nested = tuple((key, copier) for key, item in value.items()
                       if (copier := _copier(item)) is not None)
        if not nested:
            return dict.copy

        def copy_dict(source: dict[str, Any], nested: tuple[tuple[str, _Copier], ...] = nested
                      ) -> dict[str, Any]:
            out = source.copy()
            for key, copy in nested:
                out[key] = copy(source[key])
            return out

        return copy_dict
    if kind is list:
        copiers = tuple(_copier(item) for item in value)
        if all(copier is None for copier in copiers):
            return list.copy
        if all(copier is dict.copy for copier in copiers):
            return _copy_flat_dicts

        def copy_list(source: list[Any], copiers: tuple[_Copier | None, ...] = copiers
                      ) -> list[Any]:
            return [item if copy is None else copy(item) for copy, item in zip(copiers, source)]

        return copy_list
    raise _NotJson(kind.__name__)


def _same(value: Any) -> Any:
    return value


class JsonSnapshot:
    """A private copy of `value`, taken at construction; copy() returns a fresh copy of it."""

    __slots__ = ("_value", "_copy")

    def __init__(self, value: Any) -> None:
        try:
            copier = _copier(value)
        except (_NotJson, RecursionError):
            try:
                self._value: Any = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
                self._copy: _Copier = pickle.loads
            except RecursionError:
                self._value, self._copy = json.dumps(value), json.loads
            return
        if copier is None:
            self._value, self._copy = value, _same
        else:
            # Our own containers: later changes to `value` do not reach the snapshot.
            self._value, self._copy = copier(value), copier

    def copy(self) -> Any:
        """A fresh copy: new dicts and lists at every level, equal to the snapshot."""
        return self._copy(self._value)
