"""The plan reminder for Home Assistant (issue 22): each person is an MQTT ``event`` entity
(discovery config ``homeassistant/event/rollsense_reminder_<person id>/config``, retained,
``event_types`` ``due`` and ``skipped``), and at the reminder time (local, ``--reminder-at
HH:MM``, 18:00 by default) the dashboard publishes on its state topic, once a day per person:

    {"event_type": "due", "person": "Ann", "programs": ["Lower body"],
     "text": "Lower body is due today (calf not rolled for 5 days)"}

for a person with a planned programme not yet done today, and ``skipped`` (``"text": "Lower
body was skipped yesterday"``) for a programme planned yesterday with nothing done. What was
sent is kept in the store (``reminders_sent``), so a restart does not send it again. An
automation in Home Assistant turns the event into a phone notification.

The clock is injected (``now``: a function giving the local, aware datetime); ``tick(now)``
does one round and returns what it sent, so tests drive it without waiting for 18:00.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta

from dashboard import plans as pl
from firmware.common import wire
from firmware.common.errors import ConfigError
from firmware.common.mqtt_url import make_client, parse_broker_url

DEFAULT_AT = "18:00"
TICK_S = 30.0  # how often the thread looks at the clock
log = logging.getLogger("rollsense.dashboard.reminders")


def parse_reminder_at(text: str) -> time | None:
    """``HH:MM`` (24-hour, local) as a time; ``off``: None. ConfigError (one line) if neither."""
    t = str(text).strip().lower()
    if t == "off":
        return None
    hh, sep, mm = t.partition(":")
    if sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and 0 <= int(hh) <= 23 and 0 <= int(mm) <= 59:
        return time(int(hh), int(mm))
    raise ConfigError(f"--reminder-at {str(text)[:20]!r}: give a local time HH:MM (e.g. 18:00), or off")


def discovery(person: dict) -> tuple[str, dict]:
    """The retained discovery config of a person's reminder entity: (topic, payload)."""
    oid = wire.ha_reminder_object_id(person["id"])
    return wire.ha_event_topic(oid, "config"), {
        "name": f"{person['name']} plan reminder",
        "unique_id": oid,
        "object_id": oid,
        "state_topic": wire.ha_event_topic(oid, "state"),
        "event_types": list(wire.REMINDER_EVENT_TYPES),
        "icon": "mdi:calendar-check",
        "qos": 1,
        "dev": {"ids": ["rollsense_dashboard"], "name": "rollsense dashboard", "mf": "rollsense"},
        "o": {"name": "rollsense"},
    }


def messages(store, today, now_local: datetime) -> list[tuple[str, str, str, dict]]:
    """The reminders due at ``now_local`` not sent yet: (person id, day, kind, payload)."""
    out = []
    yesterday = today - timedelta(days=1)
    for day in pl.household_day(store, today):
        person = day.person
        gone = [p for p, d in day.skipped if d == yesterday]
        if gone and not pl.was_sent(store, person["id"], yesterday, "skipped"):
            titles = [p.title for p in gone]
            out.append((person["id"], yesterday.isoformat(), "skipped", {
                "event_type": "skipped", "person": person["name"], "programs": titles,
                "text": f"{' and '.join(titles)} {'was' if len(titles) == 1 else 'were'} skipped yesterday"}))
        text = day.reminder_text()
        if text and not pl.was_sent(store, person["id"], today, "due"):
            out.append((person["id"], today.isoformat(), "due", {
                "event_type": "due", "person": person["name"],
                "programs": [p.program.title for p in day.not_done], "text": text}))
    return out


class Reminders:
    """Publishes the reminder entities and their events on its own broker connection (the
    dashboard's login; the broker's ACL lets it write ``homeassistant/event/#``)."""

    def __init__(self, store, broker_url: str, at: time, *, client_id: str,
                 now: Callable[[], datetime] | None = None, tick_s: float = TICK_S) -> None:
        self.store = store
        self.at = at
        self.now = now or (lambda: datetime.now().astimezone())
        self.tick_s = tick_s
        self.address = parse_broker_url(broker_url)
        self.client = make_client(self.address, client_id)
        self.client.on_connect = self._on_connect
        self._announced: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        pl.ensure_plan_tables(store)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the dashboard's reminder connection: %s", reason_code)
            return
        with self._lock:
            self._announced.clear()  # announce again: the broker may have lost its retained ones
        self.connected.set()
        self.announce()

    def announce(self) -> list[str]:
        """Publish the discovery config of every person not announced on this connection."""
        sent = []
        for person in self.store.people():
            with self._lock:
                if person["id"] in self._announced:
                    continue
                self._announced.add(person["id"])
            topic, config = discovery(person)
            self.client.publish(topic, json.dumps(config), qos=1, retain=True)
            sent.append(topic)
        return sent

    def tick(self, now_local: datetime | None = None) -> list[dict]:
        """One round at ``now_local`` (default: the clock): new people announced; at or after
        the reminder time, each reminder not yet sent today published and remembered."""
        now_local = now_local or self.now()
        self.announce()
        if now_local.timetz().replace(tzinfo=None) < self.at:
            return []
        sent = []
        for person_id, day, kind, payload in messages(self.store, now_local.date(), now_local):
            if pl.mark_sent(self.store, person_id, datetime.fromisoformat(day).date(), kind):
                topic = wire.ha_event_topic(wire.ha_reminder_object_id(person_id), "state")
                self.client.publish(topic, json.dumps(payload), qos=1, retain=False)
                sent.append(payload)
        return sent

    def start(self) -> None:
        self.client.connect_async(self.address.host, self.address.port)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="dashboard-reminders", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.connected.is_set():
                try:
                    self.tick()
                except Exception:  # a store hiccup: try again on the next round
                    log.exception("plan reminders: a round failed")
            self._stop.wait(self.tick_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.client.disconnect()
        self.client.loop_stop()
