"""The telemetry table, which grows for years (issue 24): at 10 Hz a rolling device writes
36,000 rows an hour. Each row carries ``received_at``, the store's time when it was written
(not the device's ``ts``: a device's clock may be unset or wrong, and a device must not
choose where its rows go), and old rows go by that time (``drop_before``).

PostgreSQL: ``telemetry`` is partitioned by RANGE on ``received_at``, one partition per
week (Monday 00:00 UTC to the next: ``telemetry_w20260105``). A week, not a day: a session's
telemetry is read by ``session_id``, which no partition bound prunes, so every query probes
each partition's index; weekly partitions keep that at 13 probes at the 90-day default (52 a
year kept forever) where daily ones would make it 90 (365 a year), and a week of a large
fleet is still a table PostgreSQL handles well. Retention therefore keeps a row at least
the days asked and at most a week more. Partitions are made ahead (this week and the next,
by ``prepare``, which the dashboard's retention task runs) and, should a write find its week
missing (the task not yet run, a clock jump), by the writer before it writes. A store made by
an older version, whose telemetry is a plain table, is migrated in place in one transaction
(rename, create the partitioned table, copy, drop): its rows count as received at the
migration, so they are kept the retention's days from then. Retention drops whole
partitions (``DROP TABLE``), never a row of ``sessions`` or ``events``.

SQLite has no partitions: retention deletes the old rows in transactions of
``DELETE_BATCH`` rows, so the ingest waits at most one short transaction; an index on
``received_at`` finds them. Rows of an older store read as received at the migration.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

from firmware.common.wire import utc_iso

PARTITION_DAYS = 7
DELETE_BATCH = 5000  # SQLite: rows deleted per transaction
LOCK_TIMEOUT = "5s"  # a DROP waiting longer than this for a long read is tried next run
_MIGRATE_LOCK = 0x726F6C6C  # pg_advisory_xact_lock key: one dashboard/worker migrates at once

COLUMNS = ("device_id TEXT NOT NULL, session_id TEXT, ts TEXT, t_s REAL, speed_mps REAL, "
           "force_n REAL, payload_json TEXT NOT NULL")
SQLITE_TABLE = (f"CREATE TABLE IF NOT EXISTS telemetry(id INTEGER PRIMARY KEY AUTOINCREMENT, "
                f"{COLUMNS}, received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))")
PG_TABLE = (f"CREATE TABLE IF NOT EXISTS telemetry(id BIGINT NOT NULL DEFAULT "
            f"nextval('telemetry_id_seq'), {COLUMNS}, received_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
            "PRIMARY KEY (id, received_at)) PARTITION BY RANGE (received_at)")
INSERT_COLUMNS = ("telemetry(device_id, session_id, ts, t_s, speed_mps, force_n, payload_json, "
                  "received_at)")


def week_of(t: datetime) -> date:
    """The Monday (UTC) of the week holding ``t``: the first day of its partition."""
    day = t.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def partition_name(monday: date) -> str:
    return f"telemetry_w{monday:%Y%m%d}"


def _partition_monday(name: str) -> date | None:
    """The Monday a partition of ours starts on, from its name; None for any other table."""
    if not (name.startswith("telemetry_w") and len(name) == 19 and name[11:].isdigit()):
        return None
    try:
        return datetime.strptime(name[11:], "%Y%m%d").date()
    except ValueError:
        return None


def _ensure_partition(cur, monday: date) -> None:
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    end = start + timedelta(days=PARTITION_DAYS)
    cur.execute(f"CREATE TABLE IF NOT EXISTS {partition_name(monday)} PARTITION OF telemetry "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")


def _relkind(cur) -> str | None:
    cur.execute("SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = 'telemetry' AND n.nspname = current_schema()")
    row = cur.fetchone()
    return row[0] if row else None


def create_pg(store, now: datetime) -> None:
    """Make the partitioned table (and this week's and next week's partitions), migrating a
    plain one left by an older version, all in one transaction under an advisory lock (two
    dashboards or workers opening one store at once: one migrates, the other finds it done)."""

    def work() -> None:
        with store._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
            cur.execute("CREATE SEQUENCE IF NOT EXISTS telemetry_id_seq")
            old = _relkind(cur) == "r"
            if old:  # an older version's plain table: rename, create, copy, drop
                cur.execute("ALTER TABLE telemetry RENAME TO telemetry_unpartitioned")
                cur.execute("ALTER INDEX IF EXISTS telemetry_session_t RENAME TO "
                            "telemetry_unpartitioned_session_t")
                cur.execute("ALTER SEQUENCE telemetry_id_seq OWNED BY NONE")
            cur.execute(PG_TABLE)
            cur.execute("ALTER SEQUENCE telemetry_id_seq OWNED BY telemetry.id")
            for monday in (week_of(now), week_of(now + timedelta(days=PARTITION_DAYS))):
                _ensure_partition(cur, monday)
            if old:
                cur.execute(
                    "INSERT INTO telemetry(id, device_id, session_id, ts, t_s, speed_mps, force_n, "
                    "payload_json, received_at) SELECT id, device_id, session_id, ts, t_s, "
                    "speed_mps, force_n, payload_json, %s FROM telemetry_unpartitioned", (now,))
                cur.execute("DROP TABLE telemetry_unpartitioned")

    store._retrying(work)


def create_sqlite(store, now: datetime) -> None:
    """The table, and ``received_at`` on an older store's (its rows: received now)."""
    store.execute(SQLITE_TABLE)
    if "received_at" in store._columns("telemetry"):
        return
    try:  # a constant default: instant, whatever the table holds
        store.execute(f"ALTER TABLE telemetry ADD COLUMN received_at TEXT NOT NULL "
                      f"DEFAULT '{utc_iso(now)}'")
    except sqlite3.OperationalError:  # another process added it just now
        if "received_at" not in store._columns("telemetry"):
            raise


