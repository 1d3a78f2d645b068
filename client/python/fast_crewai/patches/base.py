"""The Patcher framework: reversible, idempotent patches of CrewAI (OpenTelemetry-style).

A patcher is a singleton subclass of `Patcher` that declares, as data:

* `area` and `name` (for reports), `instruments` (supported distribution specs, checked before
  anything is patched, e.g. "crewai >= 1.14.7, < 2");
* `targets`: a tuple of target specs, applied in order and reverted in reverse order:

  - `WrapMethod(module, "Class.method", factory)`: `wrapt.wrap_function_wrapper` on the class
    object. Because the class object itself is changed (never replaced), every
    `from module import Class` taken before or after patching sees the wrapper.
  - `WrapFunction(module, "function", factory)`: wraps a module-level function and rebinds
    every `sys.modules` attribute that *is* the original (the `from module import function`
    copies taken before patching); reverting rebinds them back.
  - `SetHook(module, "set_x", "_x", factory)`: calls a setter hook such as CrewAI's
    `set_memory_storage_factory(f)` and, on revert, restores the value that was there before
    (read from the module attribute named by `current`).

`factory(patcher)` returns a wrapt wrapper `(wrapped, instance, args, kwargs) -> result` for the
wrap targets; `factory(patcher, previous)` returns the value to install for hooks. The framework
guards what a factory returns with the kill switch: when acceleration is off (globally, in the
current context via `suppress_acceleration()`, or because the patcher is no longer
instrumented), the call goes straight to the original (`wrapped(*args, **kwargs)`, or for a hook
the previous hook, else `SetHook.fallback`). A wrapper must itself fall back to `wrapped` when
the daemon cannot serve a call: a patch may never make CrewAI fail where it would succeed.

Targets are applied lazily with wrapt's post-import hooks: when the target module is already
imported the target is applied at `instrument()`, otherwise when the module is first imported.
Importing fast_crewai never imports CrewAI.

Thread-safety: instrument(), uninstrument() and status() may be called from any thread; the
post-import hooks they register run in whichever thread imports the target module.

Example:

    class CacheReadPatcher(Patcher):
        area = "cache"
        name = "cache_read"
        instruments = ("crewai >= 1.15.3, < 2",)
        targets = (
            WrapMethod("crewai.agents.cache.cache_handler", "CacheHandler.read", _read_factory),
        )

    CacheReadPatcher().instrument(config)     # PatchResult(applied=True, ...)
    CacheReadPatcher().uninstrument()         # CacheHandler.read is the original again
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Protocol

import wrapt

from fast_crewai.killswitch import acceleration_enabled
from fast_crewai.patches.requirements import unmet_reason

if TYPE_CHECKING:
    from fast_crewai.config import ClientConfig

try:  # wrapt >= 2
    from wrapt import BaseObjectProxy as _ProxyBase
except ImportError:  # wrapt 1.x (Debian's 1.14)
    from wrapt import ObjectProxy as _ProxyBase  # type: ignore[assignment,no-redef,unused-ignore]

__all__ = [
    "SUPPORTED_CREWAI",
    "PatchResult",
    "Patcher",
    "SetHook",
    "Target",
    "WrapFunction",
    "WrapMethod",
    "Wrapper",
    "rebind",
    "unwrap",
]

_log = logging.getLogger(__name__)

# The current-CrewAI releases fast_crewai patches (1.14.7 brought the storage and persistence
# factories); a patcher may narrow it (the tool cache needs 1.15.3, DAG mode 1.15). Legacy
# CrewAI (before 1.10) has its own patcher and range (legacy_memory.LEGACY_CREWAI).
SUPPORTED_CREWAI = "crewai >= 1.14.7, < 2"

# A wrapt wrapper: (wrapped, instance, args, kwargs) -> result.
Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


@dataclass(frozen=True)
class PatchResult:
    """Outcome of one patcher: whether it is applied and, in words, why (not)."""

    area: str
    name: str
    applied: bool
    reason: str


# --------------------------------------------------------------------------------------------
# Restoring helpers.


def unwrap(owner: Any, attribute: str, handle: Any = None) -> bool:
    """Restores `owner.attribute` to the object its wrapt wrapper wraps (OTel `utils.unwrap`).

    Does nothing (returns False) when the attribute is not a wrapt proxy, or when `handle` is
    given and the attribute is not that very wrapper (someone replaced or re-wrapped it since).
    Returns True when the attribute was restored.
    """
    try:
        current = vars(owner).get(attribute)
    except TypeError:
        current = getattr(owner, attribute, None)
    if not isinstance(current, _ProxyBase):
        return False
    if handle is not None and current is not handle:
        return False
    setattr(owner, attribute, current.__wrapped__)
    return True


def rebind(
    original: Any, replacement: Any, *, exclude: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """Points every module-level name that *is* `original` at `replacement`.

    Scans `sys.modules` (module `__dict__`s only; names inside classes, closures or containers
    are not touched), skipping modules whose name starts with one of `exclude`. Returns the
    (module name, attribute) pairs that were rebound. Use it for module-level functions that
    other modules imported by name (`from x import f`) before patching; call it again with the
    arguments swapped to undo.
    """
    excluded = tuple(exclude)
    rebound = []
    for module_name, module in list(sys.modules.items()):
        if module is None or (excluded and module_name.startswith(excluded)):
            continue
        try:
            namespace = vars(module)
        except TypeError:
            continue
        for attribute, value in list(namespace.items()):
            if value is original:
                try:
                    setattr(module, attribute, replacement)
                except (AttributeError, TypeError):
                    continue
                rebound.append((module_name, attribute))
    return rebound


# --------------------------------------------------------------------------------------------
# Targets: pure data; `apply` returns an `_Applied` record that knows how to undo itself.


class _Applied(Protocol):
    def revert(self) -> None: ...


class Target(ABC):
    """A reversible change to one module. Subclasses are frozen dataclasses (data only)."""

    module: str

    @abstractmethod
    def describe(self) -> str:
        """"module.Class.method"-style name for messages."""

    @abstractmethod
    def apply(self, module: ModuleType, patcher: Patcher) -> _Applied:
        """Applies the change to the imported `module`; returns how to revert it. May raise."""


def _guarded_wrapper(patcher: Patcher, generation: int, inner: Wrapper) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        if not acceleration_enabled() or not patcher._is_live(generation):
            return wrapped(*args, **kwargs)
        return inner(wrapped, instance, args, kwargs)

    return wrapper


@dataclass
class _AppliedWrap:
    parent: Any
    attribute: str
    handle: Any
    created: bool  # the attribute was inherited/absent on `parent` before wrapping

    def revert(self) -> None:
        if self.created:
            if vars(self.parent).get(self.attribute) is self.handle:
                delattr(self.parent, self.attribute)
            return
        if not unwrap(self.parent, self.attribute, self.handle):
            _log.warning(
                "fast-crewai: %s.%s was replaced after patching; leaving it alone (the stale "
                "wrapper is inert)", getattr(self.parent, "__qualname__", self.parent),
                self.attribute,
            )


@dataclass(frozen=True)
class WrapMethod(Target):
    """Wraps `module.<path>` (e.g. "Class.method") in place with a wrapt FunctionWrapper."""

    module: str
    path: str
    factory: Callable[[Patcher], Wrapper] = field(repr=False)

    def describe(self) -> str:
        return f"{self.module}.{self.path}"

    def apply(self, module: ModuleType, patcher: Patcher) -> _Applied:
        parent, attribute, _ = wrapt.resolve_path(module, self.path)
        try:
            created = attribute not in vars(parent)
        except TypeError:
            created = False
        wrapper = _guarded_wrapper(patcher, patcher._generation, self.factory(patcher))
        handle = wrapt.wrap_function_wrapper(module, self.path, wrapper)
        return _AppliedWrap(parent, attribute, handle, created)


@dataclass
class _AppliedFunction:
    module: ModuleType
    name: str
    original: Any
    handle: Any
    exclude: tuple[str, ...]

    def revert(self) -> None:
        if vars(self.module).get(self.name) is self.handle:
            setattr(self.module, self.name, self.original)
        rebind(self.handle, self.original, exclude=self.exclude)


@dataclass(frozen=True)
class WrapFunction(Target):
    """Wraps the module-level function `module.name` and rebinds its early-imported copies.

    Every `sys.modules` attribute that is the original function (e.g. `from module import
    name` done before patching, under any alias) is pointed at the wrapper; revert points every
    attribute that is the wrapper back at the original. Modules whose name starts with one of
    `exclude` are left alone.
    """

    module: str
    name: str
    factory: Callable[[Patcher], Wrapper] = field(repr=False)
    exclude: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.module}.{self.name}"

    def apply(self, module: ModuleType, patcher: Patcher) -> _Applied:
        original = vars(module)[self.name]
        wrapper = _guarded_wrapper(patcher, patcher._generation, self.factory(patcher))
        handle = wrapt.FunctionWrapper(original, wrapper)
        setattr(module, self.name, handle)
        rebind(original, handle, exclude=self.exclude)
        return _AppliedFunction(module, self.name, original, handle, self.exclude)


def _return_none(*args: Any, **kwargs: Any) -> None:
    return None


@dataclass
class _AppliedHook:
    module: ModuleType
    setter: str
    current: Callable[[ModuleType], Any]
    previous: Any
    installed: Any

    def revert(self) -> None:
        if self.current(self.module) is self.installed:
            getattr(self.module, self.setter)(self.previous)
        else:
            _log.warning(
                "fast-crewai: %s.%s was called by someone else after patching; leaving the "
                "newer value in place", self.module.__name__, self.setter,
            )


@dataclass(frozen=True)
class SetHook(Target):
    """Installs a value through a setter hook, e.g. `set_memory_storage_factory(factory)`.

    `current` names the module attribute holding the hook's present value (CrewAI keeps it in
    a module global such as `_factory`), or is a function `module -> value`. `factory(patcher,
    previous)` returns the value to install. When that value is callable it is guarded: with
    acceleration off the call goes to `previous` if there was one, else to `fallback` (default:
    return None, which CrewAI's factory hooks read as "use the built-in default").
    Revert calls the setter with `previous`, unless someone set a newer value since.
    """

    module: str
    setter: str
    current: str | Callable[[ModuleType], Any]
    factory: Callable[[Patcher, Any], Any] = field(repr=False)
    fallback: Callable[..., Any] = field(default=_return_none, repr=False)

    def describe(self) -> str:
        return f"{self.module}.{self.setter}()"

    def _reader(self) -> Callable[[ModuleType], Any]:
        if callable(self.current):
            return self.current
        name = self.current
        return lambda module: getattr(module, name)

    def apply(self, module: ModuleType, patcher: Patcher) -> _Applied:
        read = self._reader()
        setter = getattr(module, self.setter)
        previous = read(module)
        value = self.factory(patcher, previous)
        if callable(value):
            value = self._guard(patcher, patcher._generation, value, previous)
        setter(value)
        return _AppliedHook(module, self.setter, read, previous, value)

    def _guard(self, patcher: Patcher, generation: int, value: Callable[..., Any],
               previous: Any) -> Callable[..., Any]:
        fallback = previous if callable(previous) else self.fallback

        @functools.wraps(value)
        def hook(*args: Any, **kwargs: Any) -> Any:
            if not acceleration_enabled() or not patcher._is_live(generation):
                return fallback(*args, **kwargs)
            return value(*args, **kwargs)

        return hook


# --------------------------------------------------------------------------------------------
# The Patcher base class.


class Patcher(ABC):
    """Base class of every area patcher; one instance per subclass (singleton).

    Subclasses set the class attributes `area`, `name`, `targets` and optionally
    `instruments`, and may override `setup(config)` / `teardown()` for work around patching.
    `instrument()` and `uninstrument()` are idempotent.
    """

    area: ClassVar[str]
    name: ClassVar[str]
    instruments: ClassVar[tuple[str, ...]] = (SUPPORTED_CREWAI,)
    targets: ClassVar[tuple[Target, ...]] = ()

    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __new__(cls) -> Patcher:
        if inspect.isabstract(cls) or cls is Patcher:
            raise TypeError(f"{cls.__name__} is abstract")
        if not getattr(cls, "area", None) or not getattr(cls, "name", None):
            raise TypeError(f"{cls.__name__} must set the class attributes `area` and `name`")
        with Patcher._instances_lock:
            instance = cls.__dict__.get("_singleton")
            if instance is None:
                instance = super().__new__(cls)
                instance._init_state()
                cls._singleton = instance
            return instance

    def _init_state(self) -> None:
        self._lock = threading.RLock()
        self._instrumented = False
        self._generation = 0
        self._applied: dict[int, _Applied] = {}
        self._config: ClientConfig | None = None
        self._reason: str | None = None  # why not instrumented (skipped or failed)

    # ---- public API ------------------------------------------------------------------------

    @property
    def config(self) -> ClientConfig | None:
        """The config passed to instrument() (None when instrumented without one)."""
        return self._config

    @property
    def is_instrumented(self) -> bool:
        with self._lock:
            return self._instrumented

    def check_dependencies(self) -> str | None:
        """None when every `instruments` spec is met, else the reason (no import of CrewAI)."""
        for spec in self.instruments:
            reason = unmet_reason(spec)
            if reason is not None:
                return reason
        return None

    def instrument(self, config: ClientConfig | None = None) -> PatchResult:
        """Checks the dependencies, then applies every target now or when its module is
        imported. Returns the resulting status. Idempotent: a second call changes nothing."""
        with self._lock:
            if self._instrumented:
                _log.debug("fast-crewai: %s already instrumented", self.name)
                return self.status()
            reason = self.check_dependencies()
            if reason is not None:
                self._reason = reason
                return self.status()
            self._config = config
            self._reason = None
            self._generation += 1
            self._instrumented = True
            try:
                self.setup(config)
            except Exception as e:  # noqa: BLE001
                self._fail(f"setup failed: {type(e).__name__}: {e}")
                return self.status()
            generation = self._generation
            for index, target in enumerate(self.targets):
                hook = functools.partial(self._on_import, generation, index)
                wrapt.register_post_import_hook(hook, target.module)
                if not self._instrumented:  # an immediate hook failed
                    break
            return self.status()

    def uninstrument(self) -> None:
        """Reverts every applied target, last first. Idempotent."""
        with self._lock:
            if not self._instrumented:
                return
            self._instrumented = False
            self._revert_all()
            self._reason = "uninstrumented"
            try:
                self.teardown()
            except Exception as e:  # noqa: BLE001
                _log.warning("fast-crewai: %s teardown failed: %s", self.name, e)

    def status(self) -> PatchResult:
        """Applied (patched or armed until the target module is imported), or why not."""
        with self._lock:
            if not self._instrumented:
                return PatchResult(self.area, self.name, False, self._reason or "not instrumented")
            pending = [t.module for i, t in enumerate(self.targets) if i not in self._applied]
            if pending:
                modules = ", ".join(dict.fromkeys(pending))
                return PatchResult(self.area, self.name, True, f"armed: applies when {modules} "
                                   "is imported")
            return PatchResult(self.area, self.name, True, "patched")

    def setup(self, config: ClientConfig | None) -> None:
        """Called by instrument() before any target is applied. Default: nothing."""

    def teardown(self) -> None:
        """Called by uninstrument() after every target is reverted. Default: nothing."""

    # ---- internals -------------------------------------------------------------------------

    def _is_live(self, generation: int) -> bool:
        # Read without the lock: a torn read can only route one call to the original.
        return self._instrumented and self._generation == generation

    def _on_import(self, generation: int, index: int, module: ModuleType) -> None:
        # Runs inside the import of `module`: it must never raise, or the import would fail.
        try:
            with self._lock:
                if not self._is_live(generation) or index in self._applied:
                    return
                target = self.targets[index]
                try:
                    self._applied[index] = target.apply(module, self)
                except Exception as e:  # noqa: BLE001
                    self._fail(f"cannot patch {target.describe()}: {type(e).__name__}: {e}")
        except Exception:  # noqa: BLE001 - last resort, keep the import working
            _log.exception("fast-crewai: unexpected error while patching %s", module)

    def _fail(self, reason: str) -> None:
        _log.warning("fast-crewai: %s not applied: %s", self.name, reason)
        self._instrumented = False
        self._revert_all()
        self._reason = f"failed: {reason}"
        try:
            self.teardown()
        except Exception as e:  # noqa: BLE001
            _log.warning("fast-crewai: %s teardown failed: %s", self.name, e)

    def _revert_all(self) -> None:
        for index in reversed(range(len(self.targets))):
            applied = self._applied.pop(index, None)
            if applied is None:
                continue
            try:
                applied.revert()
            except Exception as e:  # noqa: BLE001
                _log.warning("fast-crewai: cannot revert %s: %s",
                             self.targets[index].describe(), e)
