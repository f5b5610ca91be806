"""Acting on what you see (issue 19 §2), in Debian's Chromium against a real device (the
simulated roller `rollsense run --sim` builds: CoachingLoop, journal, link) behind the private
Mosquitto: Start offers the roller's own routines and shows the device's answer (its refusal
in its words, success only when it said ok), an offline device is refused at once without a
command sent, Stop stops the running routine, and a wrong pairing code is said in words."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

import firmware.app.daemon
from dashboard import queries as q
from dashboard import web
from dashboard.ingest import Ingest
from dashboard.store import open_store
from firmware.app.daemon import build_daemon, routine_list
from firmware.core.protocols import ROUTINES_DIR
from firmware.edge.config import apply_overrides, load_config
from firmware.edge.pairing import new_code
from tests.dashboard.test_web import serve
from tests.firmware.edge.test_link import Observer, wait_until


@contextmanager
def roller(broker, tmp_path, *, paired: bool = True):
    """A simulated roller (with a user routine, my-quads) serving commands over the broker,
    the dashboard's real ingest and store, and the web app on a loopback port."""
    routines = tmp_path / "routines"
    routines.mkdir()
    shutil.copy(ROUTINES_DIR / "quads-roller.toml", routines / "my-quads.toml")
    device_id = "roller-" + uuid.uuid4().hex[:8]
    cfg = apply_overrides(load_config(None), hardware="sim", state_dir=tmp_path / "state",
                          broker_url=broker.url, device_id=device_id, routines_dir=routines)
    device, link, journal, outputs = build_daemon(cfg)
    store = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    ingest = Ingest(broker.url, store, client_id="acting-dash-" + uuid.uuid4().hex[:8])
    stop = threading.Event()
    server = threading.Thread(target=device.serve, args=(stop,), daemon=True)
    app = web.create_app(store, ingest, auth_required=False, secret_key="acting-test")
    try:
        ingest.start()
        assert ingest.wait_connected(10)
        if paired:
            store.set_device_paired(device_id, True)
        link.start()
        server.start()
        wait_until(lambda: link.subscribed and device.sensors_ok, what="device up")
        wait_until(lambda: ((q.get_device(store, device_id) or {}).get("info") or {}).get("routines"),
                   what="the device's info stored")
        with serve(app) as (host, port):
            yield SimpleNamespace(id=device_id, device=device, link=link, journal=journal, store=store,
                                  ingest=ingest, cfg=cfg, base=f"http://{host}:{port}")
    finally:
        stop.set()
        server.join(20)
        link.stop()
        ingest.stop()
        outputs.close()
        journal.close()
        device.rt.hardware.close()
        store.close()


@pytest.fixture
def sim_roller(broker, tmp_path, monkeypatch):
    monkeypatch.setattr(firmware.app.daemon, "SENSOR_RETRY_S", 0.2)
    with roller(broker, tmp_path) as r:
        yield r


@pytest.fixture(autouse=True)
def _no_console_errors(no_console_errors):
    """Every test here fails on a page or console error (conftest.no_console_errors)."""


def message(page, selector: str, timeout_ms: float = 15000) -> str:
    """The text of ``selector`` once it holds an answer (not empty, not 'Sending…')."""
    page.wait_for_function("([sel]) => !['', 'Sending…'].includes(document.querySelector(sel).textContent)",
                           arg=[selector], timeout=timeout_ms)
    return page.locator(selector).inner_text()


def click_start(page, protocol: str) -> None:
    page.locator("#start-msg").evaluate("el => { el.textContent = ''; }")
    page.select_option("#protocol", protocol)
    page.click("#start-form button")


def test_start_offers_the_rollers_routines_refusals_are_shown_and_stop_stops(page, sim_roller):
    r = sim_roller
    page.goto(f"{r.base}/device/{r.id}")
    page.wait_for_function("() => document.getElementById('status').textContent === 'online'")
    offered = page.eval_on_selector_all("#protocol option", "os => os.map(o => o.value)")
    assert sorted(offered) == sorted(x["id"] for x in routine_list(r.cfg, "roller"))
    assert "my-quads" in offered and "piriformis-ball" not in offered and "calf-stick" not in offered

    # a ball routine forged into the form: the device's own reason, not "Started"
    page.eval_on_selector("#protocol", "s => s.add(new Option('Piriformis', 'piriformis-ball'))")
    click_start(page, "piriformis-ball")
    assert message(page, "#start-msg") == (
        "Not started: piriformis-ball is for a ball; this device is a roller")
    assert "error" in page.locator("#start-msg").get_attribute("class")
    assert not r.device.running

    click_start(page, "my-quads")  # the user's own routine, from the device's list
    assert message(page, "#start-msg") == "Started — follow the cues on the tool."
    wait_until(lambda: r.device.running, what="my-quads running")
    click_start(page, "thoracic-roller")
    assert message(page, "#start-msg") == "Not started: my-quads is running; send stop first"

    page.click("#stop-form button")
    title = next(x["title"] for x in routine_list(r.cfg, "roller") if x["id"] == "my-quads")
    assert message(page, "#stop-msg") == f"Stopped {title}: its session is saved as stopped."
    wait_until(lambda: not r.device.running, what="routine stopped")
    # the session arrives and the page says the routine stopped
    page.wait_for_function("() => document.getElementById('cue').textContent === 'Stopped'", timeout=20000)
    page.wait_for_selector("#session-link")
    (s,) = q.sessions(r.store, device_id=r.id)
    assert s["protocol"] == "my-quads" and not s["completed"]

    page.locator("#stop-msg").evaluate("el => { el.textContent = ''; }")
    page.click("#stop-form button")
    assert message(page, "#stop-msg") == "Not stopped: no routine is running; nothing to stop"


