"""Architecture rules that are cheap to check mechanically."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import fast_crewai

PACKAGE = Path(fast_crewai.__file__).parent

UNCHECKED = ("v1",)

# Besides client/ and every conversions.py, these area modules speak the wire protocol: each
# area package keeps its transport in a few named files, so the rest of it never sees stubs.
TRANSPORT = {
    "cache/_link.py", "cache/near_cache.py", "cache/remote.py",
    "memory/_link.py", "memory/daemon_storage.py", "memory/outage.py",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py")
            if p.relative_to(PACKAGE).parts[0] not in UNCHECKED]


def test_only_client_modules_and_conversions_import_the_generated_stubs():
    offenders = []
    for path in _modules():
        relative = path.relative_to(PACKAGE)
        allowed = (relative.parts[0] == "client" or path.name == "conversions.py"
                   or relative.as_posix() in TRANSPORT)
        if not allowed and any(n == "fast_crewai.v1" or n.startswith("fast_crewai.v1.")
                               for n in _imports(path)):
            offenders.append(str(relative))
    assert offenders == []


def test_importing_the_package_and_the_shim_does_not_import_crewai():
    """Importing fast_crewai (and activating the shim) must never import CrewAI (seconds, and it
    may not be installed): CrewAI is reached through post-import hooks or inside functions. Area
    modules that subclass CrewAI classes are only imported once CrewAI itself is."""
    code = (
        "import sys, fast_crewai, fast_crewai.shim, fast_crewai.cli\n"
        "from fast_crewai import patches\n"
        "for spec in patches.registered():\n"
        "    patches.load_patcher(spec)\n"
        "loaded = sorted(m for m in sys.modules if m == 'crewai' or m.startswith('crewai.'))\n"
        "print(repr(loaded))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAST_CREWAI_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
