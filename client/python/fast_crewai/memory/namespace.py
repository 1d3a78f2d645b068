"""Where a CrewAI memory store lives, and the daemon namespace that stands for it.

Two processes that open the same LanceDB directory must share one daemon namespace, so the
namespace is derived from the directory exactly as CrewAI's LanceDBStorage resolves it
(crewai/memory/storage/lancedb_storage.py, `__init__`):

* no path (the "lancedb" spec): `$CREWAI_STORAGE_DIR/memory` when that variable is non-empty,
  else `crewai_core.paths.db_storage_path()/memory` (the platform data dir named after the
  current directory's basename);
* a path: `Path(path)` as given (no `~` expansion, as LanceDBStorage does none), made absolute
  and symlink-free with `Path.resolve()` (LanceDBStorage's own lock name uses the same).

The namespace is `lancedb:<resolved path>`, plus `#<table>` for a table other than "memories".
The daemon accepts namespaces of at most 512 UTF-8 bytes without control characters: a longer
name keeps its first bytes and ends with `~sha256:<hex of the full name>`, so distinct paths stay
distinct; a path that is not valid UTF-8 text or holds control characters becomes
`lancedb:~sha256:<hex of its bytes>`.

Example:

    namespace_for_path("/srv/app/mem")           # "lancedb:/srv/app/mem"
    journal_dir_for_path("/srv/app/mem")         # Path("/srv/app/mem/.fast-crewai-journal")
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

DEFAULT_TABLE = "memories"
NAMESPACE_PREFIX = "lancedb:"
MAX_NAMESPACE_BYTES = 512
JOURNAL_DIRNAME = ".fast-crewai-journal"


def default_storage_path() -> Path:
    """The directory `LanceDBStorage()` (no path) uses, computed the same way."""
    storage_dir = os.environ.get("CREWAI_STORAGE_DIR")
    if storage_dir:
        return Path(storage_dir) / "memory"
    from crewai_core.paths import db_storage_path

    return Path(db_storage_path()) / "memory"


def resolve_storage_path(path: str | os.PathLike[str] | None) -> Path:
    """The absolute directory a LanceDBStorage(path=path) would use."""
    return (default_storage_path() if path is None else Path(path)).resolve()


def shorten(name: str, limit: int = MAX_NAMESPACE_BYTES) -> str:
    """`name` if it fits in `limit` UTF-8 bytes, else a prefix + `~sha256:<hex>` of `limit` bytes
    at most (the prefix is cut on a character boundary)."""
    raw = name.encode("utf-8")
    if len(raw) <= limit:
        return name
    suffix = "~sha256:" + hashlib.sha256(raw).hexdigest()
    head = raw[: limit - len(suffix.encode("ascii"))].decode("utf-8", "ignore")
    return head + suffix


def _printable_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: undecodable bytes in a file name
        return False
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)


def namespace_for_path(
    path: str | os.PathLike[str] | None, table_name: str = DEFAULT_TABLE
) -> str:
    """The daemon namespace of the LanceDB store at `path` (None: the default store)."""
    name = str(resolve_storage_path(path))
    if table_name != DEFAULT_TABLE:
        name += "#" + table_name
    if not _printable_utf8(name):
        raw = name.encode("utf-8", "surrogatepass")
        return NAMESPACE_PREFIX + "~sha256:" + hashlib.sha256(raw).hexdigest()
    return shorten(NAMESPACE_PREFIX + name)


def journal_dir_for_path(path: str | os.PathLike[str] | None) -> Path:
    """The directory holding outage journals for the store at `path`."""
    return resolve_storage_path(path) / JOURNAL_DIRNAME
