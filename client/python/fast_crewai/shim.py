"""Importing this module turns acceleration on: `import fast_crewai.shim`.

On import it reads the configuration once and, unless FAST_CREWAI_ACCELERATION=0, calls
`enable_acceleration()`. It never touches the network and never raises: a malformed
configuration or an internal error produces a RuntimeWarning and leaves CrewAI unpatched.
Import it before or after CrewAI; patches reach CrewAI either way.

Also re-exports the switches:

    from fast_crewai.shim import enable_acceleration, disable_acceleration, report
"""

from __future__ import annotations

import warnings

from fast_crewai.acceleration import (
    disable_acceleration,
    enable_acceleration,
    format_report,
    note_shim_failure,
    preview,
    report,
)
from fast_crewai.config import get_config
from fast_crewai.errors import ConfigError
from fast_crewai.patches import PatchResult

__all__ = [
    "PatchResult",
    "disable_acceleration",
    "enable_acceleration",
    "format_report",
    "preview",
    "report",
]


def _activate() -> None:
    try:
        config = get_config()
    except ConfigError as e:
        note_shim_failure(str(e))
        warnings.warn(f"fast-crewai: acceleration off: {e}", RuntimeWarning, stacklevel=3)
        return
    if not config.acceleration:
        return
    try:
        enable_acceleration(config=config)
    except Exception as e:  # noqa: BLE001 - the shim must never break the importing program
        note_shim_failure(f"{type(e).__name__}: {e}")
        warnings.warn(f"fast-crewai: acceleration off: {type(e).__name__}: {e}",
                      RuntimeWarning, stacklevel=3)


_activate()
