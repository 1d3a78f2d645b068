"""A pytest plugin for running CrewAI's own tests through the shim (test_crewai_upstream.py).

Loaded with `-p shim_report` (this directory on PYTHONPATH): importing it imports
`fast_crewai.shim`, which patches CrewAI before any test module imports it, as a user's
program that imports the shim first. It writes the patch report (`fast_crewai.report()`) as
JSON to $FAST_CREWAI_UPSTREAM_REPORT, so the caller can check that the patches were on.
"""

from __future__ import annotations

import json
import os

import fast_crewai.shim  # noqa: F401  patches CrewAI now
from fast_crewai import report


def pytest_sessionstart(session: object) -> None:
    del session
    path = os.environ.get("FAST_CREWAI_UPSTREAM_REPORT")
    if path:
        rows = [{"area": r.area, "name": r.name, "applied": r.applied, "reason": r.reason}
                for r in report()]
        with open(path, "w", encoding="utf-8") as out:
            json.dump(rows, out)
