"""CrewAI's max_rpm as one limit shared by every process through the daemon.

`check_or_wait(controller, original)` stands in for `RPMController.check_or_wait` (patched on
the class by patches/tasks.py). With `max_rpm` set and the daemon reachable it reserves one
permit of the daemon's token bucket named "<FAST_CREWAI_RATE_LIMIT_KEY>:<max_rpm>" (default
"crewai:max_rpm:60" for max_rpm=60: controllers with the same limit share one bucket, a
different limit is a different bucket) and sleeps the wait the daemon answers. Any process
pointing at the same daemon and key shares the bucket, so together they make at most max_rpm
calls in any 60-second window. Without max_rpm, or when the daemon cannot answer, CrewAI's own
per-process limiter runs (`original()`).

A full bucket is reported as CrewAI reports it (its own log line), and waited out with the
controller's `_wait_for_next_minute` when a subclass or a test replaced CrewAI's (`crewai_wait`,
captured when the patch was applied): that hook decides how its controller waits, as in CrewAI.
Otherwise the call sleeps the wait the daemon answered.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from fast_crewai import errors
from fast_crewai.config import get_config
from fast_crewai.scheduler.remote import SchedulerClient

__all__ = ["check_or_wait", "limit_name"]

_log = logging.getLogger(__name__)

# A reservation must never hold an LLM call up for long when the daemon is slow: past this
# the call falls back to CrewAI's own limiter.
CALL_TIMEOUT_S = 2.0
# The daemon's range for per_minute (scheduler.proto).
MAX_PER_MINUTE = 1_000_000

# CrewAI's words when its limit is reached (RPMController.check_or_wait).
WAIT_MESSAGE = "Max RPM reached, waiting for next minute to start."

_client = SchedulerClient()
_warned: set[str] = set()


def limit_name(max_rpm: int, key: str | None = None) -> str:
    return f"{key or get_config().rate_limit_key}:{max_rpm}"


def check_or_wait(controller: Any, original: Callable[[], bool],
                  sleep: Callable[[float], None] = time.sleep,
                  crewai_wait: Callable[..., Any] | None = None) -> bool:
    max_rpm = getattr(controller, "max_rpm", None)
    if not isinstance(max_rpm, int) or isinstance(max_rpm, bool) or not 0 < max_rpm <= MAX_PER_MINUTE:
        return original()
    try:
        if not _client.available():
            return original()
        name = limit_name(max_rpm)
        wait = _client.acquire_rate_limit(name, max_rpm, timeout=CALL_TIMEOUT_S)
    except errors.DaemonUnavailable:
        return original()
    except errors.FastCrewAIError as e:
        message = str(e)
        if message not in _warned:
            _warned.add(message)
            _log.warning("fast-crewai: shared rate limit refused (%s); using CrewAI's own", e)
        return original()
    if wait > 0:
        _log.debug("fast-crewai: shared rate limit %s reached, waiting %.1fs", name, wait)
        logger = getattr(controller, "logger", None)
        if logger is not None:
            try:
                logger.log("info", WAIT_MESSAGE)
            except Exception:  # noqa: BLE001 - logging never blocks the call
                pass
        own_wait = getattr(type(controller), "_wait_for_next_minute", None)
        if crewai_wait is not None and own_wait is not None and own_wait is not crewai_wait:
            controller._wait_for_next_minute()
        else:
            sleep(wait)
    return True
