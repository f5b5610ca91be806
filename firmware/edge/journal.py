"""The device journal: session state, events, summaries and the MQTT outbox in one SQLite file.

Nothing is lost on power loss: WAL + ``synchronous=FULL``, and every outbox row is written in
the same transaction as the state change that made it (an event with its session, a summary
with the session's ``finished`` state). The app loop never waits for the disk: its writes go to
a writer thread that commits them in order (group commit, one fsync per batch) a few ms later.
A power cut in between loses at most those ms; a session whose ``finished`` write was lost is
still ``running`` on disk and is recovered as interrupted with its last ``checkpoint``. Call
``flush()`` to wait for the disk; reads (``outbox``, ``due``, ``session``...) do so themselves.

The link thread reads and updates the outbox. One lock serialises all writes: the app's go
through a ``synchronous=FULL`` connection, the link's bookkeeping (inflight, acked) through a
``NORMAL`` one (losing such an update only causes a re-send, which the dashboard dedups); WAL
checkpoints run in the link thread (``maintain``), never inside an app write.

Outbox row states::

    pending ──publish──> inflight ──PUBACK ok──> (event: deleted)
                                              └─> awaiting_ack (session) ──dashboard ack──> deleted
    awaiting_ack ──resend due──> inflight;  PUBACK failed (>= 0x80) ──> pending (with backoff)

Bounds: telemetry is never journalled. Events are bounded by ``max_event_rows`` and
``max_event_age_s`` (the oldest undelivered events are dropped first and counted);
session summaries are never dropped.

A full disk (or one that fails writes) stops nothing: the writer keeps the writes it could not
commit in memory, in order (sessions and summaries all of them, the latest checkpoint per
session, events up to ``max_held_events``, oldest dropped first and counted), says so once
(one log line and ``on_storage`` listeners) and retries with backoff (``storage_retry_min_s``
doubling to ``storage_retry_max_s``) until the write lands; then it says so once more and
the link delivers. While storage fails the outbox hands out nothing (the link's bookkeeping
could not be kept) and the link's own writes are skipped, never raised. A journal that cannot
even be opened because the disk is full starts detached (everything held) and is opened by
the retry. A journal file that is empty (0 bytes) or not a database is moved aside to
``journal.db.damaged-<UTC time>`` (with its ``-wal``/``-shm``), never deleted, said in one log
line, and a new journal is started.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firmware.common.clock import Clock, MonotonicClock
from firmware.common.errors import SetupError
from firmware.common.wire import SUMMARY_FORMAT, dumps, envelope, utc_now_iso

log = logging.getLogger("rollsense.journal")
SCHEMA_VERSION = 1
DEFAULT_INTERRUPT_REASON = "device restarted while the session was running (power loss or crash)"
SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_FULL, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB = 13, 10, 11, 26
LOW_SPACE_BYTES = 64 * 1024  # an I/O error with less free space than this is a full disk

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


def new_msg_id() -> str:
    """A fresh message id (UUID4, 32 hex digits)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class OutboxRow:
    """One message waiting in the outbox."""

    msg_id: str
    kind: str  # "event" | "session"
    session_id: str | None
    payload: dict
    state: str
    attempts: int


@dataclass(frozen=True)
class JournalSettings:
    """Outbox bounds. Sessions are never dropped; events beyond these are (oldest first)."""

    max_event_rows: int = 20_000
    max_event_age_s: float = 7 * 24 * 3600.0
    max_commands_remembered: int = 5_000
    # storage full: events kept in memory until it is back (oldest dropped beyond this), and
    # how often to try again (doubling from min to max)
    max_held_events: int = 2_000
    storage_retry_min_s: float = 1.0
    storage_retry_max_s: float = 60.0


