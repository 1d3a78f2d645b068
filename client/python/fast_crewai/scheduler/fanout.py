"""Fan-out of `kickoff_for_each` inputs to `fast-crewai worker` processes through the daemon.

A crew factory is an importable zero-argument callable, named "package.module:function"
(attributes may be dotted: "pkg.mod:Builder.crew"). `kickoff_for_each(factory, inputs)` makes
one scheduler run with a node per input, on a queue that workers lease from; each worker runs
`factory().kickoff(inputs=...)` and completes its node with the CrewOutput as JSON (envelope
below). The caller watches the run and returns the CrewOutputs rebuilt from JSON, in input
order. A worker that dies stops renewing its lease; the daemon gives the input to another
worker when the lease lapses, and a completion is accepted once per node, so each input has
exactly one result.

What round-trips through JSON: everything CrewOutput and TaskOutput carry as data (raw,
json_dict, agent, description, summary, messages, output_format, tool_failures, token_usage).
`pydantic` outputs are rebuilt with their class when the worker's class ("module:qualname")
is importable in the caller; otherwise they come back as None (their JSON is still in `raw`).

`crew_factory` registers a factory: crews it returns remember their reference, and with
FAST_CREWAI_FAN_OUT=1 CrewAI's own `Crew.kickoff_for_each` on such a crew is sent to workers
(patches/tasks.py).

Example:

    @fast_crewai.crew_factory
    def research_crew() -> Crew: ...

    outputs = fast_crewai.kickoff_for_each("myapp.crews:research_crew",
                                           [{"topic": t} for t in topics])
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import logging
import re
import time
import weakref
from typing import Any, Callable, Mapping, Sequence

from fast_crewai import errors
from fast_crewai.scheduler.remote import SchedulerClient
from fast_crewai.scheduler.types import NodeSpec, NodeState, RunInfo, RunState

__all__ = [
    "FanOutError",
    "PAYLOAD_VERSION",
    "crew_factory",
    "crew_output_from_json",
    "crew_output_to_json",
    "factory_of",
    "factory_reference",
    "kickoff_for_each",
    "resolve_factory",
]

_log = logging.getLogger(__name__)

PAYLOAD_VERSION = 1
DEFAULT_LEASE_S = 30.0
DEFAULT_MAX_ATTEMPTS = 3
# How long kickoff_for_each waits for an unreachable daemon to come back before raising.
OUTAGE_LIMIT_S = 60.0
_REFERENCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
                        r":[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NODE_PREFIX = "input-"


class FanOutError(errors.FastCrewAIError):
    """A fanned-out run did not succeed. `failures` maps input index -> the worker's error;
    `run_id` names the run (`fast-crewai runs RUN_ID`)."""

    def __init__(self, message: str, *, run_id: str, failures: Mapping[int, str]) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.failures = dict(failures)


# ---- factories --------------------------------------------------------------------------------


def factory_reference(factory: Callable[..., Any] | str) -> str:
    """"module:qualname" of `factory`. Raises ValueError when it cannot be imported by name
    from another process (defined in __main__, or inside a function)."""
    if isinstance(factory, str):
        if not _REFERENCE.match(factory):
            raise ValueError(f'factory: expected "package.module:function", got "{factory}"')
        return factory
    module = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname or module == "__main__":
        raise ValueError(f"factory: {factory!r} cannot be imported by name from another process "
                         "(define it at module level of an importable module)")
    return f"{module}:{qualname}"


def resolve_factory(reference: str) -> Callable[[], Any]:
    """Imports "package.module:attr.path" and returns the callable. Raises ValueError naming
    the reference when it is malformed, cannot be imported or is not callable."""
    factory_reference(reference)
    module_name, _, path = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f'factory "{reference}": cannot import {module_name}: {e}') from e
    for part in path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f'factory "{reference}": {module_name} has no attribute {path}'
                             ) from None
    if not callable(target):
        raise ValueError(f'factory "{reference}" is not callable')
    return target  # type: ignore[no-any-return]


def _check_factory_here(reference: str) -> None:
    """Raises ValueError (resolve_factory's) when the module of `reference` imports in this
    process but the factory does not resolve: a typo is reported at once, not by every worker.
    A module this process cannot import is left to the workers (their --app-dir may have it)."""
    module_name = reference.partition(":")[0]
    try:
        found = importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):  # a parent package is missing
        found = False
    if found:
        resolve_factory(reference)


_crew_factories: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


def crew_factory(factory: Callable[[], Any]) -> Callable[[], Any]:
    """Decorator: registers a zero-argument crew factory for fan-out. Crews it returns
    remember the factory's reference (`factory_of`). Raises ValueError when the factory cannot
    be imported by name from another process, or takes required arguments."""
    reference = factory_reference(factory)
    required = [p for p in inspect.signature(factory).parameters.values()
                if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        raise ValueError(f'factory "{reference}" must take no arguments, takes '
                         f"{', '.join(p.name for p in required)}")

    @functools.wraps(factory)
    def build() -> Any:
        crew = factory()
        try:
            _crew_factories[crew] = reference
        except TypeError:  # not weak-referenceable: not a Crew
            pass
        return crew

    return build


def factory_of(crew: Any) -> str | None:
    """The reference of the registered factory that built `crew`, or None."""
    try:
        return _crew_factories.get(crew)
    except TypeError:
        return None


# ---- results ----------------------------------------------------------------------------------


def _pydantic_entry(value: Any) -> dict[str, Any] | None:
    """{"class": "module:qualname", "data": ...} of a pydantic output (CrewOutput's own JSON
    serializes it by its declared type, BaseModel, which drops every field)."""
    if value is None or not hasattr(value, "model_dump"):
        return None
    cls = type(value)
    reference = None if "<locals>" in cls.__qualname__ else f"{cls.__module__}:{cls.__qualname__}"
    try:
        data = value.model_dump(mode="json")
    except Exception:  # noqa: BLE001 - documented: then it comes back as None
        return None
    return {"class": reference, "data": data}


def crew_output_to_json(output: Any) -> bytes:
    """The completion payload of a node: {"v", "crew_output", "pydantic": {crew, tasks}}."""
    envelope = {
        "v": PAYLOAD_VERSION,
        "crew_output": json.loads(output.model_dump_json()),
        "pydantic": {
            "crew": _pydantic_entry(getattr(output, "pydantic", None)),
            "tasks": [_pydantic_entry(getattr(t, "pydantic", None))
                      for t in getattr(output, "tasks_output", [])],
        },
    }
    return json.dumps(envelope, separators=(",", ":")).encode("utf-8")


def _rebuild_pydantic(entry: Any) -> Any:
    if not isinstance(entry, dict) or not entry.get("class"):
        return None
    try:
        cls = resolve_factory(entry["class"])
        return cls.model_validate(entry.get("data"))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - documented: pydantic is None when not rebuildable
        return None


def crew_output_from_json(data: bytes) -> Any:
    """A CrewOutput rebuilt from a node's completion payload. Raises ValueError when the
    payload is not one."""
    from crewai.crews.crew_output import CrewOutput
    from crewai.tasks.task_output import TaskOutput

    try:
        envelope = json.loads(data)
        body = dict(envelope["crew_output"])
        classes = envelope.get("pydantic") or {}
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"not a fast-crewai crew output payload: {e}") from e
    tasks = []
    for i, task in enumerate(body.pop("tasks_output", []) or []):
        task = dict(task)
        refs = classes.get("tasks") or []
        task["pydantic"] = _rebuild_pydantic(refs[i] if i < len(refs) else None)
        tasks.append(TaskOutput.model_validate(task))
    body["pydantic"] = _rebuild_pydantic(classes.get("crew"))
    body["tasks_output"] = tasks
    return CrewOutput.model_validate(body)


# ---- kickoff_for_each -------------------------------------------------------------------------


def node_id(index: int) -> str:
    return f"{_NODE_PREFIX}{index:06d}"


def _index_of(node: str) -> int:
    return int(node[len(_NODE_PREFIX):])


def encode_payload(reference: str, index: int, inputs: Mapping[str, Any],
                   retry_on_error: bool) -> bytes:
    try:
        return json.dumps({"v": PAYLOAD_VERSION, "factory": reference, "index": index,
                           "inputs": dict(inputs), "retry_on_error": retry_on_error},
                          separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ValueError(f"inputs[{index}]: not JSON-serializable: {e}") from e


def kickoff_for_each(factory: Callable[[], Any] | str, inputs: Sequence[Mapping[str, Any]], *,
                     queue: str | None = None, lease_seconds: float = DEFAULT_LEASE_S,
                     max_attempts: int = DEFAULT_MAX_ATTEMPTS, retry_on_error: bool = False,
                     timeout: float | None = None, name: str | None = None,
                     client: SchedulerClient | None = None,
                     progress: Callable[[RunInfo], None] | None = None) -> list[Any]:
    """Runs `factory().kickoff(inputs=inputs[i])` for every i on `fast-crewai worker`
    processes; returns the CrewOutputs in input order.

    queue: default FAST_CREWAI_WORKER_QUEUE ("default"). lease_seconds: how long a worker may
    go silent before its input is given to another worker (workers renew every third of it).
    max_attempts: leases per input before it fails for good. retry_on_error: a kickoff that
    raised is retried (while attempts remain) instead of failing the input. timeout: seconds
    to wait for the whole run (None = no bound); on time-out the run is cancelled and
    TimeoutError raised.

    Raises ValueError for a malformed factory reference, one whose module imports here
    but lacks the factory (a module only the workers can import is theirs to resolve: a
    failure there fails each input), or inputs that are not JSON objects,
    FanOutError when some input failed for good (after the others finished),
    fast_crewai.errors.DaemonUnavailable when the daemon cannot be reached.
    """
    client = client or SchedulerClient()
    run = start_run(factory, inputs, queue=queue, lease_seconds=lease_seconds,
                    max_attempts=max_attempts, retry_on_error=retry_on_error, name=name,
                    client=client)
    if run is None:
        return []
    return collect(client, run, len(inputs), timeout=timeout, progress=progress)


def start_run(factory: Callable[[], Any] | str, inputs: Sequence[Mapping[str, Any]], *,
              queue: str | None = None, lease_seconds: float = DEFAULT_LEASE_S,
              max_attempts: int = DEFAULT_MAX_ATTEMPTS, retry_on_error: bool = False,
              name: str | None = None, client: SchedulerClient | None = None
              ) -> RunInfo | None:
    """Validates the arguments and creates the run (None for no inputs); see
    kickoff_for_each. Nothing is handed to workers when this raises."""
    from fast_crewai.config import get_config

    reference = factory_reference(factory)
    if isinstance(factory, str):
        _check_factory_here(reference)
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
        raise ValueError("inputs: expected a list of dicts")
    for i, item in enumerate(inputs):
        if not isinstance(item, Mapping):
            raise ValueError(f"inputs[{i}]: expected a dict, got {type(item).__name__}")
    if not inputs:
        return None
    client = client or SchedulerClient()
    nodes = [NodeSpec(node_id(i), payload=encode_payload(reference, i, item, retry_on_error))
             for i, item in enumerate(inputs)]
    return client.create_run(
        nodes, queue=queue or get_config().worker_queue,
        name=name or f"kickoff_for_each {reference}", lease_seconds=lease_seconds,
        max_attempts=max_attempts,
        labels={"kind": "kickoff_for_each", "factory": reference, "inputs": str(len(inputs))})


def collect(client: SchedulerClient, run: RunInfo, count: int, *,
            timeout: float | None = None,
            progress: Callable[[RunInfo], None] | None = None) -> list[Any]:
    """Waits for `run` (made by start_run with `count` inputs); the CrewOutputs in order."""
    outputs = wait_for_outputs(client, run, timeout=timeout, progress=progress)
    return [crew_output_from_json(outputs[node_id(i)]) for i in range(count)]


def wait_for_outputs(client: SchedulerClient, run: RunInfo, *, timeout: float | None = None,
                     progress: Callable[[RunInfo], None] | None = None) -> dict[str, bytes]:
    """Watches `run` until it finished; returns node id -> output of every node. Re-opens the
    watch when the daemon restarts. Raises FanOutError / TimeoutError (run cancelled)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    outputs: dict[str, bytes] = {}
    errors_by_node: dict[str, str] = {}
    final: RunInfo | None = None
    outage_since: float | None = None
    while final is None:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            _cancel_quietly(client, run.run_id, "kickoff_for_each timed out")
            raise TimeoutError(f"run {run.run_id} did not finish within {timeout}s")
        try:
            for update in client.watch_run(run.run_id, include_output=True, timeout=remaining):
                outage_since = None
                for node in update.nodes:
                    if node.state is NodeState.SUCCEEDED and node.output:
                        outputs[node.node_id] = node.output
                    elif node.state in (NodeState.FAILED, NodeState.CANCELLED):
                        errors_by_node[node.node_id] = node.error or node.state.value
                if progress is not None:
                    progress(update.run)
                if update.run.state.finished:
                    final = update.run
                    break
        except errors.DeadlineExceeded:
            continue  # the deadline check above decides
        except errors.DaemonUnavailable:
            # The daemon restarts: runs are durable; watch again once it is back.
            outage_since = outage_since or time.monotonic()
            if time.monotonic() - outage_since > OUTAGE_LIMIT_S:
                raise
            time.sleep(0.5)
            continue
        if final is None and outage_since is None:
            time.sleep(0.05)  # the stream ended early; look again
    if final.state is RunState.SUCCEEDED and len(outputs) < final.counts.total:
        for node in client.list_nodes(run.run_id, include_output=True):
            if node.state is NodeState.SUCCEEDED:
                outputs[node.node_id] = node.output
    if final.state is not RunState.SUCCEEDED:
        failures = {_index_of(n): e for n, e in errors_by_node.items()
                    if n.startswith(_NODE_PREFIX)}
        first = min(failures.items()) if failures else None
        detail = f"; first: inputs[{first[0]}]: {first[1]}" if first else ""
        raise FanOutError(f"run {run.run_id} {final.state.value}: {len(failures)} input(s) "
                          f"failed{detail}", run_id=run.run_id, failures=failures)
    return outputs


def _cancel_quietly(client: SchedulerClient, run_id: str, reason: str) -> None:
    try:
        client.cancel_run(run_id, reason)
    except errors.FastCrewAIError as e:
        _log.warning("fast-crewai: cannot cancel run %s: %s", run_id, e)
