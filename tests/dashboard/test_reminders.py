"""The plan reminder for Home Assistant through a real Mosquitto: each person's event entity
is announced (retained discovery config), the "due" event goes out at the reminder time and
not before, once a day, also across a restart of the dashboard; "skipped" for yesterday;
--reminder-at is checked in one line."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from datetime import date, datetime, time, timedelta

import pytest

from dashboard import plans as pl
from dashboard.reminders import Reminders, parse_reminder_at
from dashboard.store import open_store
from firmware.common import wire
from firmware.common.errors import ConfigError
from firmware.common.mqtt_url import make_client, parse_broker_url
from tests.dashboard.test_people import tagged

TODAY = date(2026, 3, 20)  # a Friday


def local(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm).astimezone()


class Listener:
    """A Home Assistant stand-in: subscribed to homeassistant/event/# (waits for its SUBACK)."""

    def __init__(self, broker_url: str) -> None:
        self.messages: list[tuple[str, dict, bool]] = []
        self.cond = threading.Condition()
        self.client = make_client(parse_broker_url(broker_url), "ha-" + uuid.uuid4().hex[:6])
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(wire.ha_event_topic("+", "+"), qos=1)
        self.client.on_subscribe = lambda *a: self._put(("suback", {}, False))
        self.client.on_message = lambda c, u, m: self._put((m.topic, json.loads(m.payload), bool(m.retain)))
        a = parse_broker_url(broker_url)
        self.client.connect(a.host, a.port)
        self.client.loop_start()
        self.wait(lambda ms: any(t == "suback" for t, _, _ in ms), "the subscription")

    def _put(self, item) -> None:
        with self.cond:
            self.messages.append(item)
            self.cond.notify_all()

    def wait(self, pred, what: str, timeout_s: float = 10.0) -> list:
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.messages), timeout_s), f"no {what}: {self.messages}"
            return list(self.messages)

    def events(self) -> list[dict]:
        with self.cond:
            return [p for t, p, _ in self.messages if t.endswith("/state")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def household(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    pl.ensure_plan_tables(s)
    s.set_device_paired("home-roller", True)
    s.add_person("Ann", 60.0, person_id="ann")
    s.add_person("Bob", 80.0, person_id="bob")
    pl.set_plan(s, "ann", "lower-body", [0, 4], today=TODAY - timedelta(days=30))  # Mon, Fri
    pl.set_plan(s, "bob", "hips", [4], today=TODAY - timedelta(days=30))
    # Ann rolled her calf 5 days ago; Bob did his hips today
    s.save_session("home-roller", tagged("a1", TODAY - timedelta(days=5), person="ann", protocol="calf-stick"))
    for i in range(len(pl.known_programs()["hips"].steps)):
        s.save_session("home-roller", tagged(f"b{i}", TODAY, person="bob", protocol="piriformis-ball",
                                             program_id="hips", program_step=i))
    yield s
    s.close()


def test_reminder_at_is_a_local_time_or_off():
    assert parse_reminder_at("18:00") == time(18, 0) and parse_reminder_at("7:05") == time(7, 5)
    assert parse_reminder_at("off") is None
    for bad in ("25:00", "18", "18:5", "six", "-1:00", "18:60"):
        with pytest.raises(ConfigError, match="HH:MM"):
            parse_reminder_at(bad)


def test_a_bad_reminder_time_is_one_line_and_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "firmware.app.cli", "dashboard", "--db", str(tmp_path / "d.db"),
                        "--reminder-at", "25:00"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert line.endswith("--reminder-at '25:00': give a local time HH:MM (e.g. 18:00), or off"), line


def test_due_reminder_reaches_home_assistant_once_a_day(fresh_broker, household):
    ha = Listener(fresh_broker.url)
    clock = {"now": local(TODAY, 17, 59)}
    rem = Reminders(household, fresh_broker.url, time(18, 0), client_id="dash-rem",
                    now=lambda: clock["now"], tick_s=3600)
    try:
        rem.start()
        configs = ha.wait(lambda ms: sum(t.endswith("/config") for t, _, _ in ms) == 2, "discovery configs")
        by_topic = {t: (p, retained) for t, p, retained in configs if t.endswith("/config")}
        topic = "homeassistant/event/rollsense_reminder_ann/config"
        config, _ = by_topic[topic]
        assert config["event_types"] == ["due", "skipped"]
        assert config["state_topic"] == "homeassistant/event/rollsense_reminder_ann/state"
        assert config["name"] == "Ann plan reminder" and config["unique_id"] == "rollsense_reminder_ann"
        assert rem.tick(local(TODAY, 17, 59)) == []  # before the reminder time
        sent = rem.tick(local(TODAY, 18, 0))
        # Ann's Monday was skipped (nothing that day) and Friday's lower body is due; Bob is done
        assert [p["event_type"] for p in sent] == ["due"]
        got = ha.wait(lambda ms: any(t.endswith("ann/state") for t, _, _ in ms), "the due event")
        (event,) = [p for t, p, _ in got if t.endswith("ann/state")]
        assert event == {"event_type": "due", "person": "Ann", "programs": ["Lower body"],
                         "text": "Lower body is due today (IT band not rolled yet; quads not rolled yet; "
                                 "calf not rolled for 5 days)"}
        assert rem.tick(local(TODAY, 19, 30)) == []  # once a day
    finally:
        rem.stop()
    # a restarted dashboard remembers it: nothing sent again, the config announced again
    again = Reminders(household, fresh_broker.url, time(18, 0), client_id="dash-rem2",
                      now=lambda: local(TODAY, 20, 0), tick_s=3600)
    try:
        again.start()
        assert again.connected.wait(10)
        assert again.tick() == []
    finally:
        again.stop()
        ha.close()
    assert [p["event_type"] for p in ha.events()] == ["due"]


def test_skipped_yesterday_is_sent_the_next_reminder(fresh_broker, household):
    ha = Listener(fresh_broker.url)
    # the background round runs before the reminder time (sends nothing), this test's at 18:05
    rem = Reminders(household, fresh_broker.url, time(18, 0), client_id="dash-rem3", tick_s=3600,
                    now=lambda: local(TODAY + timedelta(days=1), 17, 0))
    try:
        rem.start()
        assert rem.connected.wait(10)
        sent = rem.tick(local(TODAY + timedelta(days=1), 18, 5))
        assert sent == [{"event_type": "skipped", "person": "Ann", "programs": ["Lower body"],
                         "text": "Lower body was skipped yesterday"}]
        ha.wait(lambda ms: any(t.endswith("ann/state") for t, _, _ in ms), "the skipped event")
        assert rem.tick(local(TODAY + timedelta(days=1), 18, 30)) == []
    finally:
        rem.stop()
        ha.close()
