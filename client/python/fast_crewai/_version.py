"""The package version.

Must equal the repository's VERSION file (tests/python/test_version.py checks it); pyproject.toml
reads it from here.
"""

__version__ = "0.1.0"
