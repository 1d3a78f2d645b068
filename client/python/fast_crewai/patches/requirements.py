"""Checks "name >= X, < Y" requirement specs against installed distributions.

Uses `packaging` when it is importable (it is a CrewAI dependency, so it normally is) and a
small fallback parser otherwise. The fallback understands the operators ==, !=, >=, <=, >, <
(and ~= as ">= X, == X's prefix") over numeric release segments; pre/post/dev/local parts of
the installed version are ignored.

Example:

    reason = unmet_reason("crewai >= 1.14.7, < 2")   # None when satisfied
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Callable

__all__ = ["installed_version", "parse_spec", "satisfies", "unmet_reason"]

# Display names for the distributions we check.
_DISPLAY = {"crewai": "CrewAI"}

_SPEC = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<clauses>.*)$")
_CLAUSE = re.compile(r"^\s*(?P<op>~=|==|!=|>=|<=|>|<)\s*(?P<version>[0-9][0-9A-Za-z.*+!-]*)\s*$")
_RELEASE = re.compile(r"^(?:[0-9]+!)?(?P<release>[0-9]+(?:\.[0-9]+)*)")


def _release(version: str, *, strip_zeros: bool = True) -> tuple[int, ...]:
    match = _RELEASE.match(version.strip())
    if not match:
        raise ValueError(f"invalid version {version!r}")
    parts = [int(p) for p in match.group("release").split(".")]
    while strip_zeros and len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def parse_spec(spec: str) -> tuple[str, list[tuple[str, str]]]:
    """Splits "name op v, op v" into (name, [(op, v), ...]). Raises ValueError if malformed."""
    match = _SPEC.match(spec)
    if not match:
        raise ValueError(f"invalid requirement {spec!r}")
    clauses = []
    text = match.group("clauses").strip()
    if text:
        for part in text.split(","):
            clause = _CLAUSE.match(part)
            if not clause:
                raise ValueError(f"invalid requirement {spec!r}")
            clauses.append((clause.group("op"), clause.group("version")))
    return match.group("name"), clauses


def _has_prefix(version: tuple[int, ...], prefix: tuple[int, ...]) -> bool:
    padded = version + (0,) * len(prefix)
    return padded[: len(prefix)] == prefix


_COMPARE: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


def _clause_holds(op: str, want_text: str, version: str) -> bool:
    have = _release(version)
    if want_text.endswith(".*") and op in ("==", "!="):
        matched = _has_prefix(_release(version, strip_zeros=False),
                              _release(want_text[:-2], strip_zeros=False))
        return matched if op == "==" else not matched
    if op == "~=":
        raw = _release(want_text, strip_zeros=False)
        upper = raw[:-1] if len(raw) > 1 else raw
        return have >= _release(want_text) and _has_prefix(
            _release(version, strip_zeros=False), upper)
    return _COMPARE[op](have, _release(want_text))


def _fallback_satisfies(clauses: list[tuple[str, str]], version: str) -> bool:
    return all(_clause_holds(op, want, version) for op, want in clauses)


def satisfies(spec: str, version: str, *, use_packaging: bool = True) -> bool:
    """True when `version` meets the clauses of `spec` (pre-releases allowed)."""
    if use_packaging:
        try:
            from packaging.requirements import Requirement
        except ImportError:
            pass
        else:
            return Requirement(spec).specifier.contains(version, prereleases=True)
    _, clauses = parse_spec(spec)
    return _fallback_satisfies(clauses, version)


def installed_version(distribution: str) -> str | None:
    """The installed version of `distribution`, or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def unmet_reason(spec: str) -> str | None:
    """None when the installed distribution satisfies `spec`; otherwise why not, e.g.
    "CrewAI not installed" or "CrewAI 1.9.3 not supported (needs crewai >= 1.10, < 2)"."""
    name, _ = parse_spec(spec)
    display = _DISPLAY.get(name.lower(), name)
    version = installed_version(name)
    if version is None:
        return f"{display} not installed"
    if not satisfies(spec, version):
        return f"{display} {version} not supported (needs {spec})"
    return None
