"""The cache patcher: what it wraps, that agents get DaemonCacheHandlers, and the round trip."""

from __future__ import annotations

from typing import Any, Callable


def _agent(**kwargs: Any) -> Any:
    from crewai import Agent

    from cache_fakes import ToolCallingLLM

    return Agent(role="R", goal="G", backstory="B", llm=ToolCallingLLM(model="fake"), **kwargs)


def test_patch_round_trip_restores_the_originals(
        daemon: Any, accelerated: Callable[..., Any]) -> None:
    import crewai.hooks.tool_hooks as tool_hooks
    import crewai.utilities.tool_utils as tool_utils
    from crewai.agents.agent_builder.base_agent import BaseAgent
    from crewai.agents.cache.cache_handler import CacheHandler
    from crewai.project import utils as project_utils

    from fast_crewai.acceleration import disable_acceleration, enable_acceleration
    from fast_crewai.cache import DaemonCacheHandler
    from fast_crewai.config import get_config
    from fast_crewai.patches import PatchResult

    original_set = BaseAgent.__dict__["set_cache_handler"]
    original_hooks = tool_hooks.run_after_tool_call_hooks
    read, add = CacheHandler.__dict__["read"], CacheHandler.__dict__["add"]

    results = accelerated(daemon)
    assert PatchResult("cache", "tool_cache", True, "patched") in results
    assert BaseAgent.__dict__["set_cache_handler"].__wrapped__ is original_set
    assert tool_hooks.run_after_tool_call_hooks.__wrapped__ is original_hooks
    assert tool_utils.run_after_tool_call_hooks is tool_hooks.run_after_tool_call_hooks
    # CacheHandler itself is never touched (crewai.project memoizes objects through it).
    assert CacheHandler.__dict__["read"] is read and CacheHandler.__dict__["add"] is add
    assert type(project_utils.cache) is CacheHandler
    patched = _agent(cache=True)
    assert type(patched.cache_handler) is DaemonCacheHandler
    assert patched.tools_handler.cache is patched.cache_handler
    own = DaemonCacheHandler.create("mine")
    assert _agent(cache_handler=own).cache_handler is own  # subclasses pass through

    disable_acceleration()
    assert BaseAgent.__dict__["set_cache_handler"] is original_set
    assert tool_hooks.run_after_tool_call_hooks is original_hooks
    assert tool_utils.run_after_tool_call_hooks is original_hooks
    assert type(_agent(cache=True).cache_handler) is CacheHandler

    enable_acceleration(config=get_config())
    assert type(_agent(cache=True).cache_handler) is DaemonCacheHandler
    disable_acceleration()
    assert BaseAgent.__dict__["set_cache_handler"] is original_set


def test_one_daemon_handler_per_crewai_handler(daemon: Any, accelerated: Callable[..., Any]) -> None:
    from crewai import Crew, Task

    accelerated(daemon)
    agents = [_agent(), _agent()]
    crew = Crew(agents=agents,
                tasks=[Task(description="d", expected_output="e", agent=a) for a in agents],
                cache=True)
    handlers = {id(a.cache_handler) for a in crew.agents}
    assert len(handlers) == 1  # the crew's one handler, as in CrewAI
    assert crew.agents[0].cache_handler is crew._cache_handler  # itself, made shared
    assert crew.agents[0].cache_handler.namespace.startswith("crew-")
    assert _agent().cache_handler is None  # no opt-in, no cache: unchanged CrewAI behaviour


def test_the_handler_given_is_the_one_wired_in(daemon: Any,
                                               accelerated: Callable[..., Any]) -> None:
    """CrewAI's own tests check identity (tests/test_tool_cache_default.py): a CacheHandler an
    agent is given becomes shared in place; it is never swapped for another object."""
    from crewai.agents.cache.cache_handler import CacheHandler

    from fast_crewai.cache import DaemonCacheHandler

    accelerated(daemon)
    handler = CacheHandler()
    handler.add(tool="kept", input="here", output=object())  # held before: stays local
    agent = _agent(cache_handler=handler)
    assert agent.cache_handler is handler and agent.tools_handler.cache is handler
    assert type(handler) is DaemonCacheHandler
    namespace = handler.namespace
    assert namespace.startswith("crew-")
    assert handler.read(tool="kept", input="here") is not None
    agent.set_cache_handler(handler)  # wired again: the same namespace
    assert handler.namespace == namespace

    handler.add(tool="search", input="otters", output={"hits": 3})  # and it is shared
    assert DaemonCacheHandler.create(namespace).read(tool="search", input="otters") == {"hits": 3}
