"""Ingest worker processes (dashboard/workers.py) against a real Mosquitto and real stores:
each message stored and told once, pairing through the dashboard process, a killed worker
started again with what it had not acknowledged, a clean stop."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading

import pytest

from dashboard.store import open_store
from dashboard.workers import IngestGroup
from firmware.common.clock import MonotonicClock
from firmware.common.errors import CommandError
from firmware.edge.journal import Journal
from firmware.edge.link import Link, LinkSettings
from tests.conftest import log_mark, wait_logged, wait_subacked
from tests.dashboard.test_ingest import count, summary
from tests.firmware.edge.test_link import Observer, wait_until


class Told:
    """A listener in the dashboard process (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[str, str, dict]] = []

    def __call__(self, kind, device_id, payload) -> None:
        with self.lock:
            self.items.append((kind, device_id, payload))

    def of(self, kind: str) -> list[dict]:
        with self.lock:
            return [p for k, _, p in self.items if k == kind]


@pytest.fixture
def fresh_broker(chatty_broker):
    """This module's broker logs what it sends (conftest.chatty_broker): the workers are
    other processes, so their SUBACKs and deliveries are waited for in its log."""
    return chatty_broker


@pytest.fixture
def group_on(fresh_broker):
    groups = []

    def make(db_url: str, workers: int = 2) -> tuple[IngestGroup, Told]:
        store = open_store(db_url)
        group = IngestGroup(fresh_broker.url, db_url, store, workers, client_id="dash-w",
                            group="dash-w")
        told = Told()
        group.add_listener(told)
        group.start()
        groups.append((group, store))
        assert group.wait_connected(30)
        wait_subacked(fresh_broker, ["dash-w-commands"] + [
            name for w in group.workers for name in (w.client_id, f"{w.client_id}-telemetry")])
        return group, told

    yield make
    for group, store in groups:
        group.stop()
        store.close()


def test_worker_processes_store_each_message_once_and_tell_the_dashboard_process(
    fresh_broker, postgres_url, group_on
):
    group, told = group_on(postgres_url)
    wait_until(lambda: group.health()["ok"], what="every worker reporting its health")
    assert [w["name"] for w in group.health()["workers"]] == ["dash-w-1", "dash-w-2"]
    pids = {w.proc.pid for w in group.workers}
    assert len(pids) == 2 and os.getpid() not in pids  # processes of their own
    os.kill(group.workers[0].proc.pid, signal.SIGTERM)  # systemd's stop reaches the group:
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))  # the dashboard stops them
    store = open_store(postgres_url)
    try:
        for i in range(40):
            dev = f"dev-{i % 4}"
            obs.publish(f"rollsense/{dev}/event", {"msg_id": f"w{i}", "event_type": "cue",
                                                   "session_id": f"sw-{dev}"})
            obs.publish(f"rollsense/{dev}/telemetry", {"session_id": f"sw-{dev}", "t_s": i},
                        qos=0)
        for d in range(4):
            obs.publish(f"rollsense/dev-{d}/status", "online", retain=True)
            obs.publish(f"rollsense/dev-{d}/session", summary(f"sw-dev-{d}"))
            obs.publish(f"rollsense/dev-{d}/session", summary(f"sw-dev-{d}"))  # a re-send
        wait_until(lambda: sum(len(obs.on(f"rollsense/dev-{d}/ack")) for d in range(4)) == 8,
                   what="every summary acked, the re-sends too")
        wait_until(lambda: len(told.of("event")) == 40 and len(told.of("status")) == 4,
                   what="the dashboard process told of every event and status")
        assert sorted(p["msg_id"] for p in told.of("event")) == sorted(f"w{i}" for i in range(40))
        assert len(told.of("session")) == 4  # the re-sends are not news
        assert len(told.of("telemetry")) == 40  # live data reaches the live view too
        assert count(store, "events") == 40 and count(store, "sessions") == 4
        assert {w.proc.pid for w in group.workers} == pids and not any(
            w.restarts for w in group.workers)  # SIGTERM was ignored
    finally:
        obs.close()
        store.close()
    group.stop()
    assert [w.proc.exitcode for w in group.workers] == [0, 0]  # stopped, not killed


