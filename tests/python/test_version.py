"""The package version is the repository's VERSION."""

import importlib.metadata

import fast_crewai
from support import REPO_ROOT


def test_version_matches_repository_version_file():
    assert fast_crewai.__version__ == (REPO_ROOT / "VERSION").read_text().strip()


def test_installed_distribution_reports_the_same_version():
    assert importlib.metadata.version("fast-crewai") == fast_crewai.__version__


def test_importing_the_package_does_not_import_crewai_or_stubs():
    import subprocess
    import sys

    code = ("import sys, fast_crewai, fast_crewai.shim; "
            "print(sorted(m for m in sys.modules if m == 'crewai' or m.startswith('crewai.') "
            "or m.startswith('fast_crewai.v1') or m.startswith('fast_crewai.client')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
