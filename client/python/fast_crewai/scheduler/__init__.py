"""Concurrent task execution through the fast-crewai daemon's SchedulerService.

* DAG mode (FAST_CREWAI_TASKS=dag): a crew's independent tasks run at once, in-process, along
  the edges of their `context=[...]` lists (dag.py plans, crew_dag.py runs).
* Fan-out: `kickoff_for_each("pkg.mod:factory", inputs)` runs each input on a
  `fast-crewai worker` process (fanout.py, worker.py); `crew_factory` registers a factory so
  that CrewAI's own `Crew.kickoff_for_each` fans out with FAST_CREWAI_FAN_OUT=1.
* Shared rate limits: CrewAI's max_rpm counted for every process together (rate_limit.py).
* `SchedulerClient`: typed calls to SchedulerService (remote.py; conversions.py is the only
  module here that sees the generated stubs).

Importing this package imports neither CrewAI nor gRPC stubs; docs/scheduler.md is the long
form.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FanOutError", "SchedulerClient", "crew_factory", "kickoff_for_each"]

_LAZY = {
    "FanOutError": "fast_crewai.scheduler.fanout",
    "crew_factory": "fast_crewai.scheduler.fanout",
    "kickoff_for_each": "fast_crewai.scheduler.fanout",
    "SchedulerClient": "fast_crewai.scheduler.remote",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
