"""Turning acceleration on and off, and reporting what is patched.

`enable_acceleration()` walks the patcher registry (fast_crewai.patches) and instruments each
patch whose area is switched on; `disable_acceleration()` uninstruments them, last first, which
restores the exact original objects. Both are idempotent and thread-safe. Neither touches the
network nor imports CrewAI: patches are applied when CrewAI's modules are imported, and each
call decides then whether the daemon is reachable.

Example:

    results = enable_acceleration(verbose=True)   # prints the report to stderr
    ...
    disable_acceleration()
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Iterable

from fast_crewai import grpc_tuning, patches
from fast_crewai.config import ENV_ACCELERATION, AreaMode, ClientConfig, get_config
from fast_crewai.killswitch import set_acceleration_enabled
from fast_crewai.patches import NOT_IMPLEMENTED, PatcherSpec, PatchResult

__all__ = [
    "disable_acceleration",
    "enable_acceleration",
    "format_report",
    "is_enabled",
    "preview",
    "report",
]

_log = logging.getLogger(__name__)

NOT_ENABLED = "acceleration not enabled (import fast_crewai.shim or call enable_acceleration())"

_lock = threading.RLock()
_enabled = False
_results: dict[tuple[str, str], PatchResult] = {}
# Why the shim could not enable acceleration (a malformed variable, ...); None otherwise.
_shim_failure: str | None = None


def note_shim_failure(reason: str) -> None:
    """Records why `import fast_crewai.shim` left CrewAI unpatched, for report()."""
    global _shim_failure
    with _lock:
        _shim_failure = reason


def _skip_reason(spec: PatcherSpec, config: ClientConfig) -> str | None:
    """Why the switches keep `spec` off, or None when they let it through."""
    if not config.acceleration:
        return f"acceleration disabled by {ENV_ACCELERATION}"
    if config.area_mode(spec.area) is AreaMode.FALSE:
        return f"disabled by {config.area_variable(spec.area)}=false"
    if spec.patcher is None:
        return NOT_IMPLEMENTED
    return None


def _evaluate(spec: PatcherSpec, config: ClientConfig, *, apply: bool) -> PatchResult:
    reason = _skip_reason(spec, config)
    if reason is not None:
        return PatchResult(spec.area, spec.name, False, reason)
    try:
        patcher = patches.load_patcher(spec)
    except Exception as e:  # noqa: BLE001 - a broken patcher must not break the others
        return PatchResult(spec.area, spec.name, False,
                           f"cannot load {spec.patcher!r}: {type(e).__name__}: {e}")
    assert patcher is not None
    if apply:
        return patcher.instrument(config)
    if patcher.is_instrumented:
        return patcher.status()
    reason = patcher.check_dependencies()
    if reason is not None:
        return PatchResult(spec.area, spec.name, False, reason)
    return PatchResult(spec.area, spec.name, True, "would apply")


def enable_acceleration(
    verbose: bool = False, *, config: ClientConfig | None = None
) -> list[PatchResult]:
    """Instruments every registered patch that the switches allow; returns one result each.

    `config` defaults to `fast_crewai.config.get_config()` (raises ConfigError when the
    environment is malformed). A second call instruments nothing new and returns the current
    results. `verbose=True` prints the report to stderr.
    """
    global _enabled, _shim_failure
    with _lock:
        config = config if config is not None else get_config()
        set_acceleration_enabled(True)
        _enabled = True
        _shim_failure = None
        results = []
        for spec in patches.registered():
            result = _evaluate(spec, config, apply=True)
            if not result.applied and config.acceleration:
                mode = config.area_mode(spec.area)
                log = _log.warning if mode is AreaMode.TRUE else _log.debug
                log("fast-crewai: %s/%s not applied: %s", spec.area, spec.name, result.reason)
            _results[spec.key] = result
            results.append(result)
    if verbose:
        print(format_report(results), file=sys.stderr)
    return results


def disable_acceleration() -> None:
    """Uninstruments every patch, last first; the originals are back afterwards (the same
    objects). Calls already inside a wrapper finish on the original path. Idempotent."""
    global _enabled
    with _lock:
        set_acceleration_enabled(False)
        for spec in reversed(patches.registered()):
            if spec.patcher is None:
                continue
            try:
                patcher = patches.load_patcher(spec, import_module=False)
            except Exception:  # noqa: BLE001 - it could not have been instrumented either
                continue
            if patcher is not None:
                patcher.uninstrument()
        _enabled = False
        _results.clear()


def is_enabled() -> bool:
    """True between enable_acceleration() and disable_acceleration()."""
    with _lock:
        return _enabled


def report() -> list[PatchResult]:
    """The state of every registered patch now: applied or not, and why."""
    with _lock:
        results = []
        for spec in patches.registered():
            patcher = None
            if spec.patcher is not None:
                try:
                    patcher = patches.load_patcher(spec, import_module=False)
                except Exception:  # noqa: BLE001
                    patcher = None
            if patcher is not None and patcher.is_instrumented:
                results.append(patcher.status())
            elif spec.key in _results:
                results.append(_results[spec.key])
            else:
                reason = NOT_ENABLED if _shim_failure is None else (
                    f"acceleration off: {_shim_failure}")
                results.append(PatchResult(spec.area, spec.name, False, reason))
        return results


def preview(config: ClientConfig | None = None) -> list[PatchResult]:
    """What enable_acceleration() would do with `config` on this installation, without
    patching anything (`applied` means "would apply"). Used by `fast-crewai status`."""
    config = config if config is not None else get_config()
    with _lock:
        return [_evaluate(spec, config, apply=False) for spec in patches.registered()]


def format_report(results: Iterable[PatchResult]) -> str:
    """Human-readable table of `results`, one patch per line."""
    rows = list(results)
    lines = ["fast-crewai patches:"]
    width = max((len(f"{r.area}/{r.name}") for r in rows), default=0)
    for r in rows:
        mark = "on " if r.applied else "off"
        lines.append(f"  {mark}  {f'{r.area}/{r.name}':<{width}}  {r.reason}")
    lines.append(f"gRPC client tuning: {grpc_tuning.state()}")
    return "\n".join(lines)
