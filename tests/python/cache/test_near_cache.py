"""The client near-cache: repeated hits without a round trip, never a stale copy."""

from __future__ import annotations

import time
from typing import Any, Callable

import pytest


def _until(predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    return predicate()


def _put_and_wait(cache: Any, namespace: str, value: bytes) -> None:
    """remote.put, then wait until the daemon's invalidation for it has arrived: a Get sent
    while it is still on its way is (rightly) not kept, which would make the next asserts race
    the push."""
    from fast_crewai.cache import remote

    epoch = cache.epoch
    remote.put(namespace, "t", "i", value, "application/json")
    assert _until(lambda: cache.epoch != epoch)


@pytest.fixture
def near(daemon: Any, use_daemon: Callable[..., None]) -> Any:
    from fast_crewai.cache import near_cache

    use_daemon(daemon)
    cache = near_cache.current()
    assert cache is not None and cache.wait_subscribed(5)
    yield cache
    near_cache.shutdown()


def test_repeated_hits_cost_no_round_trip_and_writes_elsewhere_invalidate(near: Any) -> None:
    from fast_crewai.cache import DaemonCacheHandler, remote

    reader = DaemonCacheHandler.create("near")
    _put_and_wait(near, "near", b'"v1"')
    assert reader.read(tool="t", input="i") == "v1"  # a round trip, then kept here
    assert len(near) == 1
    for _ in range(20):
        assert reader.read(tool="t", input="i") == "v1"
    assert remote.stats("near").hits == 1  # only the first read reached the daemon

    # Another writer (any process) replaces the value: the daemon pushes the key, the copy goes.
    remote.put("near", "t", "i", b'"v2"', "application/json")
    assert _until(lambda: reader.read(tool="t", input="i") == "v2")
    assert remote.stats("near").hits >= 2

    remote.clear("near")
    assert _until(lambda: len(near) == 0)
    assert reader.read(tool="t", input="i") is None


def test_copies_keep_the_entry_expiry(near: Any) -> None:
    from fast_crewai.cache import DaemonCacheHandler, remote, single_flight

    reader = DaemonCacheHandler.create("near-ttl")
    remote.put("near-ttl", "t", "i", b'"short"', "application/json", ttl=0.3)
    assert reader.read(tool="t", input="i") == "short"
    assert reader.read(tool="t", input="i") == "short"
    time.sleep(0.35)
    assert reader.read(tool="t", input="i") is None
    single_flight.release_current_thread()


def test_a_put_racing_a_get_never_leaves_a_stale_copy(near: Any) -> None:
    epoch = near.epoch
    from fast_crewai.cache import remote

    remote.put("race", "t", "i", b'"new"', "application/json")  # invalidation in flight...
    assert _until(lambda: near.epoch != epoch)
    # ...so a value read before it (with the old epoch) is not kept.
    assert not near.put(("race", "t", "i"), "old", 5, None, epoch)
    assert near.get(("race", "t", "i")) is None
    assert near.put(("race", "t", "i"), "new", 5, None, near.epoch)
    assert near.get(("race", "t", "i")) == "new"


def test_copies_are_dropped_when_the_stream_breaks(
        start_daemon: Callable[..., Any], use_daemon: Callable[..., None]) -> None:
    from fast_crewai.cache import DaemonCacheHandler, near_cache

    daemon = start_daemon()
    use_daemon(daemon)
    cache = near_cache.current()
    assert cache is not None and cache.wait_subscribed(5)
    try:
        reader = DaemonCacheHandler.create("gone")
        _put_and_wait(cache, "gone", b'"v"')
        assert reader.read(tool="t", input="i") == "v"
        assert cache.get(("gone", "t", "i")) == "v"
        daemon.stop()
        assert _until(lambda: not cache.active)
        assert cache.get(("gone", "t", "i")) is None  # no copy without the stream
        assert len(cache) == 0
    finally:
        near_cache.shutdown()
