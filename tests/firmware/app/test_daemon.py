"""The device daemon under a fake systemd: READY after start, WATCHDOG from the sampling
loop while it is healthy, silence while the sensor bus hangs, and SIGTERM closing the
session in the journal."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from argparse import Namespace
from dataclasses import replace

import pytest

from firmware.app.daemon import build_daemon, delivery_report, run_daemon
from firmware.common.clock import MonotonicClock, PacedClock
from firmware.core.protocols import ROUTINES_DIR
from firmware.edge.config import apply_overrides, load_config
from firmware.edge.journal import Journal
from firmware.edge.link import Link
from firmware.edge.notify import Notifier


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    yield path, sock
    sock.close()


def _collect(sock, until, deadline_s: float) -> list[tuple[float, str]]:
    got: list[tuple[float, str]] = []
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            msg = sock.recv(4096).decode()
        except TimeoutError:
            continue
        got.append((time.monotonic(), msg))
        if until(msg):
            break
    return got


def test_daemon_ready_watchdog_and_sigterm_closes_the_session(notify_socket, broker, tmp_path):
    path, sock = notify_socket
    state = tmp_path / "state"
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firmware.app.cli",
            "run",
            "--sim",
            "--protocol",
            "quads-roller",
            "--state-dir",
            str(state),
            "--broker",
            broker.url,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        got = _collect(sock, lambda m: m.startswith("READY=1"), 30)
        assert any(m.startswith("READY=1") for _, m in got), got
        pings = _collect(sock, lambda m: False, 1.5)
        watchdogs = [t for t, m in pings if m == "WATCHDOG=1"]
        assert len(watchdogs) >= 3, pings  # every ~0.2 s: half of WATCHDOG_USEC
        assert max(b - a for a, b in zip(watchdogs, watchdogs[1:], strict=False)) < 0.6
        proc.send_signal(signal.SIGTERM)
        tail = _collect(sock, lambda m: m.startswith("STOPPING=1"), 10)
        assert any(m.startswith("STOPPING=1") for _, m in tail), tail
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]

    from firmware.edge.journal import Journal

    journal = Journal(state / "journal.db")
    try:
        sessions = journal.sessions()
        assert len(sessions) == 1
        s = journal.session(sessions[0]["session_id"])
        assert s["state"] == "finished"
        assert s["summary"]["completed"] is False
        assert "stopped" in s["summary"]["interrupted"]
    finally:
        journal.close()


def test_no_watchdog_while_the_sensor_bus_hangs(notify_socket, tmp_path):
    """The watchdog is fed by the sampling loop only while the sensors are healthy, so a
    hung bus lets systemd restart the service."""
    from firmware.app.demo import DemoOptions, build_demo_device

    path, sock = notify_socket
    opts = DemoOptions(protocol="quads-roller", speed=1.0)
    app, hw, sampler, outputs, journal, link = build_demo_device(opts, "mqtt://127.0.0.1:1", tmp_path)
    app.parts.link = None  # offline device: cues and the loop must not care
    app.parts.notifier = Notifier(
        MonotonicClock(), env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}
    )
    stop = threading.Event()
    sampler.start()
    runner = threading.Thread(target=app.run_routine, args=("quads-roller", stop))
    runner.start()
    try:
        before = [t for t, m in _collect(sock, lambda m: False, 1.0) if m == "WATCHDOG=1"]
        assert len(before) >= 4
        hw.fakes["bus"].hang(2.0)
        hang_started = time.monotonic()
        during = _collect(sock, lambda m: False, 2.0)
        after = [
            t for t, m in _collect(sock, lambda m: m == "WATCHDOG=1", 5.0) if m == "WATCHDOG=1"
        ]
    finally:
        stop.set()
        runner.join(20)
        outputs.close()
        journal.close()
        hw.close()
    late = [t for t, m in during if m == "WATCHDOG=1" and t - hang_started > 0.3]
    assert late == [], "watchdog fed while the bus was hung"
    assert after, "watchdog did not resume after the bus recovered"
    assert sampler.stats["imu_errors"] > 0  # the hang was seen, and ridden out


def test_paced_clock_is_what_sim_hardware_runs_on():
    from firmware.app.daemon import open_runtime
    from firmware.edge.config import load_config

    cfg = load_config(None)
    from dataclasses import replace

    rt = open_runtime(replace(cfg, hardware="sim"))
    try:
        assert isinstance(rt.clock, PacedClock)
        assert rt.source is not None
    finally:
        rt.hardware.close()


def _sim_device(tmp_path, **overrides):
    from firmware.app.daemon import build_daemon
    from firmware.edge.config import apply_overrides, load_config

    cfg = apply_overrides(load_config(None), hardware="sim", state_dir=tmp_path / "state",
                          broker_url="mqtt://127.0.0.1:1", **overrides)
    return build_daemon(cfg)


def _wait(predicate, timeout_s=10.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_button_press_starts_then_moves_on_and_hold_stops(tmp_path):
    device, link, journal, outputs = _sim_device(tmp_path)
    stop = threading.Event()
    device._bring_up_sensors()
    server = threading.Thread(target=device.serve, args=(stop,))
    idle_ticks = []  # the serve loop's idle rounds: each found no start request queued
    idle_tick = device._idle_tick
    device._idle_tick = lambda: (idle_tick(), idle_ticks.append(1))
    server.start()
    button = outputs.button.pin
    try:
        button.drive_low()
        button.drive_high()  # a short press
        assert _wait(lambda: device.running and device.app.session.routine.id == "quads-roller")
        button.drive_low()
        button.drive_high()  # press again: the next routine for this tool
        assert _wait(lambda: device.running and device.app.session.routine.id == "thoracic-roller")
        button.drive_low()  # hold: stop
        assert _wait(lambda: not device.running, timeout_s=5)
        button.drive_high()  # the release is handled in this call (MockPin), queueing nothing:
        released = len(idle_ticks)  # the second idle round from here looked at the queue after
        assert _wait(lambda: len(idle_ticks) >= released + 2, timeout_s=5)
        assert not device.running  # releasing a hold does not start anything
    finally:
        stop.set()
        server.join(20)
    sessions = journal.sessions()
    assert [journal.session(s["session_id"])["summary"]["protocol"] for s in sessions] == [
        "quads-roller", "thoracic-roller"]
    for s in sessions:
        summary = journal.session(s["session_id"])["summary"]
        assert summary["completed"] is False and "stopped" in summary["interrupted"]
    outputs.close()
    journal.close()
    device.rt.hardware.close()


def test_missing_imu_is_a_clear_degraded_state_that_recovers(tmp_path, monkeypatch):
    import firmware.app.daemon as daemon

    monkeypatch.setattr(daemon, "SENSOR_RETRY_S", 0.2)
    device, link, journal, outputs = _sim_device(tmp_path)
    fakes = device.rt.hardware.fakes
    fakes["bus"].detach(0x68)  # the IMU is unplugged
    messages = []
    device.display = type("D", (), {"message": lambda self, m: messages.append(m)})()
    stop = threading.Event()
    server = threading.Thread(target=device.serve, args=(stop,))
    server.start()
    try:
        assert _wait(lambda: device.degraded != "")
        assert "0x68" in device.degraded
        device.press()  # a start request while degraded is refused with the reason
        assert _wait(lambda: any("cannot start" in m for m in messages))
        assert not device.running
        fakes["bus"].attach(0x68, fakes["mpu6050"])  # plugged back in
        assert _wait(lambda: device.sensors_ok and device.degraded == "")
        device.press()
        assert _wait(lambda: device.running)
    finally:
        stop.set()
        server.join(20)
    faults = [r for r in journal.outbox() if '"fault"' in json.dumps(r.payload)]
    assert len(faults) == 1 and "0x68" in json.dumps(faults[0].payload)
    assert any(m.startswith("degraded:") for m in messages)
    outputs.close()
    journal.close()
    device.rt.hardware.close()


def _checkpoint(journal_path) -> dict:
    """The running session's last checkpoint in another process's journal ({} before one)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT partial_json FROM sessions WHERE state = 'running' "
                             "AND partial_json IS NOT NULL").fetchone()
    except sqlite3.OperationalError:  # the journal is still being created
        return {}
    return json.loads(row[0]) if row else {}