def test_an_offline_device_is_refused_at_once_and_sent_nothing(page, sim_roller):
    r = sim_roller
    page.goto(f"{r.base}/device/{r.id}")
    page.wait_for_function("() => document.getElementById('status').textContent === 'online'")
    obs = Observer(r.cfg.broker_url, topics=(f"rollsense/{r.id}/cmd/#",), client_id="acting-obs")
    try:
        r.link.stop()  # says offline (retained) and leaves
        page.wait_for_function("() => document.getElementById('status').textContent === 'offline'")
        t0 = time.monotonic()
        click_start(page, "quads-roller")
        text = message(page, "#start-msg", timeout_ms=2000)  # not after a 5 s wait
        assert time.monotonic() - t0 < 2.0
        assert text == "Not started: the device is offline: switch it on and wait until this page says online"
        page.click("#stop-form button")
        assert message(page, "#stop-msg", timeout_ms=2000).endswith(
            "the device is offline: switch it on and wait until this page says online")
        # a marker through the dashboard's own connection comes after anything it sent before
        marker = r.ingest.send_command(r.id, "marker")
        obs.wait_topic(f"rollsense/{r.id}/cmd/marker")
        assert [json.loads(m.payload)["id"] for m in obs.messages] == [marker]  # nothing was sent
    finally:
        obs.close()


def test_a_wrong_pairing_code_is_said_in_words(page, broker, tmp_path, monkeypatch):
    monkeypatch.setattr(firmware.app.daemon, "SENSOR_RETRY_S", 0.2)
    with roller(broker, tmp_path, paired=False) as r:
        code = new_code(r.cfg.state_dir)  # what `rollsense pair` shows on the device
        page.goto(r.base + "/devices")
        page.fill("#device_id", r.id)
        page.fill("#code", "000000" if code != "000000" else "111111")
        page.click("#pair-form button")
        msg = page.locator("#pair-msg")
        assert msg.inner_text() == "Pairing refused: wrong or expired pairing code. Check the code on the device."
        assert "error" in msg.get_attribute("class")
        assert not q.get_device(r.store, r.id)["paired"]
        page.fill("#device_id", r.id)
        page.fill("#code", code)
        page.click("#pair-form button")
        assert page.locator("#pair-msg").inner_text() == f"Paired with '{r.id}'."


def test_the_demo_device_refuses_a_second_routine_instead_of_accepting_it(page, broker, tmp_path):
    """`rollsense demo` keeps its device and dashboard up after its one routine; a start then
    was answered ok and nothing ran ("Started — follow the cues" on the page)."""
    from firmware.app import demo
    from firmware.core.protocols import list_routines

    opts = demo.DemoOptions(protocol=demo.DEFAULT_PROTOCOL, fast=True, device_id="demo-" + uuid.uuid4().hex[:8])
    app, hw, sampler, outputs, journal, link = demo.build_demo_device(opts, broker.url, tmp_path / "state")
    store = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    ingest = Ingest(broker.url, store, client_id="acting-demo-" + uuid.uuid4().hex[:8])
    web_app = web.create_app(store, ingest, auth_required=False, secret_key="acting-test")
    try:
        ingest.start()
        assert ingest.wait_connected(10)
        store.set_device_paired(opts.device_id, True)
        link.start()
        sampler.start()
        ended = threading.Event()  # the demo's one routine (cut short: the test need not wait)
        run = threading.Thread(target=app.run_routine, args=(opts.protocol, ended))
        run.start()
        wait_until(lambda: app.session is not None, what="the demo's routine running")
        ended.set()
        run.join(20)
        assert app.session.finished
        wait_until(lambda: (q.get_device(store, opts.device_id) or {}).get("info"), what="the demo's info stored")
        with serve(web_app) as (host, port):
            page.goto(f"http://{host}:{port}/device/{opts.device_id}")
            click_start(page, "thoracic-roller")
            assert message(page, "#start-msg") == (
                "Not started: cannot start thoracic-roller: the demo runs one routine; "
                "run 'rollsense demo --protocol ID' for another")
            offered = page.eval_on_selector_all("#protocol option", "os => os.map(o => o.value)")
            assert sorted(offered) == sorted(r.id for r in list_routines() if r.tool == "roller")
        assert app.commands.empty()
    finally:
        link.stop()
        ingest.stop()
        outputs.close()
        journal.close()
        hw.close()
        store.close()


def test_the_start_list_of_a_device_naming_only_its_tool_is_that_tools_routines():
    from dashboard.render import routine_choices
    from firmware.core.protocols import list_routines

    assert [pid for pid, _ in routine_choices({"tool": "ball"})] == [
        r.id for r in list_routines() if r.tool == "ball"]
    assert len(routine_choices({"hardware": "sim"})) == len(list_routines())  # an older device: all
