"""Issue 22's DONE-WHEN, end to end: a household of two people, each with their own body
mass, runs the lower-body programme on a simulated roller and a simulated stick (both sides),
through the real broker to the dashboard, shown in Debian's Chromium.

Real parts throughout: two devices as ``rollsense run --sim`` builds them (simulated users ->
fake chips -> drivers -> metrics -> coach -> journal -> link), a private Mosquitto, the
dashboard's ingest, SQLite store and web app on a loopback port. The people are added on the
/people page (they reach both devices by set_profile), their plans on /person/{id}/plan, Ann's
programme started from each live page's Start form, Ben's by start commands. Then the store and
the pages agree: each person's six steps with their programme step, side and force targets from
their own body mass, a one-day streak, the left/right table, the Plan's due/done/next tool, a
soreness-after rating; and Ann's remembered "before" rating of 8 eases in her next quads session
longer and with a lower cap than Ben's.
"""

from __future__ import annotations

import threading
import uuid
from contextlib import ExitStack, contextmanager
from datetime import date
from types import SimpleNamespace

import pytest

import firmware.app.daemon
from dashboard import plans as pl
from dashboard import queries as q
from dashboard import web
from dashboard.ingest import Ingest
from dashboard.person_words import muscle_name
from dashboard.store import open_store
from firmware.app.daemon import build_daemon
from firmware.common import units
from firmware.core.protocols import Profile, load_routine
from firmware.edge.config import apply_overrides, load_config
from tests.conftest import start_subscribed
from tests.dashboard.test_web import serve
from tests.e2e.test_people import command
from tests.firmware.edge.test_link import Observer, wait_until

SIM_SPEED = 1000.0  # the simulator's top speed (a PacedClock: the CPU sets the real pace)
POLL_S = 0.1  # the loop drains 0.1 s blocks: the same sessions, fewer wake-ups
TELEMETRY_HZ = 2.0  # live telemetry, thinned: the test reads the stored sessions, not the gauge
SESSION_WAIT_S = 60.0
PROGRAM = "lower-body"
STEPS = [("quads-roller", "left"), ("quads-roller", "right"), ("it-band-stick", "left"),
         ("it-band-stick", "right"), ("calf-stick", "left"), ("calf-stick", "right")]
ANN_KG, BEN_LB = 55.0, 210.0  # Ben types his in pounds: 95.3 kg


@pytest.fixture
def fast_retry(monkeypatch):
    monkeypatch.setattr(firmware.app.daemon, "SENSOR_RETRY_S", 0.2)


@contextmanager
def sim_device(broker, tmp_path, store, name: str, protocol: str, scenario: str = "good"):
    """A simulated device whose tool is ``protocol``'s (its simulated user playing
    ``scenario``), paired, serving over the broker."""
    device_id = f"{name}-" + uuid.uuid4().hex[:6]
    cfg = apply_overrides(load_config(None), hardware="sim", state_dir=tmp_path / name, broker_url=broker.url,
                          device_id=device_id, protocol=protocol, telemetry_hz=TELEMETRY_HZ,
                          **{"sim.speed": SIM_SPEED, "sim.scenario": scenario})
    device, link, journal, outputs = build_daemon(cfg)
    device.app.poll_s = POLL_S
    results = Observer(broker.url, topics=(f"rollsense/{device_id}/cmd/+/result",),
                       client_id=f"{name}-obs-" + uuid.uuid4().hex[:6])
    stop = threading.Event()
    server = threading.Thread(target=device.serve, args=(stop,), daemon=True)
    store.set_device_paired(device_id, True)
    try:
        link.start()
        server.start()
        wait_until(lambda: link.subscribed and device.sensors_ok, what=f"{name} up")
        yield SimpleNamespace(id=device_id, device=device, app=device.app, results=results)
    finally:
        device.app.request_stop()
        stop.set()
        server.join(20)
        link.stop()
        results.close()
        outputs.close()
        journal.close()
        device.rt.hardware.close()