def test_pairing_goes_through_the_dashboard_process(fresh_broker, tmp_path, group_on):
    """Command results come to the dashboard process alone, which knows the pairings it
    asked for; the workers (other processes) never see them."""
    db_url = f"sqlite:///{tmp_path / 'pair.db'}"
    group, told = group_on(db_url)
    journal = Journal(tmp_path / "j.db")
    link = Link("dev-p", fresh_broker.url, journal, MonotonicClock(), {},
                LinkSettings(reconnect_max_s=1))

    def handler(name, args):
        if args.get("code") != "424242":
            raise CommandError("wrong pairing code")
        return {"paired": True}

    link.on_command = handler
    link.start()
    store = open_store(db_url)
    try:
        wait_until(lambda: link.subscribed, what="the link subscribed to its commands")
        group.send_command("dev-p", "pair", {"code": "000000"})
        wait_until(lambda: len(told.of("result")) == 1, what="the refused pairing's result")
        cid = group.send_command("dev-p", "pair", {"code": "424242"})
        wait_until(lambda: len(told.of("result")) == 2, what="the pairing's result")
        assert told.of("result")[1]["id"] == cid and told.of("result")[1]["status"] == "ok"
        wait_until(lambda: store.query("SELECT paired FROM devices WHERE device_id = 'dev-p'")
                   == [{"paired": 1}], what="the device marked paired")
    finally:
        link.stop()
        journal.close()
        store.close()


def test_a_killed_worker_is_started_again_and_gets_what_it_had_not_acknowledged(
    fresh_broker, tmp_path, group_on, caplog
):
    path = tmp_path / "kill.db"
    group, told = group_on(f"sqlite:///{path}")
    locker = sqlite3.connect(path, isolation_level=None)
    obs = Observer(fresh_broker.url, topics=())
    try:
        locker.execute("BEGIN EXCLUSIVE")  # the workers' writes wait: nothing PUBACKed
        mark = log_mark(fresh_broker)
        for i in range(10):
            obs.publish("rollsense/dev-k/event", {"msg_id": f"k{i}", "event_type": "cue"})
        wait_logged(fresh_broker, r"Sending PUBLISH to dash-w-\d \(.*'rollsense/dev-k/event'", 10,
                    since=mark)  # all ten sent to the workers
        mark = log_mark(fresh_broker)
        for w in group.workers:
            os.kill(w.proc.pid, signal.SIGKILL)
        wait_logged(fresh_broker, r"Client dash-w-\d closed its connection", len(group.workers),
                    since=mark)  # the broker has seen both go, their messages un-PUBACKed
        locker.rollback()
        wait_until(lambda: not group.health()["ok"], what="health to tell the workers gone")
        wait_until(lambda: all(w.restarts == 1 and w.ready.is_set() for w in group.workers),
                   timeout_s=30, what="both workers started again")
        wait_until(lambda: group.health()["ok"], what="health to tell them back")
        assert [w["restarts"] for w in group.health()["workers"]] == [1, 1]
        wait_until(lambda: len({p["msg_id"] for p in told.of("event")}) == 10, timeout_s=20,
                   what="the broker delivering the un-acknowledged events again")
        store = open_store(f"sqlite:///{path}")
        try:
            assert count(store, "events") == 10
        finally:
            store.close()
        assert sum("exited (code -9); starting it again" in r.getMessage()
                   for r in caplog.records) == 2
    finally:
        locker.close()
        obs.close()