def _far_enough(partial: dict) -> bool:
    """What the power-loss test's recovered summary must show, reached in a checkpoint."""
    return (partial.get("passes", 0) >= 3 and partial.get("distance_m", 0) > 0.4
            and partial.get("duration_s", 0) >= 15)


def test_power_loss_mid_routine_recovers_the_metrics_so_far(tmp_path):
    """SIGKILL (as a power cut) in the middle of a routine: at the next start the session is
    recovered from the journal's checkpoints with its passes and distance, not just its id."""
    from firmware.edge.journal import Journal

    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware.app.cli", "run", "--sim", "--speed", "10", "--protocol",
         "quads-roller", "--state-dir", str(state), "--broker", "mqtt://127.0.0.1:1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        journal_path = state / "journal.db"
        assert _wait(journal_path.exists, 30)
        assert _wait(lambda: _far_enough(_checkpoint(journal_path)), 60), (
            _checkpoint(journal_path))  # enough simulated rolling checkpointed: cut the power
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    journal = Journal(journal_path)
    try:
        (session_id,) = journal.recover_interrupted(reason="power loss")
        summary = journal.session(session_id)["summary"]
    finally:
        journal.close()
    assert summary["completed"] is False and summary["interrupted"] == "power loss"
    assert summary["protocol"] == "quads-roller"
    assert summary["passes"] >= 3 and summary["distance_m"] > 0.4, json.dumps(summary)
    assert summary["duration_s"] >= 15


