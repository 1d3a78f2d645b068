"""Copies the records of CrewAI's own LanceDB store at a path into the daemon's store for it.

Records stay in a path's LanceDB directory when CrewAI ran there without the daemon: before
fast-crewai was installed, or in a process that started while the daemon was unreachable (the
storage factory then hands CrewAI its own LanceDBStorage; the daemon never hears of what that
process saves). `import_local(path)` copies every such record whose id the daemon's store for
the path does not have, in batches, with its id, fields and embedding: a record the daemon
already has is left as the daemon has it (it may have been updated there since). The local
store is only read. A record deleted from the daemon after an earlier import is copied again:
import once after such a run, or reset the local directory once its records are in the daemon.

`fast-crewai memory import [PATH]` is the command-line form (fast_crewai.cli.memory).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fast_crewai.memory import namespace as ns

__all__ = ["ImportResult", "import_local", "local_records"]

# Records per SaveRecords call.
BATCH = 500
_PLACEHOLDER_ID = "__schema_placeholder__"  # LanceDBStorage's table-creation row


@dataclasses.dataclass(frozen=True)
class ImportResult:
    path: Path
    namespace: str
    local: int  # records in the local LanceDB store
    imported: int  # copied into the daemon
    present: int  # already in the daemon, left as they are


def local_records(path: Path, table_name: str = ns.DEFAULT_TABLE) -> list[Any]:
    """Every MemoryRecord of CrewAI's LanceDB table at `path` ([] when there is none), read
    with CrewAI's own class and row conversion (no patch of its constructor applies)."""
    if not (path / f"{table_name}.lance").exists():
        return []
    from fast_crewai.memory.outage import crewais_own_storage

    local = crewais_own_storage(path, table_name)
    table = local._table
    if table is None:
        return []
    rows = table.search().limit(max(1, table.count_rows())).to_list()
    records = []
    for row in rows:
        if row.get("id") == _PLACEHOLDER_ID:
            continue
        if row.get("vector") is not None:
            row["vector"] = [float(v) for v in row["vector"]]
        records.append(local._row_to_record(row))
    return records


def import_local(path: str | Path | None = None, table_name: str = ns.DEFAULT_TABLE
                 ) -> ImportResult:
    """Copies the local records the daemon lacks (module docstring). Raises
    fast_crewai.errors.RpcError when the daemon does not answer or refuses a batch (then the
    batches before it are in), and EmbeddingDimensionMismatchError when the local records'
    dimension is not the daemon store's."""
    from fast_crewai.memory.daemon_storage import DaemonStorage

    resolved = ns.resolve_storage_path(path)
    records = local_records(resolved, table_name)
    storage = DaemonStorage(path=resolved, table_name=table_name, require_daemon=True)
    missing = [record for record in records if storage.get_record(record.id) is None]
    for start in range(0, len(missing), BATCH):
        storage.save(missing[start:start + BATCH])
    return ImportResult(path=resolved, namespace=storage.namespace, local=len(records),
                        imported=len(missing), present=len(records) - len(missing))
