"""Issue 2's promise, end to end through the real parts: `rollsense demo --fast` runs the
simulated device against a private Mosquitto; a dashboard stores the session; Chromium
finds it in the history with its duration and number of passes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from firmware.broker import free_port
from firmware.demo import DashboardThread

ROLLSENSE = [sys.executable, "-m", "firmware.cli"]


def _wait_http(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


@pytest.fixture
def dashboard(broker, tmp_path):
    port = free_port()
    dash = DashboardThread(broker.url, f"sqlite:///{tmp_path / 'dash.db'}", "127.0.0.1", port, "demo-roller")
    dash.start()
    yield f"http://127.0.0.1:{port}"
    dash.stop()


def test_demo_fast_reaches_the_dashboard_history(broker, dashboard, page):
    proc = subprocess.run(
        [*ROLLSENSE, "demo", "--fast", "--broker", broker.url, "--no-dashboard"],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["format"] == "rollsense-summary/1"
    assert summary["protocol"] == "quads-roller" and summary["tool"] == "roller"
    assert summary["passes"] >= 10 and summary["duration_s"] >= 60
    assert summary["completed"] is True
    assert ">> Done: routine complete" in proc.stderr  # the cues were shown to the user

    page.goto(f"{dashboard}/history")
    row = page.locator(f"[data-session-id='{summary['session_id']}']")
    row.wait_for()
    assert row.locator(".passes").inner_text().strip() == str(summary["passes"])
    duration_text = row.locator(".duration").inner_text()
    minutes, seconds = divmod(int(round(summary["duration_s"])), 60)
    assert f"{minutes}:{seconds:02d}" in duration_text or f"{minutes} min" in duration_text


def test_demo_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*ROLLSENSE, "demo", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/")
        time.sleep(1.0)  # the device loop is running
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode in (0, 130), err[-2000:]
    assert "Traceback" not in err
    # nothing is left listening
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
