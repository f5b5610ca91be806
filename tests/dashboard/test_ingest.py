"""Dashboard ingest against a real Mosquitto: store-then-ack, dedup, bad payloads, persistent
session, shared subscriptions, listeners and commands."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import urllib.request
from contextlib import contextmanager

import psycopg
import pytest

from dashboard.ingest import Ingest, client_id_for
from dashboard.server import run_dashboard
from dashboard.store import open_store
from firmware.common.clock import MonotonicClock
from firmware.common.errors import CommandError
from firmware.edge.broker import free_port
from firmware.edge.journal import Journal
from firmware.edge.link import Link, LinkSettings
from tests.conftest import PG_BASE_URL, Subacks, log_mark, start_subscribed, wait_logged
from tests.firmware.edge.test_link import Observer, wait_until


def summary(session_id: str, **extra) -> dict:
    return {
        "session_id": session_id,
        "protocol": "quads-roller",
        "tool": "roller",
        "passes": 5,
        "completed": True,
        "v": 1,
        "ts": "2026-01-01T10:00:00Z",
        "seq": 1,
        "msg_id": "m" + session_id,
        "started_at": "2026-01-01T09:59:00Z",
        "duration_s": 60.0,
        **extra,
    }


@pytest.fixture
def ingest(fresh_broker, store):
    ing = start_subscribed(Ingest(fresh_broker.url, store, client_id="dash-test"))
    yield ing
    ing.stop()


def count(store, table, where="1=1", params=()):
    return store.query(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}", params)[0]["n"]


@contextmanager
def ingest_on_locked_sqlite(broker, path, client_id: str, listener=None, setup_sql: str = ""):
    """An Ingest on a SQLite file, an unlocked ``locker`` connection to lock that file with
    (``BEGIN EXCLUSIVE``: the writer's next batch waits) and an Observer to publish with."""
    store = open_store(f"sqlite:///{path}")
    if setup_sql:
        store.execute(setup_sql)
    ing = Ingest(broker.url, store, client_id=client_id)
    if listener is not None:
        ing.add_listener(listener)
    start_subscribed(ing)
    locker = sqlite3.connect(path, isolation_level=None)
    obs = Observer(broker.url, topics=())
    try:
        yield store, ing, locker, obs
    finally:
        locker.close()
        obs.close()
        ing.stop()
        store.close()


def test_summary_stored_once_then_acked(fresh_broker, store, ingest):
    seen = []
    ingest.add_listener(lambda kind, dev, p: seen.append((kind, dev, p.get("session_id"))))
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    acked_with_row = []
    obs.client.message_callback_add(
        "rollsense/+/ack",
        lambda c, u, m: (acked_with_row.append(count(store, "sessions")), obs._on_message(c, u, m)),
    )
    try:
        obs.publish("rollsense/dev-a/session", summary("s1"))
        obs.publish("rollsense/dev-a/session", summary("s1", passes=99))  # a re-send
        acks = obs.wait_topic("rollsense/dev-a/ack", 2)
        assert [json.loads(a.payload)["session_id"] for a in acks] == ["s1", "s1"]
        assert acked_with_row[0] == 1  # the row was committed before the ack went out
        rows = store.query("SELECT device_id, passes FROM sessions")
        assert rows == [{"device_id": "dev-a", "passes": 5}]
        assert ingest.stats["sessions_new"] == 1 and ingest.stats["sessions_dup"] == 1
        assert seen == [("session", "dev-a", "s1")]  # listeners hear a session once
    finally:
        obs.close()


def test_bad_payloads_are_quarantined_and_ingest_keeps_running(fresh_broker, store, ingest, caplog):
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    try:
        with caplog.at_level(logging.WARNING, logger="rollsense.ingest"):
            obs.publish("rollsense/dev-b/session", b"{oops")
            obs.publish("rollsense/dev-b/session", {"passes": 3})
            obs.publish("rollsense/dev-b/session", [1, 2])
            obs.publish("rollsense/dev-b/event", {"msg_id": "e1"})
            obs.publish("rollsense/dev-b/status", "sleepy")
            obs.publish("rollsense/dev-b/cmd/ping/result", {"id": "x", "status": "maybe"})
            obs.publish("rollsense/dev-b/session", summary("good"))
            obs.wait_topic("rollsense/dev-b/ack")
        assert count(store, "sessions") == 1 and count(store, "events") == 0
        assert ingest.stats["quarantined"] == 6 and ingest.stats["dropped"] == 0
        kept = store.query("SELECT kind, times FROM quarantine WHERE device_id = ? ORDER BY kind", ("dev-b",))
        assert [(r["kind"], r["times"]) for r in kept] == [
            ("event", 1), ("result", 1), ("session", 1), ("session", 1), ("session", 1), ("status", 1)]
        lines = [r.getMessage() for r in caplog.records if r.name == "rollsense.ingest"]
        assert len(lines) == 6 and all("\n" not in line and "dev-b" in line for line in lines)
    finally:
        obs.close()


def test_events_telemetry_status_info_and_listeners(fresh_broker, store, ingest):
    kinds = []
    flushes = []  # the flusher's passes, each counted once it has written its batch
    buffer = ingest.telemetry_buffer  # the flusher thread calls its flush()
    flush = buffer.flush
    buffer.flush = lambda: flushes.append(flush()) or flushes[-1]
    ingest.add_listener(lambda kind, dev, p: kinds.append(kind))
    ingest.add_listener(lambda kind, dev, p: 1 / 0)  # a broken listener does not stop the others
    obs = Observer(fresh_broker.url, topics=())
    try:
        ev = {
            "msg_id": "e1",
            "session_id": "s1",
            "event_type": "cue",
            "t_s": 1.0,
            "v": 1,
            "ts": "x",
            "seq": 1,
        }
        obs.publish("rollsense/dev-c/event", ev)
        obs.publish("rollsense/dev-c/event", ev)
        for i in range(20):
            obs.publish(
                "rollsense/dev-c/telemetry",
                {"session_id": "s1", "t_s": i * 0.01, "speed_mps": 0.1},
                qos=0,
            )
        obs.publish("rollsense/dev-c/status", "online", retain=True)
        obs.publish("rollsense/dev-c/info", {"version": "1.0"}, retain=True)
        wait_until(lambda: kinds.count("telemetry") == 20 and "info" in kinds, what="all messages")
        assert kinds.count("event") == 1 and count(store, "events") == 1
        # telemetry is written in batches by the flusher, within a few flush periods
        wait_until(lambda: count(store, "telemetry") >= 1, what="telemetry stored by the flusher")
        after = len(flushes)  # every sample is buffered by now: the second flush from here
        wait_until(lambda: len(flushes) >= after + 2, what="the flusher's second pass since")
        stored = count(store, "telemetry")
        assert 1 <= stored < 20  # downsampled to <= 10 Hz
        dev = store.query("SELECT status, info_json FROM devices WHERE device_id = ?", ("dev-c",))[
            0
        ]
        assert dev["status"] == "online" and json.loads(dev["info_json"]) == {"version": "1.0"}
    finally:
        obs.close()


def test_persistent_session_gets_what_arrived_while_away(fresh_broker, store):
    ing = start_subscribed(Ingest(fresh_broker.url, store, client_id="dash-persist"))
    ing.stop()
    obs = Observer(fresh_broker.url, topics=())
    try:
        for i in range(5):
            obs.publish("rollsense/dev-d/session", summary(f"away{i}"))
    finally:
        obs.close()
    fresh_broker.restart()  # the broker's persistence keeps the queued messages too
    ing = Ingest(fresh_broker.url, store, client_id="dash-persist")
    ing.start()
    try:
        wait_until(lambda: count(store, "sessions") == 5, timeout_s=15, what="queued summaries")
    finally:
        ing.stop()


def test_shared_group_splits_work_and_stores_each_once(fresh_broker, store):
    workers = [
        Ingest(fresh_broker.url, store, client_id=f"w{i}", shared_group="ingest") for i in range(2)
    ]
    for w in workers:
        start_subscribed(w)
    obs = Observer(fresh_broker.url, topics=())
    try:
        for i in range(20):
            obs.publish("rollsense/dev-e/session", summary(f"sh{i}"))
        wait_until(lambda: count(store, "sessions") == 20, what="20 sessions")
        wait_until(lambda: sum(w.stats["sessions_new"] + w.stats["sessions_dup"] for w in workers) >= 20,
                   what="the workers' counters past the commits")
        new = [w.stats["sessions_new"] for w in workers]
        assert sum(new) == 20 and all(n > 0 for n in new)
        assert sum(w.stats["sessions_dup"] for w in workers) == 0  # each delivered to one worker
    finally:
        obs.close()
        for w in workers:
            w.stop()


def test_commands_round_trip_and_pairing(fresh_broker, store, ingest, tmp_path):
    results = []
    ingest.add_listener(lambda kind, dev, p: kind == "result" and results.append(p))
    journal = Journal(tmp_path / "j.db")
    link = Link(
        "dev-f", fresh_broker.url, journal, MonotonicClock(), {}, LinkSettings(reconnect_max_s=1)
    )

    def handler(name, args):
        if name == "pair" and args["code"] != "123456":
            raise CommandError("wrong pairing code")
        return {"paired": True} if name == "pair" else {"name": name}

    link.on_command = handler
    link.start()
    try:
        wait_until(lambda: link.subscribed, what="the link subscribed to its commands")
        bad = ingest.send_command("dev-f", "pair", {"code": "000000"})
        wait_until(lambda: len(results) == 1, what="first result")
        assert results[0]["id"] == bad and results[0]["error"] == "wrong pairing code"
        assert (
            store.query("SELECT paired FROM devices WHERE device_id = ?", ("dev-f",))[0]["paired"]
            == 0
        )
        cid = ingest.send_command("dev-f", "pair", {"code": "123456"})
        wait_until(lambda: len(results) == 2, what="second result")
        assert results[1] == {
            **results[1],
            "id": cid,
            "status": "ok",
            "data": {"paired": True},
            "command": "pair",
        }
        assert (
            store.query("SELECT paired FROM devices WHERE device_id = ?", ("dev-f",))[0]["paired"]
            == 1
        )
        ingest.send_command("dev-f", "start", {"protocol": "quads-roller"})
        wait_until(lambda: len(results) == 3, what="third result")
        assert results[2]["status"] == "ok" and results[2]["data"] == {"name": "start"}
    finally:
        link.stop()
        journal.close()


def test_a_store_outage_holds_messages_until_it_is_back(fresh_broker, postgres_url, caplog):
    """PostgreSQL refuses connections for a while: the summary, event and status wait in the
    ingest un-PUBACKed and unacknowledged (nothing dropped, one log line), and are stored,
    acked and announced once the database takes connections again."""
    store = open_store(postgres_url)
    ing = Ingest(fresh_broker.url, store, client_id="dash-outage")
    told = []
    ing.add_listener(lambda kind, dev, p: told.append(kind))
    tries = []  # the writer's attempts at the database
    save_many = store.save_many
    store.save_many = lambda items: (tries.append(len(items)), save_many(items))[1]
    start_subscribed(ing)
    name = psycopg.conninfo.conninfo_to_dict(postgres_url)["dbname"]
    admin = psycopg.connect(PG_BASE_URL, autocommit=True)
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    try:
        with caplog.at_level(logging.WARNING, logger="rollsense.ingest"):
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s", (name,))
            obs.publish("rollsense/dev-g/session", summary("held"))
            obs.publish("rollsense/dev-g/event", {"msg_id": "held-e", "event_type": "cue"})
            obs.publish("rollsense/dev-g/status", "online")
            wait_until(lambda: ing.stats["store_outages"] == 1, what="the outage noticed")
            noticed = len(tries)
            wait_until(lambda: len(tries) >= noticed + 2, what="the writer trying again")
            # a few tries later: still held
            assert obs.on("rollsense/dev-g/ack") == [] and told == []
            assert ing.stats["dropped"] == 0
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            wait_until(lambda: len(obs.on("rollsense/dev-g/ack")) == 1, timeout_s=15,
                       what="the summary stored and acked once the database is back")
            wait_until(lambda: sorted(told) == ["event", "session", "status"],
                       what="all three announced")
        assert count(store, "sessions") == 1 and count(store, "events") == 1
        messages = [r.getMessage() for r in caplog.records]
        assert sum(m.startswith("store unavailable") for m in messages) == 1
        assert any(m.startswith("store back after") for m in messages)
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        obs.close()
        ing.stop()
        store.close()


def test_ingest_into_postgresql(fresh_broker, postgres_url):
    store = open_store(postgres_url)
    ing = Ingest(fresh_broker.url, store, client_id="dash-pg")
    subacks = Subacks.of(ing)
    ing.start()
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    try:
        assert ing.wait_connected(10)
        subacks.wait()
        for _ in range(2):
            obs.publish("rollsense/dev-p/session", summary("pg1"))
        obs.wait_topic("rollsense/dev-p/ack", 2)
        assert store.query(
            "SELECT session_id, passes FROM sessions WHERE device_id = ?", ("dev-p",)
        ) == [{"session_id": "pg1", "passes": 5}]
    finally:
        obs.close()
        ing.stop()
        store.close()


def test_a_burst_from_many_devices_is_stored_and_told_once(fresh_broker, store, ingest):
    """Events and summaries go through the writer thread in batches: each stored once, each
    listener told once, every summary acked, whatever shares a transaction."""
    told = []
    ingest.add_listener(lambda kind, dev, p: told.append((kind, p.get("msg_id"))))
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    try:
        for i in range(150):
            ev = {"msg_id": f"burst-{i}", "session_id": "sb", "event_type": "pass_completed"}
            obs.publish(f"rollsense/dev-{i % 5}/event", ev)
            if i % 30 == 0:
                obs.publish(f"rollsense/dev-{i % 5}/event", ev)  # a re-send
        for d in range(5):
            obs.publish(f"rollsense/dev-{d}/session", summary(f"sb-{d}"))
            obs.publish(f"rollsense/dev-{d}/session", summary(f"sb-{d}"))
        wait_until(lambda: sum(len(obs.on(f"rollsense/dev-{d}/ack")) for d in range(5)) == 10,
                   what="every summary acked, the re-sends too")
        wait_until(lambda: ingest.stats["events"] == 150, what="all events stored")
        assert count(store, "events") == 150 and count(store, "sessions") == 5
        events = [m for k, m in told if k == "event"]
        assert len(events) == 150 and len(set(events)) == 150
        assert sum(1 for k, _ in told if k == "session") == 5  # the duplicates are not news
        assert ingest.stats["sessions_new"] == 5 and ingest.stats["sessions_dup"] == 5
    finally:
        obs.close()


def test_an_event_not_yet_stored_is_not_acknowledged(fresh_broker, tmp_path):
    """The PUBACK follows the commit: if the ingest dies while its write waits on the database,
    the broker delivers the message again to the next ingest with the same client id."""
    path = tmp_path / "first.db"
    first_store = open_store(f"sqlite:///{path}")
    first = Ingest(fresh_broker.url, first_store, client_id="dash-crash")
    at_database = threading.Event()  # the writer has the event and waits on the lock
    save_many = first_store.save_many
    first_store.save_many = lambda items: (at_database.set(), save_many(items))[1]
    start_subscribed(first)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # the ingest's next write waits for this lock
    obs = Observer(fresh_broker.url, topics=())
    second_store = open_store(f"sqlite:///{tmp_path / 'second.db'}")
    second = Ingest(fresh_broker.url, second_store, client_id="dash-crash")
    try:
        obs.publish("rollsense/dev-k/event", {"msg_id": "k1", "session_id": "s",
                                              "event_type": "cue"})
        assert at_database.wait(10)  # received, and waiting on the database
        mark = log_mark(fresh_broker)
        first.client.loop_stop()  # the ingest dies: its connection drops, nothing PUBACKed
        first.client.socket().close()
        wait_logged(fresh_broker, r"[Cc]lient dash-crash (closed its connection|disconnected)",
                    since=mark)  # the broker has seen it go
        second.start()
        wait_until(lambda: count(second_store, "events") == 1, timeout_s=10,
                   what="the broker delivering the un-acknowledged event again")
    finally:
        locker.rollback()
        locker.close()
        obs.close()
        second.stop()
        first.stop()
        first_store.close()
        second_store.close()


def test_status_and_info_wait_for_the_database_in_the_writer_not_the_mqtt_thread(
    fresh_broker, tmp_path
):
    """While the database is locked, status and info wait in the writer's queue (un-PUBACKed,
    unannounced) and what needs no store (a command result) still comes through at once;
    when the lock goes, they are stored in order and announced."""
    told = []
    with ingest_on_locked_sqlite(fresh_broker, tmp_path / "locked.db", "dash-locked",
                                 lambda kind, dev, p: told.append((kind, p))) as (
            store, ing, locker, obs):
        locker.execute("BEGIN EXCLUSIVE")
        obs.publish("rollsense/dev-l/status", "online")
        obs.publish("rollsense/dev-l/info", {"firmware": "2.0"})
        obs.publish("rollsense/dev-l/status", "offline")
        obs.publish("rollsense/dev-l/cmd/start/result", {"id": "c1", "status": "ok"})
        wait_until(lambda: any(k == "result" for k, _ in told), timeout_s=3,
                   what="the result, past the status stuck on the database")
        assert [k for k, _ in told] == ["result"]
        locker.rollback()
        wait_until(lambda: len(told) == 4, what="status and info once the lock is gone")
        assert told[1:] == [("status", {"status": "online"}), ("info", {"firmware": "2.0"}),
                            ("status", {"status": "offline"})]
        dev = store.query("SELECT status, info_json FROM devices WHERE device_id = 'dev-l'")[0]
        assert dev["status"] == "offline" and json.loads(dev["info_json"]) == {"firmware": "2.0"}


def test_a_message_the_database_refuses_does_not_cost_its_batch_the_others(
    fresh_broker, tmp_path, caplog
):
    """Events queued while the database is locked are stored in one batch; when a trigger
    refuses one of them, the batch is stored message by message: the rest are kept and
    announced, the refused one gets one log line, and all are PUBACKed."""
    told = []
    at_database = []  # the size of each batch the writer takes to the (locked) database
    poison = ("CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.event_type = 'poison' "
              "BEGIN SELECT RAISE(ABORT, 'poisoned event'); END")
    with ingest_on_locked_sqlite(
            fresh_broker, tmp_path / "poison.db", "dash-poison",
            lambda kind, dev, p: kind == "event" and told.append(p["msg_id"]), poison) as (
            store, ing, locker, obs):
        save_many = store.save_many
        store.save_many = lambda items: (at_database.append(len(items)), save_many(items))[1]
        locker.execute("BEGIN EXCLUSIVE")
        for i in range(6):
            kind = "poison" if i == 3 else "cue"
            obs.publish("rollsense/dev-p/event", {"msg_id": f"p{i}", "event_type": kind})
        wait_until(lambda: at_database and at_database[0] + ing.backlog == 6,
                   what="all six queued behind the lock")
        with caplog.at_level(logging.ERROR, logger="rollsense.ingest"):
            locker.rollback()
            wait_until(lambda: len(told) == 5, what="the five good events")
        assert sorted(told) == ["p0", "p1", "p2", "p4", "p5"]
        assert count(store, "events") == 5 and ing.stats["dropped"] == 1
        assert [r.getMessage() for r in caplog.records] == [
            "could not store event from dev-p: poisoned event"]
        ing.stop()  # all were PUBACKed: the broker has nothing to deliver again
        again = Ingest(fresh_broker.url, store, client_id="dash-poison")
        try:
            start_subscribed(again)
            # a message after the SUBACK comes after anything the broker had kept for this
            # session: once it is stored, a redelivery would have been stored (and counted) too
            obs.publish("rollsense/dev-probe/status", "online")
            wait_until(lambda: count(store, "devices", "device_id = ?", ("dev-probe",)) == 1,
                       what="the probe after any redelivery")
            assert again.stats["dropped"] == 0 and again.stats["events"] == 0
        finally:
            again.stop()


def test_the_broker_keeps_sending_while_a_commit_is_waited_for(fresh_broker, tmp_path):
    """The PUBACK waits for the commit, so the ingest announces a Receive Maximum: the
    broker keeps sending past Mosquitto's default of 20 un-PUBACKed messages per client,
    and a slow commit does not leave the rest of a burst queued in the broker."""
    with ingest_on_locked_sqlite(fresh_broker, tmp_path / "slow.db", "dash-window") as (
            store, ing, locker, obs):
        locker.execute("BEGIN EXCLUSIVE")  # the writer's first batch waits on this lock
        for i in range(300):
            obs.publish(f"rollsense/dev-{i % 10}/event", {"msg_id": f"win{i}", "event_type": "cue"})
        wait_until(lambda: ing.backlog >= 250, what="the burst received while nothing is acked")
        locker.rollback()
        wait_until(lambda: count(store, "events") == 300 and ing.backlog == 0,
                   what="all stored once the lock is gone")


def test_telemetry_connection_is_shared_and_comes_back_after_a_broker_restart(
    fresh_broker, store
):
    """Telemetry has its own (MQTT 3.1.1) connection: shared workers split it, each sample is
    handled once, and it reconnects and resubscribes on its own after an outage."""
    workers = [
        Ingest(fresh_broker.url, store, client_id=f"tw{i}", shared_group="ingest",
               telemetry_min_interval_s=0.0)
        for i in range(2)
    ]
    seen: list[tuple[int, int]] = []
    subacks = [Subacks.of(w) for w in workers]
    for i, (w, s) in enumerate(zip(workers, subacks, strict=True)):
        w.add_listener(lambda kind, dev, p, i=i: kind == "telemetry" and seen.append((i, p["n"])))
        w.start()
        assert w.wait_connected(10)
        s.wait()

    def send(first: int, n: int) -> None:
        obs = Observer(fresh_broker.url, topics=())
        try:
            for k in range(first, first + n):
                obs.publish("rollsense/dev-t/telemetry", {"n": k, "v": 1}, qos=0)
        finally:
            obs.close()

    try:
        send(0, 40)
        wait_until(lambda: len(seen) == 40, what="40 samples")
        assert sorted(n for _, n in seen) == list(range(40))  # each once, none twice
        assert {i for i, _ in seen} == {0, 1}  # split between the workers
        fresh_broker.restart()
        wait_until(lambda: all(w.connected for w in workers), timeout_s=20, what="reconnected")
        for s in subacks:
            s.wait(2, timeout_s=20)  # subscribed again
        send(100, 10)
        wait_until(lambda: len(seen) == 50, what="samples after the outage")
        for w in workers:
            w.flush_telemetry()
        assert count(store, "telemetry") == 50
    finally:
        for w in workers:
            w.stop()


def _healthy(port: int) -> bool:
    """The dashboard on ``port`` answers /healthz with 200: its ingest (every worker) subscribed."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("workers", [1, 2])
def test_two_dashboards_on_one_broker_both_stay_connected_and_both_receive(fresh_broker, tmp_path, workers):
    """Two `rollsense dashboard` servers (their own stores) on one broker: each has its own
    client id (a broker closes the older of two connections with one id) and, with worker
    processes, its own shared-subscription group (else the two would split the messages)."""
    urls = [f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db")]
    assert client_id_for(urls[0]) != client_id_for(urls[1])
    assert client_id_for(urls[0]) == client_id_for(str(tmp_path / "a.db"))  # restart: same id
    ports = [free_port(), free_port()]
    stops = [threading.Event(), threading.Event()]
    servers = [threading.Thread(target=run_dashboard, args=(fresh_broker.url, u, "127.0.0.1", port),
                                kwargs={"stop_event": stop, "workers": workers}, daemon=True)
               for u, port, stop in zip(urls, ports, stops, strict=True)]
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    stores = []
    try:
        for t in servers:
            t.start()
        for port in ports:
            wait_until(lambda port=port: _healthy(port), 60, "dashboard subscribed")
        stores = [open_store(u) for u in urls]
        for i in range(6):
            obs.publish("rollsense/dev-2d/session", summary(f"two-{i}"))
            obs.publish("rollsense/dev-2d/event", {"event_type": "cue", "msg_id": f"e{i}",
                                                     "session_id": f"two-{i}", "v": 1, "seq": i,
                                                     "ts": "2026-01-01T10:00:00Z"})
        for s in stores:
            wait_until(lambda s=s: count(s, "sessions") == 6 and count(s, "events") == 6, 20,
                       "both stores hold every session and event")
        obs.wait_topic("rollsense/dev-2d/ack", 12)  # each dashboard acked each session
        log = fresh_broker.log_tail(400)
        assert "already connected" not in log, log
        assert all(_healthy(port) for port in ports)
    finally:
        obs.close()
        for s in stores:
            s.close()
        for stop in stops:
            stop.set()
        for t in servers:
            t.join(30)
