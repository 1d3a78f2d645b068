"""CachePatcher: CrewAI's tool-result cache is shared through the fast-crewai daemon.

Three targets, applied in this order and reverted in reverse:

1. `BaseAgent.set_cache_handler(cache_handler)`, wrapped on the class object. Every place that
   wires a cache into an agent in CrewAI 1.15.x goes through it: `Crew(cache=True)` for each
   agent and for the hierarchical manager, and a standalone `Agent(cache=True)` or
   `Agent(cache_handler=...)` in `_setup_agent_executor`. A plain `CacheHandler` passed there
   becomes a `DaemonCacheHandler` in place (`fast_crewai.cache.adopt`: its class changes, the
   object stays, so `agent.tools_handler.cache is handler` holds as CrewAI's own tests check,
   and one namespace per Crew by default). Handlers of any other class (a user's subclass, or
   ours) pass through untouched. `CacheHandler` itself is never patched:
   `crewai.project.utils` memoizes Agent and Task objects through a module-level
   CacheHandler, and those must stay in-process.

2. `crewai.hooks.tool_hooks.run_after_tool_call_hooks`, which every tool path runs after the
   tool finished, on the thread that read the cache: a single-flight claim this thread still
   holds then (the tool raised, its cache_function refused, the result went to another key)
   is released, so other processes waiting for the key run the tool themselves at once
   instead of waiting for the lease to lapse (fast_crewai/cache/single_flight.py).

3. `ToolUsage.on_tool_error`, which the ReAct path calls on the tool's thread each time the tool
   raises, before it retries the call itself (up to three attempts): the claim is released
   there, at the first failure, so a caller waiting in another process runs the tool then
   rather than after every retry (the retry reads, and may claim, the key again).

Handlers already adopted stay DaemonCacheHandlers after uninstrument; with acceleration
off they behave as plain CacheHandlers (the kill switch is checked on every call).
"""

from __future__ import annotations

from typing import Any, Callable

from fast_crewai.patches.base import Patcher, WrapFunction, WrapMethod, Wrapper

_BASE_AGENT_MODULE = "crewai.agents.agent_builder.base_agent"
_TOOL_HOOKS_MODULE = "crewai.hooks.tool_hooks"
_TOOL_USAGE_MODULE = "crewai.tools.tool_usage"


def _set_cache_handler(patcher: Patcher) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        from crewai.agents.cache.cache_handler import CacheHandler

        handler = args[0] if args else kwargs.get("cache_handler")
        if type(handler) is not CacheHandler:
            return wrapped(*args, **kwargs)
        try:
            from fast_crewai.cache.handler import adopt

            adopt(handler, patcher.config)
        except Exception:  # noqa: BLE001 - never make CrewAI fail where it would succeed
            pass
        return wrapped(*args, **kwargs)

    return wrapper


def _after_tool_call(patcher: Patcher) -> Wrapper:
    del patcher

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        try:
            return wrapped(*args, **kwargs)
        finally:
            try:
                from fast_crewai.cache import single_flight

                single_flight.release_current_thread(uncacheable=True)
            except Exception:  # noqa: BLE001
                pass

    return wrapper


def _on_tool_error(patcher: Patcher) -> Wrapper:
    del patcher

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        try:
            from fast_crewai.cache import single_flight

            single_flight.release_current_thread(uncacheable=True)
        except Exception:  # noqa: BLE001
            pass
        return wrapped(*args, **kwargs)

    return wrapper


class CachePatcher(Patcher):
    """Routes CrewAI's tool-result cache through the daemon (see the module docstring)."""

    area = "cache"
    name = "tool_cache"
    # Verified against 1.15.30 (tool-result caching is opt-in since 1.15.3).
    instruments = ("crewai >= 1.15.3, < 2",)
    targets = (
        WrapMethod(_BASE_AGENT_MODULE, "BaseAgent.set_cache_handler", _set_cache_handler),
        WrapFunction(_TOOL_HOOKS_MODULE, "run_after_tool_call_hooks", _after_tool_call),
        WrapMethod(_TOOL_USAGE_MODULE, "ToolUsage.on_tool_error", _on_tool_error),
    )