def default_interrupted_summary(row: dict, reason: str) -> dict:
    """What is known of an interrupted session: ids, start, duration so far, any checkpointed metrics."""
    partial = row.get("partial") or {}
    events_t_s = [e["t_s"] for e in row.get("events", []) if isinstance(e.get("t_s"), int | float)]
    duration_s = max([float(partial.get("duration_s") or 0.0), *events_t_s, 0.0])
    summary = {"format": SUMMARY_FORMAT, **partial}
    summary.update(
        session_id=row["session_id"],
        protocol=row["protocol"],
        tool=row["tool"],
        started_at=row["started_at"],
        duration_s=duration_s,
        completed=False,
        interrupted=reason,
    )
    return summary


class Journal:
    """The session journal and outbox at ``path`` (created if missing)."""

    def __init__(
        self,
        path: str | Path,
        settings: JournalSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``clock`` times the storage retries (monotonic seconds)."""
        self.path = Path(path)
        self.settings = settings or JournalSettings()
        self.clock = clock or MonotonicClock()
        self._lock = threading.RLock()
        self._ckpt_lock = threading.Lock()
        self._cond = threading.Condition()
        self._queue: list = []
        self._submitted = self._committed = 0
        self._closed = False
        self._finished: dict[str, str] = {}
        self._commit_listeners: list[Callable[[], None]] = []
        self._storage_listeners: list[Callable[[str], None]] = []
        self._db: sqlite3.Connection | None = None
        self._relaxed: sqlite3.Connection | None = None
        self._ckpt: sqlite3.Connection | None = None
        # storage full (or failing): the writes not on disk yet, in order, and when to retry
        self.storage = ""  # "" = writable, else "storage full" / "storage error (...)"
        self._held: list = []
        self._held_dropped = 0  # events dropped from memory since the last successful write
        self._retry_s = self.settings.storage_retry_min_s
        self._next_retry_s = 0.0
        self.replaced: Path | None = None  # where a damaged journal file was moved aside
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SetupError(f"cannot open journal {self.path}: {e}") from e
        try:
            self._open()
        except (sqlite3.Error, OSError) as e:
            problem = storage_problem(e, self.path)
            if not problem:
                raise SetupError(f"cannot open journal {self.path}: {e}") from e
            self._close_connections()  # detached: writes are held until the disk takes them
            self._storage_failed(problem)
        self._writer = threading.Thread(
            target=self._writer_loop, name="journal-writer", daemon=True
        )
        self._writer.start()

    def _open(self) -> None:
        """Connect and create the schema; a damaged file is moved aside first (or on the way)."""
        damage = self._damage()
        for attempt in (1, 2):
            if damage:
                self._set_aside(damage)
            try:
                self._open_connections()
                return
            except BaseException as e:
                self._close_connections()
                if not isinstance(e, sqlite3.DatabaseError):
                    raise
                code = getattr(e, "sqlite_errorcode", 0) & 0xFF
                if attempt == 2 or code not in (SQLITE_CORRUPT, SQLITE_NOTADB):
                    raise
                damage = f"is damaged ({e})"

    def _open_connections(self) -> None:
        # app writes: every commit reaches the disk before it returns
        self._db = self._connect("FULL", autocheckpoint_pages=0)
        # link-side bookkeeping (inflight, acked, ...): losing it on power loss only means a
        # re-send that the dashboard dedups, so no fsync per commit
        self._relaxed = self._connect("NORMAL", autocheckpoint_pages=10_000)
        self._ckpt = self._connect("NORMAL", autocheckpoint_pages=0)
        with self._tx() as db:
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
        except BaseException:
            db.close()
            raise
        return db

    def _close_connections(self) -> None:
        for name in ("_db", "_relaxed", "_ckpt"):
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

    def maintain(self) -> None:
        """Checkpoint the WAL into the database without blocking writers (the link calls this
        every few seconds from its own thread, so app writes never pay for a checkpoint)."""
        if self.storage or self._ckpt is None:
            return
        try:
            with self._ckpt_lock:
                self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as e:
            self._link_write_failed(e)
            return
        self.prune_events()

    def prune_events(self, now_wall_s: float | None = None) -> int:
        """Forget journalled events older than ``max_event_age_s`` that are delivered and whose
        session is no longer running; returns how many were removed."""
        cutoff = datetime.fromtimestamp(
            (now_wall_s if now_wall_s is not None else time.time()) - self.settings.max_event_age_s,
            UTC,
        )
        cutoff_iso = cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self._link_write(
            lambda db: db.execute(
                "DELETE FROM events WHERE created_at < ? AND msg_id NOT IN (SELECT msg_id FROM outbox) "
                "AND (session_id IS NULL OR session_id NOT IN "
                "(SELECT session_id FROM sessions WHERE state = 'running'))",
                (cutoff_iso,),
            ).rowcount,
            0,
        )

    # -- plumbing ------------------------------------------------------------------------------
    def _tx(self, durable: bool = True) -> _Tx:
        db = self._db if durable else self._relaxed
        if db is None:
            raise sqlite3.OperationalError(f"journal {self.path} is not open ({self.storage})")
        return _Tx(db, self._lock)

    def _link_write(self, fn: Callable[[sqlite3.Connection], Any], failed: Any, durable: bool = False) -> Any:
        """A write of the link's (bookkeeping, commands): ``failed`` instead of an exception
        when the storage fails (the state it keeps is only ever a re-send)."""
        if self.storage or self._db is None:
            return failed
        try:
            with self._tx(durable) as db:
                return fn(db)
        except sqlite3.Error as e:
            self._link_write_failed(e)
            return failed

    def _link_write_failed(self, error: sqlite3.Error) -> None:
        problem = storage_problem(error, self.path)
        if not problem:
            raise error
        self._storage_failed(problem)
        with self._cond:
            self._cond.notify_all()  # the writer probes the disk from now on

    def _next_seq(self, db: sqlite3.Connection) -> int:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'seq'")
        return int(db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])

    def _position(self, db: sqlite3.Connection) -> int:
        row = db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM outbox").fetchone()
        return int(row[0])

    def _stamp(self, db: sqlite3.Connection, payload: dict, msg_id: str, ts: str) -> dict:
        return {**envelope(payload, self._next_seq(db), ts), "msg_id": msg_id}

    def _enqueue(
        self, db: sqlite3.Connection, msg_id: str, kind: str, session_id: str | None, payload: dict
    ) -> None:
        db.execute(
            "INSERT INTO outbox(msg_id, kind, session_id, payload_json, state, created_wall_s, position) "
            "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
            (msg_id, kind, session_id, dumps(payload), time.time(), self._position(db)),
        )

    # -- the writer thread -----------------------------------------------------------------------
    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue one write (run by the writer thread in a durable transaction)."""
        with self._cond:
            if self._closed:
                raise SetupError(f"journal {self.path} is closed")
            self._submitted += 1
            self._queue.append((fn, args))
            self._cond.notify_all()

    def _writer_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._queue and not self._retry_due():
                    self._cond.wait(self._retry_wait_s())
                if self._closed and not self._queue and not self._held:
                    return
                batch, self._queue = self._queue, []
                closing = self._closed
            if self.storage and not self._retry_due() and not closing:
                self._hold(batch)  # behind what is already held: order is kept
                wrote = False
            else:
                wrote = self._write([*self._take_held(), *batch])
            with self._cond:
                self._committed += len(batch)
                self._cond.notify_all()
            if wrote:
                for fn in list(self._commit_listeners):
                    try:
                        fn()
                    except Exception:
                        log.exception("journal commit listener failed")
            if closing and self._held:
                self._give_up_held()
                return

    def _retry_due(self) -> bool:
        return bool(self.storage) and self.clock.now_s() >= self._next_retry_s

    def _retry_wait_s(self) -> float | None:
        """How long the writer may sleep: until the next storage retry (None: until woken)."""
        if not self.storage:
            return None
        # a real-time cap, so an injected clock that jumps ahead is noticed soon
        return min(max(0.0, self._next_retry_s - self.clock.now_s()), 0.5)

    def _write(self, items: list) -> bool:
        """Commit ``items`` (group commit; item by item if a bad one fails the group). On a
        storage failure the rest is held for a retry. True if anything reached the disk."""
        if not items:
            if not self.storage:
                return False
            items = [(self._w_probe, ())]  # only the link's writes failed: is the disk back?
        try:
            if self._db is None:
                with self._lock:  # readers see no connection or a whole one
                    self._open()
            with self._tx() as db:
                for fn, args in items:
                    fn(db, *args)
        except Exception as e:
            problem = storage_problem(e, self.path)
            if not problem and self._db is None:  # could not open it again: keep trying
                problem = f"storage error ({e})"
            if problem:
                self._hold(items)
                self._storage_failed(problem)
                return False
        else:
            self._storage_back()
            return True
        wrote = False
        for i, (fn, args) in enumerate(items):
            try:
                with self._tx() as db:
                    fn(db, *args)
                wrote = True
            except Exception as e:
                problem = storage_problem(e, self.path)
                if problem:
                    self._hold(items[i:])
                    self._storage_failed(problem)
                    return wrote
                log.error("journal write %s failed: %s", fn.__name__, e)
        self._storage_back()
        return wrote

    def _take_held(self) -> list:
        held, self._held = self._held, []
        if self._held_dropped:
            held.insert(0, (self._w_dropped, (self._held_dropped,)))
            self._held_dropped = 0
        return held

    def _hold(self, items: list) -> None:
        """Keep writes in memory: every session write, the latest checkpoint per session,
        events up to ``max_held_events`` (the oldest are dropped and counted)."""
        for fn, args in items:
            if fn.__name__ == "_w_probe":
                continue
            if fn.__name__ == "_w_checkpoint":
                self._held = [h for h in self._held
                              if not (h[0].__name__ == "_w_checkpoint" and h[1][0] == args[0])]
            self._held.append((fn, args))
        events = [i for i, h in enumerate(self._held) if h[0].__name__ == "_w_event"]
        excess = len(events) - self.settings.max_held_events
        if excess > 0:
            drop = set(events[:excess])
            self._held = [h for i, h in enumerate(self._held) if i not in drop]
            self._held_dropped += excess

    def _storage_failed(self, problem: str) -> None:
        """Said once per outage; the retry interval doubles at every failed attempt."""
        with self._cond:
            first = not self.storage
            self.storage = problem
            if first:
                self._retry_s = self.settings.storage_retry_min_s
            else:
                self._retry_s = min(self._retry_s * 2, self.settings.storage_retry_max_s)
            self._next_retry_s = self.clock.now_s() + self._retry_s
        if first:
            log.warning("journal %s: %s; coaching goes on, the session is kept in memory and "
                        "written when there is space again (retrying every %g-%g s)", self.path,
                        problem, self.settings.storage_retry_min_s,
                        self.settings.storage_retry_max_s)
            self._tell_storage(problem)

    def _storage_back(self) -> None:
        with self._cond:
            was, self.storage = self.storage, ""
        if was:
            # what the link sent meanwhile may not be marked: send it again (the dashboard dedups)
            self.reset_inflight()
            log.warning("journal %s: writable again; what was kept in memory is written", self.path)
            self._tell_storage("")

    def _tell_storage(self, problem: str) -> None:
        for fn in list(self._storage_listeners):
            try:
                fn(problem)
            except Exception:
                log.exception("journal storage listener failed")

    def _give_up_held(self) -> None:
        """Closing while the storage fails: say once what did not reach the disk."""
        started = {args[0] for fn, args in self._held if fn.__name__ == "_w_start"}
        closed = {args[0] for fn, args in self._held if fn.__name__ == "_w_close"}
        lost, later = closed & started, closed - started
        log.error("journal %s: closing with %d write(s) not on disk (%s): %d finished session(s) "
                  "will be recovered as interrupted at the next start, %d never reached the "
                  "disk", self.path, len(self._held), self.storage, len(later), len(lost))
        self._held = []

    def add_storage_listener(self, fn: Callable[[str], None]) -> None:
        """``fn(problem)`` when the storage fails ("storage full", ...) and ``fn("")`` when it is
        writable again; once per change, from whichever thread noticed."""
        self._storage_listeners.append(fn)

    def _w_probe(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = value WHERE key = 'schema'")

    def _w_dropped(self, db: sqlite3.Connection, n: int) -> None:
        db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'dropped_events'", (n,)
        )

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every write queued so far is on disk; False on timeout, or at once when
        the storage fails and writes are held in memory (``storage`` says why)."""
        if threading.current_thread() is self._writer:  # a commit listener reading: already written
            return True
        with self._cond:
            target = self._submitted
            done = self._cond.wait_for(lambda: self._committed >= target, timeout_s)
            return done and not self._held

    def add_commit_listener(self, fn: Callable[[], None]) -> None:
        """``fn()`` runs in the writer thread after each commit (the link wakes its outbox worker)."""
        self._commit_listeners.append(fn)

    # -- sessions (app loop): queued, never wait for the disk ------------------------------------
    def start_session(self, session_id: str, protocol: str, tool: str, started_at_iso: str) -> None:
        """Record a running session (ignored if the id is already known)."""
        self._submit(self._w_start, session_id, protocol, tool, started_at_iso, utc_now_iso())

    def checkpoint(self, session_id: str, partial_summary: dict) -> None:
        """Keep the metrics so far (e.g. ``MetricsEngine.summary()``) for recovery after power loss."""
        self._submit(self._w_checkpoint, session_id, dumps(partial_summary), utc_now_iso())

    def record_event(self, session_id: str | None, event_payload: dict) -> str:
        """Journal an event and queue it for the link (one transaction); returns its msg_id at once."""
        msg_id = new_msg_id()
        self._submit(self._w_event, msg_id, session_id, dict(event_payload), utc_now_iso())
        return msg_id

    def finish_session(self, session_id: str, summary: dict) -> str:
        """Mark the session finished and queue its summary (one transaction); returns the msg_id.

        Finishing a session twice queues nothing the second time (same msg_id returned while
        the process lives; after a restart the journal still refuses the second summary).
        """
        with self._cond:
            known = self._finished.get(session_id)
            if known is None:
                known = self._finished[session_id] = new_msg_id()
                self._submit(
                    self._w_close, session_id, dict(summary), "finished", known, utc_now_iso()
                )
        return known

    def _w_start(
        self, db: sqlite3.Connection, sid: str, protocol: str, tool: str, started: str, ts: str
    ) -> None:
        db.execute(
            "INSERT OR IGNORE INTO sessions(session_id, protocol, tool, started_at, state, updated_at) "
            "VALUES (?, ?, ?, ?, 'running', ?)",
            (sid, protocol, tool, started, ts),
        )

    def _w_checkpoint(self, db: sqlite3.Connection, sid: str, partial_json: str, ts: str) -> None:
        db.execute(
            "UPDATE sessions SET partial_json = ?, updated_at = ? WHERE session_id = ? AND state = 'running'",
            (partial_json, ts, sid),
        )

    def _w_event(
        self, db: sqlite3.Connection, msg_id: str, sid: str | None, data: dict, ts: str
    ) -> None:
        payload = self._stamp(db, {"session_id": sid, **data}, msg_id, ts)
        t_s = payload.get("t_s")
        t_s = float(t_s) if isinstance(t_s, int | float) and not isinstance(t_s, bool) else None
        db.execute(
            "INSERT INTO events(msg_id, session_id, event_type, t_s, payload_json, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (msg_id, sid, payload.get("event_type"), t_s, dumps(payload), ts),
        )
        self._enqueue(db, msg_id, "event", sid, payload)
        self._bound_events(db)

    def _w_close(
        self, db: sqlite3.Connection, sid: str, summary: dict, state: str, msg_id: str, ts: str
    ) -> None:
        row = db.execute(
            "SELECT state, started_at FROM sessions WHERE session_id = ?", (sid,)
        ).fetchone()
        if row and row[0] != "running":
            return
        started_at = summary.get("started_at") or (row[1] if row else ts)
        payload = self._stamp(
            db, {**summary, "session_id": sid, "started_at": started_at}, msg_id, ts
        )
        if row is None:
            self._w_start(db, sid, summary.get("protocol"), summary.get("tool"), started_at, ts)
        db.execute(
            "UPDATE sessions SET state = ?, summary_json = ?, summary_msg_id = ?, updated_at = ? "
            "WHERE session_id = ?",
            (state, dumps(payload), msg_id, ts, sid),
        )
        self._enqueue(db, msg_id, "session", sid, payload)

    def recover_interrupted(
        self,
        reason: str = DEFAULT_INTERRUPT_REASON,
        build_summary: Callable[[dict, str], dict] | None = None,
    ) -> list[str]:
        """Mark every still-running session interrupted and queue its partial summary.

        ``build_summary(row, reason) -> dict`` may build a richer summary; ``row`` has
        session_id, protocol, tool, started_at, partial (checkpointed dict or None) and events
        (their payloads). The result always gets ``completed: false`` and ``interrupted``.
        Call at start-up, before new sessions start (writes stay in order, so a recovery held
        on a full disk still runs before them). Returns the recovered session ids; on a full
        disk the recovery is held like any write (done when there is space again) and this
        returns [] at once.
        """
        recovered: list[str] = []
        self._submit(self._w_recover, reason, build_summary or default_interrupted_summary,
                     recovered)
        self.flush()
        return list(recovered) if not self._held else []

    def _w_recover(
        self, db: sqlite3.Connection, reason: str, build: Callable[[dict, str], dict],
        recovered: list[str],
    ) -> None:
        recovered.clear()  # a retried attempt starts over
        for row in self._running_sessions():
            sid = row["session_id"]
            try:
                summary = build(row, reason)
            except Exception as e:  # a broken builder must not lose the session
                summary = default_interrupted_summary(
                    row, f"{reason} (summary builder failed: {e})"
                )
            summary.update(completed=False, interrupted=summary.get("interrupted") or reason)
            with self._cond:
                msg_id = self._finished.setdefault(sid, new_msg_id())
            self._w_close(db, sid, summary, "interrupted", msg_id, utc_now_iso())
            recovered.append(sid)

    def _running_sessions(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT session_id, protocol, tool, started_at, partial_json FROM sessions WHERE state = 'running'"
            ).fetchall()
            out = []
            for sid, protocol, tool, started_at, partial in rows:
                events = [
                    json.loads(p)
                    for (p,) in self._db.execute(
                        "SELECT payload_json FROM events WHERE session_id = ? ORDER BY created_at",
                        (sid,),
                    )
                ]
                out.append(
                    {
                        "session_id": sid,
                        "protocol": protocol,
                        "tool": tool,
                        "started_at": started_at,
                        "partial": json.loads(partial) if partial else None,
                        "events": events,
                    }
                )
            return out

    def session(self, session_id: str) -> dict | None:
        """The journal's row for a session (state, delivered, summary) or None."""
        self.flush()
        with self._lock:
            if self._db is None:
                return None
            row = self._db.execute(
                "SELECT session_id, protocol, tool, started_at, state, summary_json, delivered "
                "FROM sessions WHERE session_id = ?",
                (session_id,),
            ).fetchone()
        if row is None:
            return None
        keys = ("session_id", "protocol", "tool", "started_at", "state", "summary", "delivered")
        out = dict(zip(keys, row, strict=True))
        out["summary"] = json.loads(out["summary"]) if out["summary"] else None
        out["delivered"] = bool(out["delivered"])
        return out

    def sessions(self) -> list[dict]:
        """Every session the journal knows, oldest first."""
        with self._lock:
            if self._db is None:
                return []
            ids = [
                r[0]
                for r in self._db.execute("SELECT session_id FROM sessions ORDER BY started_at")
            ]
        return [s for s in (self.session(i) for i in ids) if s]

    # -- outbox (link thread) --------------------------------------------------------------------
    def reset_inflight(self) -> int:
        """At link start: messages a previous process had in flight go back to pending."""
        return self._link_write(
            lambda db: db.execute(
                "UPDATE outbox SET state = 'pending', next_try_s = 0 WHERE state = 'inflight'"
            ).rowcount,
            0,
        )

    def resend_awaiting_now(self) -> int:
        """After a (re)connect: summaries still waiting for the dashboard's ack are due at once."""
        return self._link_write(
            lambda db: db.execute(
                "UPDATE outbox SET next_try_s = 0 WHERE state = 'awaiting_ack'"
            ).rowcount,
            0,
        )

    def due(self, now_s: float, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` rows to publish now (pending or awaiting_ack past their retry time),
        oldest first; none while the storage fails (their bookkeeping could not be kept)."""
        self.flush()
        if limit <= 0 or self.storage:
            return []
        with self._lock:
            if self._db is None:
                return []
            rows = self._db.execute(
                "SELECT msg_id, kind, session_id, payload_json, state, attempts FROM outbox "
                "WHERE state IN ('pending', 'awaiting_ack') AND next_try_s <= ? ORDER BY position LIMIT ?",
                (now_s, limit),
            ).fetchall()
        return [OutboxRow(m, k, s, json.loads(p), st, a) for m, k, s, p, st, a in rows]

    def next_due_s(self) -> float | None:
        """The earliest retry time of any waiting row (None if nothing waits or can be sent)."""
        self.flush()
        with self._lock:
            if self.storage or self._db is None:
                return None
            row = self._db.execute(
                "SELECT MIN(next_try_s) FROM outbox WHERE state IN ('pending', 'awaiting_ack')"
            ).fetchone()
        return row[0]

    def mark_inflight(self, msg_id: str) -> None:
        """The link handed the row to the MQTT client."""
        self._link_write(
            lambda db: db.execute(
                "UPDATE outbox SET state = 'inflight', attempts = attempts + 1 WHERE msg_id = ?",
                (msg_id,),
            ),
            None,
        )

    def attempts(self, msg_id: str) -> int:
        """How often the row was handed to the MQTT client (0 if unknown)."""
        with self._lock:
            if self._db is None:
                return 0
            row = self._db.execute(
                "SELECT attempts FROM outbox WHERE msg_id = ?", (msg_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def published(self, msg_id: str, resend_at_s: float) -> None:
        """PUBACK ok: an event is done (deleted); a summary waits for the dashboard's ack until ``resend_at_s``."""

        def write(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM outbox WHERE msg_id = ? AND kind = 'event'", (msg_id,))
            db.execute(
                "UPDATE outbox SET state = 'awaiting_ack', next_try_s = ?, last_error = NULL "
                "WHERE msg_id = ? AND kind = 'session'",
                (resend_at_s, msg_id),
            )

        self._link_write(write, None)

    def publish_failed(self, msg_id: str, error: str, retry_at_s: float) -> None:
        """PUBACK >= 0x80 or a client error: back to pending, retried at ``retry_at_s``."""
        self._link_write(
            lambda db: db.execute(
                "UPDATE outbox SET state = 'pending', next_try_s = ?, last_error = ? WHERE msg_id = ?",
                (retry_at_s, error[:500], msg_id),
            ),
            None,
        )

    def ack_session(self, session_id: str) -> bool:
        """The dashboard stored the summary: drop it from the outbox. True if it was waiting
        (False too while the storage fails: the dashboard acks the re-send later)."""

        def write(db: sqlite3.Connection) -> bool:
            n = db.execute(
                "DELETE FROM outbox WHERE kind = 'session' AND session_id = ?", (session_id,)
            ).rowcount
            db.execute("UPDATE sessions SET delivered = 1 WHERE session_id = ?", (session_id,))
            return n > 0

        return self._link_write(write, False)

    def outbox(self) -> list[OutboxRow]:
        """Every row in the outbox, oldest first (for status displays and tests)."""
        self.flush()
        with self._lock:
            if self._db is None:
                return []
            rows = self._db.execute(
                "SELECT msg_id, kind, session_id, payload_json, state, attempts FROM outbox ORDER BY position"
            ).fetchall()
        return [OutboxRow(m, k, s, json.loads(p), st, a) for m, k, s, p, st, a in rows]

    def outbox_counts(self) -> dict[str, int]:
        """Rows per state plus ``dropped_events`` (ever dropped by the bounds) and ``held``
        (messages kept in memory while the storage fails; counted in ``pending`` too)."""
        self.flush()
        held = sum(1 for fn, _ in list(self._held) if fn.__name__ in ("_w_event", "_w_close"))
        counts = {"pending": held, "inflight": 0, "awaiting_ack": 0, "dropped_events": 0,
                  "held": held}
        with self._lock:
            if self._db is None:
                return counts
            for state, n in self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
                counts[state] += n
            dropped = self._db.execute(
                "SELECT value FROM meta WHERE key = 'dropped_events'"
            ).fetchone()[0]
        counts["dropped_events"] = int(dropped) + self._held_dropped
        return counts

    def _bound_events(self, db: sqlite3.Connection) -> None:
        s = self.settings
        n = db.execute(
            "DELETE FROM outbox WHERE kind = 'event' AND state = 'pending' AND created_wall_s < ?",
            (time.time() - s.max_event_age_s,),
        ).rowcount
        excess = (
            db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'event'").fetchone()[0]
            - s.max_event_rows
        )
        if excess > 0:
            n += db.execute(
                "DELETE FROM outbox WHERE msg_id IN (SELECT msg_id FROM outbox WHERE kind = 'event' "
                "AND state = 'pending' ORDER BY position LIMIT ?)",
                (excess,),
            ).rowcount
        if n:
            db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'dropped_events'",
                (n,),
            )

    # -- commands (link thread) ------------------------------------------------------------------
    def remember_command(self, cmd_id: str) -> bool:
        """Remember a command id; False if it was seen before (a duplicate). While the storage
        fails nothing is remembered and every command counts as new."""

        def write(db: sqlite3.Connection) -> bool:
            new = (
                db.execute(
                    "INSERT OR IGNORE INTO commands_seen(cmd_id, seen_wall_s) VALUES (?, ?)",
                    (cmd_id, time.time()),
                ).rowcount
                == 1
            )
            if new:
                db.execute(
                    "DELETE FROM commands_seen WHERE cmd_id IN (SELECT cmd_id FROM commands_seen "
                    "ORDER BY seen_wall_s DESC LIMIT -1 OFFSET ?)",
                    (self.settings.max_commands_remembered,),
                )
            return new

        return self._link_write(write, True, durable=True)

    def close(self) -> None:
        """Write what is queued, stop the writer, checkpoint and close."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._writer.join()
        with self._lock, self._ckpt_lock:
            try:
                if self._ckpt is not None:
                    self._ckpt.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._close_connections()


class _Tx:
    """``with journal._tx() as db``: the lock plus BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""

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
