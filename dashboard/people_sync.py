"""The household's people on its devices (issue 22): the dashboard keeps the people and sends
them, whole, with ``set_profile`` to every paired device; a device that is offline gets them
when it comes back.

    /people change -> push_all: set_profile {"people": [...]} to each paired device online
    ingest sees a device's status "online" -> its people version differs -> set_profile
    the device's result "ok" -> that version is the device's (table device_people)

The people version is a hash of the payload as sent (names, body masses, units and each
person's ``sore`` map), so a device gets the list again whenever any of it changed. Each
payload is checked with the device's own command schema (``firmware.core.commands.check``)
before it leaves: the dashboard never sends what a device refuses. ``sore`` is each
person's last soreness "before" rating per routine and side (the device eases in by it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import UTC, datetime

from dashboard import queries as q
from dashboard.live import status_text
from firmware.common.errors import CommandError, ConfigError
from firmware.common.wire import utc_now_iso
from firmware.core import commands

log = logging.getLogger("rollsense.people")

DEVICE_PEOPLE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS device_people(device_id TEXT PRIMARY KEY, version TEXT, "
    "acked_at TEXT, sent_version TEXT, sent_at TEXT, error TEXT)",
)
PERSON_FIELDS = ("id", "name", "body_mass_kg", "units")


def ensure_device_people_table(store) -> None:
    for sql in DEVICE_PEOPLE_SCHEMA:
        store.execute(sql)


def sore_key(protocol: str, side: str | None) -> str:
    """The key of a routine and side in a person's ``sore`` map: "quads-roller/left", or the
    routine id alone when there is no side (the spine)."""
    return f"{protocol}/{side}" if side else protocol


def sore_maps(store) -> dict[str, dict[str, int]]:
    """Per person id, the last soreness "before" rating stored for each routine and side
    (``sore_key``): the newest session's rating wins."""
    rows = store.query(
        "SELECT s.person_id, s.protocol, s.side, s.soreness_before FROM sessions s "
        "JOIN devices d ON d.device_id = s.device_id WHERE d.paired = ? AND s.person_id IS NOT NULL "
        "AND s.soreness_before IS NOT NULL AND s.protocol IS NOT NULL "
        "ORDER BY s.started_at, s.received_at", (1,))
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        if commands.ROUTINE_RE.fullmatch(r["protocol"]) and r["side"] in (*commands.SIDES, None):
            out.setdefault(r["person_id"], {})[sore_key(r["protocol"], r["side"])] = int(r["soreness_before"])
    return out


def sore_map(store, person_id: str) -> dict[str, int]:
    """One person's ``sore`` map (``sore_maps``)."""
    return sore_maps(store).get(person_id, {})


def _wire_person(person: dict, sore: dict[str, int]) -> dict:
    """One person as set_profile carries them, with their ``sore`` map when the device's own
    rule takes it (it would not past 32 areas: then the device keeps what it remembers)."""
    out = {k: person[k] for k in PERSON_FIELDS if person.get(k) is not None}
    if sore and not commands.person_problem({**out, "sore": sore}):
        out["sore"] = dict(sorted(sore.items()))
    return out


def profile_payload(store) -> dict:
    """``set_profile``'s fields for the household: ``{"people": [every person, oldest first]}``,
    checked against the device's schema (ConfigError, one line, if a device would refuse it:
    more people than a device holds, say)."""
    sores = sore_maps(store)
    payload = {"people": [_wire_person(p, sores.get(p["id"], {})) for p in store.people()]}
    check_payload(payload)
    return payload


def check_payload(payload: dict) -> None:
    """ConfigError unless a device takes ``payload`` as set_profile (decoded and checked as
    the device decodes and checks it: size, depth, schema, cross checks)."""
    raw = json.dumps({"id": "people-check", **payload}, separators=(",", ":"))
    try:
        commands.check("set_profile", raw, datetime.now(UTC))
    except CommandError as e:
        raise ConfigError(f"the devices would refuse these people: {e}") from None


def people_version(payload: dict) -> str:
    """The people version: a hash of the payload as sent."""
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


OFFLINE = "offline: will be sent when it comes back"


def rated_before(summary: dict) -> bool:
    """The summary carries a person's soreness "before" rating."""
    sore = summary.get("soreness")
    return bool(summary.get("person_id")) and isinstance(sore, dict) and sore.get("before") is not None


