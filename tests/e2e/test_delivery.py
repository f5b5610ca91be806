"""The delivery promise end to end (DESIGN §3.3), against a real private Mosquitto:
a summary reaches the dashboard store exactly once across broker restarts and device kills."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dashboard.ingest import Ingest
from dashboard.store import open_store
from firmware.edge.journal import Journal
from firmware.edge.link import LinkSettings
from tests.conftest import start_subscribed
from tests.firmware.edge.test_link import wait_until

ROOT = Path(__file__).resolve().parents[2]
FAST = LinkSettings(
    keepalive_s=5, reconnect_min_s=1, reconnect_max_s=1, resend_min_s=1.0, resend_max_s=2.0
)
MAX_CALL_S = 0.010


@pytest.fixture
def dashboard(fresh_broker, tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/dash.db")
    ingest = start_subscribed(Ingest(fresh_broker.url, store, client_id="dash-e2e"))
    yield store, ingest
    ingest.stop()
    store.close()


def test_broker_restarted_five_times_during_sessions(fresh_broker, dashboard, tmp_path):
    """The device (its own process, as on the Pi) runs sessions while the broker goes down and
    comes back 5 times; every summary and event is stored once, and no call the device's main
    loop makes into the link or the journal ever took more than 10 ms."""
    store, ingest = dashboard
    state = tmp_path / "device"
    state.mkdir()
    device = _device(state, fresh_broker.url, 0, "--timed", "9", device_id="dev-out")
    lines: list[str] = []  # the link's own lines on stderr ("broker ... connected", "... lost")
    outs: list[bytes] = []
    readers = [threading.Thread(target=lambda: lines.extend(ln.decode() for ln in device.stderr)),
               threading.Thread(target=lambda: outs.append(device.stdout.read()))]
    for reader in readers:
        reader.start()
    try:
        for restart in range(5):  # each outage hits a connected device (not one still starting)
            wait_until(lambda n=restart: sum(" connected" in ln for ln in lines) > n,
                       timeout_s=20, what=f"the device connected before outage {restart + 1}")
            fresh_broker.stop()
            time.sleep(0.5)  # deliberate: the outage itself, as long as a quick broker restart
            fresh_broker.start()
        device.wait(timeout=60)
    finally:
        if device.poll() is None:
            device.kill()
            device.wait()
        for reader in readers:
            reader.join(10)
    out, err = b"".join(outs), "".join(lines)
    assert device.returncode == 0, err
    report = json.loads(out.decode().strip().splitlines()[-1])
    finished, slowest = report["finished"], report["slowest_s"]
    print("slowest calls (s):", slowest)
    assert len(finished) >= 8
    wait_until(
        lambda: store.query("SELECT COUNT(*) AS n FROM sessions")[0]["n"] >= len(finished),
        timeout_s=10,
        what="all summaries stored",
    )
    rows = store.query("SELECT session_id, device_id, completed FROM sessions")
    assert sorted(r["session_id"] for r in rows) == sorted(finished)  # every one, exactly once
    assert all(r["device_id"] == "dev-out" and r["completed"] == 1 for r in rows)
    assert ingest.stats["sessions_new"] == len(finished)
    events = {r["msg_id"] for r in store.query("SELECT msg_id FROM events")}
    assert events == set(report["events"])
    assert report["stats"]["disconnects"] >= 5 and report["stats"]["connects"] >= 6
    assert report["stats"]["telemetry_dropped"] > 0  # offline telemetry was dropped, not queued
    assert slowest["publish_telemetry"] < MAX_CALL_S, slowest
    assert slowest["record_event"] < MAX_CALL_S, slowest
    assert slowest["finish_session"] < MAX_CALL_S, slowest


def _device(
    state: Path, url: str, seed: int, *extra: str, device_id: str = "dev-kill"
) -> subprocess.Popen:
    """Start tests/e2e/device_proc.py (stdout piped for --timed reports and the ``running`` line)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "tests.e2e.device_proc", str(state), url, device_id, str(seed)]
    out = subprocess.PIPE if "--timed" in extra or not extra else subprocess.DEVNULL
    return subprocess.Popen([*cmd, *extra], cwd=ROOT, env=env, stdout=out, stderr=subprocess.PIPE)


def test_device_killed_at_random_points(fresh_broker, dashboard, tmp_path):
    store, ingest = dashboard
    state = tmp_path / "device"
    state.mkdir()
    rng = random.Random(20261124)
    runs = 20
    for run in range(runs):
        proc = _device(state, fresh_broker.url, run)
        # its start-up (imports, recovery, connecting) takes what the machine's load makes it
        # take: the random point is counted from the line it prints as its sessions begin
        assert proc.stdout.readline() == b"running\n", proc.stderr.read().decode()
        time.sleep(rng.uniform(0.05, 0.7))  # deliberate: the kill lands at a random point
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    drain = _device(state, fresh_broker.url, runs, "--drain")  # recovers the last one, delivers all
    try:
        rc = drain.wait(45)
    finally:
        err = drain.stderr.read().decode()
        drain.stderr.close()
    assert rc == 0, err

    journal = Journal(state / "journal.db")
    device_sessions = journal.sessions()
    journal.close()
    finished = {s["session_id"] for s in device_sessions if s["state"] == "finished"}
    interrupted = {s["session_id"] for s in device_sessions if s["state"] == "interrupted"}
    print(f"finished={len(finished)} interrupted={len(interrupted)}")
    assert not [s for s in device_sessions if s["state"] == "running"]
    assert (
        len(finished) >= runs and len(interrupted) >= runs // 2
    )  # most kills land inside a session
    wait_until(
        lambda: store.query("SELECT COUNT(*) AS n FROM sessions")[0]["n"] >= len(device_sessions),
        timeout_s=10,
        what="store caught up",
    )
    rows = {
        r["session_id"]: r
        for r in store.query("SELECT session_id, completed, summary_json FROM sessions")
    }
    assert set(rows) == finished | interrupted  # every session, nothing invented; PK = exactly once
    assert ingest.stats["sessions_new"] == len(rows)
    assert all(rows[s]["completed"] == 1 for s in finished)
    for sid in interrupted:
        assert (
            rows[sid]["completed"] == 0
            and '"interrupted":"killed (SIGKILL)"' in rows[sid]["summary_json"]
        )
