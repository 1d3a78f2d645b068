"""DaemonKickoffStorage: CrewAI's replay log (KickoffTaskOutputsSQLiteStorage) kept per kickoff
in the daemon.

CrewAI keeps ONE table of "the latest kickoff's" task outputs per project, empties it at every
kickoff and re-reads it before every task; concurrent kickoffs and kickoff_for_each wipe each
other's logs (crewAI issues #6650, #6704). This stand-in has the same methods and return shapes
(`add`, `update`, `load`, `delete_all`) but:

* every kickoff writes its own log in the daemon under a fresh kickoff id: `delete_all()` at
  the start of a kickoff (crews/utils.py prepare_kickoff) starts a new log instead of erasing
  anything, so parallel crews, for-each copies and other processes keep theirs;
* `delete_all()` inside `Crew.reset_memories(...)` (`crewai reset-memories -k`) really deletes:
  every kickoff of this project in the daemon, and CrewAI's local file;
* `attach_task(task_id)` (called by the patched `Crew.replay`) points the storage at the
  kickoff that ran `task_id`, found from any process, so `crew.replay(task_id)` (what
  `crewai replay -t <task_id>` ends up calling) replays that kickoff, not merely the latest;
* `load()` of the storage's own kickoff is served from memory (the daemon acknowledged every
  row; nobody else writes this kickoff): fresh dicts and lists copied from a private snapshot
  (json_snapshot.py), no I/O, no JSON.
  (The persistence patcher also lets TaskOutputStorageHandler.update skip the load it makes
  before every task only to check for None.)

`crewai log-tasks-outputs` reads CrewAI's SQLite file directly, so the file is kept as CrewAI
would keep it: a background thread replays every change through CrewAI's own storage class
(`mirror=True`, the default). Unlike CrewAI, the file is cleared when a kickoff writes its first
row rather than when it starts, so a kickoff that never writes (the for-each parent's final
reset) no longer empties it; and it holds one kickoff's log: of the kickoffs of this process
writing at once (kickoff_for_each_async, parallel crews), the one that started writing last.
The mirror is also the fallback. When the daemon does not answer a write, the write is
journaled (persistence/outage.py: fsync'ed, with the kickoff's id and the row's time) and made
to the local file once the mirror caught up, as CrewAI would make it; the kickoff reads the file
until the daemon answers again, and the journal is replayed to the daemon before anything else,
by this process or, if it exited, by the next one to use this file's replay log. When the daemon
refuses a row CrewAI would have stored, the kickoff continues in the local file only, exactly as
CrewAI; the next kickoff tries the daemon again. A replay of a kickoff that went on in the local
file reads the file (attach_task).

Row dicts are those of CrewAI 1.15.30: task_id, task_key, expected_output, output (decoded
JSON), task_index, inputs (decoded JSON), was_replayed (0/1), timestamp ("YYYY-MM-DD
HH:MM:SS", UTC).

Thread-safety: every method may be called from any thread.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import dataclasses
import json
import logging
import multiprocessing.util
import os
import queue
import sqlite3
import threading
import time
import uuid
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

from fast_crewai import errors
from fast_crewai.persistence import _link, conversions, locks, outage
from fast_crewai.persistence.json_snapshot import JsonSnapshot

__all__ = ["DaemonKickoffStorage", "default_db_path", "hard_reset", "mirror_flush"]

_log = logging.getLogger(__name__)

DB_FILE_NAME = "latest_kickoff_task_outputs.db"
# Columns CrewAI's update(**kwargs) may set.
_COLUMNS = ("task_id", "task_key", "expected_output", "output", "task_index", "inputs",
            "was_replayed", "timestamp")
_UPDATABLE = ("task_id", "task_key", "expected_output", "output", "inputs", "was_replayed")

# True inside Crew.reset_memories(): delete_all() then means "erase", not "a kickoff starts".
_hard_reset: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "fast_crewai_kickoff_hard_reset", default=False
)


@contextlib.contextmanager
def hard_reset() -> Iterator[None]:
    """Within the block, delete_all() erases every kickoff of the project (reset_memories)."""
    token = _hard_reset.set(True)
    try:
        yield
    finally:
        _hard_reset.reset(token)


def default_db_path() -> str:
    """The file CrewAI's storage would use: db_storage_path()/latest_kickoff_task_outputs.db."""
    from crewai_core.paths import db_storage_path

    return str(Path(db_storage_path()) / DB_FILE_NAME)