def test_no_gpio_is_one_clear_line_not_a_traceback(tmp_path):
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "no-such-factory"}  # as on a PC: no GPIO at all
    proc = subprocess.run(
        [sys.executable, "-m", "firmware.app.cli", "run", "--state-dir", str(tmp_path / "state"),
         "--broker", "mqtt://127.0.0.1:1"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "LED, buzzer and button" in lines[0] and "--sim" in lines[0]
    assert not (tmp_path / "state" / "journal.db").exists()  # nothing half-opened


def test_run_once_against_a_dead_broker_says_what_stays_queued_and_where(tmp_path, capsys):
    """`run --once` waits (bounded) for delivery, then names the count and the journal."""
    state = tmp_path / "state"
    args = Namespace(config=None, sim=True, broker="mqtt://127.0.0.1:1", state_dir=str(state),
                     protocol="piriformis-ball", speed=40.0, once=True, print_config=False)
    code = run_daemon(args, delivery_wait_s=0.5)
    err = capsys.readouterr().err
    assert code == 0
    lines = [x for x in err.splitlines() if "not yet delivered" in x]
    assert len(lines) == 1, err
    n = int(lines[0].split()[0])
    assert n >= 2  # the session summary and its events at least
    assert str(state / "journal.db") in lines[0] and "broker is back" in lines[0]
    assert "not reachable" in err and "refused" in err  # and the broker was named as down
    assert "Traceback" not in err


def test_delivery_report_waits_the_bound_and_no_longer(tmp_path):
    journal = Journal(tmp_path / "j.db")
    link = Link("dev-w", "mqtt://127.0.0.1:1", journal, MonotonicClock(), {})
    try:
        journal.record_event(None, {"event_type": "fault", "error": "x"})
        assert journal.flush(5)
        t0 = time.monotonic()
        line = delivery_report(journal, link, tmp_path / "j.db", 0.4)
        took_s = time.monotonic() - t0
    finally:
        journal.close()
    assert 0.4 <= took_s < 1.0, took_s
    assert line == f"1 message not yet delivered; kept in {tmp_path / 'j.db'}, sent when the broker is back"


def test_every_routine_on_the_simulator_gets_its_own_simulated_user(tmp_path):
    """run --sim: a routine started after the first one is performed too (it used to end at
    once, 'simulated user left', and a zero-length session was stored)."""
    cfg = apply_overrides(load_config(None), hardware="sim", state_dir=tmp_path / "state",
                          broker_url="mqtt://127.0.0.1:1")
    cfg = replace(cfg, sim=replace(cfg.sim, speed=60.0))
    device, link, journal, outputs = build_daemon(cfg)
    stop = threading.Event()
    try:
        device._bring_up_sensors()
        first = device.app.run_routine("quads-roller", stop)
        second = device.app.run_routine("thoracic-roller", stop)
    finally:
        outputs.close()
        device.rt.hardware.close()
    stored = [journal.session(s["session_id"])["summary"] for s in journal.sessions()]
    journal.close()
    for summary, protocol in ((first, "quads-roller"), (second, "thoracic-roller")):
        assert summary["protocol"] == protocol
        assert summary["duration_s"] > 50 and summary["passes"] >= 15, json.dumps(summary)
        assert summary.get("interrupted") != "simulated user left" or summary["completed"]
    assert [s["protocol"] for s in stored] == ["quads-roller", "thoracic-roller"]
    assert min(s["duration_s"] for s in stored) > 50  # no zero-length session in the history


def test_a_user_routine_runs_on_the_simulator_and_is_listed_in_info(tmp_path):
    """A routine from routines_dir gets a simulated user of its tool and kind under run --sim,
    and the device's info (what the dashboard offers to start) lists it."""
    routines = tmp_path / "routines"
    routines.mkdir()
    text = (ROUTINES_DIR / "piriformis-ball.toml").read_text()
    (routines / "glute-ball.toml").write_text(text.replace("Piriformis on", "Glutes on"))
    cfg = apply_overrides(load_config(None), hardware="sim", state_dir=tmp_path / "state",
                          broker_url="mqtt://127.0.0.1:1", protocol="piriformis-ball",
                          routines_dir=routines)
    cfg = replace(cfg, sim=replace(cfg.sim, speed=60.0))
    device, link, journal, outputs = build_daemon(cfg)
    try:
        listed = {r["id"]: r["title"] for r in link.info["routines"]}
        assert listed == {"glute-ball": "Glutes on the mini ball",
                          "piriformis-ball": "Piriformis on the mini ball",
                          "upper-back-ball": listed.get("upper-back-ball")}
        assert link.info["tool"] == "ball"
        device._bring_up_sensors()
        summary = device.app.run_routine("glute-ball", threading.Event())
    finally:
        outputs.close()
        device.rt.hardware.close()
        journal.close()
    assert summary["protocol"] == "glute-ball" and summary["tool"] == "ball"
    assert summary["duration_s"] > 30 and len(summary["holds"]) >= 1, json.dumps(summary)


def test_unreachable_broker_is_one_line_and_the_systemd_status(notify_socket, tmp_path):
    """Said within 15 s, and kept in STATUS beside what the device is doing."""
    path, sock = notify_socket
    env = {**os.environ, "NOTIFY_SOCKET": path, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware.app.cli", "run", "--sim", "--state-dir", str(tmp_path / "s"),
         "--protocol", "quads-roller", "--broker", "mqtt://no-such-host.invalid:1883"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        got = _collect(sock, lambda m: "not reachable" in m and "running quads-roller" in m, 15)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    status = [m for _, m in got if "not reachable" in m]
    assert status and "no-such-host.invalid" in status[0] and "unknown host" in status[0], got
    lines = [x for x in err.splitlines() if "not reachable" in x]
    assert len(lines) == 1 and "no-such-host.invalid:1883" in lines[0] and "offline" in lines[0], err
    assert "Traceback" not in err
