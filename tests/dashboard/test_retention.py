"""Telemetry that grows for years (issue 24): weekly partitions on the live PostgreSQL server,
batched deletes on SQLite, the retention task, and an older store migrated in place."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime

import psycopg
import pytest

from dashboard import queries as q
from dashboard.retention import TelemetryRetention, parse_retention_days
from dashboard.store import open_store
from dashboard.telemetry_table import DELETE_BATCH, pg_partitions
from firmware.common.errors import ConfigError
from tests.dashboard.test_store import summary

DAY_S = 86400.0
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()  # a Monday noon (UTC)


class WallClock:
    """Wall-clock seconds that a test moves by hand."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/dash.db"
    return request.getfixturevalue("postgres_url")


def roll(store, device: str, session_id: str, n: int) -> None:
    """A session's live telemetry (n samples) and then its summary with a per-second series."""
    store.save_telemetry_many([(device, {"session_id": session_id, "t_s": i * 0.1,
                                         "speed_mps": 0.05, "force_n": 100.0}, None)
                               for i in range(n)])
    store.set_device_paired(device)
    series = {"t0_s": 0.0, "period_s": 1.0, "t_s": [0.0, 1.0, 2.0],
              "speed_mps": [0.04, 0.05, 0.06], "force_n": [90.0, 100.0, 110.0]}
    assert store.save_session(device, summary(session_id, series_1hz=series))


def telemetry_of(store, session_id: str) -> int:
    return len(q.telemetry(store, session_id))


def test_retention_drops_old_telemetry_and_keeps_recent_and_every_session(db_url, caplog):
    clock = WallClock(T0)
    store = open_store(db_url, clock=clock)
    try:
        roll(store, "d1", "old", 30)  # week of 2026-01-05
        clock.now_s += 8 * DAY_S
        roll(store, "d1", "middle", 20)  # week of 2026-01-12
        clock.now_s += 100 * DAY_S
        roll(store, "d1", "new", 10)  # 2026-04-23 (week of 2026-04-20)
        retention = TelemetryRetention(store, 90, clock=clock)
        with caplog.at_level(logging.INFO, logger="rollsense.dashboard"):
            dropped = retention.run_once()
        assert [telemetry_of(store, s) for s in ("old", "middle", "new")] == [0, 0, 10]
        if store.kind == "postgresql":
            assert dropped == {"partitions": ["telemetry_w20260105", "telemetry_w20260112"],
                               "rows": None}
            names = pg_partitions(store)
            assert "telemetry_w20260105" not in names and "telemetry_w20260420" in names
            assert "telemetry_w20260427" in names  # the next week's, made ahead
        else:
            assert dropped == {"partitions": [], "rows": 50}
        lines = [r.getMessage() for r in caplog.records if "retention" in r.getMessage()]
        assert len(lines) == 1 and "90 days" in lines[0] and "2026-01-23" in lines[0]
        # sessions, their series and what the pages read stay whole
        for sid in ("old", "middle", "new"):
            detail = q.session_detail(store, sid)
            assert detail is not None and [p["speed"] for p in detail["series"]] == [0.04, 0.05, 0.06]
        assert store.query("SELECT COUNT(*) AS n FROM sessions")[0]["n"] == 3
        assert retention.stats["runs"] == 1
        # new telemetry still goes in, and a second run drops nothing more
        roll(store, "d2", "newer", 5)
        assert retention.run_once() == {"partitions": [], "rows": None if store.kind == "postgresql" else 0}
        assert telemetry_of(store, "newer") == 5 and telemetry_of(store, "new") == 10
    finally:
        store.close()


def test_retention_zero_keeps_everything(db_url):
    clock = WallClock(T0)
    store = open_store(db_url, clock=clock)
    try:
        roll(store, "d1", "old", 3)
        clock.now_s += 3650 * DAY_S
        assert TelemetryRetention(store, 0, clock=clock).run_once() is None
        assert telemetry_of(store, "old") == 3
    finally:
        store.close()


