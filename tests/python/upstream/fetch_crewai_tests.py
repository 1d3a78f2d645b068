"""Fetches CrewAI's own test suite for the CrewAI installed in this interpreter.

    <venv>/bin/python tests/python/upstream/fetch_crewai_tests.py DEST

CrewAI's source distribution on PyPI carries its tests; this downloads the one matching the
installed release with pip (so pip's index and proxy settings apply), and extracts its `tests/`
into DEST/crewai-<version>/tests. Nothing is done when that directory is already complete.
deploy/install-deps.sh runs it for every venv it builds; test_crewai_upstream.py reads it.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

STAMP = ".fetched"


def crewai_tests_dir(dest: Path, version: str) -> Path:
    return dest / f"crewai-{version}" / "tests"


def _extract_tests(archive: Path, top: str, into: Path) -> int:
    """Extracts the regular files under `top`/tests/ of `archive` into `into`; returns how many.
    Member paths are checked, never trusted: no absolute paths, no '..', no links."""
    count = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            path = PurePosixPath(member.name)
            if path.parts[:2] != (top, "tests") or not member.isfile():
                continue
            relative = PurePosixPath(*path.parts[2:])
            if path.is_absolute() or ".." in relative.parts or not relative.parts:
                raise SystemExit(
                    f"fetch_crewai_tests: unsafe path in {archive.name}: {member.name}")
            target = into.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            count += 1
    return count


def fetch(dest: Path, version: str) -> Path:
    target = crewai_tests_dir(dest, version)
    if (target / STAMP).is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", ":all:", "-d", tmp, f"crewai=={version}"], check=True)
        archives = list(Path(tmp).glob("crewai-*.tar.gz"))
        if len(archives) != 1:
            raise SystemExit(f"fetch_crewai_tests: expected one crewai sdist, pip gave {archives}")
        staging = Path(tmp) / "tests"
        count = _extract_tests(archives[0], f"crewai-{version}", staging)
        if count == 0:
            raise SystemExit(f"fetch_crewai_tests: the crewai {version} sdist has no tests/")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    (target / STAMP).write_text(f"crewai {version}: {count} files\n")
    return target


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    version = importlib.metadata.version("crewai")
    target = fetch(Path(sys.argv[1]).resolve(), version)
    print(f"fetch_crewai_tests: CrewAI {version}'s tests in {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