def test_a_worker_that_cannot_open_its_store_says_so_and_is_tried_again_later(
    fresh_broker, tmp_path, caplog, capfd
):
    """Its database refuses connections: one line from the worker, and the dashboard process
    starts it again with a growing delay instead of in a tight loop."""
    store = open_store(f"sqlite:///{tmp_path / 'web.db'}")
    bad_url = "postgresql://rollsense@127.0.0.1:1/nothing"  # nothing listens on port 1
    group = IngestGroup(fresh_broker.url, bad_url, store, 1, client_id="dash-nodb", group="g")
    group.workers[0].restart_s = 0.2
    group.start()
    try:
        wait_until(lambda: group.workers[0].restarts >= 2, timeout_s=20,
                   what="the worker started again")
        assert not group.health()["ok"]
        delays = [r.getMessage().rsplit(" ", 2)[-2] for r in caplog.records
                  if "exited (code 2); starting it again in" in r.getMessage()]
        assert delays[:2] == ["0.2", "0.4"]  # doubling, up to MAX_RESTART_S
        err = capfd.readouterr().err
        line = "rollsense ingest worker dash-nodb-1: cannot connect to PostgreSQL store"
        assert err.count(line) >= 2 and "Traceback" not in err
    finally:
        group.stop()
        store.close()


def test_two_dashboards_on_one_shared_subscription_store_once_and_both_see_everything(
    fresh_broker, postgres_url
):
    """Two dashboards, as two hosts would run them: their own processes, client ids and
    connections to one store (PostgreSQL), their workers in one $share group. The broker
    gives each message to one worker of either dashboard, so each is stored once; each
    dashboard's live view hears everything, from the broker and the store (live="broker"),
    not from its own workers alone."""
    dashboards = []
    for name in ("host-a", "host-b"):
        store = open_store(postgres_url)
        group = IngestGroup(fresh_broker.url, postgres_url, store, 1, client_id=name,
                            group="fleet", live="broker")
        told = Told()
        group.add_listener(told)
        group.start()
        dashboards.append((group, store, told))
    for group, _, _ in dashboards:
        assert group.wait_connected(30)
    wait_subacked(fresh_broker, [f"{name}-{part}" for name in ("host-a", "host-b")
                                 for part in ("commands", "live", "1", "1-telemetry")])
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    store = open_store(postgres_url)
    try:
        for i in range(40):
            dev = f"dev-{i % 4}"
            obs.publish(f"rollsense/{dev}/event", {"msg_id": f"h{i}", "event_type": "cue",
                                                   "session_id": f"sh-{dev}"})
            obs.publish(f"rollsense/{dev}/telemetry", {"session_id": f"sh-{dev}", "t_s": i}, qos=0)
        for d in range(4):
            obs.publish(f"rollsense/dev-{d}/status", "online", retain=True)
            obs.publish(f"rollsense/dev-{d}/session", summary(f"sh-dev-{d}"))
            obs.publish(f"rollsense/dev-{d}/session", summary(f"sh-dev-{d}"))  # a re-send
        wait_until(lambda: sum(len(obs.on(f"rollsense/dev-{d}/ack")) for d in range(4)) == 8,
                   what="every summary acked, the re-sends too")
        for _, _, told in dashboards:
            wait_until(lambda told=told: len(told.of("event")) == 40 and len(told.of("session")) == 4
                       and len(told.of("status")) == 4 and len(told.of("telemetry")) == 40,
                       what="each dashboard told of everything")
            assert sorted(p["msg_id"] for p in told.of("event")) == sorted(f"h{i}" for i in range(40))
            assert sorted(p["session_id"] for p in told.of("session")) == [f"sh-dev-{d}" for d in range(4)]
            assert all(p["protocol"] == "quads-roller" for p in told.of("session"))  # from the store
        assert count(store, "events") == 40 and count(store, "sessions") == 4
        for group, _, _ in dashboards:
            live = group.health()["live"]
            assert live["ok"] and live["sessions"] == 4 and live["refused"] == 0
    finally:
        obs.close()
        store.close()
        for group, group_store, _ in dashboards:
            group.stop()
            group_store.close()
    taken = [group.workers[0].stats for group, _, _ in dashboards]
    # one $share group: each message went to one of the two, and each took a share
    assert sum(s["events"] for s in taken) == 40 and all(s["events"] > 0 for s in taken)
    assert sum(s["sessions_new"] for s in taken) == 4
    assert sum(s["sessions_new"] + s["sessions_dup"] for s in taken) == 8  # not 16
