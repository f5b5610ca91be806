"""The dashboard in Debian's Chromium (Playwright): login, pairing, live values pushed while a
device publishes through the real link and private Mosquitto, the session page with its
charts, and downloads of the exports."""

from __future__ import annotations

import csv
import json
import re
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from dashboard import web
from dashboard.auth import add_user
from dashboard.ingest import Ingest
from dashboard.store import open_store
from tests.dashboard.test_queries import iso, seed_session, summary_payload, telemetry_payloads
from tests.dashboard.test_web import Device, serve

PASSWORD = "roll-slowly-2"


@contextmanager
def site(broker, tmp_path, *, auth: bool):
    """Store + real ingest + dashboard app on a loopback port + a real device link."""
    store = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    ingest = Ingest(broker.url, store, client_id="browser-dash-" + uuid.uuid4().hex[:8])
    ingest.start()
    assert ingest.wait_connected(10)
    device = Device(broker.url, tmp_path).start()
    add_user(store, "ana", PASSWORD)
    app = web.create_app(store, ingest, auth_required=auth, secret_key="browser-test")
    try:
        with serve(app) as (host, port):
            yield {"store": store, "device": device, "base": f"http://{host}:{port}"}
    finally:
        device.stop()
        ingest.stop()
        store.close()


def login(page, base: str, password: str = PASSWORD) -> None:
    page.fill("#username", "ana")
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")


class Publisher(threading.Thread):
    """A device in a session: telemetry at ~10 Hz through the real link (what firmware.app.loop
    sends), then its events and summary through the journal's outbox."""

    def __init__(self, device: Device, session_id: str, n: int = 40) -> None:
        super().__init__(daemon=True)
        self.device, self.session_id = device, session_id
        self.samples = telemetry_payloads(session_id, n=n, period_s=0.1, stroke_s=1.0)
        for i, s in enumerate(self.samples):  # a user who speeds up: the gauge must move
            s["speed_mps"] = 0.05 + 0.004 * i
            s["force_n"] = 120.0 + 3.0 * i
            s["distance_m"] = 0.04 * i
        self.stop = threading.Event()

    def run(self) -> None:
        for s in self.samples:
            if self.stop.is_set():
                return
            self.device.link.publish_telemetry(s)
            time.sleep(0.1)  # deliberate: a device's telemetry comes at its pace, 10 Hz

    def finish(self, passes: int = 3, targets=None) -> dict:
        """Journal 3 passes and the summary; the link delivers them from the outbox."""
        self.join(15)
        j, sid = self.device.journal, self.session_id
        started = iso(datetime.now(UTC))
        j.start_session(sid, "quads-roller", "roller", started)
        for i in range(passes):
            j.record_event(sid, {"event_type": "pass_completed", "t_s": 501.0 + i, "length_m": 0.18 + 0.02 * i,
                                 "duration_s": 1.0, "direction": 1 if i % 2 == 0 else -1, "mean_speed_mps": 0.08,
                                 "mean_force_n": 150.0})
        summary = summary_payload(sid, started_at=started, duration_s=4.0, passes=passes,
                                  holds=[{"start_s": 502.0, "duration_s": 1.5, "force_n": 150.0}],
                                  targets=targets)
        j.finish_session(sid, {k: v for k, v in summary.items() if k not in ("v", "ts", "seq", "msg_id")})
        self.device.link.wake()
        return summary


def test_login_refuses_a_wrong_password_then_lets_the_user_in(page, broker, tmp_path):
    with site(broker, tmp_path, auth=True) as s:
        page.goto(s["base"] + "/history")
        assert "/login?next=%2Fhistory" in page.url
        login(page, s["base"], "not-the-password")
        assert "Wrong user name or password" in page.locator("#login-msg").inner_text()
        assert page.locator("h1").inner_text() == "Log in"
        login(page, s["base"])
        page.wait_for_url(s["base"] + "/history")
        assert page.locator("h1").inner_text() == "History"
        page.click(".logout button")
        page.wait_for_url(s["base"] + "/login")
        page.goto(s["base"] + "/devices")
        assert "/login" in page.url


