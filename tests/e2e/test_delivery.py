"""The delivery promise end to end (DESIGN §3.3), against a real private Mosquitto:
a summary reaches the dashboard store exactly once across broker restarts and device kills."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from dashboard.ingest import Ingest
from dashboard.store import open_store
from firmware.clock import MonotonicClock
from firmware.journal import Journal
from firmware.link import Link, LinkSettings
from tests.firmware.test_link import wait_until

ROOT = Path(__file__).resolve().parents[2]
FAST = LinkSettings(
    keepalive_s=5, reconnect_min_s=1, reconnect_max_s=1, resend_min_s=1.0, resend_max_s=2.0
)
MAX_CALL_S = 0.010


@pytest.fixture
def dashboard(fresh_broker, tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/dash.db")
    ingest = Ingest(fresh_broker.url, store, client_id="dash-e2e")
    ingest.start()
    assert ingest.wait_connected(10)
    yield store, ingest
    ingest.stop()
    store.close()


class AppLoop(threading.Thread):
    """Stands in for the device's main loop: telemetry at 50 Hz, events, a session every ~0.6 s.
    Records how long each call into the journal/link took."""

    def __init__(self, journal: Journal, link: Link) -> None:
        super().__init__(daemon=True)
        self.journal, self.link = journal, link
        self.stop_flag = threading.Event()
        self.finished: list[str] = []
        self.event_ids: list[str] = []
        self.slowest_s = {"publish_telemetry": 0.0, "record_event": 0.0, "finish_session": 0.0}

    def timed(self, name, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        self.slowest_s[name] = max(self.slowest_s[name], time.perf_counter() - t0)
        return out

    def run(self) -> None:
        tick = 0
        while not self.stop_flag.is_set():
            sid = uuid.uuid4().hex
            self.journal.start_session(sid, "quads-roller", "roller", "2026-01-01T10:00:00.000Z")
            for _ in range(30):  # 30 ticks of 20 ms
                tick += 1
                self.timed(
                    "publish_telemetry",
                    self.link.publish_telemetry,
                    {"session_id": sid, "t_s": tick * 0.02},
                )
                if tick % 5 == 0:
                    ev = {"event_type": "cue", "t_s": tick * 0.02, "cue": "slow_down"}
                    self.event_ids.append(
                        self.timed("record_event", self.journal.record_event, sid, ev)
                    )
                    self.link.wake()
                time.sleep(0.02)
            summary = {
                "protocol": "quads-roller",
                "tool": "roller",
                "completed": True,
                "passes": tick,
            }
            self.timed("finish_session", self.journal.finish_session, sid, summary)
            self.link.wake()
            self.finished.append(sid)


def test_broker_restarted_five_times_during_sessions(fresh_broker, dashboard, tmp_path):
    store, ingest = dashboard
    journal = Journal(tmp_path / "device" / "journal.db")
    link = Link("dev-out", fresh_broker.url, journal, MonotonicClock(), {"version": "e2e"}, FAST)
    link.start()
    wait_until(lambda: link.connected, what="device connected")
    app = AppLoop(journal, link)
    app.start()
    try:
        for _ in range(5):
            time.sleep(0.8)
            fresh_broker.stop()
            time.sleep(0.6)
            fresh_broker.start()
        time.sleep(0.8)
    finally:
        app.stop_flag.set()
        app.join(10)
    assert len(app.finished) >= 5
    wait_until(
        lambda: not [r for r in journal.outbox()], timeout_s=30, what="device outbox drained"
    )
    wait_until(
        lambda: store.query("SELECT COUNT(*) AS n FROM sessions")[0]["n"] >= len(app.finished),
        timeout_s=10,
        what="all summaries stored",
    )
    rows = store.query("SELECT session_id, device_id, completed FROM sessions")
    assert sorted(r["session_id"] for r in rows) == sorted(app.finished)  # every one, exactly once
    assert all(r["device_id"] == "dev-out" and r["completed"] == 1 for r in rows)
    assert ingest.stats["sessions_new"] == len(app.finished)
    events = {r["msg_id"] for r in store.query("SELECT msg_id FROM events")}
    assert events == set(app.event_ids)
    assert link.stats["disconnects"] >= 5 and link.stats["connects"] >= 6
    assert app.slowest_s["publish_telemetry"] < MAX_CALL_S, app.slowest_s
    assert app.slowest_s["record_event"] < MAX_CALL_S, app.slowest_s
    assert app.slowest_s["finish_session"] < MAX_CALL_S, app.slowest_s
    link.stop()
    journal.close()


def _device(state: Path, url: str, seed: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.e2e.device_proc",
            str(state),
            url,
            "dev-kill",
            str(seed),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_device_killed_at_random_points(fresh_broker, dashboard, tmp_path):
    store, ingest = dashboard
    state = tmp_path / "device"
    state.mkdir()
    rng = random.Random(20261124)
    runs = 20
    for run in range(runs):
        proc = _device(state, fresh_broker.url, run)
        time.sleep(rng.uniform(0.3, 1.2))
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
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
