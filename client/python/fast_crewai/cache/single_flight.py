"""Claims this process holds on daemon cache keys (single-flight across processes).

When `DaemonCacheHandler.read` misses, it asks the daemon to *claim* the key. The daemon makes
exactly one caller (in any process) the claimer; every other reader of that key blocks inside
its own `read` (the daemon parks the call, no thread of the daemon waits) until the claimer's
result arrives, and then returns it as a cache hit. So the tool body runs once.

How a claim ends, from this process:

* `add(tool, input, output)` for the claimed key (CrewAI calls it right after the tool ran):
  the Put carries the claim's lease and answers every waiter with the value;
* the tool did not produce a shareable value: it raised, returned a ToolFailure, its
  `cache_function` said no, the value is not JSON, or CrewAI wrote it under another key. Then
  the claim is released as "uncacheable" and every waiter runs the tool itself, as without a
  cache (after having waited for this run). Release
  happens in `add` when it can, else when CrewAI runs its post-tool-call hooks
  (`run_after_tool_call_hooks`, called on every tool path of 1.15.x after the tool finished,
  on the same thread as the cache read), which the cache patcher wraps;
* the process dies: the daemon lets the lease lapse (LEASE_S) and hands the claim to a waiter.

Claims are remembered per thread: a thread that already holds a claim on a key and reads it
again (CrewAI retries a failed ReAct call) gets a plain miss instead of waiting for itself.

Thread-safety: every function may be called from any thread.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

__all__ = [
    "LEASE_S",
    "WAIT_S",
    "Claim",
    "held_by_current_thread",
    "register",
    "release",
    "release_current_thread",
    "take",
]

_log = logging.getLogger(__name__)

# Lease of a claim: how long others wait for a claimer that never answers (crashed). A tool
# that runs longer is not wrong, only possibly run twice.
LEASE_S = 60.0
# How long a reader waits behind a claimer before running the tool itself. Longer than the
# lease, so that a lapsed lease hands the claim to a waiter first.
WAIT_S = 75.0

Key = tuple[str, str, str]  # (namespace, tool, input)


@dataclass(frozen=True)
class Claim:
    namespace: str
    tool: str
    input: str
    lease_id: int
    thread_id: int

    @property
    def key(self) -> Key:
        return (self.namespace, self.tool, self.input)


_lock = threading.Lock()
_by_key: dict[Key, Claim] = {}


def register(namespace: str, tool: str, input: str, lease_id: int) -> Claim:
    """Records a claim the daemon just granted to the current thread."""
    claim = Claim(namespace, tool, input, lease_id, threading.get_ident())
    with _lock:
        _by_key[claim.key] = claim
    return claim


def held_by_current_thread(namespace: str, tool: str, input: str) -> bool:
    if not _by_key:  # the common case, read without the lock (atomic under the GIL)
        return False
    with _lock:
        claim = _by_key.get((namespace, tool, input))
    return claim is not None and claim.thread_id == threading.get_ident()


def take(namespace: str, tool: str, input: str) -> Claim | None:
    """Removes and returns the claim on the key, whoever holds it in this process."""
    with _lock:
        return _by_key.pop((namespace, tool, input), None)


def pending() -> list[Claim]:
    """Claims not yet ended (for tests)."""
    with _lock:
        return list(_by_key.values())


def release(claim: Claim, *, uncacheable: bool = True) -> None:
    """Gives the claim up at the daemon. Never raises (a lost release only means the waiters
    wait for the lease to lapse)."""
    from fast_crewai.cache import remote

    try:
        remote.release(claim.namespace, claim.tool, claim.input, claim.lease_id,
                       uncacheable=uncacheable)
    except Exception as e:  # noqa: BLE001 - the release is best effort by design
        _log.debug("fast-crewai: cannot release cache claim on %r: %s", claim.tool, e)


def release_current_thread(*, uncacheable: bool = True) -> int:
    """Releases every claim the current thread still holds; returns how many."""
    me = threading.get_ident()
    with _lock:
        mine = [c for c in _by_key.values() if c.thread_id == me]
        for claim in mine:
            del _by_key[claim.key]
    for claim in mine:
        release(claim, uncacheable=uncacheable)
    return len(mine)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    _by_key.clear()  # the parent's claims are the parent's


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
