"""Make the README screenshots from a real run.

Starts a private Mosquitto, the dashboard (``dashboard.server.run_dashboard``) and the
simulated device (``firmware.app.demo.build_demo_device``: simulated user -> fake chips -> real
drivers -> metrics -> coach -> journal -> link), then drives Debian's Chromium with
Playwright and writes:

    docs/img/dashboard-live.png   the live view mid-session
    docs/img/session.png          the session page of that run
    docs/img/history.png          the history after a few routines
    docs/img/session-calf.png     a calf session: the up and down bands, each pass judged,
                                  what the coach said and when
    docs/img/session-hold.png     a hold session: still threshold, hold window, spots

and then a household (issue 22): two people added on /people, the lower-body programme
planned for today, played on a simulated roller and stick (``rollsense run --sim`` devices
serving commands) started from the live pages' Start form:

    docs/img/people.png           the People page: Ann and Ben, each in their units, sent to both tools
    docs/img/start-form.png       the stick's Start form, the programme and its step chosen
    docs/img/plan.png             today's plan: Ann done, Ben halfway with the stick next
    docs/img/person.png           Ann's page: streak, left against right, soreness 8 -> 3
    docs/img/person-phone.png     Ann's page on a 375 px phone

and then a clinic (issue 23), on a dashboard that asks for a login: a therapist (theo) linked to
Ann and Ben, Ann's simulated user lingering over two spots on her quads (scenario
tender-spots); theo prescribes her a lighter quads band, she rolls four times, Ben once:

    docs/img/therapist.png        Ann's adherence page as theo: done against due, time per muscle
    docs/img/prescription.png     the prescription form after the save: sent, versions, devices
    docs/img/spots.png            Ann's tender spots: the body outline and the strips
    docs/img/share.png            a session Ann shared, opened by a browser with no login

Usage: .venv/bin/python scripts/screenshot.py [--out docs/img] [--speed 3] [--only household|clinic]
If the device stages are not importable, it says so and exits non-zero (no fake data).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from firmware.edge.broker import PrivateBroker, free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
# one household, one device per tool (a device offers only its own tool's routines)
DEVICE_OF_TOOL = {"roller": "living-room-roller", "stick": "living-room-stick", "ball": "living-room-ball"}
DEVICE_ID = DEVICE_OF_TOOL["roller"]  # the one on the live screenshot
HISTORY_RUNS = (("calf-stick", "good"), ("piriformis-ball", "good"), ("quads-roller", "too-fast"),
                ("calf-stick", "reversed"))
HOUSEHOLD_SPEED = 1000.0  # the simulator's top speed: the programme's twelve sessions in seconds
SHOT_OF_RUN = {("calf-stick", "reversed"): "session-calf.png", ("piriformis-ball", "good"): "session-hold.png"}


class DashboardThread:
    def __init__(self, broker_url: str, db_url: str, port: int, trust: tuple[str, ...] | None = None,
                 login: bool = False) -> None:
        self.login = login  # a login wall on loopback too (as behind a proxy on this host)
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.args = (broker_url, db_url, port)
        self.trust = list(DEVICE_OF_TOOL.values() if trust is None else trust)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from dashboard.server import run_dashboard

        broker_url, db_url, port = self.args
        try:
            run_dashboard(broker_url, db_url, "127.0.0.1", port, stop_event=self.stop, ready_event=self.ready,
                          trust_devices=self.trust, trusted_proxies=("127.0.0.1",) if self.login else ())
        except BaseException as e:  # noqa: BLE001 - reported by start()
            self.error = e
            self.ready.set()

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(20) or self.error:
            raise SystemExit(f"dashboard did not start: {self.error}")

    def close(self) -> None:
        self.stop.set()
        if self.thread.ident is not None:  # started
            self.thread.join(10)


class DeviceRun:
    """One routine on the simulated device, in a thread, through the real device stack."""

    def __init__(self, broker_url: str, state_dir: Path, protocol: str, scenario: str, speed: float, seed: int) -> None:
        from firmware.app.demo import DemoOptions, build_demo_device
        from firmware.core.protocols import load_routine

        opts = DemoOptions(protocol=protocol, scenario=scenario, seed=seed, speed=speed,
                           device_id=DEVICE_OF_TOOL[load_routine(protocol).tool])
        state_dir.mkdir(parents=True, exist_ok=True)
        self.protocol = protocol
        self.app, self.hw, self.sampler, self.outputs, self.journal, self.link = build_demo_device(
            opts, broker_url, state_dir)
        self.summary: dict | None = None
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.summary = self.app.run_routine(self.protocol, self.stop)
        except BaseException as e:  # noqa: BLE001 - reported by finish()
            self.error = e

    def start(self) -> DeviceRun:
        self.link.start()
        self.sampler.start()
        self.thread.start()
        return self

    def finish(self, timeout_s: float = 300.0) -> dict:
        from firmware.app.demo import wait_delivered

        self.thread.join(timeout_s)
        if self.error or self.summary is None:
            raise SystemExit(f"device run failed: {self.error or 'timed out'}")
        if not wait_delivered(self.journal, 30.0):
            raise SystemExit("the dashboard did not acknowledge the session")
        return self.summary

    def close(self) -> None:
        self.stop.set()
        for closer in (self.link.stop, self.journal.close, self.outputs.close, self.hw.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass


class HouseholdDevice:
    """A simulated device as ``rollsense run --sim`` builds it, serving start commands (a
    programme plays on it) through the broker, in a thread."""

    def __init__(self, broker_url: str, state_dir: Path, protocol: str, device_id: str | None = None,
                 scenario: str = "good") -> None:
        from firmware.app.daemon import build_daemon
        from firmware.core.protocols import load_routine
        from firmware.edge.config import apply_overrides, load_config

        self.id = device_id or DEVICE_OF_TOOL[load_routine(protocol).tool]
        cfg = apply_overrides(load_config(None), hardware="sim", state_dir=state_dir, broker_url=broker_url,
                              device_id=self.id, protocol=protocol,
                              **{"sim.speed": HOUSEHOLD_SPEED, "sim.scenario": scenario})
        self.daemon, self.link, self.journal, self.outputs = build_daemon(cfg)
        self.daemon.app.poll_s = 0.1  # 0.1 s blocks: the same sessions, fewer wake-ups
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.daemon.serve, args=(self.stop,), daemon=True)

    def start(self) -> HouseholdDevice:
        self.link.start()
        self.thread.start()
        return self

    def close(self) -> None:
        self.daemon.app.request_stop()
        self.stop.set()
        self.thread.join(20)
        for closer in (self.link.stop, self.journal.close, self.outputs.close, self.daemon.rt.hardware.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass


def wait_for(what: str, check, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshot: timed out waiting for {what}")
        time.sleep(0.2)


def household(page, base: str, db_url: str, broker_url: str, tmp: Path, out_dir: Path) -> None:
    """Ann and Ben run the lower-body programme; the people, plan and person screenshots."""
    from dashboard import plans as pl
    from dashboard.store import open_store

    store = open_store(db_url)
    devices = [HouseholdDevice(broker_url, tmp / f"household-{tool}", protocol).start()
               for tool, protocol in (("roller", "quads-roller"), ("stick", "it-band-stick"))]
    roller, stick = devices

    def steps_done(person_id: str) -> int:
        return len(store.query("SELECT session_id FROM sessions WHERE person_id = ? AND program_id = ?",
                               (person_id, "lower-body")))

    def online(dev: HouseholdDevice) -> bool:
        rows = store.query("SELECT status, info_json FROM devices WHERE device_id = ?", (dev.id,))
        return bool(rows) and rows[0]["status"] == "online" and dev.daemon.sensors_ok

    try:
        for dev in devices:
            wait_for(f"{dev.id} online", lambda d=dev: online(d))
        for name, mass, unit in (("Ann", "55", "metric"), ("Ben", "210", "imperial")):
            page.goto(f"{base}/people")
            page.fill("#add-name", name)
            page.fill("#add-body_mass", mass)
            page.select_option("#add-units", unit)
            page.click("#add-form button[type=submit]")
            page.wait_for_selector("#people-msg")
        page.screenshot(path=str(out_dir / "people.png"), full_page=True)  # both sent to both tools
        ids = {p["name"]: p["id"] for p in store.people()}
        today = pl.WEEKDAYS[datetime.now().astimezone().weekday()]
        for pid in ids.values():
            page.goto(f"{base}/person/{pid}/plan")
            box = page.locator('fieldset[data-program="lower-body"]')
            box.get_by_role("checkbox", name=today.capitalize()).check()
            page.get_by_role("button", name="Save the plan").click()
            page.wait_for_selector("#plan-saved")

        def start(dev: HouseholdDevice, who: str, step: int, soreness: str = "", shot: str = "") -> None:
            page.goto(f"{base}/device/{dev.id}")
            page.select_option("#person", ids[who])
            page.select_option("#program", "lower-body")
            page.select_option("#program-step", str(step))
            page.select_option("#soreness-before", soreness)
            if shot:
                page.locator("#start-form").locator("xpath=..").screenshot(path=str(out_dir / shot))
            page.get_by_role("button", name="Start", exact=True).click()
            page.wait_for_selector("#start-msg.ok")

        start(roller, "Ann", 0, "8")
        wait_for("Ann's roller steps", lambda: steps_done(ids["Ann"]) == 2)
        start(stick, "Ann", 2, shot="start-form.png")
        start(roller, "Ben", 0, "3")
        wait_for("Ann's stick steps and Ben's roller steps",
                 lambda: steps_done(ids["Ann"]) == 6 and steps_done(ids["Ben"]) == 2)
        page.goto(f"{base}/plan")
        page.screenshot(path=str(out_dir / "plan.png"), full_page=True)
        first = store.query("SELECT session_id FROM sessions WHERE person_id = ? AND program_step = 0",
                            (ids["Ann"],))[0]["session_id"]
        page.goto(f"{base}/session/{first}")
        page.locator("#soreness").get_by_role("radio", name="3").check()
        page.get_by_role("button", name="Save soreness").click()
        page.wait_for_selector("#soreness-after")
        page.goto(f"{base}/person/{ids['Ann']}")
        page.wait_for_selector("#weekly-chart svg")
        page.screenshot(path=str(out_dir / "person.png"), full_page=True)
        page.set_viewport_size({"width": 375, "height": 812})
        page.reload()
        page.wait_for_selector("#weekly-chart svg")
        page.screenshot(path=str(out_dir / "person-phone.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        print("household screenshots captured")
    finally:
        for dev in devices:
            dev.close()
        store.close()


CLINIC_ROLLER = "home-roller"
CLINIC_PASSWORD = "screenshot-only"  # a throwaway store: these logins end with the run


def clinic(browser, broker_url: str, tmp: Path, out_dir: Path) -> None:
    """Theo prescribes Ann a lighter quads band; Ann (lingering over two spots) and Ben roll;
    the therapist, prescription, spots and share screenshots. A dashboard of its own that asks
    for a login, as the therapist's would."""
    from dashboard import access
    from dashboard import plans as pl
    from dashboard.store import open_store

    db_url = f"sqlite:///{tmp / 'clinic.db'}"
    store = open_store(db_url)
    store.add_person("Ann", 60.0, person_id="ann")
    store.add_person("Ben", 80.0, person_id="ben")
    access.add_login(store, "admin", CLINIC_PASSWORD)
    access.add_login(store, "theo", CLINIC_PASSWORD, role="therapist")
    for pid in ("ann", "ben"):
        access.add_login(store, pid, CLINIC_PASSWORD, role="person", person_id=pid)
        access.link_client(store, "theo", pid)
    port = free_port()
    dash = DashboardThread(broker_url, db_url, port, (CLINIC_ROLLER,), login=True)
    base = f"http://127.0.0.1:{port}"
    dev = None
    contexts = []

    def logged_in(username: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("#username", username)
        page.fill("#password", CLINIC_PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    def sessions(pid: str) -> int:
        return len(store.query("SELECT session_id FROM sessions WHERE person_id = ?", (pid,)))

    def roll(page, pid: str, soreness: str) -> None:
        n = sessions(pid)
        page.goto(f"{base}/device/{CLINIC_ROLLER}")
        page.select_option("#person", pid)
        page.select_option("#side", "left")
        page.select_option("#soreness-before", soreness)
        page.get_by_role("button", name="Start", exact=True).click()
        page.wait_for_selector("#start-msg.ok")
        wait_for(f"{pid}'s session {n + 1}", lambda: sessions(pid) == n + 1)

    try:
        dash.start()
        dev = HouseholdDevice(broker_url, tmp / "clinic-roller", "quads-roller", CLINIC_ROLLER, "tender-spots").start()
        wait_for("the clinic's roller online with Ann and Ben", lambda: dev.daemon.sensors_ok and all(
            dev.daemon.app.people.get(pid) for pid in ("ann", "ben")))
        ann = logged_in("ann")
        roll(ann, "ann", "7")  # on her file's numbers
        theo = logged_in("theo")
        theo.goto(f"{base}/person/ann/prescription?program=lower-body")
        today = pl.WEEKDAYS[datetime.now().astimezone().weekday()]
        theo.get_by_role("checkbox", name=today.capitalize()).check()
        for key, value in (("bw|lo", "0.15"), ("bw|hi", "0.3"), ("max_bw", "0.4")):
            theo.fill(f'input[name="quads-roller|targets.force.{key}"]', value)
        theo.get_by_role("button", name="Save as a new version").click()
        theo.wait_for_selector("#rx-saved")
        theo.wait_for_selector("#pushed .push-state")
        theo.screenshot(path=str(out_dir / "prescription.png"), full_page=True)
        for sore in ("6", "5", "4"):
            roll(ann, "ann", sore)
        ben = logged_in("ben")
        roll(ben, "ben", "2")
        first = store.query("SELECT session_id FROM sessions WHERE person_id = ? ORDER BY started_at DESC",
                            ("ann",))[0]["session_id"]
        ann.goto(f"{base}/session/{first}")
        ann.locator("#soreness").get_by_role("radio", name="2").check()
        ann.get_by_role("button", name="Save soreness").click()
        ann.wait_for_selector("#soreness-after")
        ann.select_option("#share-days", "7")
        ann.click("#share-form button[type=submit]")
        ann.wait_for_selector("#share-msg.ok")
        link = ann.locator("#shares tr.new a.share-link").get_attribute("href")

        theo.goto(f"{base}/person/ann/adherence")
        theo.screenshot(path=str(out_dir / "therapist.png"), full_page=True)
        theo.goto(f"{base}/person/ann")
        theo.locator("#tender-spots").screenshot(path=str(out_dir / "spots.png"))
        context = browser.new_context(viewport={"width": 1280, "height": 900})  # no login
        contexts.append(context)
        stranger = context.new_page()
        stranger.goto(link)
        stranger.wait_for_selector("#speed-chart svg")
        stranger.screenshot(path=str(out_dir / "share.png"), full_page=True)
        print("clinic screenshots captured")
    finally:
        for context in contexts:
            context.close()
        if dev is not None:
            dev.close()
        dash.close()
        store.close()


def check_device_stack() -> None:
    try:
        import device.outputs  # noqa: F401
        import device.sim  # noqa: F401
        from firmware.app.demo import build_demo_device  # noqa: F401
    except ImportError as e:
        raise SystemExit(f"screenshot: the simulated device stack is not available yet ({e})") from e


def shoot(out_dir: Path, speed: float, only: str = "all") -> None:
    from playwright.sync_api import sync_playwright

    check_device_stack()
    tmp = Path(tempfile.mkdtemp(prefix="rollsense-shots-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    broker = PrivateBroker(tmp / "broker").start()
    port = free_port()
    db_url = f"sqlite:///{tmp / 'dashboard.db'}"
    trust = [DEVICE_OF_TOOL[t] for t in ("roller", "stick")] if only == "household" else DEVICE_OF_TOOL.values()
    dash = DashboardThread(broker.url, db_url, port, trust)
    base = f"http://127.0.0.1:{port}"
    runs: list[DeviceRun] = []
    stored: dict[str, str] = {}  # screenshot name -> session id
    try:
        if only == "clinic":
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                clinic(browser, broker.url, tmp, out_dir)
                browser.close()
            print(f"screenshots written to {out_dir}")
            return
        dash.start()
        if only == "household":
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                household(page, base, db_url, broker.url, tmp, out_dir)
                browser.close()
            print(f"screenshots written to {out_dir}")
            return
        for i, (protocol, scenario) in enumerate(HISTORY_RUNS):  # earlier routines, fast
            run = DeviceRun(broker.url, tmp / f"device-{i}", protocol, scenario, 20.0, seed=10 + i)
            runs.append(run)
            summary = run.start().finish()
            run.close()
            if (protocol, scenario) in SHOT_OF_RUN:
                stored[SHOT_OF_RUN[(protocol, scenario)]] = summary["session_id"]
            print(f"history run {protocol} ({scenario}) stored")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/device/{DEVICE_ID}")
            run = DeviceRun(broker.url, tmp / "device-live", "quads-roller", "good", speed, seed=1)
            runs.append(run)
            run.start()
            page.wait_for_function(
                "() => { const w = document.getElementById('progress').style.width; return parseInt(w) >= 45; }",
                timeout=300_000)
            page.wait_for_timeout(400)
            page.screenshot(path=str(out_dir / "dashboard-live.png"), full_page=True)
            print("live view captured")
            summary = run.finish()
            page.goto(f"{base}/session/{summary['session_id']}")
            page.wait_for_selector("#speed-chart svg")
            page.screenshot(path=str(out_dir / "session.png"), full_page=True)
            page.goto(f"{base}/history")
            page.wait_for_selector("#weekly-chart svg")
            page.screenshot(path=str(out_dir / "history.png"), full_page=True)
            for name, sid in stored.items():
                page.goto(f"{base}/session/{sid}")
                page.wait_for_selector("#force-chart svg")
                page.screenshot(path=str(out_dir / name), full_page=True)
            household(page, base, db_url, broker.url, tmp, out_dir)
            clinic(browser, broker.url, tmp, out_dir)
            browser.close()
        print(f"screenshots written to {out_dir}")
    finally:
        for run in runs:
            run.close()
        dash.close()
        broker.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"), help="output directory (default: docs/img)")
    ap.add_argument("--speed", type=float, default=3.0, help="simulated time speed of the live run (default: 3)")
    ap.add_argument("--only", choices=("all", "household", "clinic"), default="all",
                    help="household: only the people, plan and person screenshots; clinic: only the "
                         "therapist, prescription, spots and share screenshots (default: all)")
    a = ap.parse_args(argv)
    shoot(Path(a.out), a.speed, a.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