SQLITE_INDEX = "CREATE INDEX IF NOT EXISTS telemetry_received ON telemetry(received_at)"


class Partitions:
    """PostgreSQL: the weeks whose partitions this store has made or seen (so a write makes
    its week's at most once per process)."""

    def __init__(self) -> None:
        self.known: set[date] = set()

    def ensure(self, store, when: datetime) -> None:
        monday = week_of(when)
        if monday in self.known:
            return

        def work() -> None:
            with store._transaction() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
                _ensure_partition(cur, monday)

        store._retrying(work)
        self.known.add(monday)


def prepare(store, now: datetime) -> None:
    """Make the partitions of this week and the next (PostgreSQL; nothing to do on SQLite)."""
    if store.kind == "postgresql":
        for when in (now, now + timedelta(days=PARTITION_DAYS)):
            store.partitions.ensure(store, when)


def pg_partitions(store) -> list[str]:
    return [r["name"] for r in store.query(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'telemetry'::regclass ORDER BY c.relname")]


def drop_before(store, cutoff: datetime) -> dict:
    """Drop the telemetry received before ``cutoff``. PostgreSQL: every partition whose
    whole week ends by then (``{"partitions": [names], "rows": None}``); SQLite: the rows,
    ``DELETE_BATCH`` a transaction (``{"partitions": [], "rows": n}``)."""
    if store.kind == "sqlite":
        limit, deleted = utc_iso(cutoff), 0
        while True:
            n = store.execute("DELETE FROM telemetry WHERE id IN (SELECT id FROM telemetry "
                              f"WHERE received_at < ? LIMIT {DELETE_BATCH})", (limit,))
            deleted += max(n, 0)
            if n < DELETE_BATCH:
                return {"partitions": [], "rows": deleted}
    dropped = []
    for name in pg_partitions(store):
        monday = _partition_monday(name)
        if monday is None:
            continue
        end = datetime(monday.year, monday.month, monday.day, tzinfo=UTC) + timedelta(days=PARTITION_DAYS)
        if end > cutoff:
            continue

        def work(name: str = name) -> None:
            with store._transaction() as cur:
                cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cur.execute(f"DROP TABLE IF EXISTS {name}")

        store._retrying(work)
        store.partitions.known.discard(monday)
        dropped.append(name)
    return {"partitions": dropped, "rows": None}
