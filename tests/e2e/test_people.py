"""People and sides end to end (issue 22) through the real broker: the dashboard's people
reach a simulated roller with set_profile, routines started over MQTT with a person and a
side are performed by the simulated user, and the stored sessions say who rolled which side,
with the force target shaped by that person's body mass. A side on the spine is refused in
the device's words."""

from __future__ import annotations

import json
import threading
import uuid
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

import firmware.app.daemon
from dashboard import queries as q
from dashboard.ingest import Ingest
from dashboard.store import open_store
from firmware.app.daemon import build_daemon
from firmware.core.protocols import Profile, load_routine
from firmware.edge.config import apply_overrides, load_config
from tests.conftest import start_subscribed
from tests.firmware.edge.test_link import Observer, wait_until

SIM_SPEED = 20.0  # simulated time runs 20x: a 60-90 s routine in a few seconds


@contextmanager
def household_roller(broker, tmp_path):
    """A simulated roller serving commands over the broker, and the dashboard's ingest and
    store (SQLite) with the device paired, and an observer of the device's command results."""
    device_id = "roller-" + uuid.uuid4().hex[:8]
    cfg = apply_overrides(load_config(None), hardware="sim", state_dir=tmp_path / "state",
                          broker_url=broker.url, device_id=device_id, **{"sim.speed": SIM_SPEED})
    device, link, journal, outputs = build_daemon(cfg)
    store = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    ingest = Ingest(broker.url, store, client_id="people-dash-" + uuid.uuid4().hex[:8])
    results = Observer(broker.url, topics=(f"rollsense/{device_id}/cmd/+/result",),
                       client_id="people-obs-" + uuid.uuid4().hex[:8])
    stop = threading.Event()
    server = threading.Thread(target=device.serve, args=(stop,), daemon=True)
    try:
        start_subscribed(ingest)
        store.set_device_paired(device_id, True)
        link.start()
        server.start()
        wait_until(lambda: link.subscribed and device.sensors_ok, what="device up")
        yield SimpleNamespace(id=device_id, device=device, store=store, ingest=ingest, results=results)
    finally:
        stop.set()
        server.join(20)
        link.stop()
        ingest.stop()
        results.close()
        outputs.close()
        journal.close()
        device.rt.hardware.close()
        store.close()


def command(r, name: str, payload: dict, timeout_s: float = 15.0) -> dict:
    """Send ``name`` from the dashboard; the device's result, once it has come back."""
    cmd_id = r.ingest.send_command(r.id, name, payload)

    def mine(ms):
        return [json.loads(m.payload) for m in ms if json.loads(m.payload).get("id") == cmd_id]

    r.results.wait_for(lambda ms: mine(ms), timeout_s)
    return mine(r.results.messages)[0]


def wire_person(person: dict) -> dict:
    return {k: person[k] for k in ("id", "name", "body_mass_kg", "units")}


def force_target(summary: dict) -> list[float]:
    t = next(t["target"] for t in summary["targets"] if t["name"] == "force_n")
    return [t["min"], t["max"]]


@pytest.fixture
def fast_retry(monkeypatch):
    monkeypatch.setattr(firmware.app.daemon, "SENSOR_RETRY_S", 0.2)


def test_two_people_roll_their_sides_and_the_store_says_who_with_their_force_targets(
        broker, tmp_path, fast_retry):
    with household_roller(broker, tmp_path) as r:
        ann = r.store.add_person("Ann", 55.0, person_id="ann")
        bo = r.store.add_person("Bo", 100.0, units="imperial", person_id="bo")
        reply = command(r, "set_profile", {"people": [wire_person(p) for p in r.store.people()],
                                           "person": "ann"})
        assert reply["status"] == "ok", reply
        assert reply["data"] == {"body_mass_kg": None, "people": ["ann", "bo"], "person": "ann"}

        refused = command(r, "start", {"protocol": "thoracic-roller", "person": "bo", "side": "left"})
        assert refused["status"] == "error" and refused["error"].startswith(
            "thoracic-roller works on the thoracic paraspinals, not on a limb")

        for person, side, sore in ((bo, "right", 6), (ann, "left", None)):
            reply = command(r, "start", {"protocol": "quads-roller", "person": person["id"],
                                         "side": side, "soreness_before": sore})
            assert reply["status"] == "ok" and reply["data"] == {
                "accepted": "quads-roller", "person": person["id"], "side": side}, reply
            wait_until(lambda p=person: q.sessions(r.store, person_id=p["id"]), timeout_s=90,
                       what=f"{person['name']}'s session stored")
        assert r.device.app.people.current.id == "ann"  # the last person started
        # and the device says so in its retained info: the dashboard's Start form offers Ann first
        wait_until(lambda: (q.get_device(r.store, r.id) or {}).get("info", {}).get("person") == "ann",
                   what="info names the current person")

        quads = load_routine("quads-roller")
        for person, side, sore in ((bo, "right", 6), (ann, "left", None)):
            (s,) = q.sessions(r.store, person_id=person["id"])
            assert (s["person_id"], s["side"], s["program_id"], s["soreness"]["before"]) == (
                person["id"], side, None, sore)
            assert s["completed"] and s["passes"] > 0 and s["duration_s"] > 30, s
            band = quads.force_band_n(Profile(body_mass_kg=person["body_mass_kg"]))
            assert force_target(s["summary"]) == pytest.approx([band.lo, band.hi], rel=1e-5)
            (row,) = q.muscle_sides(r.store, person["id"])
            assert (row["muscle"], row["side"], row["sessions"]) == ("quadriceps", side, 1)
        # Bo's targets are Bo's: heavier, so firmer than Ann's
        assert force_target(q.sessions(r.store, person_id="bo")[0]["summary"])[0] > force_target(
            q.sessions(r.store, person_id="ann")[0]["summary"])[0]
