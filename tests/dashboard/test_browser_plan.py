"""Plans, starting for a person and soreness after (issue 22) in Debian's Chromium: the plan
form stores the ticked days, /plan's numbers are the seeded sessions', the Start form sends
who / side / programme / step / soreness to the device (read by a subscriber on the real
broker, which answers as a device would), the soreness-after rating is stored and shown; axe
finds nothing serious and nothing scrolls sideways at 375 px."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date, timedelta

import pytest

from dashboard import plans as pl
from dashboard import web
from dashboard.ingest import Ingest
from dashboard.store import open_store
from firmware.common import wire
from firmware.common.mqtt_url import make_client, parse_broker_url
from tests.dashboard.test_people import tagged
from tests.dashboard.test_web import call, serve

TODAY = date.today()  # the pages' day is injected; sessions are placed relative to it


@pytest.fixture(autouse=True)
def _no_console_errors(no_console_errors):
    yield


@pytest.fixture
def site(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    s.set_device_paired("home-roller", True)
    s.add_person("Ann", 60.0, person_id="ann")
    s.add_person("Bob", 80.0, person_id="bob")
    app = web.create_app(s, None, auth_required=False, secret_key="plan-test", today=lambda: TODAY)
    with serve(app) as addr:
        yield {"store": s, "base": f"http://{addr[0]}:{addr[1]}", "addr": addr}
    s.close()


def fits_375(page) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    page.wait_for_timeout(50)  # deliberate: one frame for the layout to settle after the resize
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 900})


def test_plan_form_and_today(page, site, axe):
    store, base = site["store"], site["base"]
    page.goto(base + "/person/ann/plan")
    box = page.locator('fieldset[data-program="lower-body"]')
    today_key = pl.WEEKDAYS[TODAY.weekday()]
    other = pl.WEEKDAYS[(TODAY.weekday() + 3) % 7]
    box.get_by_role("checkbox", name=f"{today_key.capitalize()}").check()
    box.get_by_role("checkbox", name=f"{other.capitalize()}").check()
    assert axe(page) == []
    page.get_by_role("button", name="Save the plan").click()
    page.wait_for_selector("#plan-saved")
    assert [(p["program_id"], p["weekdays"]) for p in pl.plans(store, "ann")] == [
        ("lower-body", tuple(sorted((TODAY.weekday(), (TODAY.weekday() + 3) % 7))))]
    assert page.locator('fieldset[data-program="lower-body"] input:checked').count() == 2
    fits_375(page)
    # a day that is none: refused in words (a crafted post: the form cannot send one)
    status, _, body = call(site["addr"], "POST", "/person/ann/plan", form={"lower-body": "funday"})
    assert status == 400 and "Not saved: &#x27;funday&#x27; is not a day of the week" in body
    # Ann rolled two steps of the lower body today, the quads on the roller
    for i in range(2):
        store.save_session("home-roller", tagged(f"ann-{i}", TODAY, person="ann", program_id="lower-body",
                                                 program_step=i))
    store.save_session("home-roller", tagged("ann-old", TODAY - timedelta(days=6), person="ann",
                                             protocol="calf-stick"))
    page.goto(base + "/plan")
    ann = page.locator('.plan-person[data-person-id="ann"]')
    assert ann.locator(".due li").inner_text() == "Lower body: 2 of 6 steps done"
    assert ann.locator(".done li").inner_text() == "Lower body: 2 of 6 steps; next: the stick — IT band, left"
    assert "calf not rolled for 6 days" in ann.locator(".neglect").inner_text()
    bob = page.locator('.plan-person[data-person-id="bob"]')
    assert bob.locator(".due li").inner_text() == "Nothing planned for today."
    assert page.locator("nav a.on").inner_text() == "Plan"
    assert axe(page) == []
    fits_375(page)


def test_soreness_after_is_stored_and_shown(page, site, axe):
    store, base = site["store"], site["base"]
    store.save_session("home-roller", tagged("s1", TODAY, person="ann", before=7))
    page.goto(base + "/session/s1")
    card = page.locator("#soreness")
    assert "Before: 7 of 10" in card.inner_text() and "After: not rated yet" in card.inner_text()
    assert axe(page) == []
    fits_375(page)
    card.get_by_role("radio", name="3").check()
    card.get_by_role("button", name="Save soreness").click()
    page.wait_for_selector("#soreness-after")
    assert page.locator("#soreness-after").inner_text() == "3"
    assert page.locator('#soreness input[value="3"]').is_checked()
    row = store.query("SELECT soreness_after FROM sessions WHERE session_id = ?", ("s1",))[0]
    assert row["soreness_after"] == 3
    status, _, body = call(site["addr"], "POST", "/session/s1/soreness", form={"soreness_after": "11"})
    assert status == 400 and "soreness after must be a whole number from 0 to 10" in body
    assert call(site["addr"], "POST", "/session/nope/soreness", form={"soreness_after": "1"})[0] == 404


class FakeDeviceEar:
    """A subscriber on the real broker to a device's start command, answering ok as a device."""

    def __init__(self, broker_url: str, device_id: str) -> None:
        self.got: list[dict] = []
        self.cond = threading.Condition()
        self.device_id = device_id
        self.client = make_client(parse_broker_url(broker_url), "ear-" + uuid.uuid4().hex[:6])
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(wire.topic(device_id, "cmd", "start"), qos=1)
        self.client.on_subscribe = lambda *a: self._note(None)
        self.client.on_message = self._on_message
        a = parse_broker_url(broker_url)
        self.client.connect(a.host, a.port)
        self.client.loop_start()
        with self.cond:
            assert self.cond.wait_for(lambda: self.subscribed, 10)

    subscribed = False

    def _note(self, _):
        with self.cond:
            self.subscribed = True
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg) -> None:
        body = json.loads(msg.payload)
        reply = wire.envelope({"id": body["id"], "status": "ok", "data": {"accepted": body["protocol"]}}, 1)
        client.publish(wire.topic(self.device_id, "cmd", "start", "result"), json.dumps(reply), qos=1)
        with self.cond:
            self.got.append(body)
            self.cond.notify_all()

    def next(self, n: int) -> dict:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.got) >= n, 10), "no start command"
            return self.got[n - 1]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_start_form_sends_person_side_and_programme(page, broker, tmp_path, axe):
    store = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    store.add_person("Ann", 60.0, person_id="ann")
    store.add_person("Bob", 80.0, person_id="bob")
    device_id = "stick-" + uuid.uuid4().hex[:6]
    store.set_device_paired(device_id, True)
    store.set_device_info(device_id, {"tool": "stick", "person": "bob"})
    store.set_device_status(device_id, "online")
    ingest = Ingest(broker.url, store, client_id="plan-dash-" + uuid.uuid4().hex[:6])
    ear = FakeDeviceEar(broker.url, device_id)
    app = web.create_app(store, ingest, auth_required=False, secret_key="plan-test")
    try:
        ingest.start()
        assert ingest.wait_connected(10)
        with serve(app) as (host, port):
            page.goto(f"http://{host}:{port}/device/{device_id}")
            assert page.locator("#person").input_value() == "bob"  # the device's current person
            assert axe(page) == []
            fits_375(page)
            # a programme from step 4 (the right IT band): its routine and side are the step's
            page.select_option("#program", "lower-body")
            assert page.locator("#side-field").is_hidden()
            assert [o for o in page.locator("#program-step option").all_inner_texts()][0] == \
                "3. the stick — IT band, left"
            page.select_option("#program-step", "3")
            page.select_option("#soreness-before", "6")
            page.get_by_role("button", name="Start", exact=True).click()
            page.wait_for_selector("#start-msg.ok")
            cmd = ear.next(1)
            assert {k: cmd.get(k) for k in ("protocol", "person", "side", "program", "program_step",
                                            "soreness_before")} == {
                "protocol": "it-band-stick", "person": "bob", "side": "right", "program": "lower-body",
                "program_step": 3, "soreness_before": 6}
            # one routine, for Ann, on the left calf, soreness not said
            page.select_option("#program", "")
            page.select_option("#protocol", "calf-stick")
            assert page.locator("#side-field").is_visible()
            page.select_option("#person", "ann")
            page.select_option("#side", "left")
            page.select_option("#soreness-before", "")
            page.get_by_role("button", name="Start", exact=True).click()
            cmd = ear.next(2)
            assert (cmd["protocol"], cmd["person"], cmd["side"]) == ("calf-stick", "ann", "left")
            assert "program" not in cmd and "soreness_before" not in cmd
    finally:
        ear.close()
        ingest.stop()
        store.close()
