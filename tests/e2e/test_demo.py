"""Issue 2's promise, end to end through the real parts: `rollsense demo --fast` runs the
simulated device against a private Mosquitto; a dashboard stores the session; Chromium
finds it in the history with its duration and number of passes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from firmware.app.demo import DashboardThread
from firmware.edge.broker import free_port
from tests.firmware.edge.test_link import wait_until

ROLLSENSE = [sys.executable, "-m", "firmware.app.cli"]


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
    table = summary_rows(proc.stdout)  # the summary as people read it (firmware/common/units.py)
    assert table["routine"] == "quads-roller (roller)"
    passes = int(table["passes"].split(",")[0])
    duration_s = table_seconds(table["duration"].split(";")[0])
    assert passes >= 10 and duration_s >= 60
    assert "completed" in table and "not" not in table
    assert re.search(r"^  met   Time rolling\s+≥ 60 s\s+\d+ s$", proc.stdout, re.M)
    assert ">> Done: routine complete" in proc.stderr  # the cues were shown to the user

    page.goto(f"{dashboard}/history")
    row = page.locator(f"[data-session-id='{table['session_id']}']")
    row.wait_for()
    assert row.locator(".passes").inner_text().strip() == str(passes)
    duration_text = row.locator(".duration").inner_text()
    minutes, seconds = divmod(duration_s, 60)
    assert f"{minutes}:{seconds:02d}" in duration_text or f"{minutes} min" in duration_text


def summary_rows(text: str) -> dict[str, str]:
    """The summary table's unindented lines: first word -> the rest."""
    rows = [line.split(None, 1) for line in text.splitlines() if line and not line[0].isspace()]
    return {r[0]: (r[1] if len(r) > 1 else "") for r in rows}


def table_seconds(text: str) -> int:
    """ "83 s" or "1 min 23 s" -> 83."""
    m = re.fullmatch(r"(?:(\d+) min )?(\d+) s", text.strip())
    assert m, text
    return int(m.group(1) or 0) * 60 + int(m.group(2))


def test_demo_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*ROLLSENSE, "demo", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    said: list[str] = []  # stderr, line by line as the demo says it

    def read_stderr() -> None:
        for line in proc.stderr:
            said.append(line)

    readers = [threading.Thread(target=read_stderr, daemon=True),
               threading.Thread(target=proc.stdout.read, daemon=True)]
    for reader in readers:
        reader.start()
    try:
        _wait_http(f"http://127.0.0.1:{port}/")
        wait_until(lambda: any(line.lstrip().startswith(">>") for line in said), timeout_s=30,
                   what="the device loop's first cue")  # the device loop is running
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=20)
        for reader in readers:
            reader.join(10)
        err = "".join(said)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode in (0, 130), err[-2000:]
    assert "Traceback" not in err
    # nothing is left listening
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