# A cached row: (task_id, task_index, snapshot of the row dict). Rows are decoded JSON (dicts,
# lists, str, int, float, bool, None): load() hands out fresh dicts and lists at every level
# (callers may change them) sharing the immutable strings and numbers, without re-reading or
# re-decoding anything (about 3x faster than pickle.loads, which also copies every string).
_Cached = tuple[str, int, JsonSnapshot]


def _cached(row: dict[str, Any]) -> _Cached:
    return (row["task_id"], row["task_index"], JsonSnapshot(row))


_row_dict = conversions.row_dict


def _sqlite_now() -> str:
    """SQLite's CURRENT_TIMESTAMP now: "YYYY-MM-DD HH:MM:SS", UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def _update_fields(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """update(**kwargs) as UpdateTaskOutput fields; None when only CrewAI's table can do it
    (task_index or timestamp, or a NULL)."""
    fields: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key not in _UPDATABLE or value is None:
            return None
        if key in ("output", "inputs"):
            fields[f"{key}_json"] = value if isinstance(value, str) else _encode(value)
        elif key == "was_replayed":
            fields[key] = bool(value)
        else:
            fields[key] = str(value)
    return fields


def _encode(value: Any) -> str:
    """json.dumps with CrewAI's encoder, exactly as KickoffTaskOutputsSQLiteStorage stores."""
    from crewai.utilities.crew_json_encoder import CrewJSONEncoder

    return json.dumps(value, cls=CrewJSONEncoder)


# --------------------------------------------------------------------------------------------
# The local file: CrewAI's own storage, written in the background.


@dataclasses.dataclass(frozen=True)
class _MirroredAdd:
    """One add() to apply to CrewAI's file at `path`, after emptying the file when `clear`."""

    path: str
    clear: bool
    task: Any
    output: Any
    task_index: int
    was_replayed: bool
    inputs: Any
    # The row's timestamp when it is a copy of a stored row (a replay rewriting the file):
    # kept, where CrewAI's add() would stamp the time of the copy.
    timestamp: str | None = None


# What the mirror queue holds: a change to apply, or an add (batched with the adds queued
# behind it for the same file).
_MirrorItem = Callable[[], None] | _MirroredAdd
# Adds queued back to back for one file are written in one transaction, at most this many.
MAX_MIRROR_BATCH = 256
_NO_ITEM = object()


