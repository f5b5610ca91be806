"""Issue 23's DONE-WHEN, end to end: a therapist and two clients on a simulated roller through
the real broker, shown in Debian's Chromium with logins required.

Real parts throughout: a ``rollsense run --sim`` roller (simulated user -> fake chips -> drivers
-> metrics -> coach -> journal -> link) whose simulated user is scenario ``tender-spots`` (every
pass starts at one place and lingers over 8 and 17 cm up from it), a private Mosquitto, the
dashboard's ingest, SQLite store and web app on a loopback port. The logins: an admin, the
therapist theo linked to Ann and Ben, and Ann's and Ben's own.

Theo prescribes Ann a lighter quads force band on her prescription page; the roller confirms
the version through the broker. The same simulated user, who pressed within her file's band in
her session before, is now over her prescribed limit: the coach says ``over_pressure`` in every
session after, never before and never to Ben (no prescription). Her summaries name the version
and carry its band; theo's adherence page shows the week's sessions done against due as the
store has them; Ann shares a session and a logged-out browser sees its numbers; Ben gets 404
for Ann's session, page and export; and the lingering shows as two spots on Ann's left quads
strip at the simulated positions.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack, contextmanager
from datetime import date
from types import SimpleNamespace

import pytest

import firmware.app.daemon
from dashboard import access, web
from dashboard import adherence as ad
from dashboard import plans as pl
from dashboard import prescriptions as rx
from dashboard import queries as q
from dashboard.ingest import Ingest
from dashboard.render import fmt_duration
from dashboard.store import open_store
from firmware.common import units
from tests.conftest import start_subscribed
from tests.dashboard.test_web import serve
from tests.e2e.test_household import sim_device
from tests.e2e.test_people import command
from tests.firmware.edge.test_link import wait_until

SESSION_WAIT_S = 60.0
PASSWORD = "correct horse"
ANN_KG, BEN_KG = 60.0, 80.0
SPOTS_M = (0.08, 0.17)  # device.sim.ProtocolSim.spots_m: where the tender-spots user lingers
BIN_M = 0.03  # the spots' bin (summary spots.bin_m)
# theo's prescription for Ann's quads: a tenth of her body weight at most, over-pressure at 15 %
# (her file's 25-45 %, 60 %): the simulated user's 220 N is now over the limit
RX_BW, RX_MAX_BW = ("0.05", "0.1"), "0.15"
AFTER_RX = 3  # Ann's quads sessions coached with the prescription


@pytest.fixture
def fast_retry(monkeypatch):
    monkeypatch.setattr(firmware.app.daemon, "SENSOR_RETRY_S", 0.2)


@contextmanager
def clinic(broker, tmp_path):
    """The dashboard (logins required) with Ann, Ben, their logins and theo's, and the roller
    online and holding both people (the dashboard's set_profile when it came online)."""
    store = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    ingest = Ingest(broker.url, store, client_id="clinic-dash-" + uuid.uuid4().hex[:6])
    with ExitStack() as stack:
        stack.callback(store.close)
        ann = store.add_person("Ann", ANN_KG, person_id="ann")
        ben = store.add_person("Ben", BEN_KG, person_id="ben")
        app = web.create_app(store, ingest, auth_required=True, secret_key="clinic-test")
        access.add_login(store, "admin", PASSWORD)
        access.add_login(store, "theo", PASSWORD, role="therapist")
        access.add_login(store, "ann", PASSWORD, role="person", person_id="ann")
        access.add_login(store, "ben", PASSWORD, role="person", person_id="ben")
        assert access.link_client(store, "theo", "ann") and access.link_client(store, "theo", "ben")
        start_subscribed(ingest)
        stack.callback(ingest.stop)
        # its simulated user lingers over two spots on the quads (scenario tender-spots)
        dev = stack.enter_context(sim_device(broker, tmp_path, store, "quads-roller", "quads-roller", "tender-spots"))
        wait_until(lambda: (q.get_device(store, dev.id) or {}).get("status") == "online", what="roller online")
        wait_until(lambda: dev.app.people.get("ann") is not None and dev.app.people.get("ben") is not None,
                   what="the roller holds Ann and Ben")
        host, port = stack.enter_context(serve(app))
        yield SimpleNamespace(store=store, ingest=ingest, roller=dev, ann=ann, ben=ben, base=f"http://{host}:{port}")


def log_in(browser, base: str, username: str):
    """A new browser context logged in as ``username``; its page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(lambda url: not url.startswith(base + "/login"))
    return page


def quads_session(c, person: str, n: int) -> dict:
    """Start quads (left) for ``person`` over the broker; their ``n``-th session, once stored."""
    reply = command(SimpleNamespace(id=c.roller.id, ingest=c.ingest, results=c.roller.results), "start",
                    {"protocol": "quads-roller", "person": person, "side": "left"})
    assert reply["status"] == "ok", reply
    wait_until(lambda: len(q.sessions(c.store, person_id=person, limit=None)) >= n, timeout_s=SESSION_WAIT_S,
               what=f"session {n} of {person} stored")
    return q.sessions(c.store, person_id=person, limit=None)[0]  # newest first


def cues(store, session: dict) -> set[str]:
    return {e["cue"] for e in q.events(store, session["session_id"]) if e["event_type"] == "cue"}


def force_target(session: dict) -> dict:
    return next(t for t in session["summary"]["targets"] if t["name"] == "force_n")["target"]


def field(page, key: str, end: str = ""):
    return page.locator(f'input[name="quads-roller|{key}{"|" + end if end else ""}"]')


def prescribe(page, c) -> None:
    """Theo, on Ann's prescription page: the lower body today, a lighter quads force band."""
    page.goto(f"{c.base}/person/ann/prescription?program=lower-body")
    today = pl.WEEKDAYS[date.today().weekday()]
    page.get_by_role("checkbox", name=today.capitalize()).check()
    field(page, "targets.force.bw", "lo").fill(RX_BW[0])
    field(page, "targets.force.bw", "hi").fill(RX_BW[1])
    field(page, "targets.force.max_bw").fill(RX_MAX_BW)
    page.get_by_role("button", name="Save as a new version").click()
    page.wait_for_selector("#rx-saved")
    assert page.locator("#rx-saved").inner_text() == "Saved as version 1."
    assert page.locator(f'#pushed li[data-device-id="{c.roller.id}"] .push-state').inner_text() == "sent"


def test_a_therapist_prescribes_two_clients_roll_and_each_sees_only_their_own(chromium, broker, tmp_path, fast_retry):
    with clinic(broker, tmp_path) as c:
        store = c.store
        # -- Ann rolls once on her file's numbers: no over-pressure
        before = quads_session(c, "ann", 1)
        assert "prescription" not in before["summary"]
        assert "over_pressure" not in cues(store, before)

        # -- theo prescribes in Chromium; the roller confirms version 1 through the broker
        theo = log_in(chromium, c.base, "theo")
        prescribe(theo, c)
        assert c.roller.app.prescriptions.versions() == {"ann": 1}
        theo.goto(f"{c.base}/person/ann/prescription")  # (not a reload: that would post the form again)
        assert theo.locator(f'#rx-devices tr[data-device-id="{c.roller.id}"] .rx-state').inner_text() == "has the latest"

        # -- Ann's sessions after, and Ben's (no prescription)
        after = [quads_session(c, "ann", 2 + i) for i in range(AFTER_RX)]
        bens = quads_session(c, "ben", 1)
        want_hi = float(RX_BW[1]) * ANN_KG * units.N_PER_KGF
        for s in after:
            assert s["summary"]["prescription"] == {"version": 1, "by": "theo"}, s["session_id"]
            assert force_target(s)["max"] == pytest.approx(want_hi, abs=0.05)
            assert "over_pressure" in cues(store, s), s["session_id"]
        assert force_target(before)["max"] > 2 * want_hi  # her file's band, 45 % of her weight
        assert "prescription" not in bens["summary"] and "over_pressure" not in cues(store, bens)

        # -- adherence as theo: done against due this week, as the store has it
        theo.goto(f"{c.base}/person/ann/adherence")
        weeks = ad.weekly(q.person_sessions(store, "ann"), rx.versions(store, "ann"), pl.known_programs(), date.today())
        this = weeks[-1]
        assert (this["done"], this["followed"]) == (1 + AFTER_RX, AFTER_RX)
        assert this["prescribed"] == len(pl.known_programs()["lower-body"].steps)  # today's, the only planned day
        row = theo.locator(f'#adherence tr[data-week="{this["week"]}"]')
        assert row.locator(".done").inner_text() == f"{this['done']} of {this['prescribed']}"
        assert row.locator(".followed").inner_text() == str(AFTER_RX)
        assert row.locator(".targets").inner_text().endswith(f"{this['targets_met']} of {this['targets_total']}")
        quads_left = theo.locator('#muscle-time tr[data-muscle="quadriceps"][data-side="left"] td').last
        assert float(quads_left.get_attribute("data-seconds")) == pytest.approx(
            sum(s["duration_s"] for s in [before, *after]), abs=0.1)

        # -- the map of tender spots (as theo): two on Ann's left quads, where she lingered
        theo.goto(f"{c.base}/person/ann")
        strip = theo.locator('#tender-spots .spot-row[data-muscle="quads"][data-side="left"]')
        marks = sorted(float(x) for x in strip.locator(".spot").evaluate_all("els => els.map(e => e.dataset.xM)"))
        assert len(marks) == 2, marks
        for got, want in zip(marks, SPOTS_M, strict=True):
            assert abs(got - want) <= BIN_M, marks
        words = strip.locator(".spot-list li").all_inner_texts()
        assert len(words) == 2 and all(f"lingered on in {1 + AFTER_RX} sessions" in w for w in words), words

        # -- Ann shares one session; a logged-out browser sees its numbers
        ann = log_in(chromium, c.base, "ann")
        shared = after[0]
        ann.goto(f"{c.base}/session/{shared['session_id']}")
        ann.select_option("#share-days", "7")
        ann.click("#share-form button[type=submit]")
        ann.wait_for_selector("#share-msg.ok")
        link = ann.locator("#shares tr.new a.share-link").get_attribute("href")
        stranger = chromium.new_context().new_page()
        assert stranger.goto(link).status == 200
        assert stranger.locator("#share-head h1").inner_text() == "Ann"
        assert stranger.locator("#summary").get_attribute("data-session-id") == shared["session_id"]
        assert stranger.locator("#summary .value.passes").inner_text() == units.count(shared["passes"])
        assert stranger.locator("#summary .value.duration").inner_text() == fmt_duration(shared["duration_s"])
        assert stranger.locator("nav a").count() == 0

        # -- Ben sees none of Ann's: her session, her page, her export answer 404
        ben = log_in(chromium, c.base, "ben")
        for path in (f"/session/{shared['session_id']}", "/person/ann", f"/api/session/{shared['session_id']}.csv",
                     f"/api/session/{shared['session_id']}.json"):
            assert ben.request.get(c.base + path).status == 404, path
        assert ben.goto(f"{c.base}/person/ben").status == 200
        ben.goto(f"{c.base}/history")
        listed = ben.locator("tr[data-session-id]").evaluate_all("els => els.map(e => e.dataset.sessionId)")
        assert listed == [bens["session_id"]]  # his one session, none of Ann's
