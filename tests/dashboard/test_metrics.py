"""/metrics (issue 24): real messages through a real Mosquitto into a real ingest, scraped over
HTTP and read back with prometheus_client's own parser; the counts are what was sent."""

from __future__ import annotations

import base64
import sqlite3
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from dashboard import auth, web
from dashboard.ingest import Ingest
from dashboard.metrics import DashboardCollector, exposition
from dashboard.retention import TelemetryRetention
from dashboard.server import run_dashboard
from dashboard.store import open_store
from dashboard.workers import IngestGroup
from firmware.common.wire import utc_iso
from firmware.edge.broker import free_port
from tests.conftest import log_mark, start_subscribed, wait_logged, wait_subacked
from tests.dashboard.test_ingest import count, summary
from tests.dashboard.test_web import call, serve, session_cookie
from tests.firmware.edge.test_link import Observer, wait_until


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, frozenset of labels without ``worker``): value summed over workers}."""
    out: dict[tuple, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset((k, v) for k, v in s.labels.items() if k != "worker"))
            out[key] = out.get(key, 0.0) + s.value
    return out


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def ts_ago(seconds: float) -> str:
    return utc_iso(datetime.fromtimestamp(time.time() - seconds, UTC))


def scrape(addr, **kw) -> dict:
    status, headers, body = call(addr, "GET", "/metrics", **kw)
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain")
    return samples(body)


def test_metrics_count_what_the_broker_delivered(fresh_broker, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    ing = start_subscribed(Ingest(fresh_broker.url, store, client_id="dash-metrics",
                                  telemetry_min_interval_s=0.0))
    retention = TelemetryRetention(store, 90)
    retention.run_once()
    app = web.create_app(store, ing, auth_required=False, secret_key="k" * 32, retention=retention)
    obs = Observer(fresh_broker.url, topics=())
    try:
        with serve(app) as addr:
            for i in range(3):
                obs.publish("rollsense/dev-m/session", summary(f"s{i}", ts=ts_ago(0)))
            obs.publish("rollsense/dev-m/session", summary("s0", ts=ts_ago(0)))  # again: a duplicate
            for i in range(5):  # published 2 s before they arrive (the envelope's ts)
                obs.publish("rollsense/dev-m/event", {"msg_id": f"e{i}", "event_type": "cue",
                                                      "ts": ts_ago(2.0)})
            obs.publish("rollsense/dev-m/event", {"event_type": "cue"})  # no msg_id: quarantined
            for i in range(4):
                obs.publish(f"rollsense/dev-t{i}/telemetry", {"t_s": 1.0, "speed_mps": 0.1,
                                                              "ts": ts_ago(0)}, qos=0)
            wait_until(lambda: ing.stats["sessions_new"] + ing.stats["sessions_dup"] == 4
                       and ing.stats["events"] == 5 and ing.stats["quarantined"] == 1,
                       what="everything stored")
            wait_until(lambda: (ing.flush_telemetry(), ing.stats["telemetry"] == 4)[1],
                       what="the telemetry flushed")
            m = scrape(addr)
    finally:
        obs.close()
        ing.stop()
        store.close()
    received = "rollsense_ingest_messages_received_total"
    assert [value(m, received, kind=k) for k in ("session", "event", "telemetry")] == [4, 6, 4]
    assert value(m, "rollsense_ingest_stored_total", kind="session") == 3
    assert value(m, "rollsense_ingest_stored_total", kind="event") == 5
    assert value(m, "rollsense_ingest_stored_total", kind="telemetry") == 4
    assert value(m, "rollsense_ingest_duplicates_total", kind="session") == 1
    assert value(m, "rollsense_ingest_quarantined_total") == 1
    assert value(m, "rollsense_ingest_redeliveries_total", kind="event") == 0
    batches = value(m, "rollsense_ingest_batches_total", writer="messages")
    assert 1 <= batches <= 10  # 10 messages, whatever the writer gathered into one commit
    assert value(m, "rollsense_ingest_commit_seconds_count", writer="messages") == batches
    assert value(m, "rollsense_ingest_batches_total", writer="telemetry") >= 1
    # the lag: every stored event and session counted once; the events' 2 s show
    assert value(m, "rollsense_ingest_lag_seconds_count", kind="event") == 5
    assert value(m, "rollsense_ingest_lag_seconds_count", kind="session") == 4
    assert value(m, "rollsense_ingest_lag_seconds_count", kind="telemetry") == 4
    assert value(m, "rollsense_ingest_lag_seconds_bucket", kind="event", le="1.0") == 0
    assert value(m, "rollsense_ingest_lag_seconds_bucket", kind="event", le="+Inf") == 5
    assert value(m, "rollsense_ingest_lag_seconds_sum", kind="event") >= 10.0
    assert value(m, "rollsense_ingest_workers") == 1 and value(m, "rollsense_ingest_workers_alive") == 1
    assert value(m, "rollsense_telemetry_retention_runs_total") == 1
    assert value(m, "rollsense_telemetry_retention_days") == 90


def test_metrics_need_a_login_behind_the_login_wall(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    auth.add_user(store, "ana", "correct horse")
    app = web.create_app(store, None, auth_required=True, secret_key="k" * 32)

    def basic(user: str, password: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    try:
        with serve(app) as addr:
            status, headers, body = call(addr, "GET", "/metrics")
            assert status == 401 and headers["www-authenticate"].startswith("Basic")
            assert "rollsense_" not in body
            assert call(addr, "GET", "/metrics", headers=basic("ana", "wrong"))[0] == 401
            assert call(addr, "GET", "/metrics", headers={"Authorization": "Basic %%%"})[0] == 401
            scrape(addr, headers=basic("ana", "correct horse"))
            status, headers, _ = call(addr, "POST", "/login", form={
                "username": "ana", "password": "correct horse", "next": "/"})
            scrape(addr, cookie=session_cookie(headers))
    finally:
        store.close()


def test_a_redelivered_message_is_counted(fresh_broker, tmp_path):
    """The broker delivers again what an ingest that died had not PUBACKed, with the DUP
    flag: the next ingest with that client id counts it as a redelivery."""
    path = tmp_path / "first.db"
    first_store = open_store(f"sqlite:///{path}")
    first = Ingest(fresh_broker.url, first_store, client_id="dash-dup")
    at_database = threading.Event()
    save_many = first_store.save_many
    first_store.save_many = lambda items: (at_database.set(), save_many(items))[1]
    start_subscribed(first)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # the first ingest's write waits on this lock
    obs = Observer(fresh_broker.url, topics=())
    second_store = open_store(f"sqlite:///{tmp_path / 'second.db'}")
    second = Ingest(fresh_broker.url, second_store, client_id="dash-dup")
    try:
        obs.publish("rollsense/dev-d/event", {"msg_id": "d1", "event_type": "cue"})
        assert at_database.wait(10)
        mark = log_mark(fresh_broker)
        first.client.loop_stop()  # the ingest dies before its commit: nothing PUBACKed
        first.client.socket().close()
        wait_logged(fresh_broker, r"[Cc]lient dash-dup (closed its connection|disconnected)", since=mark)
        second.start()
        wait_until(lambda: count(second_store, "events") == 1, timeout_s=10, what="the redelivery")
        m = samples(exposition(DashboardCollector(second)).decode())
        assert value(m, "rollsense_ingest_redeliveries_total", kind="event") == 1
        assert value(m, "rollsense_ingest_messages_received_total", kind="event") == 1
    finally:
        locker.rollback()
        locker.close()
        obs.close()
        second.stop()
        first.stop()
        first_store.close()
        second_store.close()


def test_worker_processes_report_their_counts(chatty_broker, tmp_path):
    """With --ingest-workers the counts come from the worker processes (with the health they
    report every second) and add up to what was sent."""
    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    store = open_store(db_url)
    client_id = "dash-mw-" + uuid.uuid4().hex[:6]
    group = IngestGroup(chatty_broker.url, db_url, store, 2, client_id=client_id, group=client_id)
    group.start()
    obs = Observer(chatty_broker.url, topics=())
    try:
        assert group.wait_connected(30)
        wait_subacked(chatty_broker, [client_id + "-commands"] + [
            name for w in group.workers for name in (w.client_id, f"{w.client_id}-telemetry")])
        for i in range(12):
            obs.publish(f"rollsense/dev-w{i % 3}/event", {"msg_id": f"w{i}", "event_type": "cue"})
        wait_until(lambda: count(store, "events") == 12, timeout_s=20, what="12 events stored")

        def scraped() -> dict:
            return samples(exposition(DashboardCollector(group)).decode())

        wait_until(lambda: value(scraped(), "rollsense_ingest_stored_total", kind="event") == 12,
                   timeout_s=10, what="the workers' next reports")
        m = scraped()
        assert value(m, "rollsense_ingest_messages_received_total", kind="event") == 12
        assert value(m, "rollsense_ingest_workers") == 2
        assert value(m, "rollsense_ingest_workers_alive") == 2
        text = exposition(DashboardCollector(group)).decode()
        for w in group.workers:
            assert f'worker="{w.client_id}"' in text
    finally:
        obs.close()
        group.stop()
        store.close()


def test_rollsense_dashboard_runs_retention_and_serves_metrics(fresh_broker, postgres_url):
    """``run_dashboard`` (what ``rollsense dashboard`` runs) starts the retention task, which
    makes the coming week's partition at once, and serves its counters on /metrics."""
    port, stop = free_port(), threading.Event()
    server = threading.Thread(target=run_dashboard, args=(fresh_broker.url, postgres_url, "127.0.0.1", port),
                              kwargs={"stop_event": stop, "telemetry_retention_days": 30}, daemon=True)
    server.start()
    try:
        wait_until(lambda: _scraped(port).get(("rollsense_telemetry_retention_runs_total", frozenset())) == 1,
                   timeout_s=20, what="the first retention run on /metrics")
        m = _scraped(port)
        assert value(m, "rollsense_telemetry_retention_days") == 30
        assert value(m, "rollsense_ingest_workers_alive") == 1
    finally:
        stop.set()
        server.join(15)
    assert not server.is_alive()


def _scraped(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return samples(r.read().decode())
    except OSError:
        return {}