class PeopleSync:
    """Sends the people to the devices and records which version each device took. Its
    ``on_ingest`` is an ingest listener (any thread): a paired device coming online whose
    version differs gets the people; a device's "ok" to a set_profile records the version."""

    def __init__(self, store, ingest, hub) -> None:
        self.store = store
        self.ingest = ingest
        self.hub = hub
        self._pending: dict[str, tuple[str, str]] = {}  # command id -> (device id, version)
        self._lock = threading.Lock()
        ensure_device_people_table(store)
        if ingest is not None:
            ingest.add_listener(self.on_ingest)

    # -- what each device has
    def versions(self) -> dict[str, dict]:
        """device id -> its device_people row."""
        return {r["device_id"]: r for r in self.store.query(
            "SELECT device_id, version, acked_at, sent_version, sent_at, error FROM device_people")}

    def _record(self, device_id: str, **values) -> None:
        self.store.execute("INSERT INTO device_people(device_id) VALUES (?) ON CONFLICT(device_id) DO NOTHING",
                           (device_id,))
        sets = ", ".join(f"{k} = ?" for k in values)
        self.store.execute(f"UPDATE device_people SET {sets} WHERE device_id = ?", (*values.values(), device_id))

    def current_version(self) -> str:
        """The version of the people as the dashboard has them now (ConfigError if a device
        would refuse them)."""
        return people_version(profile_payload(self.store))

    # -- sending
    def send(self, device_id: str, payload: dict, version: str) -> str:
        """Send set_profile with ``payload`` to ``device_id``; the command id."""
        cmd_id = self.ingest.send_command(device_id, "set_profile", payload)
        with self._lock:
            self._pending[cmd_id] = (device_id, version)
        self._record(device_id, sent_version=version, sent_at=utc_now_iso())
        return cmd_id

    def push_all(self, status_of) -> list[dict]:
        """Send the people to every paired device that is not offline (``status_of(device)``:
        online / offline / unknown); one ``{"device", "cmd_id" | None, "state"}`` per paired
        device ("sending", or OFFLINE, or why nothing was sent)."""
        devices = q.list_devices(self.store, paired_only=True)
        if not devices:
            return []
        try:
            payload = profile_payload(self.store)
        except ConfigError as e:
            return [{"device": d, "cmd_id": None, "state": f"not sent: {e}"} for d in devices]
        version = people_version(payload)
        out = []
        for d in devices:
            if self.ingest is None:
                out.append({"device": d, "cmd_id": None, "state": "not sent: the dashboard has no broker connection"})
            elif status_of(d) == "offline":
                out.append({"device": d, "cmd_id": None, "state": OFFLINE})
            else:
                out.append({"device": d, "cmd_id": self.send(d["device_id"], payload, version), "state": "sending"})
        return out

    def sync_device(self, device_id: str) -> str | None:
        """Send the people to ``device_id`` (paired) if the version it took is not the
        dashboard's; the command id, or None when it is up to date (or not paired)."""
        device = q.get_device(self.store, device_id)
        if device is None or not device["paired"]:
            return None
        payload = profile_payload(self.store)
        version = people_version(payload)
        if self.versions().get(device_id, {}).get("version") == version:
            return None
        if not payload["people"] and device_id not in self.versions():
            return None  # nobody to send, and nothing sent before
        return self.send(device_id, payload, version)

    # -- the ingest listener
    def on_ingest(self, kind: str, device_id: str, payload) -> None:
        if kind == "status" and status_text(payload) == "online":
            try:
                self.sync_device(device_id)
            except ConfigError as e:
                log.warning("people not sent to %s: %s", device_id, e)
        elif kind == "session" and isinstance(payload, dict) and rated_before(payload):
            # a new "before" rating changes that person's sore map: every device not offline
            # gets it now (the one that coached it already remembers it), the rest on return
            for d in q.list_devices(self.store, paired_only=True):
                status = self.hub.snapshot(d["device_id"]).get("status") or d.get("status")
                if status != "offline":
                    try:
                        self.sync_device(d["device_id"])
                    except ConfigError as e:
                        log.warning("people not sent to %s: %s", d["device_id"], e)
        elif kind == "result" and isinstance(payload, dict):
            with self._lock:
                pending = self._pending.pop(str(payload.get("id")), None)
            if pending is None:
                return
            sent_to, version = pending
            if payload.get("status") == "ok":
                self._record(sent_to, version=version, acked_at=utc_now_iso(), error=None)
            else:
                self._record(sent_to, error=str(payload.get("error") or "refused")[:300])
