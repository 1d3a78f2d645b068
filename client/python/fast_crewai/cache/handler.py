"""DaemonCacheHandler: CrewAI's CacheHandler, shared through the fast-crewai daemon.

A subclass of `crewai.agents.cache.cache_handler.CacheHandler` with the same two methods:

* `read(tool, input)` returns the cached tool result or None (a miss). It looks in the
  process-local store first (values that cannot be shared, or were written while the daemon was
  down), then in the near-cache (copies of daemon values kept correct by the daemon's
  invalidation stream, near_cache.py: a repeated hit costs no round trip), then asks the
  daemon. On a daemon miss it claims the key, so concurrent identical calls in other threads and
  processes wait for this one's result (single_flight.py).
* `add(tool, input, output)` stores a result. `ToolFailure` outputs are never stored (as in
  CrewAI). JSON-exact values (codec.py) go to the daemon with the handler's TTL; anything else,
  and everything while the daemon is unreachable, stays in the process-local store (CrewAI's own
  dict), so a handler behaves exactly like CrewAI's when the daemon is away. A result the
  daemon took is also remembered here (with the daemon's expiry) and answers this handler's
  reads while the daemon is unreachable, so a tool that ran before an outage does not run again
  during it (CrewAI's dict would have it); it is never read while the daemon answers, which
  stays the one truth (a `fast-crewai cache clear`, another process's newer value). With
  acceleration switched off, those results stay this handler's, as CrewAI's dict would keep
  them. The handler's TTL applies to the process-local store too.

Keys are CrewAI's: the two strings CrewAI passes, byte for byte (CrewAI joins them as
f"{tool}-{input}" for its dict, and so does the local store; the daemon keeps the two parts
apart, so it never conflates tool "a-b" input "c" with tool "a" input "b-c").

Every call honours the kill switch (`fast_crewai.killswitch`): with acceleration off a handler
is a plain CacheHandler.

`adopt(handler)` makes a CrewAI handler (one per Crew, or per standalone agent) a
DaemonCacheHandler in place, the first time it is wired into an agent: namespace "crew-<random>"
for that handler, so crews stay as isolated as they are in CrewAI, unless
FAST_CREWAI_CACHE_NAMESPACE names a namespace that every crew, process and run then shares.
FAST_CREWAI_CACHE_TTL sets the TTL of the results it writes. A "crew-<random>" namespace can
only ever be read through its handler, so when the handler is garbage-collected (its Crew is
gone) or the process exits, the namespace is cleared in the daemon, as CrewAI's dict is freed
with its Crew (the daemon then forgets the empty namespace).

Thread-safety: a handler may be used from any number of threads (CrewAI runs tools in pools).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from typing import Any

from crewai.agents.cache.cache_handler import CacheHandler
from pydantic import PrivateAttr

from fast_crewai import errors
from fast_crewai.cache import _link, codec, near_cache, remote, single_flight
from fast_crewai.config import ClientConfig
from fast_crewai.killswitch import acceleration_enabled

__all__ = ["DaemonCacheHandler", "adopt"]

_log = logging.getLogger(__name__)


class DaemonCacheHandler(CacheHandler):
    """See the module docstring. Build it with `DaemonCacheHandler.create(namespace)`."""

    _namespace: str = PrivateAttr(default="")
    _ttl: float | None = PrivateAttr(default=None)
    _single_flight: bool = PrivateAttr(default=True)
    _near_cache: bool = PrivateAttr(default=True)
    # "tool-input" -> (output, monotonic expiry or None) of results the daemon took; read only
    # while the daemon is unreachable (module docstring).
    _outage_copies: dict[str, tuple[Any, float | None]] = PrivateAttr(default_factory=dict)
    # "tool-input" -> monotonic expiry of a local-store entry this handler wrote with a TTL.
    _local_expiry: dict[str, float] = PrivateAttr(default_factory=dict)

    @classmethod
    def create(cls, namespace: str, *, ttl: float | None = None, single_flight: bool = True,
               near_cache: bool = True) -> DaemonCacheHandler:
        handler = cls()
        handler._namespace = namespace
        handler._ttl = ttl
        handler._single_flight = single_flight
        handler._near_cache = near_cache
        return handler

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def ttl(self) -> float | None:
        return self._ttl

    def _local_get(self, tool: str, input: str) -> Any:
        # dict.get is atomic under the GIL; skip CrewAI's RW lock (about 15 us) when the local
        # store is empty, which it is unless values could not be shared.
        if not self._cache:
            return None
        if self._local_expiry:
            expires = self._local_expiry.get(f"{tool}-{input}")
            if expires is not None and time.monotonic() >= expires:
                self._local_pop(tool, input)
                return None
        return super().read(tool=tool, input=input)

    def _local_add(self, tool: str, input: str, output: Any) -> None:
        """CrewAI's own add, with the handler's TTL kept beside it (CrewAI's has none)."""
        super().add(tool=tool, input=input, output=output)
        key = f"{tool}-{input}"
        if self._ttl is not None:
            self._local_expiry[key] = time.monotonic() + self._ttl
        else:
            self._local_expiry.pop(key, None)

    def _local_pop(self, tool: str, input: str) -> None:
        with self._lock.w_locked():
            self._cache.pop(f"{tool}-{input}", None)
        self._local_expiry.pop(f"{tool}-{input}", None)

    def _outage_copy(self, tool: str, input: str) -> Any | None:
        """This handler's own result for the key, if it has not expired (daemon unreachable)."""
        entry = self._outage_copies.get(f"{tool}-{input}")
        if entry is None:
            return None
        output, expires = entry
        return output if expires is None or time.monotonic() < expires else None

    def read(self, tool: str, input: str) -> Any | None:
        local = self._local_get(tool, input)
        if local is not None:
            return local
        if not acceleration_enabled():  # a plain CacheHandler now, with what it took so far
            return self._outage_copy(tool, input)
        namespace = self._namespace
        key = (namespace, tool, input)
        near = near_cache.current() if self._near_cache else None
        if near is not None:
            copy = near.get(key)
            if copy is not None:
                return copy
        if single_flight.held_by_current_thread(namespace, tool, input):
            return None  # this thread is computing it already (a retry)
        if not _link.daemon_available():
            return self._outage_copy(tool, input)
        claim = self._single_flight
        epoch = near.epoch if near is not None else 0
        sent = time.monotonic()
        try:
            result = remote.get(namespace, tool, input, claim=claim,
                                lease=single_flight.LEASE_S if claim else None,
                                wait=single_flight.WAIT_S if claim else None)
        except errors.DaemonUnavailable as e:
            _log.debug("fast-crewai: cache read of %r fell back to local: %s", tool, e)
            return self._outage_copy(tool, input)
        except (errors.FastCrewAIError, ValueError) as e:
            _log.debug("fast-crewai: cache read of %r fell back to local: %s", tool, e)
            return None
        if result.found:
            value = codec.decode(result.value, result.content_type)
            if near is not None and value is not None:
                deadline = None if result.expires_in is None else sent + result.expires_in
                near.put(key, value, len(result.value), deadline, epoch)
            return value
        if result.claimed:
            single_flight.register(namespace, tool, input, result.lease_id)
        return None

    def add(self, tool: str, input: str, output: Any) -> None:
        from crewai.tools.tool_failure import ToolFailure

        claim = single_flight.take(self._namespace, tool, input)
        if isinstance(output, ToolFailure):
            if claim is not None:
                single_flight.release(claim, uncacheable=True)
            return
        payload = codec.encode(output) if output is not None else None
        if payload is None or not acceleration_enabled() or not _link.daemon_available():
            self._local_add(tool, input, output)
            if claim is not None:
                single_flight.release(claim, uncacheable=True)
            return
        try:
            put = remote.put(self._namespace, tool, input, payload, codec.CONTENT_TYPE,
                             ttl=self._ttl, lease_id=claim.lease_id if claim is not None else 0)
        except (errors.FastCrewAIError, ValueError) as e:
            # Unreachable, or refused (too large, ...): keep it here, as CrewAI would. A refused
            # Put that carried the lease already told the waiters to run the tool themselves.
            _log.debug("fast-crewai: cache write of %r kept local: %s", tool, e)
            self._local_add(tool, input, output)
            return
        # The daemon has it now; an older local copy (written during an outage) must not
        # shadow it.
        self._local_pop(tool, input)
        if put.stored:
            expires = None if put.expires_in is None else time.monotonic() + put.expires_in
            self._outage_copies[f"{tool}-{input}"] = (output, expires)


# ---- a CrewAI handler made shared, in place -------------------------------------------------

_adopt_lock = threading.Lock()
# Deadline of the Clear of a private namespace whose handler is gone.
FORGET_TIMEOUT_S = 1.0
PRIVATE_PREFIX = "crew-"


def _forget(namespace: str) -> None:
    """Clears the private namespace of a handler that is gone (best effort, never raises)."""
    if not namespace.startswith(PRIVATE_PREFIX):  # never "" (that would clear every namespace)
        return
    try:
        if _link.daemon_available():
            remote.clear(namespace, timeout=FORGET_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001 - a finalizer must not raise
        _log.debug("fast-crewai: could not clear cache namespace %s: %s", namespace, e)


def adopt(handler: CacheHandler, config: ClientConfig | None = None) -> DaemonCacheHandler:
    """Makes CrewAI's `handler` itself a DaemonCacheHandler and returns it (the same object).

    The object is kept, not replaced: CrewAI and its users hold it (`Crew._cache_handler`, an
    `Agent(cache_handler=...)` argument) and expect `agent.tools_handler.cache is handler`, as
    CrewAI's own tests check. Its class becomes DaemonCacheHandler (a subclass that adds only
    private attributes), with namespace "crew-<random>" (or FAST_CREWAI_CACHE_NAMESPACE); the
    entries it already holds stay in its local store. A handler of any other class is returned
    unchanged. Safe from any thread; adopting twice is a no-op."""
    if type(handler) is not CacheHandler:
        return handler  # type: ignore[return-value]
    if config is None:
        config = _link.client_config()
    with _adopt_lock:
        if type(handler) is CacheHandler:
            private = handler.__pydantic_private__
            assert private is not None
            for name, attr in DaemonCacheHandler.__private_attributes__.items():
                if name not in private:
                    private[name] = attr.get_default()
            namespace = config.cache_namespace or f"{PRIVATE_PREFIX}{uuid.uuid4().hex}"
            private["_namespace"] = namespace
            private["_ttl"] = config.cache_ttl
            handler.__class__ = DaemonCacheHandler
            if not config.cache_namespace:
                weakref.finalize(handler, _forget, namespace)
    return handler  # type: ignore[return-value]
