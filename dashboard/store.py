"""The dashboard store: sessions, events, telemetry, devices and people in SQLite (WAL) or
PostgreSQL.

One small class for both back ends. SQL uses ``?`` placeholders everywhere; for PostgreSQL
they are translated to ``%s``. Writes are idempotent where the delivery promise needs it:
a session is stored once per ``session_id``, an event once per ``msg_id``.

Issue 22: a session's who / which side / programme step / soreness are columns of
``sessions`` (``SESSION_TAG_COLUMNS``), added to a store made by an older version when it is
opened (``ALTER TABLE ... ADD COLUMN`` where missing), and the household's people are the
``people`` table (``add_person``, ``update_person``, ``people``, ``person``).

Issue 24: telemetry carries ``received_at`` (the store's ``clock``), is partitioned by week on
PostgreSQL and dropped by age (``drop_telemetry_before``): dashboard/telemetry_table.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dashboard import telemetry_table
from firmware.common.errors import ConfigError, SetupError
from firmware.common.wire import finite_or_none, utc_iso, utc_now_iso
from firmware.core.commands import PERSON_ID_RE, PROGRAM_RE, SIDES, SORENESS_MAX, person_problem

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices(device_id TEXT PRIMARY KEY, name TEXT, paired INTEGER NOT NULL DEFAULT 0,
    status TEXT, info_json TEXT, last_seen TEXT);
CREATE TABLE IF NOT EXISTS sessions(session_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, protocol TEXT,
    tool TEXT, started_at TEXT, duration_s REAL, passes INTEGER, completed INTEGER,
    summary_json TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(msg_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, session_id TEXT, ts TEXT,
    event_type TEXT, payload_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine(device_id TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,
    topic TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, times INTEGER NOT NULL,
    size INTEGER, payload TEXT, PRIMARY KEY(device_id, kind, reason));
CREATE TABLE IF NOT EXISTS users(username TEXT PRIMARY KEY, password_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people(id TEXT PRIMARY KEY, name TEXT NOT NULL, body_mass_kg REAL,
    units TEXT NOT NULL, created_at TEXT NOT NULL);
"""
# run after the sessions columns are there (an old store gets them first: _migrate)
INDEXES = """
CREATE INDEX IF NOT EXISTS sessions_device_started ON sessions(device_id, started_at);
CREATE INDEX IF NOT EXISTS sessions_person_started ON sessions(person_id, started_at);
CREATE INDEX IF NOT EXISTS telemetry_session_t ON telemetry(session_id, t_s);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id);
"""


# issue 22: the sessions columns a store made before it lacks (name, type), added when opened
SESSION_TAG_COLUMNS = (
    ("person_id", "TEXT"), ("side", "TEXT"), ("program_id", "TEXT"), ("program_step", "INTEGER"),
    ("soreness_before", "INTEGER"), ("soreness_after", "INTEGER"),
)
# issue 23: the summary's spots (JSON), kept apart so the map reads it without the summaries
SESSION_ADDED_COLUMNS = (("spots_json", "TEXT"),)
PERSON_COLUMNS = "id, name, body_mass_kg, units, created_at"

CONFLICT_TRIES = 5  # a transaction PostgreSQL aborted to break a deadlock is tried this often


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, default=str)


def _text(value: Any) -> str | None:
    """A string a TEXT column can hold (PostgreSQL refuses NUL), else None."""
    return value if isinstance(value, str) and "\x00" not in value else None



_TOUCH_DEVICE = (
    "INSERT INTO devices(device_id, last_seen) VALUES (?, ?) "
    "ON CONFLICT(device_id) DO UPDATE SET last_seen = excluded.last_seen"
)


def _int4(value: Any) -> int | None:
    """An int an INTEGER column holds on both back ends (PostgreSQL's is 32-bit), else None."""
    ok = isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
    return value if ok else None


def _matching(value: Any, regex: re.Pattern) -> str | None:
    return value if isinstance(value, str) and regex.fullmatch(value) else None


