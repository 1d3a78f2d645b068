"""A durable, per-process write journal for memory calls made while the daemon is away.

While the daemon is unreachable, DaemonStorage appends each write (the serialized MemoryService
request, which names its own namespace) here and tells CrewAI the write succeeded only once the
entry is on disk (written, flushed, fsync'ed). When the daemon is back the entries are sent again
in order, and the file is deleted once all of them were acknowledged. Saves and updates are
upserts by id, and touches carry their timestamp, so sending an entry twice is harmless.

Files: `<directory>/<created-ns>-<pid>-<random>.journal`, one per process, JSON lines
`{"rpc": "SaveRecords", "req": "<base64 protobuf>"}`. The owner holds an exclusive flock for the
file's whole life. A file whose lock can be taken belongs to a process that died before replaying
it: `replay_orphans` replays such files (oldest first) and deletes them. A trailing line without
its newline is a write that was never acknowledged and is ignored.

Thread-safety: a Journal is safe from any thread (one internal lock); replays from several
threads are serialized.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

_logger = logging.getLogger(__name__)

SUFFIX = ".journal"

# Sends one journaled request again; raises to stop the replay (the entry stays pending).
Sender = Callable[[str, bytes], None]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode(rpc: str, request: bytes) -> bytes:
    line = json.dumps({"rpc": rpc, "req": base64.b64encode(request).decode("ascii")})
    return line.encode("ascii") + b"\n"


def read_entries(path: Path) -> list[tuple[str, bytes]]:
    """The complete entries of a journal file, in order (a torn last line is dropped)."""
    data = path.read_bytes()
    entries: list[tuple[str, bytes]] = []
    for line in data.split(b"\n")[:-1]:  # the piece after the last newline is incomplete
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            entries.append((str(obj["rpc"]), base64.b64decode(obj["req"])))
        except (ValueError, KeyError, TypeError):
            _logger.warning("fast-crewai journal %s: skipping an unreadable entry", path)
    return entries


class Journal:
    """This process's journal in `directory` (created on the first append)."""

    def __init__(self, directory: Path) -> None:
        self._dir = Path(directory)
        self._lock = threading.RLock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._entries: list[tuple[str, bytes]] = []  # appended, not yet replayed
        self._replayed = 0

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def path(self) -> Path | None:
        """The current file, or None when nothing is pending."""
        return self._path

    def pending(self) -> int:
        """Number of entries appended and not yet acknowledged by a replay."""
        with self._lock:
            return len(self._entries) - self._replayed

    # -- writing -------------------------------------------------------------------------------

    def _open_locked(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        stem = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        tmp = self._dir / (stem + ".tmp")
        final = self._dir / (stem + SUFFIX)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            # Locked before it gets the name other processes look for, so no one can take it for
            # an orphan.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(tmp, final)
            _fsync_dir(self._dir)
        except BaseException:
            os.close(fd)
            for p in (tmp, final):
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass
            raise
        self._fd, self._path, self._size = fd, final, 0

    def append(self, rpc: str, request: bytes) -> None:
        """Appends one entry durably. Returns only once the entry is on disk.

        Raises OSError if it could not be made durable; nothing is then recorded (a partial
        write is truncated away).
        """
        line = _encode(rpc, request)
        with self._lock:
            if self._fd is None:
                self._open_locked()
            assert self._fd is not None
            try:
                view = memoryview(line)
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
                os.fsync(self._fd)
            except BaseException:
                try:
                    os.ftruncate(self._fd, self._size)
                except OSError:
                    pass
                raise
            self._size += len(line)
            self._entries.append((rpc, request))

    # -- replaying -----------------------------------------------------------------------------

    def replay(self, send: Sender) -> int:
        """Sends every pending entry in order; deletes the file once all were acknowledged.

        Returns the number of entries sent. If `send` raises, the replay stops there, the entry
        stays pending (the next replay resumes at it) and the exception propagates.
        """
        with self._lock:
            sent = 0
            while self._replayed < len(self._entries):
                rpc, request = self._entries[self._replayed]
                send(rpc, request)
                self._replayed += 1
                sent += 1
            self._close_and_delete_locked()
            return sent

    def _close_and_delete_locked(self) -> None:
        if self._fd is None:
            return
        assert self._path is not None
        # Unlink while still holding the lock, so no one can take the file for an orphan.
        self._path.unlink()
        _fsync_dir(self._dir)
        os.close(self._fd)
        self._fd, self._path, self._size = None, None, 0
        self._entries, self._replayed = [], 0

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's file (closing only the child's descriptor, so
        the parent keeps its lock) and its entries; the child journals into a new file."""
        self._lock = threading.RLock()
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd, self._path, self._size = None, None, 0
        self._entries, self._replayed = [], 0

    def close(self) -> None:
        """Releases the file. Pending entries stay on disk for `replay_orphans`."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._path = None
            self._entries, self._replayed, self._size = [], 0, 0


def set_aside(directory: Path, rpc: str, request: bytes, error: Exception) -> Path:
    """Keeps a journaled request the daemon rejected for its content in
    `<directory>/rejected/<ns>-<pid>.json` (`{"rpc", "error", "req"}`), on disk (fsync'ed)
    before the replay acknowledges its entry. Returns the file's path."""
    rejected = Path(directory) / "rejected"
    rejected.mkdir(parents=True, exist_ok=True)
    target = rejected / f"{time.time_ns():020d}-{os.getpid()}.json"
    entry = {"rpc": rpc, "error": str(error), "req": base64.b64encode(request).decode("ascii")}
    with open(target, "w", encoding="ascii") as f:
        f.write(json.dumps(entry))
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(rejected)
    return target


def _remove_if_unlocked(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink()
    except (BlockingIOError, FileNotFoundError):
        pass
    finally:
        os.close(fd)


def replay_orphans(directory: Path, send: Sender) -> int:
    """Replays and deletes journal files of dead processes in `directory`, oldest first.

    Files whose owner is alive (lock held) are left alone. Returns the number of entries sent.
    If `send` raises, the file being replayed stays (it is replayed again from its start next
    time; its entries are idempotent) and the exception propagates.
    """
    directory = Path(directory)
    try:
        listing = sorted(p.name for p in directory.iterdir())
    except FileNotFoundError:
        return 0
    for name in listing:
        if name.endswith(".tmp"):  # a journal whose creator died before naming it: empty
            _remove_if_unlocked(directory / name)
    names = [name for name in listing if name.endswith(SUFFIX)]
    sent = 0
    for name in names:
        path = directory / name
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner is alive
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                continue  # someone replayed and deleted it while we waited
            for rpc, request in read_entries(path):
                send(rpc, request)
                sent += 1
            path.unlink()
            _fsync_dir(directory)
            _logger.info("fast-crewai: replayed orphaned memory journal %s", path)
        finally:
            os.close(fd)
    return sent
