"""Prescriptions on the dashboard (issue 23): versions kept for good, built and checked as
routine files are, and delivered to every paired device (``set_prescription``), a device
that is offline getting the person's latest when it comes back (as ``people_sync`` does).

Store (SQL both SQLite and PostgreSQL take; made when the app starts)::

    prescriptions(person_id, version, program_id, weekdays, routines_json, overrides_json,
                  prescribed_by, created_at)      one row per version, never updated
    device_prescriptions(device_id, person_id, version, acked_at, sent_version, sent_at, error)
                                                  what each device confirmed, per person

``routines_json`` is what the device gets: per routine id the whole routine dict as its TOML
file has it with the therapist's numbers in it; ``overrides_json`` the numbers as typed
(dotted TOML keys), which the form shows again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from dashboard import queries as q
from dashboard.live import status_text
from dashboard.plans import WEEKDAYS, known_programs, set_plan
from firmware.common.errors import CommandError, ConfigError
from firmware.common.wire import utc_now_iso
from firmware.core import commands
from firmware.core.prescription import base_routine_dict, check_routines, get_key, with_overrides
from firmware.core.programs import Program

log = logging.getLogger("rollsense.prescriptions")

RX_TABLES = (
    "CREATE TABLE IF NOT EXISTS prescriptions(person_id TEXT NOT NULL, version INTEGER NOT NULL, "
    "program_id TEXT NOT NULL, weekdays TEXT NOT NULL, routines_json TEXT NOT NULL, "
    "overrides_json TEXT NOT NULL, prescribed_by TEXT, created_at TEXT NOT NULL, "
    "PRIMARY KEY(person_id, version))",
    "CREATE TABLE IF NOT EXISTS device_prescriptions(device_id TEXT NOT NULL, person_id TEXT NOT NULL, "
    "version INTEGER, acked_at TEXT, sent_version INTEGER, sent_at TEXT, error TEXT, "
    "PRIMARY KEY(device_id, person_id))",
)
OFFLINE = "offline: will be sent when it comes back"


def ensure_rx_tables(store) -> None:
    for sql in RX_TABLES:
        store.execute(sql)


# ---------------------------------------------------------------- the form's fields


@dataclass(frozen=True)
class Field:
    """One number of a routine the form offers: its dotted TOML key, a band or a number,
    what a person calls it and its unit (the TOML's own)."""

    key: str
    kind: str  # "band" | "number"
    label: str
    unit: str


FORCE_WORDS = {"force": "Force", "force_up": "Force going up", "force_down": "Force going down"}


def fields_of(base: dict) -> list[Field]:
    """The numbers of a routine a therapist may change: its duration, pass time, pass
    length, hold window, force bands (N and fraction of body weight) and limits, ease-in."""
    tg = base.get("targets") if isinstance(base.get("targets"), dict) else {}
    out = []
    if "rolling_min_s" in tg:
        out.append(Field("targets.rolling_min_s", "number", "Rolling time, at least", "s"))
    if "speed" in tg:
        out.append(Field("targets.speed.pass_s", "band", "Time per one-way pass", "s"))
    if "pass_length_m" in tg:
        out.append(Field("targets.pass_length_m", "band", "Pass length", "m"))
    if "hold" in tg:
        out.append(Field("targets.hold.s", "band", "Hold per spot", "s"))
    for f in ("force", "force_up", "force_down"):
        if f in tg:
            words = FORCE_WORDS[f]
            out += [Field(f"targets.{f}.n", "band", f"{words} band", "N"),
                    Field(f"targets.{f}.bw", "band", f"{words} band", "× body weight"),
                    Field(f"targets.{f}.max_n", "number", f"{words}: over-pressure limit", "N"),
                    Field(f"targets.{f}.max_bw", "number", f"{words}: over-pressure limit", "× body weight")]
    out += [Field("targets.ease_in.s", "number", "Ease-in ramp", "s"),
            Field("targets.ease_in.start_fraction", "number", "Ease-in starts at", "× band top")]
    return out


def program_routines(program: Program) -> list[str]:
    """The programme's routine ids, in the order its steps first use them."""
    return list(dict.fromkeys(s.routine for s in program.steps))


def parse_value(text: str):
    """A typed number: "" -> None (left out), a number -> float, anything else as typed
    (so the routine validator names it, as it would in a file)."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text[:40]


def form_overrides(form: Mapping[str, str], routine_ids: list[str]) -> dict[str, dict]:
    """routine id -> {dotted key: value} from the form's fields (``<id>|<key>`` numbers,
    ``<id>|<key>|lo`` / ``|hi`` bands)."""
    out: dict[str, dict] = {}
    for rid in routine_ids:
        mine = out.setdefault(rid, {})
        for f in fields_of(base_routine_dict(rid)):
            name = f"{rid}|{f.key}"
            if f.kind == "band":
                lo, hi = parse_value(form.get(name + "|lo", "")), parse_value(form.get(name + "|hi", ""))
                mine[f.key] = None if lo is None and hi is None else [lo, hi]
            else:
                mine[f.key] = parse_value(form.get(name, ""))
    return out


def build_routines(routine_ids: list[str], overrides: Mapping[str, Mapping]) -> dict[str, dict]:
    """routine id -> the routine dict (its file's, with the overrides)."""
    return {rid: with_overrides(base_routine_dict(rid), overrides.get(rid, {})) for rid in routine_ids}


def check_prescription(person_id: str, version: int, program_id: str, routines: dict,
                       by: str | None) -> list[str]:
    """Every problem, one line each: each routine checked as its file would be, then the
    whole command as the device checks it (so it is never refused for its size)."""
    _, problems = check_routines(routines)
    if problems:
        return problems
    payload = rx_payload(person_id, version, program_id, routines, by)
    raw = json.dumps({"id": "rx-check", **payload}, separators=(",", ":"))
    try:
        commands.check("set_prescription", raw, datetime.now(UTC))
    except CommandError as e:
        return list(getattr(e, "problems", [f"the devices would refuse it: {e}"]))
    return []


def rx_payload(person_id: str, version: int, program_id: str, routines: dict, by: str | None) -> dict:
    return {"person": person_id, "version": version, "by": by, "program": program_id,
            "routines": routines}


# ---------------------------------------------------------------- versions


def versions(store, person_id: str) -> list[dict]:
    """The person's prescriptions, newest first."""
    rows = store.query(
        "SELECT person_id, version, program_id, weekdays, routines_json, overrides_json, prescribed_by, "
        "created_at FROM prescriptions WHERE person_id = ? ORDER BY version DESC", (person_id,))
    return [{"person_id": r["person_id"], "version": int(r["version"]), "program_id": r["program_id"],
             "weekdays": tuple(WEEKDAYS.index(d) for d in str(r["weekdays"]).split(",") if d in WEEKDAYS),
             "routines": json.loads(r["routines_json"]), "overrides": json.loads(r["overrides_json"]),
             "by": r["prescribed_by"], "created_at": r["created_at"]} for r in rows]


def latest(store, person_id: str) -> dict | None:
    found = versions(store, person_id)
    return found[0] if found else None


def save_version(store, person_id: str, program_id: str, weekdays: tuple[int, ...],
                 overrides: dict, by: str | None, today=None) -> dict:
    """Check and keep a new version (the next number), and plan the programme on its days;
    ConfigError (``.problems``, one line each) when a routine would not pass as a file."""
    program = known_programs().get(program_id)
    if program is None:
        raise ConfigError(f"{program_id[:40]!r} is not a programme this dashboard knows")
    have = latest(store, person_id)
    version = (have["version"] if have else 0) + 1
    routines = build_routines(program_routines(program), overrides)
    problems = check_prescription(person_id, version, program_id, routines, by)
    if not weekdays:
        problems.append("plan: tick at least one day of the week")
    if problems:
        err = ConfigError("\n".join(problems))
        err.problems = problems  # type: ignore[attr-defined]
        raise err
    store.execute(
        "INSERT INTO prescriptions(person_id, version, program_id, weekdays, routines_json, overrides_json, "
        "prescribed_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (person_id, version, program_id, ",".join(WEEKDAYS[d] for d in weekdays),
         json.dumps(routines, sort_keys=True), json.dumps(overrides, sort_keys=True), by, utc_now_iso()))
    set_plan(store, person_id, program_id, weekdays, today)
    return latest(store, person_id)


