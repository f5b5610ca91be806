"""The journal: sessions, events and summaries in one transaction; outbox states; recovery; bounds."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time

import pytest

from firmware.edge.journal import Journal, JournalSettings


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.db")
    yield j
    j.close()


def test_file_is_wal_and_synchronous_full(journal):
    db = journal._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_event_is_journalled_and_queued_with_envelope(journal):
    journal.start_session("s1", "quads-roller", "roller", "2026-01-01T10:00:00.000Z")
    m1 = journal.record_event("s1", {"event_type": "cue", "t_s": 1.5, "cue": "slow_down"})
    m2 = journal.record_event("s1", {"event_type": "pass_completed", "t_s": 2.5})
    rows = journal.outbox()
    assert [r.msg_id for r in rows] == [m1, m2]
    p = rows[0].payload
    assert p["v"] == 1 and p["ts"].endswith("Z") and p["msg_id"] == m1 and p["session_id"] == "s1"
    assert p["cue"] == "slow_down" and rows[1].payload["seq"] == p["seq"] + 1
    assert len(m1) == 32 and m1 != m2
    assert rows[0].state == "pending" and rows[0].kind == "event"


def test_event_outlives_outbox_delivery(journal):
    m = journal.record_event("s1", {"event_type": "cue", "t_s": 1.0})
    journal.flush()
    journal.mark_inflight(m)
    journal.published(m, resend_at_s=0)
    assert journal.outbox() == []
    n = journal._db.execute("SELECT COUNT(*) FROM events WHERE msg_id = ?", (m,)).fetchone()[0]
    assert n == 1


def test_summary_waits_for_the_dashboard_ack(journal):
    journal.start_session("s1", "quads-roller", "roller", "2026-01-01T10:00:00.000Z")
    m = journal.finish_session("s1", {"session_id": "s1", "completed": True, "passes": 12})
    assert journal.session("s1")["state"] == "finished"
    assert journal.due(0.0, 10)[0].msg_id == m
    assert journal.due(0.0, 0) == []
    journal.mark_inflight(m)
    assert journal.due(0.0, 10) == []
    assert journal.outbox_counts()["inflight"] == 1
    journal.published(m, resend_at_s=100.0)
    row = journal.outbox()[0]
    assert row.state == "awaiting_ack" and row.attempts == 1
    assert row.payload["started_at"] == "2026-01-01T10:00:00.000Z"
    assert journal.due(99.0, 10) == [] and journal.due(100.0, 10)[0].msg_id == m
    assert journal.next_due_s() == 100.0
    journal.resend_awaiting_now()
    assert journal.due(0.0, 10)[0].msg_id == m
    assert journal.ack_session("s1") is True
    assert journal.outbox() == [] and journal.session("s1")["delivered"] is True
    assert journal.ack_session("s1") is False


def test_finish_twice_queues_once(journal):
    journal.start_session("s1", "p", "roller", "2026-01-01T10:00:00Z")
    m1 = journal.finish_session("s1", {"completed": True})
    m2 = journal.finish_session("s1", {"completed": True})
    assert m1 == m2 and len(journal.outbox()) == 1
    journal.start_session("s1", "p", "roller", "x")  # a known id: nothing changes
    assert (
        journal.session("s1")["state"] == "finished" and journal.session("s1")["started_at"] != "x"
    )


def test_failed_puback_goes_back_to_pending_with_backoff(journal):
    m = journal.record_event(None, {"event_type": "fault", "t_s": 0.0})
    journal.flush()
    journal.mark_inflight(m)
    journal.publish_failed(m, "Not authorized", retry_at_s=50.0)
    assert journal.due(49.0, 10) == [] and journal.due(50.0, 10)[0].state == "pending"


def test_reset_inflight_after_restart(tmp_path):
    j = Journal(tmp_path / "j.db")
    m = j.record_event("s", {"event_type": "cue", "t_s": 0.0})
    j.flush()
    j.mark_inflight(m)
    j.close()
    j = Journal(tmp_path / "j.db")
    assert j.reset_inflight() == 1
    assert j.due(0.0, 5)[0].msg_id == m
    j.close()


def test_recover_interrupted_queues_partial_summary(tmp_path):
    j = Journal(tmp_path / "j.db")
    j.start_session("run1", "calf-stick", "stick", "2026-01-01T10:00:00.000Z")
    j.record_event("run1", {"event_type": "pass_completed", "t_s": 12.5})
    j.checkpoint("run1", {"duration_s": 10.0, "passes": 4})
    j.start_session("done", "calf-stick", "stick", "2026-01-01T09:00:00.000Z")
    j.finish_session("done", {"completed": True})
    j.close()  # "power loss": the process is gone, the file remains
    j = Journal(tmp_path / "j.db")
    assert j.recover_interrupted("power loss") == ["run1"]
    s = j.session("run1")
    assert s["state"] == "interrupted"
    summary = s["summary"]
    assert summary["completed"] is False and summary["interrupted"] == "power loss"
    assert (summary["protocol"], summary["tool"], summary["passes"]) == ("calf-stick", "stick", 4)
    assert summary["duration_s"] == 12.5  # the last event is later than the checkpoint
    assert summary["started_at"] == "2026-01-01T10:00:00.000Z"
    kinds = sorted((r.kind, r.session_id) for r in j.outbox() if r.kind == "session")
    assert kinds == [("session", "done"), ("session", "run1")]
    assert j.recover_interrupted() == []  # nothing running any more
    j.close()


def test_recover_with_builder_and_broken_builder(journal):
    journal.start_session("a", "p", "ball", "2026-01-01T10:00:00Z")
    seen = []

    def builder(row, reason):
        seen.append(row)
        return {"session_id": row["session_id"], "holds": [], "note": reason}

    assert journal.recover_interrupted("crash", builder) == ["a"]
    assert seen[0]["tool"] == "ball"
    summary = journal.session("a")["summary"]
    assert (
        summary["note"] == "crash"
        and summary["completed"] is False
        and summary["interrupted"] == "crash"
    )
    journal.start_session("b", "p", "ball", "2026-01-01T11:00:00Z")

    def broken(row, reason):
        raise KeyError("x")

    assert journal.recover_interrupted("crash", broken) == ["b"]
    summary = journal.session("b")["summary"]
    assert summary["completed"] is False and "summary builder failed" in summary["interrupted"]


def test_events_are_bounded_sessions_never_dropped(tmp_path):
    j = Journal(tmp_path / "j.db", JournalSettings(max_event_rows=5))
    j.start_session("s", "p", "roller", "2026-01-01T10:00:00Z")
    j.finish_session("s", {"completed": True})
    ids = [j.record_event("x", {"event_type": "cue", "t_s": float(i)}) for i in range(12)]
    rows = j.outbox()
    assert [r.msg_id for r in rows if r.kind == "event"] == ids[-5:]
    assert [r.kind for r in rows].count("session") == 1
    assert j.outbox_counts()["dropped_events"] == 7
    j.close()


def test_event_age_bound(tmp_path):
    j = Journal(tmp_path / "j.db", JournalSettings(max_event_age_s=60))
    old = j.record_event("x", {"event_type": "cue", "t_s": 0.0})
    j.flush()
    j._db.execute(
        "UPDATE outbox SET created_wall_s = created_wall_s - 3600 WHERE msg_id = ?", (old,)
    )
    new = j.record_event("x", {"event_type": "cue", "t_s": 1.0})
    assert [r.msg_id for r in j.outbox()] == [new]
    j.close()


def test_commands_remembered_and_bounded(tmp_path):
    j = Journal(tmp_path / "j.db", JournalSettings(max_commands_remembered=3))
    assert j.remember_command("c1") is True
    assert j.remember_command("c1") is False
    for i in range(2, 6):
        j.remember_command(f"c{i}")
    assert j._db.execute("SELECT COUNT(*) FROM commands_seen").fetchone()[0] == 3
    j.close()


def test_nan_is_stored_as_null(journal):
    journal.record_event("s", {"event_type": "cue", "t_s": 1.0, "force_n": float("nan")})
    assert journal.outbox()[0].payload["force_n"] is None


def test_threads_write_and_update_concurrently(journal):
    errors = []

    def app():
        try:
            for i in range(200):
                journal.record_event("s", {"event_type": "cue", "t_s": float(i)})
        except sqlite3.Error as e:
            errors.append(e)

    def link():
        try:
            for _ in range(200):
                for row in journal.due(1e9, 10):
                    journal.mark_inflight(row.msg_id)
                    journal.published(row.msg_id, 0.0)
        except sqlite3.Error as e:
            errors.append(e)

    threads = [threading.Thread(target=app), threading.Thread(target=link)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    journal.flush()
    for row in journal.due(1e9, 1000):
        journal.published(row.msg_id, 0.0)
    assert journal.outbox() == []
    assert journal._db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 200


def test_app_writes_never_wait_for_the_disk_but_reach_it(tmp_path):
    j = Journal(tmp_path / "j.db")
    j.start_session("w", "p", "roller", "2026-01-01T10:00:00Z")
    ids = [j.record_event("w", {"event_type": "cue", "t_s": float(i)}) for i in range(200)]
    j.finish_session("w", {"completed": True})
    committed = []
    j.add_commit_listener(lambda: committed.append(1))
    j.record_event("w", {"event_type": "late", "t_s": 300.0})
    assert j.flush(5.0) is True
    j.close()  # "power loss" after the writes were flushed; close joins the writer
    assert committed  # listeners hear every commit (the link wakes on it)
    db = sqlite3.connect(tmp_path / "j.db")
    rows = [r[0] for r in db.execute("SELECT msg_id FROM events ORDER BY t_s")]
    assert rows[:200] == ids
    assert db.execute("SELECT state FROM sessions").fetchall() == [("finished",)]
    seqs = [
        json.loads(p)["seq"]
        for (p,) in db.execute("SELECT payload_json FROM outbox ORDER BY position")
    ]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == 202
    db.close()


def test_closed_journal_refuses_writes(tmp_path):
    from firmware.common.errors import SetupError

    j = Journal(tmp_path / "j.db")
    j.close()
    with pytest.raises(SetupError):
        j.record_event("s", {"event_type": "cue"})


def test_old_delivered_events_are_pruned(tmp_path):
    j = Journal(tmp_path / "j.db", JournalSettings(max_event_age_s=3600))
    j.start_session("run", "p", "roller", "2026-01-01T10:00:00Z")
    kept_running = j.record_event("run", {"event_type": "cue", "t_s": 0.0})
    delivered = j.record_event("done", {"event_type": "cue", "t_s": 0.0})
    undelivered = j.record_event("done", {"event_type": "cue", "t_s": 1.0})
    j.flush()
    for m in (kept_running, delivered):
        j.mark_inflight(m)
        j.published(m, 0.0)
    assert j.prune_events() == 0  # nothing is old yet
    assert j.prune_events(time.time() + 7200) == 1  # two hours later: only the delivered one
    left = {r[0] for r in j._db.execute("SELECT msg_id FROM events")}
    assert left == {kept_running, undelivered}
    j.maintain()
    j.close()


def test_commit_listener_may_read_the_journal(journal):
    seen = []
    heard = threading.Event()

    def listener():
        seen.append(len(journal.outbox()))
        heard.set()

    journal.add_commit_listener(listener)
    journal.record_event("s", {"event_type": "cue", "t_s": 0.0})
    assert journal.flush(5.0)
    heard.wait(5.0)  # listeners run just after the commit
    assert seen == [1]


def _set_aside_files(directory) -> list:
    return sorted(p.name for p in directory.iterdir() if ".damaged-" in p.name)


@pytest.mark.parametrize(
    ("damage", "content"),
    [("is empty (0 bytes)", b""), ("is not a SQLite database", b"\x00garbage " * 1000)],
)
def test_a_damaged_journal_is_moved_aside_never_deleted(tmp_path, caplog, damage, content):
    path = tmp_path / "journal.db"
    path.write_bytes(content)
    (tmp_path / "journal.db-wal").write_bytes(b"wal bytes")
    caplog.set_level(logging.INFO, logger="rollsense.journal")
    j = Journal(path)
    try:
        assert j.replaced is not None and j.replaced.name.startswith("journal.db.damaged-")
        assert j.replaced.read_bytes() == content  # kept as it was
        assert (tmp_path / f"{j.replaced.name}-wal").read_bytes() == b"wal bytes"
        j.record_event(None, {"event_type": "cue", "t_s": 0.0})
        assert len(j.outbox()) == 1  # a new journal works
    finally:
        j.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "rollsense.journal"]
    assert lines == [f"journal {path} {damage}: moved it aside to {j.replaced.name} and started "
                     "a new journal"]


def test_a_second_damaged_journal_never_overwrites_the_first(tmp_path):
    path = tmp_path / "journal.db"
    for content in (b"", b"not sqlite"):  # within the same second: the names still differ
        path.write_bytes(content)
        Journal(path).close()
    aside = _set_aside_files(tmp_path)
    assert len(aside) == 2
    assert sorted((tmp_path / n).read_bytes() for n in aside) == [b"", b"not sqlite"]


def test_a_healthy_journal_is_kept(tmp_path):
    j = Journal(tmp_path / "journal.db")
    j.start_session("s1", "p", "roller", "2026-01-01T10:00:00Z")
    j.close()
    j = Journal(tmp_path / "journal.db")
    try:
        assert j.replaced is None and j.session("s1")["state"] == "running"
        assert _set_aside_files(tmp_path) == []
    finally:
        j.close()


def test_a_journal_damaged_inside_is_moved_aside_too(tmp_path):
    path = tmp_path / "journal.db"
    j = Journal(path)
    for i in range(300):
        j.record_event("s", {"event_type": "cue", "t_s": float(i), "pad": "x" * 200})
    j.close()
    with path.open("r+b") as f:  # the header is fine, the schema's pages are not
        f.seek(4096)
        f.write(b"\xff" * 4096)
    damaged = path.read_bytes()
    j = Journal(path)
    try:
        assert j.replaced is not None and j.replaced.read_bytes() == damaged
        assert j.outbox() == []
    finally:
        j.close()
