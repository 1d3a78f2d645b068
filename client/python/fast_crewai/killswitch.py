"""The kill switch every patch wrapper checks first.

Two levels, both cheap to read on every call:

* a process-wide flag (`set_acceleration_enabled`), flipped by enable/disable_acceleration() and
  usable on its own as an emergency stop that needs no unpatching;
* a context variable (`suppress_acceleration()`), which turns acceleration off for the current
  thread or asyncio task only, e.g. around code that must use CrewAI's local path.

Wrappers start with:

    if not acceleration_enabled():
        return wrapped(*args, **kwargs)

Example:

    with suppress_acceleration():
        crew.kickoff()          # runs on CrewAI's own code even though patches are installed
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

__all__ = ["acceleration_enabled", "set_acceleration_enabled", "suppress_acceleration"]

_suppressed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "fast_crewai_suppress_acceleration", default=False
)
# A plain bool: reads and writes are atomic under the GIL, and a stale read only means one
# more call takes the path it would have taken a moment earlier.
_enabled = True


def acceleration_enabled() -> bool:
    """True unless acceleration is switched off globally or suppressed in this context."""
    return _enabled and not _suppressed.get()


def set_acceleration_enabled(enabled: bool) -> None:
    """Switches acceleration on or off for the whole process, without (un)patching anything."""
    global _enabled
    _enabled = bool(enabled)


@contextlib.contextmanager
def suppress_acceleration() -> Iterator[None]:
    """Within the block, in this thread/task only, every patch calls CrewAI's original code."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)