def test_pairing_refuses_a_wrong_code_and_pairs_with_the_right_one(page, broker, tmp_path):
    with site(broker, tmp_path, auth=True) as s:
        dev = s["device"]
        page.goto(s["base"] + "/devices")
        login(page, s["base"])
        page.wait_for_url(s["base"] + "/devices")
        page.fill("#device_id", dev.device_id)
        page.fill("#code", "000000" if dev.code != "000000" else "111111")
        page.click("#pair-form button")
        msg = page.locator("#pair-msg")
        assert "Pairing refused" in msg.inner_text() and "error" in msg.get_attribute("class")
        assert s["store"].query("SELECT device_id FROM devices WHERE paired = 1") == []
        page.fill("#device_id", dev.device_id)
        page.fill("#code", dev.code)
        page.click("#pair-form button")
        assert f"Paired with '{dev.device_id}'" in page.locator("#pair-msg").inner_text()
        row = page.locator(f'#devices tr[data-device-id="{dev.device_id}"]')
        assert row.locator(".paired").inner_text() == "paired"
        page.goto(s["base"] + "/")
        page.click(f'a.device-card[data-device-id="{dev.device_id}"]')
        page.wait_for_url(f"{s['base']}/device/{dev.device_id}")
        page.select_option("#protocol", "calf-stick")
        page.click("#start-form button")
        page.wait_for_function("() => document.getElementById('start-msg').textContent.startsWith('Started')")
        assert ("start", {"protocol": "calf-stick"}) in dev.commands


def test_live_values_change_and_the_session_appears_with_charts_and_exports(page, broker, tmp_path):
    with site(broker, tmp_path, auth=False) as s:
        dev, base = s["device"], s["base"]
        s["store"].set_device_paired(dev.device_id, True)
        page.goto(f"{base}/device/{dev.device_id}")
        page.wait_for_function("() => document.getElementById('status').textContent === 'online'")
        sid = "live-" + uuid.uuid4().hex[:8]
        pub = Publisher(dev, sid)
        pub.start()
        page.wait_for_function("() => document.getElementById('speed-gauge').dataset.value !== ''")
        first_speed = float(page.locator("#speed-gauge").get_attribute("data-value"))
        first_elapsed = page.locator("#elapsed").inner_text()
        page.wait_for_function(
            "([v]) => parseFloat(document.getElementById('speed-gauge').dataset.value) > v + 2", arg=[first_speed])
        # the clock (time rolling, whole seconds) moves on
        page.wait_for_function("([e]) => document.getElementById('elapsed').textContent !== e",
                               arg=[first_elapsed])
        assert float(page.locator("#force-gauge").get_attribute("data-value")) > 120.0
        assert page.locator("#cue").inner_text() == "Nice and steady"
        assert page.locator("#cue-sub").inner_text().startswith("Aim for 4–12 cm/s at ")  # not 4.0–12.0
        assert re.fullmatch(r"\d+ cm|\d+\.\d m", page.locator("#distance").inner_text())
        assert page.locator("#speed-gauge path.gauge-band").get_attribute("d") != ""
        pub.finish(passes=3, targets=PEOPLE_TARGETS)
        page.wait_for_selector("#session-link", timeout=20000)
        page.click("#session-link")
        page.wait_for_url(f"{base}/session/{sid}")
        assert page.locator("#summary .passes").inner_text() == "3"
        assert len(page.locator("#speed-chart path.series").get_attribute("d")) > 200
        assert page.locator("#speed-chart rect.band").count() == 1
        assert page.locator("#force-chart line.limit").count() == 1
        assert page.locator("#pass-chart rect.bar").count() == 3
        assert page.locator("#timeline rect.hold").count() == 1
        assert page.locator("#coverage-chart rect.bar").count() == 20
        assert page.locator("table.targets tr.met").count() == 0 or page.locator("table.targets tr").count() >= 2
        assert_peoples_units(page)

        with page.expect_download() as dl:
            page.click("a[href$='.csv']")
        text = open(dl.value.path(), encoding="utf-8").read()
        assert dl.value.suggested_filename == f"rollsense-session-{sid}.csv"
        rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
        assert len(rows) >= 20 and {"t_s", "speed_mps", "force_n", "position_m"} <= set(rows[0])
        with page.expect_download() as dl:
            page.click("a[href$='.json']")
        doc = json.loads(open(dl.value.path(), encoding="utf-8").read())
        assert doc["summary"]["session_id"] == sid and len(doc["events"]) == 3


