"""CrewAI's tool-result cache served by the fast-crewai daemon.

Public API (imported lazily: importing fast_crewai.cache does not import CrewAI):

* `DaemonCacheHandler`: a CrewAI `CacheHandler` whose results are shared by every process and
  run using the same namespace (handler.py).
* `adopt(handler)`: makes a CrewAI `CacheHandler` a DaemonCacheHandler, in place.
* `remote`: the CacheService calls (get/put/release/clear/stats/configure_namespace), used by
  `fast-crewai cache` and the tests.

Module map: codec (which values cross processes: JSON only), remote (calls and conversions),
single_flight (claims held by this process), handler, _link (the only coupling to
fast_crewai.client).

Example:

    from crewai import Agent
    from fast_crewai.cache import DaemonCacheHandler

    agent = Agent(..., cache_handler=DaemonCacheHandler.create("web-research"))
"""

from __future__ import annotations

from typing import Any

__all__ = ["DaemonCacheHandler", "adopt"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from fast_crewai.cache import handler

        return getattr(handler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