def shown_value(rx: dict | None, base: dict, rid: str, key: str):
    """What the form shows for a routine's number: the latest version's, else the file's."""
    if rx is not None and rid in rx["routines"]:
        return get_key(rx["routines"][rid], key)
    return get_key(base, key)


# ---------------------------------------------------------------- delivery


class RxSync:
    """Sends each person's latest prescription to the paired devices and records which
    version each device confirmed. ``on_ingest`` is an ingest listener (any thread)."""

    def __init__(self, store, ingest) -> None:
        self.store = store
        self.ingest = ingest
        self._pending: dict[str, tuple[str, str, int]] = {}  # cmd id -> (device, person, version)
        self._lock = threading.Lock()
        ensure_rx_tables(store)
        if ingest is not None:
            ingest.add_listener(self.on_ingest)

    def confirmed(self, person_id: str) -> dict[str, dict]:
        """device id -> its device_prescriptions row for ``person_id``."""
        return {r["device_id"]: r for r in self.store.query(
            "SELECT device_id, version, acked_at, sent_version, sent_at, error FROM device_prescriptions "
            "WHERE person_id = ?", (person_id,))}

    def _record(self, device_id: str, person_id: str, **values) -> None:
        self.store.execute("INSERT INTO device_prescriptions(device_id, person_id) VALUES (?, ?) "
                           "ON CONFLICT(device_id, person_id) DO NOTHING", (device_id, person_id))
        sets = ", ".join(f"{k} = ?" for k in values)
        self.store.execute(f"UPDATE device_prescriptions SET {sets} WHERE device_id = ? AND person_id = ?",
                           (*values.values(), device_id, person_id))

    def send(self, device_id: str, rx: dict) -> str:
        payload = rx_payload(rx["person_id"], rx["version"], rx["program_id"], rx["routines"], rx["by"])
        cmd_id = self.ingest.send_command(device_id, "set_prescription", payload)
        with self._lock:
            self._pending[cmd_id] = (device_id, rx["person_id"], rx["version"])
        self._record(device_id, rx["person_id"], sent_version=rx["version"], sent_at=utc_now_iso())
        return cmd_id

    def push(self, person_id: str, status_of) -> list[dict]:
        """The person's latest to every paired device not offline; one ``{"device",
        "cmd_id" | None, "state"}`` per paired device."""
        rx = latest(self.store, person_id)
        out = []
        for d in q.list_devices(self.store, paired_only=True) if rx else []:
            if self.ingest is None:
                out.append({"device": d, "cmd_id": None, "state": "not sent: the dashboard has no broker connection"})
            elif status_of(d) == "offline":
                out.append({"device": d, "cmd_id": None, "state": OFFLINE})
            else:
                out.append({"device": d, "cmd_id": self.send(d["device_id"], rx), "state": "sending"})
        return out

    def sync_device(self, device_id: str) -> list[str]:
        """Send ``device_id`` (paired) every person's latest it has not confirmed; the
        command ids."""
        device = q.get_device(self.store, device_id)
        if device is None or not device["paired"]:
            return []
        sent = []
        for r in self.store.query("SELECT DISTINCT person_id FROM prescriptions ORDER BY person_id"):
            rx = latest(self.store, r["person_id"])
            have = self.confirmed(r["person_id"]).get(device_id, {})
            if rx is not None and have.get("version") != rx["version"]:
                sent.append(self.send(device_id, rx))
        return sent

    def on_ingest(self, kind: str, device_id: str, payload) -> None:
        if kind == "status" and status_text(payload) == "online":
            self.sync_device(device_id)
        elif kind == "result" and isinstance(payload, dict):
            with self._lock:
                pending = self._pending.pop(str(payload.get("id")), None)
            if pending is None:
                return
            sent_to, person_id, version = pending
            if payload.get("status") == "ok":
                self._record(sent_to, person_id, version=version, acked_at=utc_now_iso(), error=None)
            else:
                self._record(sent_to, person_id, error=str(payload.get("error") or "refused")[:300])
                log.warning("prescription v%s for %s refused by %s: %s", version, person_id, sent_to,
                            payload.get("error"))