@contextmanager
def household(broker, tmp_path):
    """The dashboard (store, ingest, web app) and a roller and a stick paired to it, each
    known online with its tool before the pages are opened."""
    store = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    ingest = Ingest(broker.url, store, client_id="household-dash-" + uuid.uuid4().hex[:6])
    app = web.create_app(store, ingest, auth_required=False, secret_key="household-test")
    with ExitStack() as stack:
        stack.callback(store.close)
        start_subscribed(ingest)
        stack.callback(ingest.stop)
        roller = stack.enter_context(sim_device(broker, tmp_path, store, "roller", "quads-roller"))
        stick = stack.enter_context(sim_device(broker, tmp_path, store, "stick", "it-band-stick"))
        for dev, tool in ((roller, "roller"), (stick, "stick")):
            wait_until(lambda d=dev, t=tool: (q.get_device(store, d.id) or {}).get("status") == "online"
                       and (q.get_device(store, d.id)["info"] or {}).get("tool") == t, what=f"{tool} online")
        host, port = stack.enter_context(serve(app))
        yield SimpleNamespace(store=store, ingest=ingest, roller=roller, stick=stick,
                              base=f"http://{host}:{port}")


def tool_command(h, dev, name: str, payload: dict) -> dict:
    """``name`` sent by the dashboard's ingest to ``dev``; the device's result."""
    return command(SimpleNamespace(id=dev.id, ingest=h.ingest, results=dev.results), name, payload)


def programme_sessions(store, person_id: str) -> list[dict]:
    """The person's stored lower-body steps, in step order."""
    rows = [s for s in q.sessions(store, person_id=person_id, limit=None) if s["program_id"] == PROGRAM]
    return sorted(rows, key=lambda s: s["program_step"])


def wait_steps(store, person_id: str, n: int) -> list[dict]:
    wait_until(lambda: len(programme_sessions(store, person_id)) >= n, timeout_s=SESSION_WAIT_S,
               what=f"{n} lower-body sessions of {person_id} stored")
    return programme_sessions(store, person_id)


def add_person(page, h, name: str, mass: str, unit: str) -> dict:
    """Add a person on /people; wait until both devices took the people (set_profile ok)."""
    page.goto(h.base + "/people")
    page.fill("#add-name", name)
    page.fill("#add-body_mass", mass)
    page.select_option("#add-units", unit)
    page.click("#add-form button[type=submit]")
    page.wait_for_selector("#people-msg")
    assert page.locator("#people-msg").inner_text() == f"Added {name}."
    for dev in (h.roller, h.stick):
        assert page.locator(f'#pushed li[data-device-id="{dev.id}"] .push-state').inner_text() == "sent"
    person = next(p for p in h.store.people() if p["name"] == name)
    assert page.locator(f'tr[data-person-id="{person["id"]}"] td.balance').inner_text() == "–"  # nothing rolled yet
    for dev in (h.roller, h.stick):
        got = dev.app.people.get(person["id"])
        assert got is not None and got.body_mass_kg == pytest.approx(person["body_mass_kg"]), dev.id
    return person


def plan_today(page, h, person: dict) -> None:
    page.goto(f"{h.base}/person/{person['id']}/plan")
    today = pl.WEEKDAYS[date.today().weekday()]
    page.locator(f'fieldset[data-program="{PROGRAM}"]').get_by_role("checkbox", name=today.capitalize()).check()
    page.get_by_role("button", name="Save the plan").click()
    page.wait_for_selector("#plan-saved")


def start_from_live_page(page, h, dev, person: dict, step: int, first_option: str, soreness: str = "") -> None:
    """Ann's start, from the device's live page: who, the programme, its step, soreness before."""
    page.goto(f"{h.base}/device/{dev.id}")
    page.select_option("#person", person["id"])
    page.select_option("#program", PROGRAM)
    assert page.locator("#side-field").is_hidden()  # each step has its own side ...
    assert page.locator("#protocol").is_hidden()  # ... and its own routine
    assert page.locator("#program-step option").all_inner_texts()[0] == first_option
    page.select_option("#program-step", str(step))
    page.select_option("#soreness-before", soreness)
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_selector("#start-msg.ok")


def plan_card(page, h, person: dict):
    page.goto(h.base + "/plan")
    return page.locator(f'.plan-person[data-person-id="{person["id"]}"]')


def force_band(session: dict) -> list[float]:
    """The session's force target (the calf's: going up, its firm band) in newtons."""
    names = [t["name"] for t in session["summary"]["targets"]]
    name = "force_n" if "force_n" in names else "force_up_n"
    t = next(t["target"] for t in session["summary"]["targets"] if t["name"] == name)
    return [t["min"], t["max"]]