def _apply_adds(adds: list[_MirroredAdd]) -> None:
    """Applies `adds` (one file, in order) as CrewAI's storage would apply them one by one.

    One add goes through CrewAI's own class, unless it is the copy of a stored row, whose
    timestamp it keeps (CrewAI's add() would stamp the time of the copy). Several (the mirror
    fell behind a burst of rows, or a replay rewrites the file)
    take CrewAI's lock for the file once and run CrewAI's statements in one transaction: the
    same rows, one fsync instead of one per row.
    """
    local = _local_storage(adds[0].path)  # CrewAI's class; it created the table
    if len(adds) == 1 and adds[0].timestamp is None:
        add = adds[0]
        if add.clear:
            local.delete_all()
        local.add(add.task, add.output, add.task_index, add.was_replayed, add.inputs)
        return
    from crewai_core.lock_store import lock as store_lock

    with store_lock(f"sqlite:{os.path.realpath(adds[0].path)}"):
        with contextlib.closing(sqlite3.connect(adds[0].path, timeout=30)) as conn, conn:
            for add in adds:
                if add.clear:
                    conn.execute("DELETE FROM latest_kickoff_task_outputs")
                values = (str(add.task.id), add.task.key, add.task.expected_output,
                          _encode(add.output), add.task_index, _encode(add.inputs or {}),
                          add.was_replayed)
                if add.timestamp is None:
                    conn.execute(
                        "INSERT OR REPLACE INTO latest_kickoff_task_outputs (task_id, task_key, "
                        "expected_output, output, task_index, inputs, was_replayed) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", values)
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO latest_kickoff_task_outputs (task_id, task_key, "
                        "expected_output, output, task_index, inputs, was_replayed, timestamp) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*values, add.timestamp))


class _Mirror:
    """One daemon thread per process applying queued changes to CrewAI's local files in order,
    under CrewAI's own file lock (locks.local_locks_only), never a daemon lock. Adds queued back
    to back for one file are applied in one transaction (_apply_adds).

    Errors are logged, never raised: the daemon holds the data, the file is a courtesy to
    `crewai log-tasks-outputs` and the fallback path.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_MirrorItem] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def submit(self, fn: _MirrorItem) -> None:
        with self._lock:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="fast-crewai-kickoff-mirror",
                                                daemon=True)
                self._thread.start()
        self._queue.put(fn)

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until every submitted change is applied; False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        # The files are this machine's: CrewAI's own file lock guards them (locks.py).
        with locks.local_locks_only():
            self._apply_forever()

    def _apply_forever(self) -> None:
        carry: object = _NO_ITEM  # taken from the queue, not part of the last batch
        while True:
            item = self._queue.get() if carry is _NO_ITEM else carry
            carry = _NO_ITEM
            taken = 1
            try:
                if isinstance(item, _MirroredAdd):
                    adds = [item]
                    while len(adds) < MAX_MIRROR_BATCH:
                        try:
                            queued = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if isinstance(queued, _MirroredAdd) and queued.path == item.path:
                            adds.append(queued)
                        else:
                            carry = queued
                            break
                    taken = len(adds)
                    _apply_adds(adds)
                elif callable(item):
                    item()
            except Exception as e:  # noqa: BLE001 - a courtesy copy must never break anything
                _log.warning("fast-crewai: could not update CrewAI's local replay file: %s", e)
            finally:
                with self._lock:
                    self._pending -= taken
                    if self._pending == 0:
                        self._idle.notify_all()


_mirror = _Mirror()
_local_storages: dict[str, Any] = {}
_local_storages_lock = threading.Lock()

# Which kickoff's rows the mirror writes to each file: the one that cleared it last (its first
# row, a replay pointing the file at it, or the local fallback taking it over). Changes from
# other kickoffs of this process (the copies of kickoff_for_each_async, parallel crews) are not
# mirrored, so the file holds one kickoff's log, as `crewai log-tasks-outputs` expects, and an
# update by task_index never lands on another kickoff's row. Decided and queued under the lock,
# so the mirror applies them in the order ownership changed.
_file_owners: dict[str, str] = {}
_file_owners_lock = threading.Lock()


def mirror_flush(timeout: float | None = None) -> bool:
    """Waits until CrewAI's local files reflect every change made so far (tests, shutdown)."""
    return _mirror.flush(timeout)


@atexit.register
def _flush_at_exit() -> None:
    _mirror.flush(timeout=5.0)


def _local_storage(db_path: str) -> Any:
    """CrewAI's own KickoffTaskOutputsSQLiteStorage for `db_path` (one per path)."""
    with _local_storages_lock:
        storage = _local_storages.get(db_path)
        if storage is None:
            from crewai.memory.storage.kickoff_task_outputs_storage import (
                KickoffTaskOutputsSQLiteStorage,
            )

            storage = KickoffTaskOutputsSQLiteStorage(db_path)
            _local_storages[db_path] = storage
        return storage


def _reset_after_fork() -> None:
    global _mirror, _local_storages_lock, _file_owners_lock, _storages_lock
    _mirror = _Mirror()
    _local_storages_lock = threading.Lock()
    _file_owners_lock = threading.Lock()
    _storages_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class _FlushInMultiprocessingChildren:
    """A process that multiprocessing forks ends with os._exit, which skips atexit: in such a
    child the mirror's pending writes are flushed by a multiprocessing finalizer instead (it runs
    before that exit), so `crewai log-tasks-outputs` shows the child's kickoffs whole."""

    def __call__(self) -> None:
        multiprocessing.util.Finalize(None, _flush_at_exit, exitpriority=0)


_flush_in_children = _FlushInMultiprocessingChildren()
multiprocessing.util.register_after_fork(_flush_in_children, lambda hook: hook())

# Every storage of this process, so that an erase by one is seen by the others' load().
_storages: weakref.WeakSet[DaemonKickoffStorage] = weakref.WeakSet()
_storages_lock = threading.Lock()


# --------------------------------------------------------------------------------------------


class DaemonKickoffStorage:
    """KickoffTaskOutputsSQLiteStorage's interface over the daemon (see the module docstring).

    `db_path` is the file CrewAI would use (default: db_storage_path()/latest_kickoff_task_
    outputs.db); its real path names the project in the daemon (`namespace`).
    """

    def __init__(self, db_path: str | None = None, *, mirror: bool = True) -> None:
        self.db_path = db_path if db_path is not None else default_db_path()
        self.namespace = os.path.realpath(self.db_path)
        self._mirror_enabled = mirror
        self._lock = threading.RLock()
        # The kickoff this storage writes and reads; None = none yet (load() shows the
        # project's latest kickoff, as CrewAI's file would).
        self._kickoff_id: str | None = None
        # Rows of _kickoff_id, in load order; None when not attached.
        self._rows: list[_Cached] | None = None
        # The current kickoff continues in CrewAI's local file only: the daemon refused one of
        # its rows, or the kickoff is a replay the daemon cannot serve (attach_task).
        self._local_mode = False
        # The current kickoff wrote rows or updates to CrewAI's file, and the outage journal,
        # while the daemon was away: the cache lacks them, reads use the file until the
        # daemon (which the journal is replayed to first) answers again (_refresh_rows).
        self._outage = False
        # The local file must be cleared before the current kickoff's first row lands there.
        self._clear_file_before_next_row = False
        with _storages_lock:
            _storages.add(self)

    # ---- CrewAI's interface -------------------------------------------------------------

    def add(self, task: Any, output: dict[str, Any], task_index: int, was_replayed: bool = False,
            inputs: dict[str, Any] | None = None) -> None:
        """INSERT OR REPLACE of the task's row into the current kickoff's log."""
        inputs = inputs or {}
        with self._lock:
            if self._kickoff_id is None:
                self._start_kickoff()
            if self._local_mode:
                self._local().add(task, output, task_index, was_replayed, inputs)
                return
            row_task = SimpleNamespace(id=task.id, key=getattr(task, "key", None),
                                       expected_output=task.expected_output)
            request = conversions.add_task_output(
                kickoff_id=self._kickoff_id, namespace=self.namespace, task_id=str(task.id),
                task_key=row_task.key, expected_output=task.expected_output,
                output_json=_encode(output), task_index=task_index,
                inputs_json=_encode(inputs), was_replayed=bool(was_replayed))
            # CrewAI's CURRENT_TIMESTAMP of the row, should it go to the file and the journal.
            written_at = _sqlite_now()
            try:
                response, _ = self._session().write(
                    "AddTaskOutput", request, _link.call,
                    lambda: self._add_during_outage(row_task, output, task_index, was_replayed,
                                                    inputs, written_at),
                    journaled=lambda r: conversions.with_timestamp(r, written_at))
            except errors.RpcError as e:  # refused: the kickoff goes on in the file, as CrewAI
                self._go_local(f"add of task {task.id} failed: {e}")
                self._local().add(task, output, task_index, was_replayed, inputs)
                return
            if response is None:
                return  # journaled, and in CrewAI's file
            row = _row_dict(response.row)
            if not self._after_outage():
                self._cache_row(row)
            # The cache keeps its own copy (a snapshot): the mirror may take this one.
            self._mirror_add(row_task, row["output"], task_index, was_replayed, row["inputs"])

    def update(self, task_index: int, **kwargs: Any) -> None:
        """Sets the given columns on the current kickoff's rows with `task_index`.

        Like CrewAI, an unknown task_index only logs a warning; an unknown column raises
        DatabaseOperationError.
        """
        unknown = [key for key in kwargs if key not in _COLUMNS]
        if unknown:
            from crewai.utilities.errors import DatabaseError, DatabaseOperationError

            error = ValueError(f"no such column: {unknown[0]}")
            raise DatabaseOperationError(DatabaseError.format_error(DatabaseError.UPDATE_ERROR,
                                                                    error), error)
        with self._lock:
            fields = _update_fields(kwargs)
            if self._local_mode or self._kickoff_id is None or fields is None:
                self._go_local("no kickoff to update in the daemon" if fields is not None
                               else f"update of {sorted(kwargs)} needs CrewAI's table")
                self._local().update(task_index, **kwargs)
                return
            request = conversions.update_task_output(self._kickoff_id, task_index, fields)
            try:
                response, _ = self._session().write(
                    "UpdateTaskOutput", request, _link.call,
                    lambda: self._update_during_outage(task_index, kwargs))
            except errors.NotFound:
                _log.warning("No row found with task_index %s. No update performed.", task_index)
                return
            except errors.RpcError as e:  # refused: the kickoff goes on in the file
                self._go_local(f"update of task_index {task_index} failed: {e}")
                self._local().update(task_index, **kwargs)
                return
            if response is None:
                return  # journaled, and in CrewAI's file
            if not self._after_outage():
                # The response holds every row of that index (possibly renamed by task_id):
                # replace them in place, keeping their positions.
                updated = [_cached(_row_dict(row)) for row in response.rows]
                rows = self._rows or []
                first = next((i for i, r in enumerate(rows) if r[1] == task_index), len(rows))
                rest = [r for r in rows if r[1] != task_index]
                self._rows = rest[:first] + updated + rest[first:]
            if self._mirror_enabled:
                path = self.db_path
                with _file_owners_lock:
                    if _file_owners.get(path) == self._kickoff_id:
                        _mirror.submit(lambda: _local_storage(path).update(task_index, **kwargs))

    def load(self) -> list[dict[str, Any]]:
        """The current kickoff's rows ordered by task_index (CrewAI's load()).

        Before this storage ran or attached to a kickoff: the project's latest kickoff in the
        daemon, else CrewAI's local file.
        """
        with self._lock:
            if self._local_mode:
                _mirror.flush(timeout=30.0)
                return self._local().load()
            if self._outage and not self._refresh_rows():
                _mirror.flush(timeout=30.0)  # the file has the whole kickoff
                return self._local().load()
            if self._rows is not None:
                return [snapshot.copy() for _, _, snapshot in self._rows]
        response = self._read("LoadTaskOutputs",
                              conversions.load_task_outputs(namespace=self.namespace), probe=True)
        if response is not None and response.found:
            return [_row_dict(row) for row in response.rows]
        return self._local_load_if_any()

    def delete_all(self) -> None:
        """At kickoff start: begins a new log (nothing is erased). Inside
        Crew.reset_memories: erases every kickoff of the project and CrewAI's local file."""
        if _hard_reset.get():
            self._erase_all()
            return
        with self._lock:
            self._start_kickoff()

    # ---- extensions -----------------------------------------------------------------------

    @property
    def kickoff_id(self) -> str | None:
        """The kickoff this storage currently writes/reads (None before the first one)."""
        with self._lock:
            return self._kickoff_id

    def attach_task(self, task_id: str) -> bool:
        """Points the storage at the kickoff that ran `task_id` (from any process), so that
        load() and update() work on it (Crew.replay). Returns False when the daemon does not
        know the task: the storage then reads CrewAI's local file, as CrewAI would."""
        response = self._read("LoadTaskOutputs", conversions.load_task_outputs(task_id=task_id),
                              probe=True)
        rows = [_row_dict(row) for row in response.rows] if response is not None else []
        if response is not None and response.found and self._file_has_more_of(task_id, rows):
            # The kickoff went on in the file while the daemon was away: the daemon's log of
            # it is the part written before. Replay from the file, as CrewAI would; replacing
            # the file with the daemon's rows would lose the others.
            with self._lock:
                self._go_local(f"CrewAI's local file has more of task {task_id}'s kickoff "
                               "than the daemon")
            return False
        with self._lock:
            if response is None or not response.found:
                self._go_local("daemon unavailable" if response is None
                               else f"task {task_id} not in the daemon")
                return False
            self._kickoff_id = response.kickoff_id
            self._rows = [_cached(row) for row in rows]
            self._local_mode = False
            self._outage = False
            # `crewai log-tasks-outputs` should show the kickoff being replayed.
            self._mirror_replace(rows)
            return True

    # ---- internals ------------------------------------------------------------------------

    def _file_has_more_of(self, task_id: str, rows: list[dict[str, Any]]) -> bool:
        """Whether CrewAI's file holds `task_id` and every task of `rows` and more: the same
        kickoff, continued there (in this process or another) while the daemon was away."""
        if not Path(self.db_path).exists():
            return False
        _mirror.flush(timeout=30.0)
        try:
            local = self._local().load() or []
        except Exception as e:  # noqa: BLE001 - an unreadable file: the daemon's rows stand
            _log.warning("fast-crewai: could not read CrewAI's replay file: %s", e)
            return False
        # By task index: a replay in the file gives the tasks it reruns new ids there.
        in_file = {int(row["task_index"]) for row in local}
        if not rows or not in_file > {int(row["task_index"]) for row in rows}:
            return False
        if task_id in {str(row["task_id"]) for row in local}:
            return True
        # The task was rerun in the file since (a replay there renamed it): still the same
        # kickoff when its first task is, and CrewAI's file, which no longer has the task, is
        # the one that answers (as CrewAI: "not found").
        first = min(rows, key=lambda row: int(row["task_index"]))
        return any(str(row["task_id"]) == str(first["task_id"])
                   and int(row["task_index"]) == int(first["task_index"]) for row in local)

    def _start_kickoff(self) -> None:
        self._kickoff_id = uuid.uuid4().hex
        self._rows = []
        self._local_mode = False  # try the daemon again
        self._outage = False
        self._clear_file_before_next_row = True

    def _cache_row(self, row: dict[str, Any]) -> None:
        """INSERT OR REPLACE into the cache: the row goes after every row of its index."""
        rows = [r for r in (self._rows or []) if r[0] != row["task_id"]]
        position = len(rows)
        while position > 0 and rows[position - 1][1] > row["task_index"]:
            position -= 1
        rows.insert(position, _cached(row))
        self._rows = rows

    def _erase_all(self) -> None:
        with self._lock:
            try:
                # During an outage the erase is journaled behind the rows it must erase.
                self._session().write("DeleteTaskOutputs",
                                      conversions.delete_task_outputs(self.namespace), _link.call,
                                      lambda: None)
            except errors.RpcError as e:
                _log.warning("fast-crewai: erasing the daemon's task outputs failed: %s", e)
            self._kickoff_id = None
            self._rows = None
            self._local_mode = False
            self._outage = False
            self._clear_file_before_next_row = False
            with _file_owners_lock:
                _file_owners.pop(self.db_path, None)
            _mirror.flush(timeout=30.0)
            self._local().delete_all()
        # The project's other storages in this process (other crews) read the erase too, as
        # they would read CrewAI's emptied file: their cached rows are gone.
        with _storages_lock:
            others = [s for s in _storages if s is not self and s.namespace == self.namespace]
        for other in others:
            with other._lock:
                if other._rows is not None:
                    other._rows = []

    def _go_local(self, reason: str) -> None:
        """Continues the current kickoff in CrewAI's local file (after the mirror caught up)."""
        if self._local_mode:
            return
        _log.warning("fast-crewai: kickoff task outputs go to CrewAI's local file (%s)", reason)
        self._local_mode = True
        self._take_file()

    def _take_file(self) -> None:
        """Makes CrewAI's file this kickoff's, caught up, for writing it directly."""
        if self._kickoff_id is not None:
            with _file_owners_lock:  # its writes go to the file directly from now on
                _file_owners[self.db_path] = self._kickoff_id
        _mirror.flush(timeout=30.0)
        if self._clear_file_before_next_row:
            # The kickoff started since the file was last cleared: CrewAI would have cleared it
            # at the start, and the mirror did not get to its first row yet.
            self._local().delete_all()
            self._clear_file_before_next_row = False

    # ---- the daemon away (the writes are journaled: persistence/outage.py) ------------------

    def _session(self) -> outage.KickoffSession:
        session = outage.kickoff_session_for(self.db_path)
        outage.connect_once(session)  # journals left by processes that died in an outage
        return session

    def _read(self, rpc: str, request: Any, *, probe: bool = False) -> Any:
        """The daemon's answer (pending journals replayed first), or None: daemon away or
        failing (then the caller reads CrewAI's file). `probe`: during an outage, ask the
        daemon now rather than at the session's next probe (a replay, a first load)."""
        session = self._session()
        if probe and session.degraded:
            with session.lock:
                session.recover_locked(force=True)
        try:
            return session.read(lambda: _link.call(rpc, request), lambda r: r, lambda: None)
        except errors.RpcError as e:
            _log.warning("fast-crewai: %s from the daemon failed (%s); reading CrewAI's local "
                         "file", rpc, e)
            return None

    def _add_during_outage(self, task: Any, output: Any, task_index: int, was_replayed: bool,
                           inputs: Any, written_at: str) -> None:
        """The add, journaled, goes to CrewAI's file with the timestamp the journal has."""
        self._enter_outage()
        with locks.local_locks_only():  # the daemon's locks are away too
            _apply_adds([_MirroredAdd(self.db_path, False, task, output, task_index,
                                      bool(was_replayed), inputs, written_at)])

    def _update_during_outage(self, task_index: int, kwargs: dict[str, Any]) -> None:
        self._enter_outage()
        with locks.local_locks_only():
            self._local().update(task_index, **kwargs)

    def _enter_outage(self) -> None:
        if not self._outage:
            self._outage = True
            self._take_file()

    def _after_outage(self) -> bool:
        """After a write the daemon took: when the kickoff wrote during an outage, reloads the
        cache from the daemon (which has every row by now: the journal was replayed before
        the write). True when it did (or tried: the file stays the reference on failure)."""
        if not self._outage:
            return False
        self._refresh_rows()
        return True

    def _refresh_rows(self) -> bool:
        """Reloads the kickoff's rows from the daemon into the cache; False when the daemon
        does not answer (reads keep using CrewAI's file)."""
        assert self._kickoff_id is not None
        response = self._read("LoadTaskOutputs",
                              conversions.load_task_outputs(kickoff_id=self._kickoff_id))
        if response is None or not response.found or self._session().journal.pending():
            return False
        self._rows = [_cached(_row_dict(row)) for row in response.rows]
        self._outage = False
        return True

    def _local(self) -> Any:
        return _local_storage(self.db_path)

    def _local_load_if_any(self) -> list[dict[str, Any]]:
        if not Path(self.db_path).exists():
            return []
        _mirror.flush(timeout=30.0)
        result: list[dict[str, Any]] = self._local().load()
        return result

    def _mirror_add(self, task: Any, output: Any, task_index: int, was_replayed: bool,
                    inputs: Any) -> None:
        if not self._mirror_enabled:
            return
        assert self._kickoff_id is not None
        clear, self._clear_file_before_next_row = self._clear_file_before_next_row, False
        with _file_owners_lock:
            if clear:
                _file_owners[self.db_path] = self._kickoff_id
            elif _file_owners.get(self.db_path, self._kickoff_id) != self._kickoff_id:
                return  # a later kickoff of this process has the file
            _mirror.submit(_MirroredAdd(self.db_path, clear, task, output, task_index,
                                        was_replayed, inputs))

    def _mirror_replace(self, rows: list[dict[str, Any]]) -> None:
        if not self._mirror_enabled:
            return
        assert self._kickoff_id is not None
        self._clear_file_before_next_row = False
        path = self.db_path
        with _file_owners_lock:
            _file_owners[path] = self._kickoff_id
            if not rows:
                _mirror.submit(lambda: _local_storage(path).delete_all())
                return
            # The rows are freshly decoded, owned by nobody else. The first empties the file;
            # the mirror writes the ones already queued when it gets to them in one transaction.
            for i, row in enumerate(rows):
                task = SimpleNamespace(id=row["task_id"], key=row["task_key"],
                                       expected_output=row["expected_output"])
                _mirror.submit(_MirroredAdd(path, i == 0, task, row["output"],
                                            row["task_index"], bool(row["was_replayed"]),
                                            row["inputs"], row["timestamp"] or None))
