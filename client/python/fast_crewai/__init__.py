"""fast_crewai: routes CrewAI's memory, persistence, tool cache and task execution through the
fast-crewai-server daemon, falling back to CrewAI's own code whenever the daemon is unreachable.

Activate with `import fast_crewai.shim` (reads FAST_CREWAI_* once and patches), or explicitly:

    import fast_crewai
    fast_crewai.enable_acceleration(verbose=True)
    fast_crewai.report()              # [PatchResult(area, name, applied, reason), ...]
    fast_crewai.disable_acceleration()

Fan-out of kickoff_for_each to `fast-crewai worker` processes (docs/scheduler.md):

    @fast_crewai.crew_factory
    def research_crew() -> Crew: ...

    outputs = fast_crewai.kickoff_for_each("myapp.crews:research_crew", [{"topic": "otters"}])

Importing this package does not import CrewAI, gRPC stubs or touch the network.
"""

# Before anything that imports gRPC (fast_crewai.grpc_tuning: why, and when it does nothing).
from fast_crewai import grpc_tuning as _grpc_tuning

_grpc_tuning.apply()

import logging as _logging  # noqa: E402

from fast_crewai._version import __version__  # noqa: E402
from fast_crewai.acceleration import (
    disable_acceleration,
    enable_acceleration,
    format_report,
    preview,
    report,
)
from fast_crewai.config import ClientConfig
from fast_crewai.errors import ConfigError, DaemonUnavailable, FastCrewAIError
from fast_crewai.killswitch import acceleration_enabled, suppress_acceleration
from fast_crewai.patches import PatchResult

_logging.getLogger("fast_crewai").addHandler(_logging.NullHandler())


def kickoff_for_each(factory, inputs, **options):  # type: ignore[no-untyped-def]
    """Runs `factory().kickoff(inputs=i)` for each input on `fast-crewai worker` processes and
    returns the CrewOutputs in input order (fast_crewai.scheduler.fanout.kickoff_for_each)."""
    from fast_crewai.scheduler.fanout import kickoff_for_each as run

    return run(factory, inputs, **options)


def crew_factory(factory):  # type: ignore[no-untyped-def]
    """Registers a zero-argument crew factory for fan-out (fast_crewai.scheduler.fanout)."""
    from fast_crewai.scheduler.fanout import crew_factory as register

    return register(factory)


__all__ = [
    "ClientConfig",
    "ConfigError",
    "DaemonUnavailable",
    "FastCrewAIError",
    "PatchResult",
    "__version__",
    "acceleration_enabled",
    "crew_factory",
    "disable_acceleration",
    "enable_acceleration",
    "format_report",
    "kickoff_for_each",
    "preview",
    "report",
    "suppress_acceleration",
]
