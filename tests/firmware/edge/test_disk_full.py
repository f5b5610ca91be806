"""Full disks, on a real small tmpfs: coaching goes on, storage full is said once, the session
is kept in memory and written (and delivered) when space returns; a start on a full disk
recovers cleanly. Needs root for ``mount`` (CI runs as root): fails, never skips, without it."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from argparse import Namespace
from dataclasses import replace
from pathlib import Path

import pytest

from device.outputs import Outputs
from firmware.app.daemon import DeviceNotifier, build_daemon, run_daemon
from firmware.app.loop import CoachingLoop, DeviceParts
from firmware.common.clock import ManualClock, MonotonicClock
from firmware.common.cues import COLOURS, CUE_PATTERNS
from firmware.common.errors import SetupError
from firmware.core.metrics import MetricsSettings
from firmware.edge.config import apply_overrides, load_config
from firmware.edge.journal import Journal, JournalSettings
from firmware.edge.link import Link
from tests.firmware.edge.test_link import FAST, Observer

DISK_BYTES = 1024 * 1024
QUICK_RETRY = JournalSettings(storage_retry_min_s=0.05, storage_retry_max_s=0.2)
WAIT_S = 10.0
RED_PIN, BUZZER_PIN = 17, 18


class SmallDisk:
    """A tmpfs of ``DISK_BYTES`` at ``path``: ``fill()`` writes a filler file until the disk
    is full, ``free()`` removes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        with open(self.filler, "ab", buffering=0) as f:
            for chunk_bytes in (64 * 1024, 4096, 1):
                try:
                    while True:
                        f.write(b"\0" * chunk_bytes)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
        assert shutil.disk_usage(self.path).free == 0

    def free(self) -> None:
        self.filler.unlink()


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a {DISK_BYTES}-byte tmpfs at {mnt} (these tests need root): "
                    f"{r.stderr.strip()}")
    yield SmallDisk(mnt)
    r = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)])
        pytest.fail(f"could not unmount {mnt} (something kept a file open): {r.stderr.strip()}")


class StorageSaid:
    """What a journal says about its storage, as it says it (``wait`` is event-driven)."""

    def __init__(self, journal: Journal) -> None:
        self.said: list[str] = []
        self._cond = threading.Condition()
        journal.add_storage_listener(self._heard)

    def _heard(self, problem: str) -> None:
        with self._cond:
            self.said.append(problem)
            self._cond.notify_all()

    def wait(self, said: list[str], timeout_s: float = WAIT_S) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.said == said, timeout_s), self.said


def journal_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rollsense.journal"]


def test_full_disk_mid_session_keeps_the_summary_and_writes_it_when_space_returns(
    small_disk, caplog
):
    caplog.set_level(logging.INFO, logger="rollsense.journal")
    j = Journal(small_disk.path / "journal.db", QUICK_RETRY)
    said = StorageSaid(j)
    try:
        j.start_session("s1", "quads-roller", "roller", "2026-01-01T10:00:00.000Z")
        before = j.record_event("s1", {"event_type": "cue", "t_s": 1.0, "cue": "ease_in"})
        assert j.flush()
        small_disk.fill()
        held = [j.record_event("s1", {"event_type": "cue", "t_s": 2.0 + i, "cue": "slow_down"})
                for i in range(47)]
        j.checkpoint("s1", {"duration_s": 50.0, "passes": 9})
        j.finish_session("s1", {"completed": True, "passes": 12, "duration_s": 61.0})
        said.wait(["storage full"])
        assert not j.flush(timeout_s=WAIT_S)  # returns at once: the writes are held in memory
        assert j.storage == "storage full" and j.session("s1")["state"] == "running"
        assert j.due(0.0, 100) == []  # nothing handed out while the bookkeeping cannot be kept
        assert j.outbox_counts()["held"] == 48
        small_disk.free()
        said.wait(["storage full", ""])
        s = j.session("s1")
        assert s["state"] == "finished" and s["summary"]["passes"] == 12
        assert [r.msg_id for r in j.outbox() if r.kind == "event"] == [before, *held]
        assert j.outbox_counts()["held"] == 0 and j.flush()
    finally:
        j.close()
    lines = journal_lines(caplog)
    assert len(lines) == 2, lines  # one line when it fills, one when it is back: not one per write
    assert "storage full" in lines[0] and "writable again" in lines[1]
    assert not [r for r in caplog.records if r.exc_info]


