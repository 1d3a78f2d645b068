"""Near-cache: copies of daemon cache values inside this process, kept correct by the daemon.

A repeated hit should not cost a round trip. Values that `DaemonCacheHandler.read` got from the
daemon are kept here, bounded (4096 entries, 64 MiB of JSON), and served without I/O, under one
condition: this process holds a live `CacheService.WatchInvalidations` stream to the daemon.
The daemon pushes on it every key that a Put gave a new value (from any process) and every
Clear. So:

* copies are trusted only from the stream's `subscribed` message on, and all are dropped the
  moment the stream breaks (daemon restart, network), or when the daemon sends `reset` (this
  process fell behind);
* each copy keeps the entry's expiry, computed from the time the Get was *sent* (never later
  than the daemon's);
* a copy is stored only if no invalidation arrived while its Get was in flight (an epoch counter
  compared before and after), so a Put that overtakes a Get's answer can never leave a stale
  copy behind.

Hits served here are not counted in the daemon's statistics.

Reads are lock-free (a dict lookup and a clock read); writes and invalidations take a lock. One
background thread per process holds the stream and re-subscribes with backoff.

Thread-safety: every method may be called from any thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import grpc

from fast_crewai.client.connection import Connection, get_connection
from fast_crewai.errors import FastCrewAIError
from fast_crewai.v1 import cache_pb2

__all__ = ["NearCache", "current", "shutdown"]

_log = logging.getLogger(__name__)

Key = tuple[str, str, str]

MAX_ENTRIES = 4096
MAX_BYTES = 64 << 20
_RETRY_MIN_S = 0.5
_RETRY_MAX_S = 5.0
_NEVER = float("inf")


class NearCache:
    """The near-cache of one Connection (see the module docstring)."""

    def __init__(self, connection: Connection, *, max_entries: int = MAX_ENTRIES,
                 max_bytes: int = MAX_BYTES) -> None:
        self._connection = connection
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        # key -> (value, monotonic deadline, size); insertion order = eviction order (FIFO).
        self._entries: dict[Key, tuple[Any, float, int]] = {}
        self._bytes = 0
        self._epoch = 0
        self._active = False
        self._stopped = False
        self._call: Any = None
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fast-crewai-near-cache",
                                        daemon=True)
        self._thread.start()

    @property
    def connection(self) -> Connection:
        return self._connection

    @property
    def active(self) -> bool:
        """True while the invalidation stream is subscribed (copies are trusted)."""
        return self._active

    @property
    def epoch(self) -> int:
        """Read before sending a Get; pass to put() with its answer."""
        return self._epoch

    def wait_subscribed(self, timeout: float) -> bool:
        """Blocks until the stream is subscribed (tests, benchmarks)."""
        return self._subscribed.wait(timeout)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Any:
        """The copy of `key`, or None."""
        if not self._active:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            with self._lock:
                if self._entries.get(key) is entry:
                    self._drop(key)
            return None
        return entry[0]

    def put(self, key: Key, value: Any, size: int, deadline: float | None, epoch: int) -> bool:
        """Keeps a copy of a value the daemon returned to a Get sent at `epoch`. Returns whether
        it was kept (not when an invalidation arrived meanwhile or the stream is down)."""
        if value is None or size > self._max_bytes // 4:
            return False
        with self._lock:
            if not self._active or epoch != self._epoch:
                return False
            if key in self._entries:
                self._drop(key)
            while self._entries and (len(self._entries) >= self._max_entries
                                     or self._bytes + size > self._max_bytes):
                self._drop(next(iter(self._entries)))
            self._entries[key] = (value, _NEVER if deadline is None else deadline, size)
            self._bytes += size
            return True

    def stop(self) -> None:
        """Stops the stream and drops every copy. Idempotent."""
        with self._lock:
            self._stopped = True
            call, self._call = self._call, None
            self._deactivate()
        if call is not None:
            call.cancel()

    # ---- internals ---------------------------------------------------------------------------

    def _drop(self, key: Key) -> None:
        _, _, size = self._entries.pop(key)
        self._bytes -= size

    def _deactivate(self) -> None:
        self._active = False
        self._epoch += 1
        self._entries.clear()
        self._bytes = 0
        self._subscribed.clear()

    def _apply(self, message: Any) -> None:
        with self._lock:
            self._epoch += 1
            if message.subscribed:
                self._entries.clear()
                self._bytes = 0
                self._active = True
                self._subscribed.set()
            if message.reset or message.cleared_all:
                self._entries.clear()
                self._bytes = 0
            if message.cleared_namespaces:
                cleared = set(message.cleared_namespaces)
                for key in [k for k in self._entries if k[0] in cleared]:
                    self._drop(key)
            for k in message.keys:
                key = (k.namespace, k.tool, k.input)
                if key in self._entries:
                    self._drop(key)

    def _run(self) -> None:
        from fast_crewai.cache import _link

        delay = _RETRY_MIN_S
        while True:
            with self._lock:
                if self._stopped:
                    return
            try:
                stub = _link.cache_stub(self._connection)
                call = stub.WatchInvalidations(cache_pb2.CacheWatchRequest())
            except FastCrewAIError:  # the connection was closed: this near-cache is over
                self.stop()
                return
            with self._lock:
                if self._stopped:
                    call.cancel()
                    return
                self._call = call
            try:
                for message in call:
                    self._apply(message)
                    delay = _RETRY_MIN_S
            except grpc.RpcError as e:
                _log.debug("fast-crewai: cache invalidation stream ended: %s", e)
            except Exception:  # noqa: BLE001 - never let the thread die silently with copies
                _log.exception("fast-crewai: cache invalidation stream failed")
            with self._lock:
                self._call = None
                self._deactivate()
                if self._stopped:
                    return
            time.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_S)


_lock = threading.Lock()
_current: NearCache | None = None


def current(create: bool = True) -> NearCache | None:
    """The near-cache of the process-wide connection (created on first use), or None."""
    global _current
    near = _current
    try:
        connection = get_connection()
    except FastCrewAIError:
        return None
    if near is not None and near.connection is connection:
        return near
    if not create:
        return None
    with _lock:
        if _current is not None and _current.connection is connection:
            return _current
        old, _current = _current, NearCache(connection)
        near = _current
    if old is not None:
        old.stop()
    return near


def shutdown() -> None:
    """Stops the process's near-cache (tests)."""
    global _current
    with _lock:
        old, _current = _current, None
    if old is not None:
        old.stop()


def _after_fork_in_child() -> None:
    global _current, _lock
    _lock = threading.Lock()
    _current = None  # the parent's thread and stream do not exist here


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