def _rating(value: Any) -> int | None:
    """A 0-10 soreness rating, else None."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= SORENESS_MAX
    return value if ok else None


def session_tags(summary: dict) -> tuple:
    """The summary's issue 22 fields as the sessions columns hold them (``SESSION_TAG_COLUMNS``
    order): what is missing or not of its kind is NULL (an old device's summary: all NULL)."""
    soreness = summary.get("soreness") if isinstance(summary.get("soreness"), dict) else {}
    step = _int4(summary.get("program_step"))
    return (
        _matching(summary.get("person_id"), PERSON_ID_RE),
        summary.get("side") if summary.get("side") in SIDES else None,
        _matching(summary.get("program_id"), PROGRAM_RE),
        step if step is not None and step >= 0 else None,
        _rating(soreness.get("before")),
        _rating(soreness.get("after")),
    )


def _session_row(device_id: str, summary: dict, now: str) -> tuple[str, tuple]:
    """The summary as sent is kept whole in summary_json; the columns take what fits them
    (a non-text or NUL-holding field stores NULL, so one odd summary cannot fail a batch)."""
    return (
        "INSERT INTO sessions(session_id, device_id, protocol, tool, started_at, duration_s, passes, "
        "completed, summary_json, received_at, person_id, side, program_id, program_step, "
        "soreness_before, soreness_after, spots_json) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(session_id) DO NOTHING",
        (
            str(summary["session_id"]),
            device_id,
            _text(summary.get("protocol")),
            _text(summary.get("tool")),
            _text(summary.get("started_at")),
            finite_or_none(summary.get("duration_s")),
            _int4(summary.get("passes")),
            None if summary.get("completed") is None else int(bool(summary.get("completed"))),
            _dumps(summary),
            now,
            *session_tags(summary),
            _dumps(summary["spots"]) if isinstance(summary.get("spots"), dict) else None,
        ),
    )


def _event_row(device_id: str, payload: dict, _now: str) -> tuple[str, tuple]:
    return (
        "INSERT INTO events(msg_id, device_id, session_id, ts, event_type, payload_json) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(msg_id) DO NOTHING",
        (
            str(payload["msg_id"]),
            device_id,
            _text(payload.get("session_id")),
            _text(payload.get("ts")),
            _text(payload.get("event_type")),
            _dumps(payload),
        ),
    )


def _status_row(device_id: str, payload: dict, now: str) -> tuple[str, tuple]:
    return (
        "INSERT INTO devices(device_id, status, last_seen) VALUES (?, ?, ?) "
        "ON CONFLICT(device_id) DO UPDATE SET status = excluded.status, last_seen = excluded.last_seen",
        (device_id, str(payload["status"]), now),
    )


def _info_row(device_id: str, info: dict, now: str) -> tuple[str, tuple]:
    return (
        "INSERT INTO devices(device_id, info_json, last_seen) VALUES (?, ?, ?) "
        "ON CONFLICT(device_id) DO UPDATE SET info_json = excluded.info_json, last_seen = excluded.last_seen",
        (device_id, _dumps(info), now),
    )


def _paired_row(device_id: str, payload: dict, _now: str) -> tuple[str, tuple]:
    return (
        "INSERT INTO devices(device_id, paired) VALUES (?, ?) "
        "ON CONFLICT(device_id) DO UPDATE SET paired = excluded.paired",
        (device_id, int(bool(payload.get("paired", True)))),
    )


def _quarantine_row(device_id: str, record: dict, now: str) -> tuple[str, tuple]:
    """Messages that failed their schema (dashboard/ingest.py): one row per (device, kind,
    reason), counted (``times`` of them in this record), with the last one's topic and
    bounded copy."""
    def clean(text: Any, limit: int) -> str:
        return str(text)[:limit].replace("\x00", "\ufffd")

    return (
        "INSERT INTO quarantine(device_id, kind, reason, topic, first_seen, last_seen, times, size, "
        "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_id, kind, reason) DO UPDATE "
        "SET times = quarantine.times + excluded.times, last_seen = excluded.last_seen, "
        "topic = excluded.topic, size = excluded.size, payload = excluded.payload",
        (device_id, clean(record["kind"], 16), clean(record["reason"], 200),
         clean(record["topic"], 200), now, now, _int4(record.get("times", 1)) or 1,
         _int4(record.get("size")),
         clean(record.get("payload", ""), 4096)),
    )


# save_many's kinds: sessions and events are stored once (the bool says whether it was new);
# the device rows are updated every time
_ROWS = {"session": _session_row, "event": _event_row, "status": _status_row,
         "info": _info_row, "paired": _paired_row, "quarantine": _quarantine_row}
_ONCE = ("session", "event")


class Store:
    """The store behind ``open_store``. Thread-safe: one lock around one connection."""

    def __init__(self, kind: str, conn: Any, reconnect: Callable[[], Any] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.kind = kind  # "sqlite" | "postgresql"
        self._conn = conn
        self._reconnect = reconnect
        self._lock = threading.RLock()
        self.clock = clock  # wall-clock seconds: telemetry's received_at (telemetry_table)
        self.partitions = telemetry_table.Partitions()
        self._create_schema()

    # -- generic SQL ---------------------------------------------------------------------------
    def _sql(self, sql: str, has_params: bool) -> str:
        if self.kind == "postgresql" and has_params:
            return sql.replace("%", "%%").replace("?", "%s")
        return sql

    @contextlib.contextmanager
    def _transaction(self):
        """A cursor whose work is committed on success and rolled back on any error."""
        cur = self._conn.cursor()
        try:
            yield cur
            self._conn.commit()
        except Exception:
            self._rollback()
            raise
        finally:
            cur.close()

    def _once(self, sql: str, params: tuple, fetch: bool) -> tuple[list[dict], int]:
        with self._transaction() as cur:
            if self.kind == "postgresql":
                cur.execute(self._sql(sql, bool(params)), params or None)
            else:
                cur.execute(sql, params)
            rows: list[dict] = []
            if fetch and cur.description:
                cols = [d[0] for d in cur.description]
                rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            return rows, cur.rowcount

    def _rollback(self) -> None:
        try:
            self._conn.rollback()
        except Exception:  # a broken connection cannot roll back; _call reconnects
            pass

    def _broken(self) -> bool:
        return self.kind == "postgresql" and bool(getattr(self._conn, "closed", False))

    def _retrying(self, work: Callable[[], Any]) -> Any:
        """``work()`` under the lock in its own transaction. A transaction PostgreSQL chose
        to abort (a deadlock with another writer: two ingest workers updating the same
        device rows in other orders) is tried again, up to ``CONFLICT_TRIES`` times; a
        dropped connection is reopened once and the work tried again."""
        with self._lock:
            if self._broken() and self._reconnect:
                self._conn = self._reconnect()
            for attempt in range(1, CONFLICT_TRIES + 1):
                try:
                    return work()
                except Exception as e:
                    if attempt < CONFLICT_TRIES and self._lost_race(e):
                        time.sleep(0.01 * attempt)
                        continue
                    if not (self._broken() and self._reconnect):
                        raise
                    break
            self._conn = self._reconnect()
            return work()

    def _lost_race(self, error: Exception) -> bool:
        if self.kind != "postgresql":
            return False
        e = _psycopg().errors  # SQLSTATE class 40 (its subclasses do not derive from one class)
        return isinstance(error, e.DeadlockDetected | e.SerializationFailure | e.TransactionRollback)

    def _call(self, sql: str, params: tuple | list, fetch: bool) -> tuple[list[dict], int]:
        """One statement in its own transaction (see _retrying)."""
        return self._retrying(lambda: self._once(sql, tuple(params), fetch))

    def query(self, sql: str, params: tuple | list = ()) -> list[dict]:
        """Run a SELECT with ``?`` placeholders; rows as dicts."""
        return self._call(sql, params, fetch=True)[0]

    def execute(self, sql: str, params: tuple | list = ()) -> int:
        """Run one writing statement with ``?`` placeholders in its own transaction; rows affected."""
        return self._call(sql, params, fetch=False)[1]

    def execute_many(self, sql: str, rows: list[tuple]) -> None:
        """Run one writing statement for every row, all in one transaction."""
        if not rows:
            return
        with self._lock:
            if self._broken() and self._reconnect:
                self._conn = self._reconnect()
            with self._transaction() as cur:
                cur.executemany(self._sql(sql, True), rows)

    def now(self) -> datetime:
        """The store's clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), UTC)

    def _create_schema(self) -> None:
        for stmt in (s.strip() for s in SCHEMA.split(";")):
            if stmt:
                self.execute(stmt)
        self._migrate()
        if self.kind == "postgresql":  # partitioned by week (dashboard/telemetry_table.py)
            telemetry_table.create_pg(self, self.now())
        else:
            telemetry_table.create_sqlite(self, self.now())
            self.execute(telemetry_table.SQLITE_INDEX)
        for stmt in (s.strip() for s in INDEXES.split(";")):
            if stmt:
                self.execute(stmt)

    def columns(self, table: str) -> set[str]:
        """The column names ``table`` has (to add missing ones to an older store)."""
        return self._columns(table)

    def _columns(self, table: str) -> set[str]:
        if self.kind == "sqlite":
            return {r["name"] for r in self.query(f"PRAGMA table_info({table})")}
        return {r["column_name"] for r in self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = current_schema()", (table,))}

    def _migrate(self) -> None:
        """Bring a store made by an older version up to this one: the sessions columns of
        issue 22 (``SESSION_TAG_COLUMNS``) and issue 23 (``SESSION_ADDED_COLUMNS``), added
        where missing. Idempotent; two dashboards
        opening one old store at once both end with the columns (PostgreSQL: IF NOT EXISTS;
        SQLite: a column another one just added is looked at again)."""
        self.add_columns("sessions", SESSION_TAG_COLUMNS + SESSION_ADDED_COLUMNS)

    def add_columns(self, table: str, columns) -> None:
        """Add each ``(name, SQL type)`` of ``columns`` that ``table`` lacks. Idempotent; two
        dashboards opening one old store at once both end with the columns (PostgreSQL: IF NOT
        EXISTS; SQLite: a column another one just added is looked at again)."""
        have = self._columns(table)
        for name, kind in columns:
            if name in have:
                continue
            if self.kind == "postgresql":
                self.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {kind}")
                continue
            try:
                self.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError:
                if name not in self._columns(table):
                    raise

    # -- writes used by ingest -----------------------------------------------------------------
    def save_session(self, device_id: str, summary: dict) -> bool:
        """Store a session summary once; True if it was new (dedup on ``session_id``)."""
        return self.save_many([("session", device_id, summary)])[0]

    def save_event(self, device_id: str, payload: dict) -> bool:
        """Store an event once; True if it was new (dedup on ``msg_id``)."""
        return self.save_many([("event", device_id, payload)])[0]

    def save_many(self, items: list[tuple[str, str, dict]]) -> list[bool]:
        """Store ``(kind, device_id, payload)`` items in order, all in one transaction (one
        commit for a burst, not one each). Kinds: "session" (a summary), "event", "status"
        (``{"status": "online"|"offline"}``), "info" (the device's info document) and "paired"
        (``{"paired": bool}``) and "quarantine" (a message that failed its schema:
        ``{"topic", "kind", "reason", "payload", "size", "times"}``). For each, True if it was new: sessions and events are stored
        once (by ``session_id`` / ``msg_id``), device updates always count as new."""
        if not items:
            return []
        unknown = {k for k, _, _ in items} - _ROWS.keys()
        if unknown:
            raise ValueError(f"save_many: unknown kinds {sorted(unknown)}")
        return self._retrying(lambda: self._save_many_once(items))

    def _save_many_once(self, items: list[tuple[str, str, dict]]) -> list[bool]:
        now = utc_now_iso()
        statements = [_ROWS[kind](device_id, payload, now) for kind, device_id, payload in items]
        statements += [(_TOUCH_DEVICE, (device_id, now))
                       for device_id in dict.fromkeys(d for k, d, _ in items if k == "session")]
        counts = self._execute_all(statements)
        return [n == 1 or kind not in _ONCE for (kind, _, _), n in zip(items, counts[:len(items)], strict=True)]

    def _execute_all(self, statements: list[tuple[str, tuple]]) -> list[int]:
        """Run ``(sql, params)`` statements in order in one transaction; their row counts.
        PostgreSQL gets them in pipeline mode: one round trip for the batch instead of one
        each (a burst of 50 events: ~1.6 ms against ~5.5 ms on this machine's server)."""
        if self.kind == "sqlite":
            with self._transaction() as cur:
                counts = []
                for sql, params in statements:
                    cur.execute(sql, params)
                    counts.append(cur.rowcount)
                return counts
        cursors = []
        with self._conn.pipeline(), self._transaction():
            for sql, params in statements:
                cursors.append(self._conn.cursor())
                cursors[-1].execute(self._sql(sql, True), params)
        counts = [cur.rowcount for cur in cursors]
        for cur in cursors:
            cur.close()
        return counts

    def save_telemetry(self, device_id: str, payload: dict) -> None:
        """Append one telemetry sample."""
        self.save_telemetry_many([(device_id, payload, None)])

    def save_telemetry_many(self, samples: list[tuple[str, dict, str | None]]) -> None:
        """Append telemetry samples ``(device_id, payload, payload_json)`` in one transaction.
        ``payload_json`` is the payload as received (stored as is, so it is not encoded
        again), or None to encode ``payload``. PostgreSQL takes the rows by COPY: a fleet's
        10 Hz telemetry costs a few microseconds a row instead of a statement each."""
        received = self.now()
        rows = [
            (
                device_id,
                _text(payload.get("session_id")),
                _text(payload.get("ts")),
                finite_or_none(payload.get("t_s")),
                finite_or_none(payload.get("speed_mps")),
                finite_or_none(payload.get("force_n")),
                _text(raw) or _dumps(payload),
                utc_iso(received) if self.kind == "sqlite" else received,
            )
            for device_id, payload, raw in samples
        ]
        if not rows:
            return
        columns = telemetry_table.INSERT_COLUMNS
        if self.kind == "sqlite":
            self.execute_many(f"INSERT INTO {columns} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            return
        self.partitions.ensure(self, received)  # its week's partition (made ahead, normally)

        def copy() -> None:
            with self._transaction() as cur, cur.copy(f"COPY {columns} FROM STDIN") as out:
                for row in rows:
                    out.write_row(row)

        self._retrying(copy)

    def drop_telemetry_before(self, cutoff: datetime) -> dict:
        """Drop telemetry received before ``cutoff`` (telemetry_table.drop_before); sessions,
        their series and events are never touched."""
        return telemetry_table.drop_before(self, cutoff)

    def set_device_status(self, device_id: str, status: str) -> None:
        """Record ``online`` / ``offline`` (and when it was seen)."""
        self.save_many([("status", device_id, {"status": status})])

    def set_device_info(self, device_id: str, info: dict) -> None:
        """Record the device's retained ``info`` document."""
        self.save_many([("info", device_id, info)])

    def set_device_paired(self, device_id: str, paired: bool = True) -> None:
        """Mark a device paired (after a successful ``cmd/pair``) or unpaired."""
        self.save_many([("paired", device_id, {"paired": paired})])

    # -- people (issue 22) ---------------------------------------------------------------------
    def add_person(self, name: str, body_mass_kg: float | None = None, units: str = "metric", *,
                   person_id: str | None = None) -> dict:
        """Store a new person and return them (``id``: ``person_id``, else a fresh one).
        ConfigError (one line, a user's words) if a field is not what a person's must be
        (firmware.core.commands.person_problem: the rules set_profile sends them under) or
        the id is taken."""
        person = {"id": person_id or "p-" + uuid.uuid4().hex[:12], "name": name,
                  "body_mass_kg": body_mass_kg, "units": units}
        _check_person(person)
        row = (person["id"], name, _mass(body_mass_kg), units, utc_now_iso())
        if not self.execute(f"INSERT INTO people({PERSON_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                            "ON CONFLICT(id) DO NOTHING", row):
            raise ConfigError(f"a person with id {person['id']!r} already exists")
        return self.person(person["id"])

    def update_person(self, person_id: str, **changes: Any) -> dict:
        """Change a person's ``name``, ``body_mass_kg`` and/or ``units``; the person as now
        stored. KeyError if there is no such person; ConfigError for a bad value."""
        unknown = set(changes) - {"name", "body_mass_kg", "units"}
        if unknown:
            raise ConfigError(f"a person has no field {sorted(unknown)[0]!r}")
        person = self.person(person_id)
        if person is None:
            raise KeyError(person_id)
        person.update(changes)
        _check_person({k: person[k] for k in ("id", "name", "body_mass_kg", "units")})
        self.execute("UPDATE people SET name = ?, body_mass_kg = ?, units = ? WHERE id = ?",
                     (person["name"], _mass(person["body_mass_kg"]), person["units"], person_id))
        return self.person(person_id)

    def people(self) -> list[dict]:
        """Every person, oldest first (the order devices get them in, and count them by)."""
        return self.query(f"SELECT {PERSON_COLUMNS} FROM people ORDER BY created_at, id")

    def person(self, person_id: str) -> dict | None:
        rows = self.query(f"SELECT {PERSON_COLUMNS} FROM people WHERE id = ?", (person_id,))
        return rows[0] if rows else None

    def set_soreness_after(self, session_id: str, value: int | None) -> bool:
        """The person's soreness rating 0-10 after a session (None: clear it), rated on the
        dashboard; True if the session exists. ConfigError if ``value`` is not a rating.
        The summary as the device sent it stays as it was; this column is the "after"."""
        if value is not None and _rating(value) is None:
            raise ConfigError(f"soreness must be a whole number from 0 to {SORENESS_MAX}, or empty")
        return self.execute("UPDATE sessions SET soreness_after = ? WHERE session_id = ?",
                            (value, session_id)) == 1

    def refused(self, error: Exception) -> bool:
        """True when ``error`` says the database refused the data itself (a constraint, a
        value no column holds), not that it is unreachable or locked: the same write would
        fail again, while the other rows of its batch may well be fine."""
        kinds: tuple[type[Exception], ...] = (KeyError, TypeError, ValueError,
                                              sqlite3.DataError, sqlite3.IntegrityError)
        if self.kind == "postgresql":
            psycopg = _psycopg()
            kinds += (psycopg.DataError, psycopg.IntegrityError)
        return isinstance(error, kinds)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _check_person(person: dict) -> None:
    problem = person_problem(person)
    if problem:
        raise ConfigError(problem)


def _mass(value: Any) -> float | None:
    return None if value is None else float(value)


def _open_sqlite(path: str, clock: Callable[[], float]) -> Store:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as e:
        raise SetupError(f"cannot open SQLite store {path!r}: {e}") from e
    return Store("sqlite", conn, clock=clock)


def _psycopg():
    """The psycopg module, imported on first use: only a PostgreSQL store needs it, so a
    SQLite dashboard runs without it installed (``pip install rollsense[postgres]``)."""
    import psycopg  # optional dependency: only a PostgreSQL store needs it (extra "postgres")

    return psycopg


def _open_postgres(url: str, clock: Callable[[], float]) -> Store:
    psycopg = _psycopg()

    def connect() -> Any:
        try:
            return psycopg.connect(url)
        except psycopg.Error as e:
            raise SetupError(f"cannot connect to PostgreSQL store: {str(e).splitlines()[0]}") from e

    return Store("postgresql", connect(), reconnect=connect, clock=clock)


def open_store(db_url: str, clock: Callable[[], float] = time.time) -> Store:
    """Open (and create the schema of) ``sqlite:///path.db``, a plain path, or ``postgresql://...``.
    ``clock`` (wall-clock seconds) stamps telemetry's ``received_at``, by which it is kept."""
    if db_url.startswith(("postgresql://", "postgres://")):
        return _open_postgres(db_url, clock)
    if db_url.startswith("sqlite:///"):
        return _open_sqlite(
            db_url[len("sqlite:///") - 1 :] if db_url.startswith("sqlite:////") else db_url[10:], clock
        )
    if "://" in db_url:
        raise ConfigError(
            f"store URL {db_url!r}: use sqlite:///path.db, a plain path, or postgresql://..."
        )
    return _open_sqlite(db_url, clock)
