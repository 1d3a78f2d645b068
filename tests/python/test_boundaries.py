"""Architecture rules that are cheap to check mechanically."""

from __future__ import annotations

import ast
from pathlib import Path

import fast_crewai

PACKAGE = Path(fast_crewai.__file__).parent

# fast_crewai/memory/ belongs to the memory backend and is checked by its own suite.
UNCHECKED = ("v1", "memory")


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
        allowed = relative.parts[0] == "client" or path.name == "conversions.py"
        if not allowed and any(n == "fast_crewai.v1" or n.startswith("fast_crewai.v1.")
                               for n in _imports(path)):
            offenders.append(str(relative))
    assert offenders == []


def test_no_module_imports_crewai_at_import_time():
    """Importing fast_crewai must never import CrewAI (3 s, and it may not be installed);
    CrewAI is only reached through post-import hooks or inside functions."""
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:  # module level only
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "crewai" or n.startswith("crewai.") for n in names):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []
