"""The dashboard store on SQLite and PostgreSQL: schema, idempotent writes, ?-placeholders."""

from __future__ import annotations

import json
import sqlite3
import threading

import psycopg
import pytest

from dashboard.store import open_store
from firmware.common.errors import ConfigError
from tests.firmware.edge.test_link import wait_until


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path}/dash.db")
    else:
        s = open_store(request.getfixturevalue("postgres_url"))
    yield s
    s.close()


def summary(session_id: str, **extra) -> dict:
    base = {
        "format": "rollsense-summary/1",
        "session_id": session_id,
        "protocol": "quads-roller",
        "tool": "roller",
        "started_at": "2026-01-01T10:00:00.000Z",
        "duration_s": 61.5,
        "passes": 18,
        "completed": True,
        "v": 1,
        "ts": "2026-01-01T10:01:02.000Z",
        "seq": 7,
        "msg_id": "m-" + session_id,
    }
    base.update(extra)
    return base


def test_session_is_stored_once(store):
    assert store.save_session("roller-1", summary("s1")) is True
    assert store.save_session("roller-1", summary("s1", passes=99)) is False
    rows = store.query("SELECT * FROM sessions WHERE device_id = ?", ("roller-1",))
    assert len(rows) == 1
    row = rows[0]
    assert (row["session_id"], row["protocol"], row["tool"], row["passes"], row["completed"]) == (
        "s1",
        "quads-roller",
        "roller",
        18,
        1,
    )
    assert row["duration_s"] == pytest.approx(61.5)
    assert json.loads(row["summary_json"])["passes"] == 18
    assert row["received_at"].endswith("Z")
    assert store.query("SELECT device_id, paired FROM devices") == [
        {"device_id": "roller-1", "paired": 0}
    ]


def test_interrupted_summary_with_missing_fields(store):
    assert store.save_session(
        "d", {"session_id": "s2", "completed": False, "interrupted": "power loss"}
    )
    row = store.query(
        "SELECT passes, completed, duration_s FROM sessions WHERE session_id = ?", ("s2",)
    )[0]
    assert row == {"passes": None, "completed": 0, "duration_s": None}


def test_event_dedup_on_msg_id(store):
    ev = {
        "msg_id": "e1",
        "session_id": "s1",
        "ts": "2026-01-01T10:00:01Z",
        "event_type": "cue",
        "t_s": 1.0,
    }
    assert store.save_event("d", ev) is True
    assert store.save_event("d", ev) is False
    rows = store.query("SELECT event_type, session_id FROM events WHERE msg_id = ?", ("e1",))
    assert rows == [{"event_type": "cue", "session_id": "s1"}]


def test_telemetry_nan_and_missing_become_null(store):
    store.save_telemetry(
        "d", {"session_id": "s1", "t_s": 1.5, "speed_mps": float("nan"), "force_n": 20}
    )
    store.save_telemetry("d", {"session_id": "s1", "t_s": 1.6, "speed_mps": 0.05, "force_n": "x"})
    rows = store.query(
        "SELECT t_s, speed_mps, force_n FROM telemetry WHERE session_id = ? ORDER BY t_s", ("s1",)
    )
    assert rows == [
        {"t_s": 1.5, "speed_mps": None, "force_n": 20.0},
        {"t_s": 1.6, "speed_mps": 0.05, "force_n": None},
    ]
    ids = [r["id"] for r in store.query("SELECT id FROM telemetry ORDER BY id")]
    assert ids[1] > ids[0]


def test_telemetry_batch_keeps_payloads_as_received_and_survives_odd_fields(store):
    """A batch (COPY on PostgreSQL) stores the received JSON text as is; a sample whose
    session_id or ts is not a string (or holds a NUL, which PostgreSQL refuses) stores NULL
    there instead of failing the whole batch."""
    raw = '{"session_id": "s9", "t_s": 2.0, "speed_mps": 0.07, "note": "as sent"}'
    store.save_telemetry_many([
        ("d", json.loads(raw), raw),
        ("d", {"session_id": ["not", "text"], "ts": 5, "t_s": 2.1}, None),
        ("d", {"session_id": "bad\x00id", "t_s": 2.2, "force_n": 1e400}, None),
        ("d", {"session_id": "s9", "t_s": 2.3, "force_n": 12.5}, None),
    ])
    rows = store.query("SELECT session_id, ts, t_s, force_n, payload_json FROM telemetry "
                       "WHERE device_id = ? ORDER BY t_s", ("d",))
    assert [(r["session_id"], r["ts"], r["t_s"], r["force_n"]) for r in rows] == [
        ("s9", None, 2.0, None), (None, None, 2.1, None), (None, None, 2.2, None),
        ("s9", None, 2.3, 12.5)]
    assert rows[0]["payload_json"] == raw
    assert json.loads(rows[3]["payload_json"]) == {"session_id": "s9", "t_s": 2.3, "force_n": 12.5}
    store.save_telemetry_many([])  # nothing to write is not an error


def test_device_status_info_and_pairing(store):
    store.set_device_status("d1", "online")
    store.set_device_info("d1", {"fw": "1.0"})
    store.set_device_status("d1", "offline")
    store.set_device_paired("d1")
    row = store.query("SELECT * FROM devices WHERE device_id = ?", ("d1",))[0]
    assert (
        row["status"] == "offline"
        and row["paired"] == 1
        and json.loads(row["info_json"]) == {"fw": "1.0"}
    )


def test_generic_execute_and_percent_literals(store):
    assert (
        store.execute("INSERT INTO users(username, password_hash) VALUES (?, ?)", ("ann", "h%1"))
        == 1
    )
    rows = store.query("SELECT username FROM users WHERE password_hash LIKE ?", ("h%",))
    assert rows == [{"username": "ann"}]
    assert store.query("SELECT username FROM users WHERE password_hash LIKE 'h%'") == [
        {"username": "ann"}
    ]
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        store.execute("INSERT INTO users(username, password_hash) VALUES (?, ?)", ("ann", "dup"))
    assert store.query("SELECT count(*) AS n FROM users") == [
        {"n": 1}
    ]  # failed write rolled back, store usable


def test_concurrent_writers_dedup(store):
    results = []

    def worker():
        results.append(store.save_session("d", summary("race")))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    assert store.query("SELECT count(*) AS n FROM sessions") == [{"n": 1}]


def test_reopen_keeps_data(tmp_path):
    path = tmp_path / "x.db"
    s = open_store(str(path))
    s.save_session("d", summary("keep"))
    s.close()
    s = open_store(f"sqlite:///{path}")
    assert s.query("SELECT session_id FROM sessions") == [{"session_id": "keep"}]
    assert s.query("PRAGMA journal_mode") == [{"journal_mode": "wal"}]
    s.close()


def test_bad_url():
    with pytest.raises(ConfigError):
        open_store("mysql://x/y")


def test_a_failed_query_leaves_the_store_usable(store):
    with pytest.raises((sqlite3.OperationalError, psycopg.errors.UndefinedTable)):
        store.query("SELECT * FROM no_such_table")
    assert store.save_session("d", summary("after-error")) is True
    assert store.query("SELECT session_id FROM sessions") == [{"session_id": "after-error"}]


def test_postgres_connection_dropped_is_reopened(postgres_url):
    store = open_store(postgres_url)
    try:
        pid = store.query("SELECT pg_backend_pid() AS pid")[0]["pid"]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert store.save_session("d", summary("after-drop")) is True
        assert store.query("SELECT pg_backend_pid() AS pid")[0]["pid"] != pid
    finally:
        store.close()


def test_a_deadlock_with_another_writer_is_tried_again(postgres_url):
    """Two writers updating the same device rows in other orders deadlock; PostgreSQL aborts
    one, and the store tries its transaction again instead of losing the batch."""
    store = open_store(postgres_url)
    other = psycopg.connect(postgres_url)
    try:
        store.save_many([("status", "dev-a", {"status": "online"}),
                         ("status", "dev-b", {"status": "online"})])
        store_pid = store.query("SELECT pg_backend_pid() AS pid")[0]["pid"]
        other.execute("UPDATE devices SET status = 'other' WHERE device_id = 'dev-a'")
        result = {}
        worker = threading.Thread(target=lambda: result.update(new=store.save_many(
            [("status", "dev-b", {"status": "offline"}), ("status", "dev-a", {"status": "offline"})])))
        worker.start()  # holds dev-b, waits for dev-a
        wait_until(lambda: other.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = %s", (store_pid,)
        ).fetchone()[0] > 0, what="the store's transaction waiting for dev-a's row lock")
        other.execute("UPDATE devices SET status = 'other' WHERE device_id = 'dev-b'")  # deadlock
        other.commit()  # the store's transaction was the one aborted: its retry now goes through
        worker.join(10)
        assert result == {"new": [True, True]}
        rows = store.query("SELECT device_id, status FROM devices ORDER BY device_id")
        assert [(r["device_id"], r["status"]) for r in rows] == [("dev-a", "offline"),
                                                                ("dev-b", "offline")]
    finally:
        other.close()
        store.close()


