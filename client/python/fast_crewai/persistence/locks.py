"""Named cross-process locks held in the daemon: a backend for crewai_core.lock_store.

`daemon_lock(name, timeout=...)` is a context manager with the contract of CrewAI's
`lock_store.lock(name, timeout=...)`: it waits up to `timeout` seconds for the lock and raises
`portalocker.exceptions.LockException` (what CrewAI's own backend raises) when it cannot get
it. Not re-entrant, like CrewAI's file locks.

How it holds the lock: one PersistenceService/HoldLock stream per acquisition. The first
message asks for the lock with a lease; the daemon answers when it is granted (waiting parks
no thread on either side beyond this caller). While the `with` block runs, the stream stays
open and a heartbeat goes out every third of the lease (from gRPC's request thread), so:

* the lock is released when the block exits (a `release` message), and
* a process that dies (kill -9, crash) frees its locks at once: its connection breaks and the
  daemon ends the stream;
* a process that hangs or loses the network loses the lock when the lease lapses.

When the daemon is unreachable before the lock is granted, the lock is taken with the
fallback (the backend that was installed before ours, else CrewAI's own default: a
portalocker file lock in the temp directory, or a Redis lock when REDIS_URL is set). Processes
that use the daemon and processes that use the fallback do not exclude each other; keep the
daemon up, or turn database acceleration off, for strict mutual exclusion across a fleet.
If the daemon goes away while a lock is held, the block is not interrupted; a warning says the
lock was lost. A daemon that accepts the connection but does not answer (stopped, cut off) is
given the caller's timeout and ANSWER_GRACE_S more: then the wait ends with LockException, as
CrewAI's own timeout would, and the daemon counts as unreachable for the next calls.

Timeouts are CrewAI's: `None` is portalocker's default wait (5 s), a negative value is 0, and a
wait longer than the daemon accepts in one request (MAX_WAIT_S, 24 h; `float("inf")` waits for
ever) is asked for in 24-hour turns.

Within `local_locks_only()` (one thread) `daemon_lock` takes the fallback lock without asking
the daemon: the thread that mirrors the replay log into CrewAI's local file (kickoff.py) guards
that one machine's file as CrewAI does, with CrewAI's file lock, which also excludes CrewAI
processes running without fast-crewai; a daemon lock there cost a stream per row.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import queue
import socket
import tempfile
import threading
import time
from typing import Any, Callable, ContextManager, Iterator

import grpc

from fast_crewai import errors
from fast_crewai.persistence import _link, conversions

__all__ = ["DEFAULT_LEASE_S", "LockBackend", "crewai_default_lock", "daemon_lock",
           "local_locks_only"]

_log = logging.getLogger(__name__)

# Lease asked for each lock. A heartbeat goes out every third of it.
DEFAULT_LEASE_S = 15.0
# CrewAI's default wait (crewai_core.lock_store._DEFAULT_TIMEOUT).
DEFAULT_TIMEOUT_S = 120.0
# The wait portalocker gives `timeout=None` (portalocker.utils.DEFAULT_TIMEOUT).
NONE_TIMEOUT_S = 5.0
# Longest wait the daemon accepts in one lock request (LockTable's max_wait).
MAX_WAIT_S = 24 * 3600.0
# How long past the caller's timeout a daemon that does not answer at all is waited for.
ANSWER_GRACE_S = 5.0

LockBackend = Callable[..., ContextManager[None]]

_RELEASE = object()

# Per thread: True within local_locks_only().
_local_only = threading.local()


@contextlib.contextmanager
def local_locks_only() -> Iterator[None]:
    """Within the block, on this thread, daemon_lock takes its fallback lock (module docstring)."""
    previous = getattr(_local_only, "on", False)
    _local_only.on = True
    try:
        yield
    finally:
        _local_only.on = previous


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def _lock_exception(message: str) -> Exception:
    import portalocker.exceptions

    return portalocker.exceptions.LockException(message)


@contextlib.contextmanager
def crewai_default_lock(name: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """CrewAI's built-in lock (crewai_core.lock_store without a backend): a Redis lock when
    REDIS_URL is set and redis is installed, else a portalocker file lock named after the md5
    of `name` in the temp directory, so it excludes processes running CrewAI without fast-crewai
    on the same machine."""
    import portalocker
    import portalocker.exceptions
    from crewai_core import lock_store

    channel = "crewai:" + hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    if lock_store._redis_available():
        with portalocker.RedisLock(channel=channel, connection=lock_store._redis_connection(),
                                   timeout=timeout):
            yield
        return
    path = os.path.join(tempfile.gettempdir(), f"{channel}.lock")
    file_lock = portalocker.Lock(path, timeout=timeout)
    try:
        file_lock.acquire()
    except portalocker.exceptions.BaseLockException as e:
        raise portalocker.exceptions.LockException(
            f"Failed to acquire lock '{name}' at {path} (timeout={timeout}s). This commonly "
            "occurs in multi-process environments."
        ) from e
    try:
        yield
    finally:
        file_lock.release()


def _wait_s(timeout: float | None) -> float:
    """The wait CrewAI's own lock gives `timeout` (module docstring), in seconds; may be inf."""
    if timeout is None:
        return NONE_TIMEOUT_S
    wait = float(timeout)
    return 0.0 if math.isnan(wait) or wait < 0 else wait


