"""The journal's SQLite file: its connections, its transactions, and what to do when it is damaged.

Three connections to one WAL file, because their writes differ in what a power cut may cost:
the app's writes (``FULL``: every commit reaches the disk before it returns), the link's
bookkeeping (``NORMAL``: losing an update only causes a re-send, which the dashboard dedups) and
the checkpointer (WAL checkpoints run in the link thread, never inside an app write). One lock
serialises all writes. A file that is empty or not a database is moved aside, never deleted.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("rollsense.journal")
SCHEMA_VERSION = 1
SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_FULL, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB = 13, 10, 11, 26
LOW_SPACE_BYTES = 64 * 1024  # an I/O error with less free space than this is a full disk
# SQLite's page cache per connection (three of them). Its default, 2 MB each, is far more than
# the journal's working set (the rows a write touches; reads are rare), and it filled as the
# file grew: a device's memory rose for hours (bench/soak.py). The OS caches the file anyway.
CACHE_KIB = 256

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
    session_id TEXT PRIMARY KEY, protocol TEXT, tool TEXT, started_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'finished', 'interrupted')),
    partial_json TEXT, summary_json TEXT, summary_msg_id TEXT, delivered INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(
    msg_id TEXT PRIMARY KEY, session_id TEXT, event_type TEXT, t_s REAL, payload_json TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id);
CREATE TABLE IF NOT EXISTS outbox(
    msg_id TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('event', 'session')),
    session_id TEXT, payload_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'inflight', 'awaiting_ack')),
    attempts INTEGER NOT NULL DEFAULT 0, next_try_s REAL NOT NULL DEFAULT 0, last_error TEXT,
    created_wall_s REAL NOT NULL, position INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_try_s);
CREATE TABLE IF NOT EXISTS commands_seen(cmd_id TEXT PRIMARY KEY, seen_wall_s REAL NOT NULL);
"""


