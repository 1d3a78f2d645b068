"""DaemonCacheHandler in this process: CrewAI's CacheHandler contract, sharing, fallbacks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from cache_fakes import make_crew, runs

INPUT = json.dumps({"query": "otters"})


def _handler(namespace: str, ttl: float | None = None) -> Any:
    from fast_crewai.cache import DaemonCacheHandler

    return DaemonCacheHandler.create(namespace, ttl=ttl)


# ---- codec ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "text", "", "naïve ☃", 0, -7, 2**80, 1.5, True, None, [], {},
    {"a": [1, 2.5, "x", None, {"b": False}]},
])
def test_json_exact_values_round_trip(value: Any) -> None:
    from fast_crewai.cache import codec

    payload = codec.encode(value)
    assert payload is not None
    decoded = codec.decode(payload, codec.CONTENT_TYPE)
    assert decoded == value and type(decoded) is type(value)


@pytest.mark.parametrize("value", [
    ("a", "b"), {1: "x"}, float("nan"), float("inf"), b"bytes", object(), {"k": ("t",)},
    "\ud800",  # a lone surrogate cannot be UTF-8
])
def test_values_json_would_change_stay_in_process(value: Any) -> None:
    from fast_crewai.cache import codec

    assert codec.encode(value) is None


def test_other_content_types_and_bad_bytes_are_misses() -> None:
    from fast_crewai.cache import codec

    assert codec.decode(b'"x"', "text/plain") is None
    assert codec.decode(b"\xff", codec.CONTENT_TYPE) is None


# ---- the handler with the daemon ---------------------------------------------------------------

def test_json_values_are_shared_between_handlers_of_one_namespace(
        daemon: Any, use_daemon: Callable[..., None]) -> None:
    from crewai.agents.cache.cache_handler import CacheHandler

    use_daemon(daemon)
    writer, reader, other = _handler("ns-a"), _handler("ns-a"), _handler("ns-b")
    assert isinstance(writer, CacheHandler)
    assert reader.read(tool="lookup", input=INPUT) is None  # miss (and a claim...)
    writer.add(tool="lookup", input=INPUT, output={"temp": 21.5, "unit": "C"})  # ...answered
    assert reader.read(tool="lookup", input=INPUT) == {"temp": 21.5, "unit": "C"}
    assert other.read(tool="lookup", input=INPUT) is None  # namespaces are isolated
    other.add(tool="lookup", input=INPUT, output="b's own")
    assert writer._cache == {}  # JSON values live in the daemon, not in the process

    from fast_crewai.cache import remote, single_flight

    assert remote.stats("ns-a").entries == 1
    assert remote.stats("").claims == 0
    assert single_flight.pending() == []


def test_tool_failures_are_never_cached_and_release_the_claim(
        daemon: Any, use_daemon: Callable[..., None]) -> None:
    from crewai.tools.tool_failure import ToolFailure, ToolFailureReason

    from fast_crewai.cache import remote

    use_daemon(daemon)
    handler = _handler("failures")
    assert handler.read(tool="lookup", input=INPUT) is None
    assert remote.stats("").claims == 1  # this read claimed the key
    handler.add(tool="lookup", input=INPUT,
                output=ToolFailure(message="boom", reason=ToolFailureReason.TOOL_REPORTED))
    assert handler.read(tool="lookup", input=INPUT) is None
    stats = remote.stats("")
    assert stats.entries == 0
    # The second read claimed again; give it up as CrewAI's post-tool hook would.
    from fast_crewai.cache import single_flight

    assert single_flight.release_current_thread() == 1
    assert remote.stats("").claims == 0


def test_unshareable_values_stay_local_and_none_stays_a_miss(
        daemon: Any, use_daemon: Callable[..., None]) -> None:
    from fast_crewai.cache import remote

    use_daemon(daemon)
    handler, peer = _handler("local"), _handler("local")
    value = ("a", "tuple")
    handler.add(tool="t", input="i", output=value)
    assert handler.read(tool="t", input="i") is value  # CrewAI returns the very object
    assert peer.read(tool="t", input="i") is None
    handler.add(tool="t", input="none", output=None)
    assert handler.read(tool="t", input="none") is None
    from fast_crewai.cache import single_flight

    single_flight.release_current_thread()
    assert remote.stats("local").entries == 0


def test_entries_expire_at_the_configured_ttl(
        daemon: Any, use_daemon: Callable[..., None]) -> None:
    from fast_crewai.config import get_config

    use_daemon(daemon, FAST_CREWAI_CACHE_TTL="300ms")
    assert get_config().cache_ttl == pytest.approx(0.3)
    handler = _handler("ttl", ttl=get_config().cache_ttl)
    handler.add(tool="t", input="i", output="fresh")
    assert handler.read(tool="t", input="i") == "fresh"
    time.sleep(0.45)
    assert handler.read(tool="t", input="i") is None

    from fast_crewai.cache import remote, single_flight

    single_flight.release_current_thread()
    assert remote.stats("ttl").expirations == 1


def test_the_ttl_applies_to_values_kept_in_the_process_too(
        daemon: Any, dead_endpoint: str, use_daemon: Callable[..., None]) -> None:
    """A value JSON cannot carry, or one written while the daemon is away, stays in this
    process; with a TTL set it expires there as it would in the daemon (a live-data tool runs
    again)."""
    from fast_crewai.cache import single_flight

    for endpoint in (daemon, dead_endpoint):
        use_daemon(endpoint)
        handler = _handler("ttl-local", ttl=0.3)
        handler.add(tool="price", input="tuple", output=("ACME", 1.0))
        handler.add(tool="price", input="text", output="ACME costs 1.0")
        assert handler.read(tool="price", input="tuple") == ("ACME", 1.0)
        time.sleep(0.45)
        assert handler.read(tool="price", input="tuple") is None, endpoint
        assert handler.read(tool="price", input="text") is None, endpoint
        single_flight.release_current_thread()
        # Without a TTL a local value stays, as in CrewAI's dict.
        forever = _handler("ttl-local")
        forever.add(tool="price", input="tuple", output=("ACME", 1.0))
        time.sleep(0.05)
        assert forever.read(tool="price", input="tuple") == ("ACME", 1.0)


def test_daemon_unreachable_behaves_like_crewai(dead_endpoint: str,
                                                use_daemon: Callable[..., None]) -> None:
    use_daemon(dead_endpoint)
    handler = _handler("offline")
    assert handler.read(tool="t", input="i") is None
    value = {"shared": False}
    handler.add(tool="t", input="i", output=value)
    assert handler.read(tool="t", input="i") is value
    assert handler._cache == {"t-i": value}  # CrewAI's own key and dict


def test_results_the_daemon_took_answer_this_handler_while_it_is_away(
        start_daemon: Callable[..., Any], use_daemon: Callable[..., None]) -> None:
    import signal

    from fast_crewai.cache import remote, single_flight

    daemon = start_daemon()
    use_daemon(daemon)
    handler = _handler("outage", ttl=60)
    handler.add(tool="t", input="i", output={"n": 1})
    handler.add(tool="short", input="i", output="soon gone")
    handler._outage_copies["short-i"] = ("soon gone", time.monotonic() - 1)  # its TTL passed
    assert handler._cache == {}
    # While the daemon answers it is the one truth: a cleared entry is a miss here too.
    assert remote.clear("outage") == 2
    assert handler.read(tool="t", input="i") is None
    single_flight.release_current_thread()
    handler.add(tool="t", input="i", output={"n": 2})

    daemon.process.send_signal(signal.SIGKILL)  # CrewAI's dict would still have the result
    daemon.process.wait()
    assert handler.read(tool="t", input="i") == {"n": 2}
    assert handler.read(tool="short", input="i") is None  # expired, as in the daemon
    assert handler.read(tool="other", input="i") is None


def test_kill_switch_makes_it_a_plain_cache_handler(
        daemon: Any, use_daemon: Callable[..., None]) -> None:
    from fast_crewai.cache import remote
    from fast_crewai.killswitch import suppress_acceleration

    use_daemon(daemon)
    handler = _handler("switch")
    with suppress_acceleration():
        handler.add(tool="t", input="i", output="kept here")
        assert handler.read(tool="t", input="i") == "kept here"
    assert remote.stats("switch").entries == 0
    # A result the daemon took before acceleration went off is still this handler's after, as
    # CrewAI's dict would still hold it.
    handler.add(tool="t", input="shared", output="taken by the daemon")
    assert remote.stats("switch").entries == 1
    with suppress_acceleration():
        assert handler.read(tool="t", input="shared") == "taken by the daemon"


# ---- real crews in this process ---------------------------------------------------------------

def test_a_crews_private_namespace_is_cleared_when_the_crew_is_gone(
        daemon: Any, accelerated: Callable[..., Any], counter: Path) -> None:
    """CrewAI frees a Crew's cache with the Crew; the daemon must not keep one namespace per
    Crew ever made (its namespace count is bounded). A shared namespace is never cleared."""
    import gc

    from fast_crewai.cache import remote

    accelerated(daemon)
    crew = make_crew(counter)
    crew.kickoff()
    namespace = crew.agents[0].cache_handler.namespace
    assert namespace.startswith("crew-") and remote.stats(namespace).entries == 1
    kept = make_crew(counter)
    kept.kickoff()
    del crew
    gc.collect()
    assert remote.stats(namespace).entries == 0
    assert remote.stats(kept.agents[0].cache_handler.namespace).entries == 1

    from fast_crewai.cache import DaemonCacheHandler
    from fast_crewai.cache.handler import adopt
    from fast_crewai.config import get_config

    shared = adopt(DaemonCacheHandler.__mro__[1](), get_config().replace(
        cache_namespace="team-kept"))
    assert shared.namespace == "team-kept"
    shared.add(tool="t", input="i", output="stays")
    del shared
    gc.collect()
    assert remote.stats("team-kept").entries == 1


def test_crews_are_isolated_by_default_and_share_with_a_namespace(
        daemon: Any, accelerated: Callable[..., Any], counter: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from fast_crewai.client.connection import reset_connection

    accelerated(daemon)
    first, second = make_crew(counter), make_crew(counter)
    first.kickoff()
    first.kickoff()  # the same crew again: its own cache hits
    second.kickoff()  # another crew: CrewAI's isolation, the tool runs again
    assert len(runs(counter)) == 2
    assert first.agents[0].cache_handler.namespace != second.agents[0].cache_handler.namespace

    monkeypatch.setenv("FAST_CREWAI_CACHE_NAMESPACE", "team")
    reset_connection()
    from fast_crewai.acceleration import disable_acceleration, enable_acceleration
    from fast_crewai.config import get_config

    disable_acceleration()
    enable_acceleration(config=get_config())
    third, fourth = make_crew(counter, native=True), make_crew(counter)
    third.kickoff()
    fourth.kickoff()
    assert len(runs(counter)) == 3  # one more run, shared by both crews
    assert third.agents[0].cache_handler.namespace == "team"


def test_a_failing_tool_releases_its_claim_through_the_post_tool_hook(
        daemon: Any, accelerated: Callable[..., Any], tmp_path: Path) -> None:
    from crewai import Agent, Crew, Task
    from crewai.tools import tool

    from cache_fakes import ToolCallingLLM
    from fast_crewai.cache import remote, single_flight

    accelerated(daemon, FAST_CREWAI_CACHE_NAMESPACE="failing")
    attempts: list[str] = []

    @tool("lookup")
    def lookup(query: str) -> str:
        """Always fails."""
        attempts.append(query)
        raise RuntimeError("service down")

    def never_cache(args: Any, result: Any) -> bool:
        return False

    @tool("fetch")
    def fetch(query: str) -> str:
        """Succeeds, but must not be cached."""
        return "fresh " + query

    fetch.cache_function = never_cache
    for tool_obj, name in ((lookup, "lookup"), (fetch, "fetch")):
        llm = ToolCallingLLM(model="fake", tool_name=name, tool_input={"query": "x"}, native=True)
        agent = Agent(role="R", goal="G", backstory="B", llm=llm, tools=[tool_obj],
                      allow_delegation=False, max_iter=2)
        Crew(agents=[agent], tasks=[Task(description="d", expected_output="e", agent=agent)],
             cache=True).kickoff()
    assert attempts
    assert single_flight.pending() == []
    stats = remote.stats("")
    assert stats.claims == 0
    assert remote.stats("failing").entries == 0


def test_a_caller_waiting_behind_a_failing_tool_runs_it_at_the_first_failure(
        daemon: Any, accelerated: Callable[..., Any]) -> None:
    """CrewAI's ReAct path retries a raising tool itself (three attempts). A caller of the same
    key that waits behind the claimer runs the tool once the first attempt failed, not after
    every retry (plain CrewAI would not have made it wait at all)."""
    import threading

    from crewai import Agent, Crew, Task
    from crewai.tools import tool

    from cache_fakes import ToolCallingLLM

    accelerated(daemon, FAST_CREWAI_CACHE_NAMESPACE="erring")
    log: list[str] = []
    log_lock = threading.Lock()
    first_attempt = threading.Event()

    def failing_lookup(who: str) -> Any:
        @tool("lookup")
        def lookup(query: str) -> str:
            """Always fails, slowly."""
            with log_lock:
                log.append(who)
            if who == "claimer":
                first_attempt.set()
            time.sleep(0.6)
            raise RuntimeError("service down")

        return lookup

    def run(who: str) -> None:
        llm = ToolCallingLLM(model="fake", tool_input={"query": "x"})
        agent = Agent(role="R", goal="G", backstory="B", llm=llm, tools=[failing_lookup(who)],
                      allow_delegation=False, max_iter=2)
        Crew(agents=[agent], tasks=[Task(description="d", expected_output="e", agent=agent)],
             cache=True).kickoff()

    claimer = threading.Thread(target=run, args=("claimer",))
    claimer.start()
    assert first_attempt.wait(30)
    time.sleep(0.1)  # the waiter reads while the first attempt runs
    waiter = threading.Thread(target=run, args=("waiter",))
    waiter.start()
    claimer.join(60)
    waiter.join(60)
    claimer_attempts = [i for i, who in enumerate(log) if who == "claimer"]
    assert len(claimer_attempts) >= 3 and "waiter" in log, log
    # The waiter's first run starts before the claimer's third attempt (the last retry of its
    # first call); it waited for every attempt of every call before.
    assert log.index("waiter") < claimer_attempts[2], log