def ease_in(store, session: dict) -> dict:
    """The ease_in cue the coach gave in a stored session (its ramp and cap)."""
    (cue,) = [e for e in q.events(store, session["session_id"])
              if e["event_type"] == "cue" and e.get("cue") == "ease_in"]
    return cue


def expected_sides(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (muscle, side), the totals the left/right table must show, from the stored sessions."""
    out: dict[tuple[str, str], dict] = {}
    for r in rows:
        t = out.setdefault((muscle_name(r["muscle"]), r["side"]), {"time_s": 0.0, "passes": 0, "fw": 0.0, "w": 0.0})
        t["time_s"] += r["duration_s"]
        t["passes"] += r["passes"]
        t["fw"] += r["force_mean_n"] * r["duration_s"]
        t["w"] += r["duration_s"]
    return {k: {"time_s": v["time_s"], "passes": v["passes"], "mean_force_n": v["fw"] / v["w"]}
            for k, v in out.items()}


def test_a_household_runs_the_lower_body_programme_on_a_roller_and_a_stick(page, broker, tmp_path, fast_retry):
    with household(broker, tmp_path) as h:
        store = h.store
        # -- the people, added in Chromium, reach both devices
        ann = add_person(page, h, "Ann", f"{ANN_KG:g}", "metric")
        ben = add_person(page, h, "Ben", f"{BEN_LB:g}", "imperial")
        assert ben["body_mass_kg"] == pytest.approx(BEN_LB * units.KG_PER_LB) and ben["units"] == "imperial"
        # -- both plan the lower body on today's weekday; nothing done yet
        for person in (ann, ben):
            plan_today(page, h, person)
        for person in (ann, ben):
            assert plan_card(page, h, person).locator(".due li").inner_text() == "Lower body: not started"

        # -- Ann on the roller, from its live page: steps 0 and 1, sore 8/10 before the first
        start_from_live_page(page, h, h.roller, ann, 0, "1. the roller — Quads, left", soreness="8")
        wait_steps(store, ann["id"], 2)
        card = plan_card(page, h, ann)
        assert card.locator(".due li").inner_text() == "Lower body: 2 of 6 steps done"
        assert card.locator(".done li").inner_text() == "Lower body: 2 of 6 steps; next: the stick — IT band, left"

        # -- Ann on the stick from its live page (steps 2..5), Ben on the roller meanwhile
        start_from_live_page(page, h, h.stick, ann, 2, "3. the stick — IT band, left")
        reply = tool_command(h, h.roller, "start", {"program": PROGRAM, "person": ben["id"], "soreness_before": 3})
        assert reply["status"] == "ok" and reply["data"]["steps"] == [0, 1], reply
        wait_steps(store, ben["id"], 2)
        wait_steps(store, ann["id"], 6)
        reply = tool_command(h, h.stick, "start", {"program": PROGRAM, "person": ben["id"], "program_step": 2})
        assert reply["status"] == "ok" and reply["data"]["steps"] == [2, 3, 4, 5], reply
        wait_steps(store, ben["id"], 6)

        # -- the store: 12 sessions, each person's six steps, targets from their own body mass
        assert len(q.sessions(store, limit=None)) == 12
        got = {}
        for person, before in ((ann, 8), (ben, 3)):
            rows = programme_sessions(store, person["id"])
            got[person["id"]] = rows
            assert [(s["protocol"], s["side"], s["program_step"]) for s in rows] == [
                (p, side, i) for i, (p, side) in enumerate(STEPS)]
            assert [s["device_id"] for s in rows] == [h.roller.id] * 2 + [h.stick.id] * 4
            assert [s["soreness"]["before"] for s in rows] == [before, None, None, None, None, None]
            for s in rows:
                assert s["completed"] and s["passes"] > 0, s
                band = load_routine(s["protocol"]).force_band_n(Profile(body_mass_kg=person["body_mass_kg"]),
                                                                direction=1)
                assert force_band(s) == pytest.approx([band.lo, band.hi], rel=1e-5), s["protocol"]
        for a, b in zip(got[ann["id"]], got[ben["id"]], strict=True):
            if load_routine(a["protocol"]).targets.force.band_bw is not None:  # % of body weight: Ben's firmer
                assert force_band(b)[0] > force_band(a)[0] and force_band(b)[1] > force_band(a)[1], a["protocol"]
            else:  # the stick's are the hands' force in newtons: the same for both
                assert force_band(b) == force_band(a), a["protocol"]

        # -- the Plan: done, 6 of 6, for both
        for person in (ann, ben):
            card = plan_card(page, h, person)
            assert card.locator(".due li").inner_text() == "Lower body: done"
            assert card.locator(".done li").inner_text() == "Lower body: 6 of 6 steps; all done"

        # -- soreness after, rated on Ann's first session's page
        first = got[ann["id"]][0]
        page.goto(f"{h.base}/session/{first['session_id']}")
        page.locator("#soreness").get_by_role("radio", name="3").check()
        page.get_by_role("button", name="Save soreness").click()
        page.wait_for_selector("#soreness-after")
        assert q.session(store, first["session_id"])["soreness"] == {"before": 8, "after": 3}

        # -- each person's page: the streak, the left/right table equal to the stored sessions
        for person in (ann, ben):
            unit = person["units"]
            rows = got[person["id"]]
            page.goto(f"{h.base}/person/{person['id']}")
            assert page.locator("#streak-current").inner_text() == "1 day"
            assert page.locator("#sessions tbody tr").count() == 6
            want = expected_sides(rows)
            assert sorted(want) == sorted((m, side) for m in ("quadriceps", "lateral thigh", "calf")
                                          for side in ("left", "right"))
            shown = page.locator("#sides tbody tr[data-side]")
            assert shown.count() == 6
            for i in range(6):
                tr = shown.nth(i)
                muscle = muscle_name(tr.get_attribute("data-muscle"))
                w = want[(muscle, tr.get_attribute("data-side"))]
                assert tr.locator("td.passes").inner_text() == str(w["passes"]), muscle
                assert float(tr.locator("td.time").get_attribute("data-seconds")) == pytest.approx(w["time_s"], abs=0.06)
                force = tr.locator("td.force").inner_text()
                assert force == units.force_for(w["mean_force_n"], unit), muscle
                assert force.endswith(" lbf" if unit == "imperial" else " N"), force
                # one session a side here: the same number as that session's row below
                (sid,) = [r["session_id"] for r in rows if (muscle_name(r["muscle"]), r["side"]) ==
                          (muscle, tr.get_attribute("data-side"))]
                assert page.locator(f'#sessions tr[data-session-id="{sid}"] td.force').inner_text() == force
        page.goto(f"{h.base}/person/{ann['id']}")
        quads_left = page.locator('#soreness tr[data-muscle="quadriceps"][data-side="left"] .ratings')
        assert quads_left.inner_text().endswith("8 → 3")

        # -- soreness changes the next ease-in: Ann's next quads (left) session, not rated,
        #    eases in by her remembered 8 (longer ramp, lower cap); Ben's rated 3 did not
        reply = tool_command(h, h.roller, "start", {"protocol": "quads-roller", "person": ann["id"], "side": "left"})
        assert reply["status"] == "ok", reply
        wait_until(lambda: len(q.sessions(store, person_id=ann["id"])) == 7, timeout_s=SESSION_WAIT_S,
                   what="Ann's quads session stored")
        (again,) = [s for s in q.sessions(store, person_id=ann["id"]) if s["program_id"] is None]
        assert (again["side"], again["soreness"]["before"]) == ("left", None)
        started = next(e for e in q.events(store, again["session_id"]) if e["event_type"] == "session_started")
        assert started["soreness_remembered"] == 8
        ease = load_routine("quads-roller").targets.ease_in
        mine, bens = ease_in(store, again), ease_in(store, got[ben["id"]][0])
        assert (mine["ease_in_s"], mine["cap_scale"]) == (ease.ramp_s(8), ease.sore_cap_scale)
        assert (bens["ease_in_s"], bens["cap_scale"]) == (ease.s, 1.0)
        assert mine["ease_in_s"] > bens["ease_in_s"] and mine["cap_scale"] < bens["cap_scale"]
        page.goto(f"{h.base}/session/{again['session_id']}")
        why = page.locator('#cues tr[data-cue="ease_in"] td.muted').inner_text()
        assert why == (f"the cap ramps up over {ease.ramp_s(8):g} s, to "
                       f"{round(ease.sore_cap_scale * 100)} % of the usual: soreness 8 of 10")
        page.goto(f"{h.base}/session/{got[ben['id']][0]['session_id']}")
        assert page.locator('#cues tr[data-cue="ease_in"] td.muted').inner_text() == \
            f"the cap ramps up over {ease.s:g} s"