def storage_problem(error: BaseException, path: Path | None = None) -> str:
    """"storage full" or "storage error (...)" when ``error`` is the disk's fault (the write
    may work later), else "" (a bug or a damaged file: retrying will not help)."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "storage full"
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(error, sqlite3.Error) or code is None:
        return ""
    if code & 0xFF == SQLITE_FULL:
        return "storage full"
    if code & 0xFF == SQLITE_IOERR:
        if path is not None and _free_bytes(path) < LOW_SPACE_BYTES:
            return "storage full"
        return f"storage error ({error})"
    return ""


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path if path.is_dir() else path.parent).free
    except OSError:
        return LOW_SPACE_BYTES


class JournalFile:
    """The SQLite file at ``path`` and its three connections (``open`` connects them).

    ``storage`` is "" while the disk takes writes, else why not ("storage full", ...): the
    writer thread sets it; ``link_write`` skips the link's writes meanwhile and reports a
    failing one to ``on_storage_failed(problem)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.ckpt_lock = threading.Lock()
        self.db: sqlite3.Connection | None = None
        self.relaxed: sqlite3.Connection | None = None
        self.ckpt: sqlite3.Connection | None = None
        self.storage = ""
        self.on_storage_failed: Callable[[str], None] = lambda problem: None
        self.replaced: Path | None = None  # where a damaged journal file was moved aside

    def open(self) -> None:
        """Connect and create the schema; a damaged file is moved aside first (or on the way)."""
        damage = self._damage()
        for attempt in (1, 2):
            if damage:
                self._set_aside(damage)
            try:
                self._open_connections()
                return
            except BaseException as e:
                self.close_connections()
                if not isinstance(e, sqlite3.DatabaseError):
                    raise
                code = getattr(e, "sqlite_errorcode", 0) & 0xFF
                if attempt == 2 or code not in (SQLITE_CORRUPT, SQLITE_NOTADB):
                    raise
                damage = f"is damaged ({e})"

    def _open_connections(self) -> None:
        # app writes: every commit reaches the disk before it returns
        self.db = self._connect("FULL", autocheckpoint_pages=0)
        # link-side bookkeeping (inflight, acked, ...): losing it on power loss only means a
        # re-send that the dashboard dedups, so no fsync per commit
        self.relaxed = self._connect("NORMAL", autocheckpoint_pages=10_000)
        self.ckpt = self._connect("NORMAL", autocheckpoint_pages=0)
        with self.tx() as db:
            for stmt in (s.strip() for s in SCHEMA.split(";")):
                if stmt:
                    db.execute(stmt)
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?), ('seq', '0'), "
                "('dropped_events', '0')",
                (str(SCHEMA_VERSION),),
            )

    def _connect(self, synchronous: str, autocheckpoint_pages: int) -> sqlite3.Connection:
        db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
            db.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint_pages}")
            db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        except BaseException:
            db.close()
            raise
        return db

    def close_connections(self) -> None:
        for name in ("db", "relaxed", "ckpt"):
            db = getattr(self, name)
            setattr(self, name, None)
            if db is not None:
                try:
                    db.close()
                except sqlite3.Error:
                    pass

    def _damage(self) -> str:
        """Why the journal file cannot be this journal ("" if it is fine or absent)."""
        try:
            size = self.path.stat().st_size
            if size == 0:
                return "is empty (0 bytes)"
            with self.path.open("rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except OSError:  # absent, or not a file at all: opening it says what is wrong
            return ""
        return "" if head == SQLITE_HEADER else "is not a SQLite database"

    def _set_aside(self, why: str) -> None:
        """Move the damaged journal (and its -wal, -shm) aside; never delete or overwrite."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        n = 1
        while any(Path(f"{base}{x}").exists() for x in ("", "-wal", "-shm")):
            base = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
            n += 1
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                os.rename(src, f"{base}{suffix}")
        self.replaced = base
        log.warning("journal %s %s: moved it aside to %s and started a new journal",
                    self.path, why, base.name)

    def tx(self, durable: bool = True) -> Tx:
        """A write transaction on the app's (durable) or the link's (relaxed) connection."""
        db = self.db if durable else self.relaxed
        if db is None:
            raise sqlite3.OperationalError(f"journal {self.path} is not open ({self.storage})")
        return Tx(db, self.lock)

    def read(self, fn: Callable[[sqlite3.Connection], Any], default: Any) -> Any:
        """``fn(db)`` under the lock on the app's connection; ``default`` when it is not open."""
        with self.lock:
            if self.db is None:
                return default
            return fn(self.db)

    def link_write(self, fn: Callable[[sqlite3.Connection], Any], failed: Any,
                   durable: bool = False) -> Any:
        """A write of the link's (bookkeeping, commands): ``failed`` instead of an exception
        when the storage fails (the state it keeps is only ever a re-send)."""
        if self.storage or self.db is None:
            return failed
        try:
            with self.tx(durable) as db:
                return fn(db)
        except sqlite3.Error as e:
            self.link_write_failed(e)
            return failed

    def link_write_failed(self, error: sqlite3.Error) -> None:
        problem = storage_problem(error, self.path)
        if not problem:
            raise error
        self.on_storage_failed(problem)

    def checkpoint(self) -> bool:
        """Checkpoint the WAL into the database without blocking writers; False if the
        storage failed (nothing checkpointed)."""
        if self.storage or self.ckpt is None:
            return False
        try:
            with self.ckpt_lock:
                self.ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as e:
            self.link_write_failed(e)
            return False
        return True

    def close(self) -> None:
        """Checkpoint (truncating the WAL) and close every connection."""
        with self.lock, self.ckpt_lock:
            try:
                if self.ckpt is not None:
                    self.ckpt.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self.close_connections()


class Tx:
    """``with file.tx() as db``: the lock plus BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                try:
                    self._db.execute("COMMIT")
                    return
                except sqlite3.Error:
                    self._rollback()  # a failed COMMIT (disk full) may leave the transaction open
                    raise
            self._rollback()
        finally:
            self._lock.release()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # already rolled back by SQLite
