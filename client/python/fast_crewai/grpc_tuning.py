"""gRPC client tuning, applied when `fast_crewai` is imported, before gRPC itself loads.

grpcio 1.60 to 1.85 send a synchronous call through its EventEngine client: the call is polled
on EventEngine threads and the calling thread waits to be woken, which costs thread hops on
every call. With that experiment off (`GRPC_EXPERIMENTS=-event_engine_client`) the calling
thread polls its own call, as grpcio did before. Measured against the daemon on a 2-core
machine (docs/performance.md): an empty unary call from Python 297 -> 196 us p50 back to back
and 417 -> 301 us when calls are spaced out, client CPU per call 210 -> 118 us; a one-record
memory save +8% records/s. The calls and their results are the same either way.

`apply()` sets the variable in os.environ only when all of these hold, and otherwise changes
nothing:
* FAST_CREWAI_GRPC_TUNING is not 0/false/off/no (it is validated with the rest of the
  configuration: fast_crewai.config);
* GRPC_EXPERIMENTS is not set: the user's own choice wins;
* gRPC is not imported yet: it reads the variable once as it loads, and a value set later
  would reach only part of it (measured slower than either setting);
* the installed grpcio is one whose experiment list was checked (TESTED_GRPCIO): another
  version might not know the name and would log an error for it.
Child processes inherit the variable, like any other.

This module imports nothing that imports gRPC.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata

__all__ = ["ENV_GRPC_TUNING", "GRPC_EXPERIMENTS", "TESTED_GRPCIO", "apply", "state"]

ENV_GRPC_TUNING = "FAST_CREWAI_GRPC_TUNING"
GRPC_EXPERIMENTS = "-event_engine_client"
# grpcio releases whose binaries list the `event_engine_client` experiment (checked for
# 1.60, 1.62, ..., 1.80 and the 1.85 this project tests with): [low, high).
TESTED_GRPCIO = ((1, 60), (1, 86))

_state = "not applied yet"


def _grpcio_version() -> tuple[int, int] | None:
    try:
        parts = metadata.version("grpcio").split(".")
        return int(parts[0]), int(parts[1])
    except (metadata.PackageNotFoundError, ValueError, IndexError):
        return None


def apply() -> str:
    """Sets GRPC_EXPERIMENTS when it is safe (module docstring); returns what it did."""
    global _state
    if os.environ.get(ENV_GRPC_TUNING, "").strip().lower() in ("0", "false", "off", "no"):
        _state = f"off ({ENV_GRPC_TUNING}=0)"
    elif os.environ.get("GRPC_EXPERIMENTS"):
        _state = "off (GRPC_EXPERIMENTS is set by the environment)"
    elif "grpc" in sys.modules:
        _state = "off (gRPC was imported before fast_crewai)"
    else:
        version = _grpcio_version()
        low, high = TESTED_GRPCIO
        if version is None or not low <= version < high:
            _state = f"off (grpcio {version} is outside the tested range)"
        else:
            os.environ["GRPC_EXPERIMENTS"] = GRPC_EXPERIMENTS
            _state = f"on (GRPC_EXPERIMENTS={GRPC_EXPERIMENTS})"
    return _state


def state() -> str:
    """What apply() did in this process, e.g. "on (GRPC_EXPERIMENTS=-event_engine_client)"."""
    return _state
