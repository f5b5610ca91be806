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

Usage: .venv/bin/python scripts/screenshot.py [--out docs/img] [--speed 3]
If the device stages are not importable, it says so and exits non-zero (no fake data).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
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
SHOT_OF_RUN = {("calf-stick", "reversed"): "session-calf.png", ("piriformis-ball", "good"): "session-hold.png"}


class DashboardThread:
    def __init__(self, broker_url: str, db_url: str, port: int) -> None:
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.args = (broker_url, db_url, port)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from dashboard.server import run_dashboard

        broker_url, db_url, port = self.args
        try:
            run_dashboard(broker_url, db_url, "127.0.0.1", port, stop_event=self.stop, ready_event=self.ready,
                          trust_devices=list(DEVICE_OF_TOOL.values()))
        except BaseException as e:  # noqa: BLE001 - reported by start()
            self.error = e
            self.ready.set()

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(20) or self.error:
            raise SystemExit(f"dashboard did not start: {self.error}")

    def close(self) -> None:
        self.stop.set()
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


def check_device_stack() -> None:
    try:
        import device.outputs  # noqa: F401
        import device.sim  # noqa: F401
        from firmware.app.demo import build_demo_device  # noqa: F401
    except ImportError as e:
        raise SystemExit(f"screenshot: the simulated device stack is not available yet ({e})") from e


def shoot(out_dir: Path, speed: float) -> None:
    from playwright.sync_api import sync_playwright

    check_device_stack()
    tmp = Path(tempfile.mkdtemp(prefix="rollsense-shots-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    broker = PrivateBroker(tmp / "broker").start()
    port = free_port()
    dash = DashboardThread(broker.url, f"sqlite:///{tmp / 'dashboard.db'}", port)
    base = f"http://127.0.0.1:{port}"
    runs: list[DeviceRun] = []
    stored: dict[str, str] = {}  # screenshot name -> session id
    try:
        dash.start()
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
    a = ap.parse_args(argv)
    shoot(Path(a.out), a.speed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
