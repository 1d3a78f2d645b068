"""enable_acceleration / disable_acceleration / report / preview, the registry and the shim."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys

import pytest

import fast_crewai
from fast_crewai import acceleration, patches
from fast_crewai.config import ClientConfig
from fast_crewai.patches import PatcherSpec, PatchResult, Patcher, SetHook, WrapMethod
from support import clean_environ

CACHE_MODULE = "crewai.agents.cache.cache_handler"
FACTORY_MODULE = "crewai.memory.storage.factory"


def _read_factory(patcher):
    return lambda wrapped, instance, args, kwargs: ("accelerated", wrapped(*args, **kwargs))


def _storage_factory(patcher, previous):
    return lambda spec: "daemon-storage" if spec == "fast-crewai-test" else None


class RegistryTestPatcher(Patcher):
    area = "cache"
    name = "registry_test"
    targets = (
        WrapMethod(CACHE_MODULE, "CacheHandler.read", _read_factory),
        SetHook(FACTORY_MODULE, "set_memory_storage_factory", "_factory", _storage_factory),
    )


SPEC = PatcherSpec("cache", "registry_test", RegistryTestPatcher)


@pytest.fixture
def registered_test_patcher():
    patches.register(SPEC)
    yield RegistryTestPatcher()
    acceleration.disable_acceleration()
    patches.unregister(SPEC.area, SPEC.name)


@pytest.fixture
def crewai_targets():
    return importlib.import_module(CACHE_MODULE), importlib.import_module(FACTORY_MODULE)


def test_registry_lists_the_four_areas_in_order():
    specs = patches.registered()
    assert [(s.area, s.name) for s in specs] == [
        ("memory", "memory_storage"), ("memory", "legacy_memory"), ("cache", "tool_cache"),
        ("database", "task_outputs"), ("tasks", "task_scheduler")]


def test_report_before_enable_says_not_enabled():
    assert all(not r.applied and r.reason == acceleration.NOT_ENABLED
               for r in fast_crewai.report())


def test_every_area_is_implemented_and_reported():
    results = fast_crewai.enable_acceleration(config=ClientConfig())
    by_key = {(r.area, r.name): r for r in results}
    for key in (("memory", "memory_storage"), ("cache", "tool_cache"),
                ("database", "task_outputs"), ("tasks", "task_scheduler")):
        r = by_key[key]  # applied now, or armed until CrewAI is imported
        assert r.applied, r
        assert r.reason == "patched" or r.reason.startswith("armed: applies when crewai"), r
    assert fast_crewai.report() == results


def test_the_legacy_patch_skips_current_crewai_cleanly():
    results = fast_crewai.enable_acceleration(config=ClientConfig())
    [legacy] = [r for r in results if r.name == "legacy_memory"]
    assert not legacy.applied
    assert legacy.reason.endswith("not supported (needs crewai >= 0.193, < 1.10)"), legacy


def test_an_unimplemented_area_is_reported_honestly():
    patches.register(PatcherSpec("tasks", "task_scheduler", None))
    try:
        results = fast_crewai.enable_acceleration(config=ClientConfig())
        assert [r for r in results if r.area == "tasks"] == [
            PatchResult("tasks", "task_scheduler", False, "not implemented in fast-crewai 0.1.0"),
        ]
    finally:
        patches.unregister("tasks", "task_scheduler")


def test_enable_twice_disable_restores_identical_originals(registered_test_patcher,
                                                          crewai_targets):
    cache, factory = crewai_targets
    original_read = cache.CacheHandler.__dict__["read"]
    original_factory = factory._factory

    first = fast_crewai.enable_acceleration(config=ClientConfig())
    second = fast_crewai.enable_acceleration(config=ClientConfig())
    assert first == second
    assert PatchResult("cache", "registry_test", True, "patched") in first
    assert cache.CacheHandler.__dict__["read"].__wrapped__ is original_read
    handler = cache.CacheHandler()
    handler.add("t", "i", "v")
    assert handler.read("t", "i") == ("accelerated", "v")
    assert factory.resolve_memory_storage("fast-crewai-test") == "daemon-storage"

    fast_crewai.disable_acceleration()
    fast_crewai.disable_acceleration()
    assert cache.CacheHandler.__dict__["read"] is original_read
    assert factory._factory is original_factory
    assert handler.read("t", "i") == "v"
    assert not acceleration.is_enabled()
    assert all(not r.applied for r in fast_crewai.report())

    fast_crewai.enable_acceleration(config=ClientConfig())  # re-enable works
    assert handler.read("t", "i") == ("accelerated", "v")
    fast_crewai.disable_acceleration()
    assert cache.CacheHandler.__dict__["read"] is original_read


def test_area_switch_off_keeps_the_area_unpatched(registered_test_patcher, crewai_targets):
    cache, _ = crewai_targets
    original = cache.CacheHandler.__dict__["read"]
    config = ClientConfig.from_env({"FAST_CREWAI_CACHE": "false"})
    results = fast_crewai.enable_acceleration(config=config)
    assert PatchResult("cache", "registry_test", False,
                       "disabled by FAST_CREWAI_CACHE=false") in results
    assert cache.CacheHandler.__dict__["read"] is original


def test_tools_alias_is_named_in_the_reason(registered_test_patcher):
    config = ClientConfig.from_env({"FAST_CREWAI_TOOLS": "off"})
    results = fast_crewai.enable_acceleration(config=config)
    assert PatchResult("cache", "registry_test", False,
                       "disabled by FAST_CREWAI_TOOLS=false") in results


def test_other_area_switch_does_not_affect_cache(registered_test_patcher):
    config = ClientConfig.from_env({"FAST_CREWAI_MEMORY": "false"})
    results = {(r.area, r.name): r for r in fast_crewai.enable_acceleration(config=config)}
    assert results[("cache", "registry_test")].applied
    assert results[("memory", "memory_storage")].reason == "disabled by FAST_CREWAI_MEMORY=false"


def test_master_switch_off_patches_nothing(registered_test_patcher, crewai_targets):
    cache, _ = crewai_targets
    original = cache.CacheHandler.__dict__["read"]
    config = ClientConfig.from_env({"FAST_CREWAI_ACCELERATION": "0"})
    results = fast_crewai.enable_acceleration(config=config)
    assert all(r == PatchResult(r.area, r.name, False,
                                "acceleration disabled by FAST_CREWAI_ACCELERATION")
               for r in results)
    assert cache.CacheHandler.__dict__["read"] is original


def test_preview_patches_nothing(registered_test_patcher, crewai_targets):
    cache, _ = crewai_targets
    original = cache.CacheHandler.__dict__["read"]
    results = fast_crewai.preview(ClientConfig())
    assert PatchResult("cache", "registry_test", True, "would apply") in results
    assert cache.CacheHandler.__dict__["read"] is original
    assert not RegistryTestPatcher().is_instrumented


def test_broken_patcher_reference_is_reported_and_others_still_apply(registered_test_patcher):
    broken = PatcherSpec("tasks", "broken_ref", "fast_crewai_no_such_module:Nope")
    patches.register(broken)
    try:
        results = {r.name: r for r in fast_crewai.enable_acceleration(config=ClientConfig())}
        assert not results["broken_ref"].applied
        assert results["broken_ref"].reason.startswith(
            "cannot load 'fast_crewai_no_such_module:Nope': ModuleNotFoundError")
        assert results["registry_test"].applied
    finally:
        patches.unregister("tasks", "broken_ref")


def test_string_reference_loads_the_patcher_lazily():
    spec = PatcherSpec("cache", "by_string", "test_acceleration:RegistryTestPatcher")
    assert isinstance(patches.load_patcher(spec), Patcher)


def test_register_validates_area_and_unregister_restores_the_default():
    with pytest.raises(ValueError):
        patches.register(PatcherSpec("gpu", "x", None))
    patches.register(PatcherSpec("memory", "memory_storage", RegistryTestPatcher))
    assert patches.registered()[0].patcher is RegistryTestPatcher
    patches.unregister("memory", "memory_storage")
    assert patches.registered()[0] == PatcherSpec(
        "memory", "memory_storage", "fast_crewai.patches.memory:MemoryPatcher")


def test_verbose_prints_the_report(registered_test_patcher, capsys):
    fast_crewai.enable_acceleration(verbose=True, config=ClientConfig())
    err = capsys.readouterr().err
    assert "fast-crewai patches:" in err
    assert "on   cache/registry_test" in err
    assert "on   memory/memory_storage" in err
    assert "on   tasks/task_scheduler" in err


def test_explicit_true_warns_when_the_patch_cannot_apply(caplog):
    config = ClientConfig.from_env({"FAST_CREWAI_TASKS": "true"})
    patches.register(PatcherSpec("tasks", "task_scheduler", None))
    try:
        with caplog.at_level(logging.DEBUG, logger="fast_crewai"):
            fast_crewai.enable_acceleration(config=config)
    finally:
        patches.unregister("tasks", "task_scheduler")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("tasks/task_scheduler not applied" in r.getMessage() for r in warnings)
    assert not any("memory/" in r.getMessage() for r in warnings)  # auto: debug only


def test_enable_reads_the_environment_when_no_config_is_given(monkeypatch,
                                                             registered_test_patcher):
    monkeypatch.setenv("FAST_CREWAI_CACHE", "false")
    results = fast_crewai.enable_acceleration()
    assert PatchResult("cache", "registry_test", False,
                       "disabled by FAST_CREWAI_CACHE=false") in results


def test_enable_with_malformed_environment_raises_config_error(monkeypatch):
    monkeypatch.setenv("FAST_CREWAI_ENDPOINT", "foo")
    with pytest.raises(fast_crewai.ConfigError, match="FAST_CREWAI_ENDPOINT"):
        fast_crewai.enable_acceleration()


# ---- the shim, in fresh interpreters -------------------------------------------------------


def _run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                          text=True, env=clean_environ(env), timeout=60)


def test_shim_import_enables_acceleration_without_network_or_crewai():
    out = _run_python(
        "import sys, time; t = time.monotonic(); import fast_crewai.shim as s; "
        "from fast_crewai import acceleration as a; "
        "print(a.is_enabled(), 'crewai' in sys.modules, "
        "'fast_crewai.client.connection' in sys.modules, round(time.monotonic() - t, 3))")
    assert out.returncode == 0, out.stderr
    enabled, crewai_loaded, connection_loaded, seconds = out.stdout.split()
    assert (enabled, crewai_loaded, connection_loaded) == ("True", "False", "False")
    assert float(seconds) < 1.0


def test_shim_honours_the_master_switch():
    out = _run_python("import fast_crewai.shim; from fast_crewai import acceleration as a; "
                      "print(a.is_enabled())", {"FAST_CREWAI_ACCELERATION": "off"})
    assert out.returncode == 0 and out.stdout.strip() == "False"


def test_shim_with_malformed_config_warns_and_leaves_crewai_alone():
    out = _run_python("import fast_crewai.shim; from fast_crewai import acceleration as a; "
                      "print(a.is_enabled()); print({r.reason for r in a.report()})",
                      {"FAST_CREWAI_ENDPOINT": "foo"})
    assert out.returncode == 0
    enabled, reasons = out.stdout.splitlines()
    assert enabled == "False"
    # report() says why, not "import fast_crewai.shim", which the program did.
    assert reasons == ("{'acceleration off: FAST_CREWAI_ENDPOINT: expected host:port or "
                       "unix:/path, got \"foo\"'}")
    assert 'RuntimeWarning: fast-crewai: acceleration off: FAST_CREWAI_ENDPOINT: expected ' \
           'host:port or unix:/path, got "foo"' in out.stderr


def test_shim_reexports_the_switches():
    shim = importlib.import_module("fast_crewai.shim")
    assert shim.enable_acceleration is fast_crewai.enable_acceleration
    assert shim.disable_acceleration is fast_crewai.disable_acceleration
    assert shim.report is fast_crewai.report
