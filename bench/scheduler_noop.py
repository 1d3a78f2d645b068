"""A crew factory for scheduler_bench.py that does no work: it stamps when the worker started
the input (time.perf_counter, CLOCK_MONOTONIC, comparable across processes on Linux), so the
bench measures the scheduler and the worker loop, not CrewAI. Never imports CrewAI."""

from __future__ import annotations

import json
import time
from typing import Any


class _Output:
    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.pydantic = None
        self.tasks_output: list[Any] = []

    def model_dump_json(self) -> str:
        return json.dumps({"raw": self.raw, "pydantic": None, "json_dict": None,
                           "tasks_output": [], "token_usage": {}})


class _Crew:
    def kickoff(self, inputs: dict[str, Any] | None = None) -> _Output:
        return _Output(repr(time.perf_counter()))


def noop_crew() -> _Crew:
    return _Crew()


def stamp(_: int) -> float:
    """The Dask side of the same measurement."""
    return time.perf_counter()
