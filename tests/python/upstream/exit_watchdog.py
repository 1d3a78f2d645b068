"""A pytest plugin that bounds how long a run of CrewAI's own tests may take to exit.

Loaded with `-p exit_watchdog` (this directory on PYTHONPATH) in every run of
test_crewai_upstream.py. Some of CrewAI's test suites leave threads running that are not
daemon threads (CrewAI 0.203.2's agent tests do, on plain CrewAI), and the interpreter then
waits for them forever at exit, after the results are written. Once the session has ended, a
daemon timer gives the normal exit EXIT_GRACE_S seconds; if the process is still there, it
writes the names of the threads that held it to $FAST_CREWAI_UPSTREAM_EXIT_REPORT (JSON) and
ends the process with the session's exit status. The caller compares these reports: the shim
must not hold an exit that plain CrewAI does not.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

import pytest

EXIT_GRACE_S = 20.0


def _expire(status: int) -> None:
    held = sorted(t.name for t in threading.enumerate()
                  if t is not threading.current_thread() and not t.daemon and t.is_alive()
                  and t is not threading.main_thread())
    path = os.environ.get("FAST_CREWAI_UPSTREAM_EXIT_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump({"held_by": held}, out)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: Any) -> None:
    status = int(getattr(config, "_fast_crewai_exit_status", 0))
    timer = threading.Timer(EXIT_GRACE_S, _expire, args=(status,))
    timer.daemon = True
    timer.start()


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    session.config._fast_crewai_exit_status = int(exitstatus)