class _Hold:
    """One HoldLock stream: acquire() blocks until granted; release() ends the stream.

    `timeout` (at most MAX_WAIT_S) is the wait asked of the daemon; `shown_timeout` is the
    caller's, for the error message."""

    def __init__(self, name: str, timeout: float, lease_s: float,
                 shown_timeout: float | None = None) -> None:
        self.name = name
        self._timeout = timeout
        self._shown_timeout = timeout if shown_timeout is None else shown_timeout
        self._lease_s = lease_s
        self._heartbeat_s = max(0.05, lease_s / 3.0)
        self._holder = _holder()  # the caller's thread; the requests go out on gRPC's
        self._outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._call: Any = None
        self._gave_up = threading.Event()
        self._answer_lock = threading.Lock()
        self._answered = False  # guarded by _answer_lock: the daemon's first answer arrived

    def _requests(self) -> Iterator[Any]:
        yield conversions.acquire_lock(self.name, wait_timeout_ms=int(self._timeout * 1000),
                                       lease_ms=int(self._lease_s * 1000), holder=self._holder)
        while True:
            try:
                item = self._outbox.get(timeout=self._heartbeat_s)
            except queue.Empty:
                yield conversions.heartbeat()
                continue
            if item is _RELEASE:
                yield conversions.release_lock()
            return

    def acquire(self) -> None:
        """Returns once the lock is held. Raises LockException when the wait timed out,
        errors.DaemonUnavailable when the daemon could not answer, other errors.RpcError for
        a refused request."""
        started = time.monotonic()
        self._call = _link.stub().HoldLock(self._requests())
        # A daemon that never answers (stopped, cut off) must not hold the caller past its
        # timeout: the stream is cancelled ANSWER_GRACE_S after the daemon's own answer is due.
        give_up = threading.Timer(self._timeout + ANSWER_GRACE_S, self._give_up)
        give_up.daemon = True
        give_up.start()
        try:
            first = next(self._call)
            with self._answer_lock:
                self._answered = True
                late = self._gave_up.is_set()  # cancelled as the answer arrived
            if late:
                self._call.cancel()
                raise grpc.RpcError()
        except StopIteration:
            raise errors.DaemonUnavailable("the daemon ended the lock stream without an answer")
        except grpc.RpcError as e:
            self._outbox.put(None)
            if self._gave_up.is_set():
                waited = time.monotonic() - started
                _link.report_unavailable(f"no answer to a lock request in {waited:.1f}s")
                raise _lock_exception(
                    f"Failed to acquire lock '{self.name}' from the fast-crewai daemon "
                    f"(timeout={self._shown_timeout:g}s): the daemon did not answer in "
                    f"{waited:.1f}s") from None
            error = errors.from_rpc_error(e)
            if isinstance(error, errors.DaemonUnavailable):
                _link.report_unavailable(str(error))
            raise error from None
        finally:
            give_up.cancel()
        kind, answer = conversions.lock_answer(first)
        if kind == "acquired":
            if answer["lease_ms"] > 0:
                self._heartbeat_s = max(0.05, answer["lease_ms"] / 3000.0)
            return
        self._outbox.put(None)
        self._drain()
        if kind == "timed_out":
            waited = time.monotonic() - started
            raise _lock_exception(
                f"Failed to acquire lock '{self.name}' from the fast-crewai daemon "
                f"(timeout={self._shown_timeout:g}s, waited {waited:.1f}s): held by "
                f"{answer['holder'] or 'another process'}")
        raise errors.InternalError(f"unexpected answer to a lock request: {kind}")

    @property
    def gave_up(self) -> bool:
        """True when acquire() stopped waiting for a daemon that did not answer."""
        return self._gave_up.is_set()

    def _give_up(self) -> None:
        with self._answer_lock:
            if self._answered:
                return
            self._gave_up.set()
        self._call.cancel()

    def release(self) -> None:
        """Releases the lock (idempotent). Logs a warning when it had been lost meanwhile."""
        if self._call is None:
            return
        self._outbox.put(_RELEASE)
        self._drain()
        self._call = None

    def _drain(self) -> None:
        try:
            for _ in self._call:
                pass
        except grpc.RpcError as e:
            error = errors.from_rpc_error(e)
            if isinstance(error, errors.Aborted):
                _log.warning("fast-crewai: lock %r was lost while held: %s", self.name,
                             error.details)
            elif not isinstance(error, errors.Cancelled):
                _log.warning("fast-crewai: lock %r: stream ended with %s", self.name, error)


@contextlib.contextmanager
def daemon_lock(name: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                fallback: LockBackend | None = None,
                lease_s: float = DEFAULT_LEASE_S) -> Iterator[None]:
    """Holds the daemon lock `name` for the duration of the block (see the module docstring).

    `fallback(name, timeout=...)` is used when the daemon is unreachable, and within
    local_locks_only() (default: CrewAI's own lock).
    """
    from portalocker.exceptions import LockException

    local = fallback or crewai_default_lock
    if getattr(_local_only, "on", False) or not _link.daemon_available():
        with local(name, timeout=timeout):
            yield
        return
    wait_s = _wait_s(timeout)
    deadline = time.monotonic() + wait_s
    while True:
        turn = min(max(0.0, deadline - time.monotonic()), MAX_WAIT_S)
        hold = _Hold(name, turn, lease_s, shown_timeout=wait_s)
        try:
            hold.acquire()
            break
        except errors.RpcError as e:  # unreachable, or a name the daemon refuses
            _log.warning("fast-crewai: lock %r falls back to CrewAI's local lock: %s", name, e)
            with local(name, timeout=timeout):
                yield
            return
        except LockException:
            # A wait longer than one request: another turn while time is left.
            if hold.gave_up or turn < MAX_WAIT_S:
                raise
    try:
        yield
    finally:
        hold.release()