def test_held_events_are_bounded_sessions_never_dropped(small_disk):
    settings = JournalSettings(max_held_events=10, storage_retry_min_s=0.05, storage_retry_max_s=0.2)
    j = Journal(small_disk.path / "journal.db", settings)
    said = StorageSaid(j)
    try:
        small_disk.fill()
        j.start_session("s1", "calf-stick", "stick", "2026-01-01T10:00:00.000Z")
        ids = [j.record_event("s1", {"event_type": "cue", "t_s": float(i)}) for i in range(30)]
        for i in range(5):
            j.checkpoint("s1", {"passes": i})
        j.finish_session("s1", {"completed": False, "passes": 4})
        said.wait(["storage full"])
        j.flush()
        assert [fn.__name__ for fn, _ in j._held].count("_w_checkpoint") <= 1
        small_disk.free()
        said.wait(["storage full", ""])
        assert [r.msg_id for r in j.outbox() if r.kind == "event"] == ids[-10:]
        assert j.outbox_counts()["dropped_events"] == 20
        assert j.session("s1")["summary"]["passes"] == 4
    finally:
        j.close()


def test_retries_back_off_on_the_injected_clock(small_disk):
    clock = ManualClock()
    settings = JournalSettings(storage_retry_min_s=1.0, storage_retry_max_s=4.0)
    j = Journal(small_disk.path / "journal.db", settings, clock=clock)
    said = StorageSaid(j)
    try:
        small_disk.fill()
        j.record_event(None, {"event_type": "fault"})
        said.wait(["storage full"])
        waits_s = []
        for _ in range(4):
            j.flush()
            due_s = j._next_retry_s
            waits_s.append(due_s - clock.now_s())
            clock.advance(due_s - clock.now_s())
            with j._cond:  # the writer notices the clock within its 0.5 s real-time cap
                assert j._cond.wait_for(lambda d=due_s: j._next_retry_s > d, WAIT_S)
        assert waits_s == [1.0, 2.0, 4.0, 4.0]
        small_disk.free()
        clock.advance(4.0)
        said.wait(["storage full", ""])
    finally:
        j.close()


def test_the_link_writes_on_a_full_disk_raise_nothing(small_disk, caplog):
    j = Journal(small_disk.path / "journal.db", QUICK_RETRY)
    said = StorageSaid(j)
    try:
        m = j.record_event(None, {"event_type": "cue", "t_s": 0.0})
        j.start_session("s1", "p", "roller", "2026-01-01T10:00:00Z")
        j.finish_session("s1", {"completed": True})
        assert j.flush()
        j.mark_inflight(m)
        small_disk.fill()
        j.published(m, resend_at_s=0.0)  # the first write to fail: no exception, storage full said
        said.wait(["storage full"])
        j.mark_inflight(m)
        j.publish_failed(m, "x", retry_at_s=0.0)
        assert j.ack_session("s1") is False
        assert j.remember_command("c1") is True
        assert j.reset_inflight() == 0 and j.resend_awaiting_now() == 0
        j.maintain()
        assert j.due(0.0, 10) == [] and j.next_due_s() is None
        small_disk.free()
        said.wait(["storage full", ""])  # the writer probes the disk though it holds nothing
        # the PUBACK that could not be recorded: sent again (the dashboard dedups)
        assert [r.msg_id for r in j.due(0.0, 10)][0] == m
        assert len(j.due(0.0, 10)) == 2
    finally:
        j.close()
    assert not [r for r in caplog.records if r.exc_info]


