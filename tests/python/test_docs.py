"""The documentation names every setting the code reads."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_client_doc_lists_every_environment_variable() -> None:
    source = (REPO / "client" / "python" / "fast_crewai" / "config.py").read_text()
    variables = set(re.findall(r'"(FAST_CREWAI_[A-Z_]+)"', source))
    assert len(variables) >= 10, variables  # the parse itself must find them
    doc = (REPO / "docs" / "client.md").read_text()
    missing = sorted(v for v in variables if f"`{v}`" not in doc)
    assert not missing, f"docs/client.md does not document {missing}"


def test_readme_quick_start_is_the_two_make_commands() -> None:
    readme = (REPO / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^make \w+", quick_start, re.MULTILINE)
    assert commands == ["make serve", "make test"]
    assert "import fast_crewai.shim" in quick_start


def test_readme_links_resolve() -> None:
    readme = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (REPO / target).exists(), target
