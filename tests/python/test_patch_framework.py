"""The Patcher framework against real CrewAI targets and throwaway modules.

Round trips (instrument twice, call, uninstrument, originals `is`-identical, call, re-instrument),
lazy application through post-import hooks, rebinding of early-imported module-level names, the
kill switch, version checks and failure roll-back.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from types import ModuleType

import pytest
import wrapt

from fast_crewai.killswitch import set_acceleration_enabled, suppress_acceleration
from fast_crewai.patches import (
    PatchResult,
    Patcher,
    SetHook,
    WrapFunction,
    WrapMethod,
    rebind,
    unwrap,
)

CACHE_MODULE = "crewai.agents.cache.cache_handler"
FACTORY_MODULE = "crewai.memory.storage.factory"
SPEC = "fast-crewai-test-spec"


class _Sentinel:
    """What the test storage factory returns for SPEC."""


SENTINEL_STORAGE = _Sentinel()


def _read_factory(patcher):
    def read(wrapped, instance, args, kwargs):
        return ("accelerated", wrapped(*args, **kwargs))

    return read


def _storage_factory(patcher, previous):
    def factory(spec):
        return SENTINEL_STORAGE if spec == SPEC else None

    return factory


class CrewAIRoundTripPatcher(Patcher):
    """Test-only patcher: a method wrap and a setter hook on real CrewAI modules."""

    area = "cache"
    name = "test_round_trip"
    targets = (
        WrapMethod(CACHE_MODULE, "CacheHandler.read", _read_factory),
        SetHook(FACTORY_MODULE, "set_memory_storage_factory", "_factory", _storage_factory),
    )


@pytest.fixture
def crewai_modules():
    cache = importlib.import_module(CACHE_MODULE)
    factory = importlib.import_module(FACTORY_MODULE)
    yield cache, factory
    CrewAIRoundTripPatcher().uninstrument()


def _handler_with(cache_module, key_tool="t", key_input="i", value="v"):
    handler = cache_module.CacheHandler()
    handler.add(key_tool, key_input, value)
    return handler


def test_round_trip_restores_identical_originals(crewai_modules):
    cache, factory = crewai_modules
    original_read = cache.CacheHandler.__dict__["read"]
    original_factory = factory._factory
    patcher = CrewAIRoundTripPatcher()

    first = patcher.instrument()
    second = patcher.instrument()  # idempotent: no second layer
    assert first == second == PatchResult("cache", "test_round_trip", True, "patched")
    wrapper = cache.CacheHandler.__dict__["read"]
    assert isinstance(wrapper, wrapt.FunctionWrapper)
    assert wrapper.__wrapped__ is original_read
    assert _handler_with(cache).read("t", "i") == ("accelerated", "v")
    assert factory.resolve_memory_storage(SPEC) is SENTINEL_STORAGE
    assert factory.resolve_memory_storage("lancedb") is None

    patcher.uninstrument()
    patcher.uninstrument()  # idempotent
    assert cache.CacheHandler.__dict__["read"] is original_read
    assert cache.CacheHandler.read is original_read
    assert factory._factory is original_factory
    assert _handler_with(cache).read("t", "i") == "v"
    assert factory.resolve_memory_storage(SPEC) is None
    assert patcher.status().applied is False

    # Re-instrument works and reverts cleanly again.
    assert patcher.instrument().applied
    assert _handler_with(cache).read("t", "i") == ("accelerated", "v")
    patcher.uninstrument()
    assert cache.CacheHandler.__dict__["read"] is original_read
    assert factory._factory is original_factory


def test_patch_reaches_class_imported_before_patching(crewai_modules):
    # `from ... import CacheHandler` taken before instrument(): same class object, so patched.
    from crewai.agents.cache.cache_handler import CacheHandler as EarlyImported

    CrewAIRoundTripPatcher().instrument()
    handler = EarlyImported()
    handler.add("t", "i", 1)
    assert handler.read("t", "i") == ("accelerated", 1)


def test_patch_reaches_existing_instances(crewai_modules):
    cache, _ = crewai_modules
    handler = _handler_with(cache)
    CrewAIRoundTripPatcher().instrument()
    assert handler.read("t", "i") == ("accelerated", "v")
    CrewAIRoundTripPatcher().uninstrument()
    assert handler.read("t", "i") == "v"


def test_hook_restores_a_previously_set_factory(crewai_modules):
    _, factory = crewai_modules

    def user_factory(spec):
        return "user-storage" if spec == "mine" else None

    original = factory._factory
    factory.set_memory_storage_factory(user_factory)
    try:
        CrewAIRoundTripPatcher().instrument()
        assert factory.resolve_memory_storage(SPEC) is SENTINEL_STORAGE
        with suppress_acceleration():  # disabled: the previous hook answers
            assert factory.resolve_memory_storage("mine") == "user-storage"
            assert factory.resolve_memory_storage(SPEC) is None
        CrewAIRoundTripPatcher().uninstrument()
        assert factory._factory is user_factory
    finally:
        factory.set_memory_storage_factory(original)


def test_hook_replaced_by_someone_else_is_left_alone(crewai_modules):
    _, factory = crewai_modules
    original = factory._factory
    CrewAIRoundTripPatcher().instrument()

    def newer(spec):
        return None

    factory.set_memory_storage_factory(newer)
    try:
        CrewAIRoundTripPatcher().uninstrument()
        assert factory._factory is newer
    finally:
        factory.set_memory_storage_factory(original)


def test_kill_switch_context_and_global(crewai_modules):
    cache, factory = crewai_modules
    CrewAIRoundTripPatcher().instrument()
    handler = _handler_with(cache)
    with suppress_acceleration():
        assert handler.read("t", "i") == "v"
        assert factory.resolve_memory_storage(SPEC) is None
    assert handler.read("t", "i") == ("accelerated", "v")
    set_acceleration_enabled(False)
    try:
        assert handler.read("t", "i") == "v"
        assert factory.resolve_memory_storage(SPEC) is None
    finally:
        set_acceleration_enabled(True)
    assert handler.read("t", "i") == ("accelerated", "v")


def test_suppression_is_per_thread(crewai_modules):
    cache, _ = crewai_modules
    CrewAIRoundTripPatcher().instrument()
    handler = _handler_with(cache)
    seen = []
    with suppress_acceleration():
        thread = threading.Thread(target=lambda: seen.append(handler.read("t", "i")))
        thread.start()
        thread.join()
        assert handler.read("t", "i") == "v"
    assert seen == [("accelerated", "v")]


def test_singleton_per_subclass():
    class Other(Patcher):
        area = "cache"
        name = "other"

    assert CrewAIRoundTripPatcher() is CrewAIRoundTripPatcher()
    assert Other() is Other()
    assert Other() is not CrewAIRoundTripPatcher()


def test_patcher_without_area_or_name_is_rejected():
    class Nameless(Patcher):
        area = "cache"

    with pytest.raises(TypeError):
        Nameless()
    with pytest.raises(TypeError):
        Patcher()


def test_unsupported_crewai_version_patches_nothing(crewai_modules):
    cache, _ = crewai_modules
    original = cache.CacheHandler.__dict__["read"]

    class TooNew(Patcher):
        area = "cache"
        name = "too_new"
        instruments = ("crewai < 1.0",)
        targets = (WrapMethod(CACHE_MODULE, "CacheHandler.read", _read_factory),)

    result = TooNew().instrument()
    assert not result.applied
    assert result.reason.startswith("CrewAI 1.15.30 not supported (needs crewai < 1.0)")
    assert cache.CacheHandler.__dict__["read"] is original
    assert not TooNew().is_instrumented


def test_missing_distribution_is_reported():
    class NeedsMissing(Patcher):
        area = "cache"
        name = "needs_missing"
        instruments = ("fast-crewai-no-such-distribution >= 1",)

    result = NeedsMissing().instrument()
    assert result == PatchResult("cache", "needs_missing", False,
                                 "fast-crewai-no-such-distribution not installed")


def test_failing_target_rolls_back_the_applied_ones(crewai_modules):
    cache, _ = crewai_modules
    original = cache.CacheHandler.__dict__["read"]

    class Broken(Patcher):
        area = "cache"
        name = "broken"
        targets = (
            WrapMethod(CACHE_MODULE, "CacheHandler.read", _read_factory),
            WrapMethod(CACHE_MODULE, "CacheHandler.no_such_method", _read_factory),
        )

    result = Broken().instrument()
    assert not result.applied
    assert result.reason.startswith("failed: cannot patch "
                                    f"{CACHE_MODULE}.CacheHandler.no_such_method")
    assert cache.CacheHandler.__dict__["read"] is original
    assert not Broken().is_instrumented


def test_stale_wrapper_under_a_foreign_wrapper_is_inert(crewai_modules):
    cache, _ = crewai_modules
    original = cache.CacheHandler.__dict__["read"]
    CrewAIRoundTripPatcher().instrument()
    foreign = wrapt.wrap_function_wrapper(
        cache.CacheHandler, "read", lambda wrapped, instance, args, kwargs: wrapped(*args, **kwargs))
    try:
        CrewAIRoundTripPatcher().uninstrument()  # cannot unwrap: not outermost; warns
        handler = _handler_with(cache)
        assert handler.read("t", "i") == "v"  # our layer is still there but passes through
    finally:
        assert unwrap(cache.CacheHandler, "read", foreign)
        ours = cache.CacheHandler.__dict__["read"]
        assert unwrap(cache.CacheHandler, "read", ours)
    assert cache.CacheHandler.__dict__["read"] is original


def test_concurrent_instrument_and_uninstrument_end_consistent(crewai_modules):
    cache, factory = crewai_modules
    original_read = cache.CacheHandler.__dict__["read"]
    original_factory = factory._factory
    patcher = CrewAIRoundTripPatcher()

    def toggle():
        for _ in range(50):
            patcher.instrument()
            patcher.uninstrument()

    threads = [threading.Thread(target=toggle) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    patcher.uninstrument()
    assert cache.CacheHandler.__dict__["read"] is original_read
    assert factory._factory is original_factory


# ---- lazy application (when_imported) on throwaway modules ---------------------------------


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Writes modules into tmp_path (importable); removes them from sys.modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str, name: str | None = None) -> str:
        name = name or f"fc_tmp_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        importlib.invalidate_caches()
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def _method_patcher(module: str, path: str = "Thing.method") -> type[Patcher]:
    return type(f"Lazy_{module}", (Patcher,), {
        "area": "cache", "name": f"lazy_{module}", "instruments": (),
        "targets": (WrapMethod(module, path, _read_factory),),
    })


THING = """
    class Thing:
        def method(self, x):
            return x + 1
"""


def test_target_imported_after_instrument_is_patched_on_import(module_dir):
    name = module_dir(THING)
    patcher = _method_patcher(name)()
    result = patcher.instrument()
    assert result.applied and result.reason == f"armed: applies when {name} is imported"
    assert name not in sys.modules

    module = importlib.import_module(name)
    original = module.Thing.__dict__["method"].__wrapped__
    assert module.Thing().method(1) == ("accelerated", 2)
    assert patcher.status().reason == "patched"

    patcher.uninstrument()
    assert module.Thing.__dict__["method"] is original
    assert module.Thing().method(1) == 2


def test_uninstrument_before_import_leaves_module_untouched(module_dir):
    name = module_dir(THING)
    patcher = _method_patcher(name)()
    patcher.instrument()
    patcher.uninstrument()
    module = importlib.import_module(name)  # the stale post-import hook must do nothing
    assert not isinstance(module.Thing.__dict__["method"], wrapt.ObjectProxy)
    assert module.Thing().method(1) == 2


def test_reinstrument_before_import_applies_once(module_dir):
    name = module_dir(THING)
    patcher = _method_patcher(name)()
    patcher.instrument()
    patcher.uninstrument()
    patcher.instrument()
    module = importlib.import_module(name)
    wrapper = module.Thing.__dict__["method"]
    assert not isinstance(wrapper.__wrapped__, wrapt.ObjectProxy)  # exactly one layer
    assert module.Thing().method(1) == ("accelerated", 2)
    patcher.uninstrument()
    assert module.Thing().method(1) == 2


def test_failure_in_post_import_hook_does_not_break_the_import(module_dir):
    name = module_dir(THING)
    patcher = _method_patcher(name, "Thing.missing")()
    assert patcher.instrument().applied  # armed
    module = importlib.import_module(name)  # must not raise
    assert module.Thing().method(1) == 2
    status = patcher.status()
    assert not status.applied and status.reason.startswith("failed: cannot patch ")


def test_inherited_method_is_restored_by_removing_the_shadow(module_dir):
    name = module_dir("""
        class Base:
            def method(self, x):
                return x + 1

        class Sub(Base):
            pass
    """)
    module = importlib.import_module(name)
    patcher = _method_patcher(name, "Sub.method")()
    patcher.instrument()
    assert module.Sub().method(1) == ("accelerated", 2)
    assert module.Base().method(1) == 2
    patcher.uninstrument()
    assert "method" not in vars(module.Sub)
    assert module.Sub.method is module.Base.method


def test_classmethod_and_staticmethod_round_trip(module_dir):
    name = module_dir("""
        class Thing:
            @classmethod
            def make(cls, x):
                return (cls.__name__, x)

            @staticmethod
            def helper(x):
                return x * 2
    """)
    module = importlib.import_module(name)
    originals = {k: module.Thing.__dict__[k] for k in ("make", "helper")}
    patcher = type("Descriptors", (Patcher,), {
        "area": "cache", "name": "descriptors", "instruments": (),
        "targets": (WrapMethod(name, "Thing.make", _read_factory),
                    WrapMethod(name, "Thing.helper", _read_factory)),
    })()
    patcher.instrument()
    assert module.Thing.make(1) == ("accelerated", ("Thing", 1))
    assert module.Thing.helper(2) == ("accelerated", 4)
    patcher.uninstrument()
    assert {k: module.Thing.__dict__[k] for k in originals} == originals
    assert all(module.Thing.__dict__[k] is v for k, v in originals.items())


# ---- module-level functions imported by name ------------------------------------------------


def _function_patcher(module: str, name: str) -> Patcher:
    return type(f"Fn_{module}", (Patcher,), {
        "area": "cache", "name": f"fn_{module}", "instruments": (),
        "targets": (WrapFunction(module, name, _read_factory),),
    })()


def test_wrap_function_rebinds_names_imported_before_patching(module_dir):
    funcs = module_dir("""
        def helper(x):
            return x * 2
    """)
    user = module_dir(f"""
        from {funcs} import helper
        from {funcs} import helper as aliased

        def use(x):
            return helper(x)
    """)
    funcs_module = importlib.import_module(funcs)
    user_module = importlib.import_module(user)
    original = funcs_module.helper
    patcher = _function_patcher(funcs, "helper")
    patcher.instrument()

    assert user_module.helper is funcs_module.helper is user_module.aliased
    assert user_module.helper is not original
    assert user_module.use(3) == ("accelerated", 6)

    late = module_dir(f"from {funcs} import helper\n")  # imported while patched
    late_module = importlib.import_module(late)
    assert late_module.helper is funcs_module.helper

    patcher.uninstrument()
    assert funcs_module.helper is original
    assert user_module.helper is original
    assert user_module.aliased is original
    assert late_module.helper is original
    assert user_module.use(3) == 6


def test_wrap_function_on_a_real_crewai_function_imported_by_name():
    types_module = importlib.import_module("crewai.memory.types")
    encoding_flow = importlib.import_module("crewai.memory.encoding_flow")
    original = types_module.embed_texts
    assert encoding_flow.embed_texts is original  # `from crewai.memory.types import embed_texts`

    patcher = _function_patcher("crewai.memory.types", "embed_texts")
    try:
        patcher.instrument()
        assert encoding_flow.embed_texts is types_module.embed_texts
        assert encoding_flow.embed_texts is not original
        embedder = lambda texts: [[1.0, 0.0] for _ in texts]  # noqa: E731
        assert encoding_flow.embed_texts(embedder, ["a"]) == ("accelerated", [[1.0, 0.0]])
    finally:
        patcher.uninstrument()
    assert types_module.embed_texts is original
    assert encoding_flow.embed_texts is original


def test_rebind_and_exclude():
    original, replacement = object(), object()
    first, second = ModuleType("fc_rebind_a"), ModuleType("fc_rebind_b")
    first.x = original
    second.y = original
    sys.modules.update({first.__name__: first, second.__name__: second})
    try:
        rebound = rebind(original, replacement, exclude=("fc_rebind_b",))
        assert rebound == [("fc_rebind_a", "x")]
        assert first.x is replacement and second.y is original
        assert set(rebind(replacement, original)) == {("fc_rebind_a", "x")}
        assert first.x is original
    finally:
        del sys.modules[first.__name__], sys.modules[second.__name__]


def test_unwrap_ignores_non_proxies_and_foreign_handles():
    class Owner:
        def method(self):
            return 1

    assert unwrap(Owner, "method") is False
    handle = wrapt.wrap_function_wrapper(Owner, "method", lambda w, i, a, k: w(*a, **k))
    assert unwrap(Owner, "method", handle=object()) is False
    assert unwrap(Owner, "method", handle=handle) is True
    assert not isinstance(Owner.__dict__["method"], wrapt.ObjectProxy)