def _crashed_journal_files(workdir: Path, target: Path) -> None:
    """A journal as a power cut leaves it: a running session with a checkpoint, the -wal and
    -shm still there (copied while the journal is open)."""
    j = Journal(workdir / "journal.db")
    j.start_session("run1", "calf-stick", "stick", "2026-01-01T10:00:00.000Z")
    j.checkpoint("run1", {"duration_s": 10.0, "passes": 4})
    assert j.flush()
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{workdir}/journal.db{suffix}", f"{target}/journal.db{suffix}")
    j.close()


@pytest.mark.parametrize("shutdown", ["power cut", "clean"])
def test_start_on_a_full_disk_with_a_session_to_recover(small_disk, tmp_path, caplog, shutdown):
    caplog.set_level(logging.INFO, logger="rollsense.journal")
    work = tmp_path / "work"
    work.mkdir()
    _crashed_journal_files(work, small_disk.path)
    if shutdown == "clean":  # closed cleanly before the disk filled: no -wal, no -shm
        Journal(small_disk.path / "journal.db").close()
    small_disk.fill()
    j = Journal(small_disk.path / "journal.db", QUICK_RETRY)
    said = StorageSaid(j)
    try:
        assert j.recover_interrupted("power loss") == []  # held, not raised
        assert j.storage == "storage full"
        j.start_session("new", "calf-stick", "stick", "2026-01-01T11:00:00.000Z")
        j.finish_session("new", {"completed": True, "passes": 20})
        small_disk.free()
        # a clean journal fails to open at all (no room for its -shm): said before we listened
        said.wait(["storage full", ""] if shutdown == "power cut" else [""])
        old, new = j.session("run1"), j.session("new")
        assert old["state"] == "interrupted" and old["summary"]["passes"] == 4
        assert old["summary"]["interrupted"] == "power loss"
        assert new["state"] == "finished" and new["summary"]["passes"] == 20
    finally:
        j.close()
    lines = journal_lines(caplog)
    assert len(lines) == 2 and "storage full" in lines[0], lines
    assert not [r for r in caplog.records if r.exc_info]


