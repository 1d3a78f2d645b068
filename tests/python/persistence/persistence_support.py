"""Helpers the persistence tests share with their conftest.

They live in a module of their own because `from conftest import ...` resolves to whichever
conftest.py pytest imported first when several suites run together.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from support import clean_environ  # tests/python/support.py

HERE = Path(__file__).resolve().parent
WORKER = HERE / "persistence_worker.py"
WORKER_TIMEOUT_S = 60.0


def worker_env(endpoint: str | None, home: Any, extra: dict[str, str] | None = None
               ) -> dict[str, str]:
    env = clean_environ({**home.env, **(extra or {})})
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), str(HERE)])
    if endpoint is not None:
        env["FAST_CREWAI_ENDPOINT"] = endpoint
    # A loaded CI machine can take more than the default 1 s to answer a new process's first
    # probe, and the process would then run on CrewAI's own files. A dead endpoint still fails
    # at once (connection refused).
    env.setdefault("FAST_CREWAI_CONNECT_TIMEOUT", "5s")
    return env


def parse_result(stdout: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise AssertionError(f"no RESULT line in worker output:\n{stdout}")