def test_save_many_is_one_transaction_with_a_flag_per_item(store):
    ev = {"msg_id": "b1", "session_id": "s", "event_type": "cue", "ts": "t"}
    items = [
        ("event", "dev-m", ev),
        ("session", "dev-m", summary("sm1")),
        ("event", "dev-m", dict(ev)),  # the same msg_id again in the same batch
        ("event", "dev-n", {**ev, "msg_id": "b2"}),
        ("session", "dev-m", summary("sm1")),  # and the same session
    ]
    assert store.save_many(items) == [True, True, False, True, False]
    assert store.save_many(items[:2]) == [False, False]  # already stored
    assert store.query("SELECT COUNT(*) AS n FROM events")[0]["n"] == 2
    assert [r["device_id"] for r in store.query("SELECT device_id FROM devices")] == ["dev-m"]
    assert store.save_many([]) == []


def test_save_many_updates_devices_in_order_and_refuses_unknown_kinds(store):
    items = [
        ("status", "dev-s", {"status": "online"}),
        ("info", "dev-s", {"firmware": "1.2"}),
        ("paired", "dev-s", {"paired": True}),
        ("status", "dev-s", {"status": "offline"}),  # the later one wins
        ("status", "dev-t", {"status": "online"}),
    ]
    assert store.save_many(items) == [True] * 5  # device updates always count as news
    rows = store.query("SELECT device_id, status, paired, info_json FROM devices ORDER BY device_id")
    assert [(r["device_id"], r["status"], r["paired"]) for r in rows] == [
        ("dev-s", "offline", 1), ("dev-t", "online", 0)]
    assert json.loads(rows[0]["info_json"]) == {"firmware": "1.2"}
    with pytest.raises(ValueError, match="unknown kinds"):
        store.save_many([("status", "dev-u", {"status": "online"}), ("telemetry", "dev-u", {})])
    assert store.query("SELECT COUNT(*) AS n FROM devices WHERE device_id = 'dev-u'")[0]["n"] == 0


def test_odd_fields_store_null_columns_and_keep_the_payload(store):
    """What a column cannot hold (NUL in text, a 64-bit pass count, a number for a name)
    stores NULL there, on both back ends, so one odd message cannot fail a batch."""
    odd_event = {"msg_id": "odd-1", "session_id": "a\x00b", "event_type": 7, "ts": ["x"]}
    odd_summary = summary("odd-s", passes=2**40, protocol=7, started_at="t\x00")
    assert store.save_many([("event", "dev-o", odd_event), ("session", "dev-o", odd_summary)]) == [
        True, True]
    ev = store.query("SELECT session_id, event_type, ts, payload_json FROM events")[0]
    assert (ev["session_id"], ev["event_type"], ev["ts"]) == (None, None, None)
    assert json.loads(ev["payload_json"]) == odd_event
    row = store.query("SELECT passes, protocol, started_at, summary_json FROM sessions")[0]
    assert (row["passes"], row["protocol"], row["started_at"]) == (None, None, None)
    assert json.loads(row["summary_json"])["passes"] == 2**40


def test_refused_tells_bad_data_from_an_unreachable_database(store):
    with pytest.raises(Exception) as refused:  # a constraint: the data itself is refused
        store.execute("INSERT INTO sessions(session_id) VALUES (?)", ("no-device",))
    assert store.refused(refused.value)
    with pytest.raises(Exception) as missing:
        store.execute("SELECT * FROM no_such_table")
    assert not store.refused(missing.value)


def test_save_many_stores_nothing_when_one_item_fails(store):
    good = {"msg_id": "ok1", "session_id": "s", "event_type": "cue", "ts": "t"}
    with pytest.raises(KeyError):
        store.save_many([("event", "dev-x", good), ("session", "dev-x", {"no": "id"})])
    assert store.query("SELECT COUNT(*) AS n FROM events")[0]["n"] == 0
    assert store.save_many([("event", "dev-x", good)]) == [True]  # and it is still usable