def test_the_outbox_delivers_the_held_summary_when_space_returns(small_disk, fresh_broker):
    j = Journal(small_disk.path / "journal.db", QUICK_RETRY)
    said = StorageSaid(j)
    obs = Observer(fresh_broker.url)
    link = Link("dev-1", fresh_broker.url, j, MonotonicClock(), {"version": "1"}, FAST)
    try:
        link.start()
        obs.wait_topic("rollsense/dev-1/status")
        j.start_session("s1", "quads-roller", "roller", "2026-01-01T10:00:00.000Z")
        assert j.flush()
        small_disk.fill()
        # bigger than the WAL's room (a checkpointed WAL is reused: small writes may still fit)
        holds = [{"start_s": float(i), "duration_s": 5.0, "force_n": 40.0} for i in range(2000)]
        msg_id = j.finish_session("s1", {"completed": True, "passes": 12, "holds": holds})
        said.wait(["storage full"])
        assert obs.on("rollsense/dev-1/session") == []
        small_disk.free()
        got = json.loads(obs.wait_topic("rollsense/dev-1/session")[0].payload)
        assert got["msg_id"] == msg_id and got["holds"] == holds and got["device_id"] == "dev-1"
        obs.publish("rollsense/dev-1/ack", {"session_id": "s1"})
        deadline = time.monotonic() + WAIT_S
        while not j.session("s1")["delivered"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert j.session("s1")["delivered"] and j.outbox() == []
    finally:
        link.stop()
        obs.close()
        j.close()


class Systemd:
    """Receives sd_notify datagrams like PID 1 does (an abstract AF_UNIX socket)."""

    def __init__(self) -> None:
        self.name = f"rollsense-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + self.name.encode())
        self.sock.settimeout(WAIT_S)

    def next_status(self) -> str:
        fields = dict(f.split("=", 1) for f in self.sock.recv(4096).decode().splitlines())
        return fields["STATUS"]


def test_the_device_says_storage_full_with_a_cue_and_its_status(small_disk, mock_factory):
    systemd = Systemd()
    notifier = DeviceNotifier(env={"NOTIFY_SOCKET": "@" + systemd.name})
    outputs = Outputs(red_pin=RED_PIN, buzzer_pin=BUZZER_PIN, pin_factory=mock_factory)
    j = Journal(small_disk.path / "journal.db", QUICK_RETRY)
    app = CoachingLoop(device_id="dev-1",
                    parts=DeviceParts(sampler=None, clock=MonotonicClock(), journal=j,
                                      outputs=outputs, notifier=notifier),
                    settings=MetricsSettings(tool="roller", radius_m=0.075))
    said = StorageSaid(j)  # hears after the app did
    try:
        notifier.status("running quads-roller")
        assert systemd.next_status() == "running quads-roller"
        small_disk.fill()
        j.record_event(None, {"event_type": "cue", "t_s": 0.0})
        said.wait(["storage full"])
        assert app.storage == "storage full"
        red_levels = [s.state for s in mock_factory.pin(RED_PIN).states]
        assert COLOURS[CUE_PATTERNS["storage_full"].colour][0] in red_levels
        assert 0.5 in [s.state for s in mock_factory.pin(BUZZER_PIN).states]  # a tone sounded
        assert systemd.next_status() == ("running quads-roller; storage full: coaching goes on; the "
                                         "session is kept in memory and saved when there is space again")
        notifier.status("idle")  # what the device does changes; the storage note stays
        assert systemd.next_status().startswith("idle; storage full")
        small_disk.free()
        said.wait(["storage full", ""])
        assert systemd.next_status() == "idle"
        faults = [r.payload for r in j.outbox() if r.payload.get("event_type") == "fault"]
        assert [f["error"] for f in faults] == ["storage full"]  # kept, delivered later
    finally:
        outputs.close()
        j.close()
        notifier.close()
        systemd.sock.close()
    assert app.storage == ""


def test_a_journal_that_cannot_be_opened_for_another_reason_is_still_an_error(tmp_path):
    (tmp_path / "journal.db").mkdir()  # a directory where the file should be
    with pytest.raises(SetupError, match="cannot open journal"):
        Journal(tmp_path / "journal.db")
    assert os.path.isdir(tmp_path / "journal.db")


def test_the_daemon_starts_on_a_full_disk_with_a_session_to_recover(small_disk, tmp_path, caplog,
                                                                    capsys):
    caplog.set_level(logging.INFO, logger="rollsense.journal")
    work = tmp_path / "work"
    work.mkdir()
    _crashed_journal_files(work, small_disk.path)
    small_disk.fill()
    args = Namespace(config=None, sim=True, broker="mqtt://127.0.0.1:1",
                     state_dir=str(small_disk.path), protocol="piriformis-ball", speed=40.0,
                     once=True, print_config=False)
    assert run_daemon(args, delivery_wait_s=0.2) == 0  # coached the routine to its end
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Done: routine complete" in err
    assert "only in memory (storage full), not in the journal" in err
    lines = journal_lines(caplog)
    assert len(lines) == 2 and "storage full; coaching goes on" in lines[0], lines
    assert "1 never reached the disk" in lines[1]  # said as it is, once, at exit
    assert not [r for r in caplog.records if r.exc_info]
    small_disk.free()
    j = Journal(small_disk.path / "journal.db")
    try:  # the crashed session is still on disk, and is recovered once there is space
        assert j.recover_interrupted("power loss") == ["run1"]
    finally:
        j.close()


def test_a_routine_coaches_on_while_the_disk_fills_and_its_summary_lands_after(small_disk,
                                                                               caplog):
    caplog.set_level(logging.INFO, logger="rollsense.journal")
    cfg = apply_overrides(load_config(None), hardware="sim", state_dir=small_disk.path,
                          broker_url="mqtt://127.0.0.1:1", protocol="quads-roller")
    cfg = replace(cfg, sim=replace(cfg.sim, speed=10.0))
    device, link, journal, outputs = build_daemon(cfg)
    said = StorageSaid(journal)
    stop = threading.Event()
    device._bring_up_sensors()
    device.starts.put(("start", "quads-roller"))
    server = threading.Thread(target=device.serve, args=(stop,), kwargs={"once": True})
    try:
        server.start()
        deadline_s = time.monotonic() + WAIT_S
        while not (device.running and device.app.session.last is not None):
            assert time.monotonic() < deadline_s, "the routine did not start"
            time.sleep(0.01)
        session_id = device.app.session.session_id
        assert journal.flush()
        small_disk.fill()
        said.wait(["storage full"])
        fill_t_s = device.app.session.last.t_s
        server.join(3 * WAIT_S)  # the routine runs to its end meanwhile
        assert not server.is_alive()
        assert device.app.session.summary()["completed"] is True
        assert device.app.session.last.t_s > fill_t_s + 10.0  # coached on after the disk filled
        assert journal.session(session_id)["state"] == "running"  # the summary is in memory
        small_disk.free()
        said.wait(["storage full", ""])
        row = journal.session(session_id)
        assert row["state"] == "finished" and row["summary"]["completed"] is True
        assert [r.kind for r in journal.outbox()].count("session") == 1
    finally:
        stop.set()
        server.join(WAIT_S)
        outputs.close()
        journal.close()
        device.rt.hardware.close()
    lines = journal_lines(caplog)
    assert len(lines) == 2 and "storage full" in lines[0] and "writable again" in lines[1], lines
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_the_daemon_replaces_an_empty_journal_and_says_so(tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO, logger="rollsense.journal")
    state = tmp_path / "state"
    state.mkdir()
    (state / "journal.db").write_bytes(b"")  # truncated to 0 bytes
    args = Namespace(config=None, sim=True, broker="mqtt://127.0.0.1:1", state_dir=str(state),
                     protocol="piriformis-ball", speed=40.0, once=True, print_config=False)
    assert run_daemon(args, delivery_wait_s=0.2) == 0
    assert "Traceback" not in capsys.readouterr().err
    (aside,) = state.glob("journal.db.damaged-*")
    assert aside.read_bytes() == b""  # kept as it was
    lines = journal_lines(caplog)
    assert lines == [f"journal {state / 'journal.db'} is empty (0 bytes): moved it aside to "
                     f"{aside.name} and started a new journal"]
    j = Journal(state / "journal.db")
    try:  # the new journal has the routine, and a fault event for the dashboard
        errors = [r.payload.get("error") for r in j.outbox() if r.payload.get("event_type") == "fault"]
        assert errors == [f"journal was damaged: moved aside to {aside.name}, started a new one"]
        assert [s["state"] for s in j.sessions()] == ["finished"]
    finally:
        j.close()


def test_the_retained_info_says_storage_full_until_space_returns(small_disk, fresh_broker):
    """The dashboard (and anyone reading the retained info) hears it too, not only the tool."""
    j = Journal(small_disk.path / "journal.db", QUICK_RETRY)
    link = Link("dev-1", fresh_broker.url, j, MonotonicClock(), {"version": "1"}, FAST)
    app = CoachingLoop(device_id="dev-1",
                    parts=DeviceParts(sampler=None, clock=MonotonicClock(), journal=j, link=link),
                    settings=MetricsSettings(tool="roller", radius_m=0.075))
    said = StorageSaid(j)
    obs = Observer(fresh_broker.url)
    try:
        link.start()
        first = json.loads(obs.wait_topic("rollsense/dev-1/info")[0].payload)
        assert "storage" not in first
        small_disk.fill()
        # bigger than the WAL's room (a checkpointed WAL is reused: small writes may still fit)
        j.record_event(None, {"event_type": "cue", "t_s": 0.0, "note": "x" * 200_000})
        said.wait(["storage full"])
        assert app.storage == "storage full"
        full = json.loads(obs.wait_topic("rollsense/dev-1/info", 2)[1].payload)
        assert full["storage"] == "storage full" and full["version"] == "1"
        small_disk.free()
        said.wait(["storage full", ""])
        back = json.loads(obs.wait_topic("rollsense/dev-1/info", 3)[2].payload)
        assert "storage" not in back
    finally:
        link.stop()
        obs.close()
        j.close()
