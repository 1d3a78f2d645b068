"""fast_crewai: routes CrewAI's memory, persistence, tool cache and task execution through the
fast-crewai-server daemon, falling back to CrewAI's own code whenever the daemon is unreachable.

Activate with `import fast_crewai.shim` (reads FAST_CREWAI_* once and patches), or explicitly:

    import fast_crewai
    fast_crewai.enable_acceleration(verbose=True)
    fast_crewai.report()              # [PatchResult(area, name, applied, reason), ...]
    fast_crewai.disable_acceleration()

Importing this package does not import CrewAI, gRPC stubs or touch the network.
"""

import logging as _logging

from fast_crewai._version import __version__
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

__all__ = [
    "ClientConfig",
    "ConfigError",
    "DaemonUnavailable",
    "FastCrewAIError",
    "PatchResult",
    "__version__",
    "acceleration_enabled",
    "disable_acceleration",
    "enable_acceleration",
    "format_report",
    "preview",
    "report",
    "suppress_acceleration",
]