# targets as the coach writes them (SI units in the JSON)
PEOPLE_TARGETS = [
    {"name": "rolling_up_s", "target": {"min": 60.0, "unit": "s", "text": "≥ 60 s"}, "actual": 76.4, "met": True},
    {"name": "speed_mps", "target": {"min": 0.0375, "max": 0.175, "unit": "m/s", "text": "0.0375–0.175 m/s"},
     "actual": 0.0812, "met": True},
    {"name": "pass_length_m", "target": {"min": 0.15, "max": 0.35, "unit": "m", "text": "0.15–0.35 m"},
     "actual": 0.1934, "met": True},
    {"name": "force_up_n", "target": {"min": 100.0, "max": 200.0, "unit": "N", "text": "100–200 N"},
     "actual": 167.3333, "met": True},
    {"name": "spots", "target": {"min": 3, "unit": "", "text": "≥ 3"}, "actual": 1.0, "met": False},
]


def assert_peoples_units(page) -> None:
    """The session page speaks cm/s, cm, whole newtons and whole counts (issue 17 §3)."""
    tiles = page.locator("#summary").inner_text()
    assert page.locator("#summary .speed").inner_text() == "8.0 cm/s"
    assert page.locator("#summary .force").inner_text() == "180 N"
    assert page.locator("#summary .distance").inner_text() == "60 cm"  # 3 passes x 0.2 m
    table = page.locator("table.targets").inner_text()
    rows = [r.split("\t") for r in table.splitlines()[1:]]
    assert [r[:3] for r in rows] == [
        ["Time rolling up", "≥ 60 s", "76 s"], ["Speed", "3.8–17.5 cm/s", "8.1 cm/s"],
        ["Pass length", "15–35 cm", "19 cm"], ["Pressure rolling up", "100–200 N", "167 N"],
        ["Spots held", "≥ 3", "1"],
    ]
    for text in (tiles, table):
        assert not re.search(r"(?<!c)m/s|\d\.\d+ N|\b\d+\.0\b(?! cm/s)", text), text


def test_history_shows_sessions_trends_and_exports(page, broker, tmp_path):
    with site(broker, tmp_path, auth=False) as s:
        store, base = s["store"], s["base"]
        store.set_device_paired("roller-a", True)
        sid = seed_session(store, "roller-a", duration_s=95.0, passes=14)
        seed_session(store, "roller-a", duration_s=40.0, passes=5, protocol="calf-stick", tool="stick")
        page.set_viewport_size({"width": 390, "height": 844})  # a phone
        page.goto(base + "/history")
        row = page.locator(f'tr[data-session-id="{sid}"]')
        assert row.locator(".duration").inner_text() == "1:35"
        assert row.locator(".passes").inner_text() == "14"
        assert page.locator("#weekly-chart rect.bar").count() == 12
        assert page.locator("#discipline-chart circle").count() == 2
        assert page.locator("#streak-current").inner_text() == "1 day"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        with page.expect_download() as dl:
            page.click("a[href='/api/history.json']")
        doc = json.loads(open(dl.value.path(), encoding="utf-8").read())
        assert sorted(x["passes"] for x in doc["sessions"]) == [5, 14]


@pytest.fixture(autouse=True)
def _no_console_errors(no_console_errors):
    """Every test here fails on a page or console error (conftest.no_console_errors)."""