def test_sqlite_deletes_in_batches(tmp_path):
    clock = WallClock(T0)
    store = open_store(f"sqlite:///{tmp_path}/big.db", clock=clock)
    try:
        n = 2 * DELETE_BATCH + 17
        store.save_telemetry_many([("d", {"session_id": "s", "t_s": float(i)}, None) for i in range(n)])
        clock.now_s += 2 * DAY_S
        store.save_telemetry_many([("d", {"session_id": "kept", "t_s": 1.0}, None)])
        statements = []
        store._conn.set_trace_callback(statements.append)
        assert store.drop_telemetry_before(datetime.fromtimestamp(T0 + DAY_S, UTC))["rows"] == n
        store._conn.set_trace_callback(None)
        assert sum(s.startswith("DELETE") for s in statements) == 3  # 5000, 5000, 17
        assert telemetry_of(store, "kept") == 1
    finally:
        store.close()


def test_an_old_postgresql_store_is_partitioned_in_place(postgres_url):
    """A store made before issue 24 (a plain telemetry table, BIGSERIAL ids): its rows are
    kept, now in the partition of the migration's week, and new ids follow the old ones."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE telemetry(id BIGSERIAL PRIMARY KEY, device_id TEXT NOT NULL, "
                     "session_id TEXT, ts TEXT, t_s REAL, speed_mps REAL, force_n REAL, "
                     "payload_json TEXT NOT NULL)")
        conn.execute("CREATE INDEX telemetry_session_t ON telemetry(session_id, t_s)")
        for i in range(7):
            conn.execute("INSERT INTO telemetry(device_id, session_id, t_s, payload_json) "
                         "VALUES ('d', 'before', %s, '{}')", (float(i),))
    clock = WallClock(T0)
    store = open_store(postgres_url, clock=clock)
    try:
        assert store.query("SELECT relkind FROM pg_class WHERE relname = 'telemetry'")[0]["relkind"] == "p"
        assert telemetry_of(store, "before") == 7
        assert {r["name"] for r in store.query(
            "SELECT tableoid::regclass::text AS name FROM telemetry")} == {"telemetry_w20260105"}
        store.save_telemetry("d", {"session_id": "after", "t_s": 0.0})
        ids = [r["id"] for r in store.query("SELECT id FROM telemetry ORDER BY id")]
        assert ids == list(range(1, 9))
        assert not store.query("SELECT 1 FROM pg_class WHERE relname = 'telemetry_unpartitioned'")
        store.close()
        store = open_store(postgres_url, clock=clock)  # opened again: nothing to migrate
        assert telemetry_of(store, "before") == 7
        clock.now_s += 91 * DAY_S  # 90 days on, their week (to 2026-01-12) is not yet all older
        TelemetryRetention(store, 90, clock=clock).run_once()
        assert telemetry_of(store, "before") == 7
        clock.now_s += 6 * DAY_S  # now it is: the whole partition goes
        TelemetryRetention(store, 90, clock=clock).run_once()
        assert telemetry_of(store, "before") == 0 and telemetry_of(store, "after") == 0
    finally:
        store.close()


def test_an_old_sqlite_store_gets_received_at(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE telemetry(id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT "
                 "NULL, session_id TEXT, ts TEXT, t_s REAL, speed_mps REAL, force_n REAL, "
                 "payload_json TEXT NOT NULL)")
    conn.execute("INSERT INTO telemetry(device_id, session_id, t_s, payload_json) "
                 "VALUES ('d', 'before', 1.0, '{}')")
    conn.commit()
    conn.close()
    clock = WallClock(T0)
    store = open_store(f"sqlite:///{path}", clock=clock)
    try:
        assert store.query("SELECT received_at FROM telemetry")[0]["received_at"] == "2026-01-05T12:00:00.000Z"
        clock.now_s += 89 * DAY_S
        TelemetryRetention(store, 90, clock=clock).run_once()
        assert telemetry_of(store, "before") == 1  # kept 90 days from the upgrade
        clock.now_s += 2 * DAY_S
        TelemetryRetention(store, 90, clock=clock).run_once()
        assert telemetry_of(store, "before") == 0
    finally:
        store.close()


@pytest.mark.parametrize("text", ["-1", "ninety", "1.5", "", "99999999"])
def test_a_bad_retention_is_one_line(text):
    with pytest.raises(ConfigError) as e:
        parse_retention_days(text)
    assert "\n" not in str(e.value) and "--telemetry-retention-days" in str(e.value)


def test_retention_days_accepted():
    assert parse_retention_days("0") == 0 and parse_retention_days(" 90 ") == 90
