"""The session store: running, finished and interrupted sessions, their events and summaries.

Every write is queued to the writer thread (the app loop never waits for the disk) and makes its
outbox row in the same transaction as the state change that made it (an event with its
session, a summary with the session's ``finished`` state). A session whose ``finished`` write
was lost (a power cut within the few ms before the commit) is still ``running`` on disk and is
recovered as interrupted with its last ``checkpoint``.

The write functions are named ``_w_*``: the writer's holding rules on a full disk go by those
names (``JournalWriter``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable

from firmware.common.wire import SUMMARY_FORMAT, dumps, utc_now_iso
from firmware.core.summary import TAG_FIELDS, SessionTags
from firmware.edge.journal_file import JournalFile
from firmware.edge.journal_outbox import OutboxStore
from firmware.edge.journal_writer import JournalWriter

DEFAULT_INTERRUPT_REASON = "device restarted while the session was running (power loss or crash)"


def new_msg_id() -> str:
    """A fresh message id (UUID4, 32 hex digits)."""
    return uuid.uuid4().hex


def _tags(partial: dict, events: list) -> SessionTags:
    """Who rolled and which side: the last checkpoint's, else the ``session_started`` event's
    (written at the start, so a power cut before the first checkpoint keeps them too)."""
    if any(k in partial for k in TAG_FIELDS):
        return SessionTags.from_fields(partial)
    started = next((e for e in events if isinstance(e, dict)
                    and e.get("event_type") == "session_started"), None)
    return SessionTags.from_fields(started)


def default_interrupted_summary(row: dict, reason: str) -> dict:
    """What is known of an interrupted session: ids, start, duration so far, any checkpointed
    metrics, and who rolled which side (every issue 22 field present, null when unknown)."""
    partial = row.get("partial") or {}
    events_t_s = [e["t_s"] for e in row.get("events", []) if isinstance(e.get("t_s"), int | float)]
    duration_s = max([float(partial.get("duration_s") or 0.0), *events_t_s, 0.0])
    summary = {"format": SUMMARY_FORMAT, **partial}
    summary.update(_tags(partial, row.get("events", [])).fields())
    summary.update(
        session_id=row["session_id"],
        protocol=row["protocol"],
        tool=row["tool"],
        started_at=row["started_at"],
        duration_s=duration_s,
        completed=False,
        interrupted=reason,
    )
    return summary


class SessionStore:
    """Sessions and events of the journal ``file``; their outbox rows go to ``outbox``."""

    def __init__(self, file: JournalFile, writer: JournalWriter, outbox: OutboxStore) -> None:
        self.file = file
        self.writer = writer
        self.outbox = outbox
        self._finish_lock = threading.Lock()
        self._finished: dict[str, str] = {}

    # -- the app loop's writes: queued, never wait for the disk -----------------------------------
    def start(self, session_id: str, protocol: str, tool: str, started_at_iso: str) -> None:
        self.writer.submit(self._w_start, session_id, protocol, tool, started_at_iso, utc_now_iso())

    def checkpoint(self, session_id: str, partial_summary: dict) -> None:
        self.writer.submit(self._w_checkpoint, session_id, dumps(partial_summary), utc_now_iso())

    def record_event(self, session_id: str | None, event_payload: dict) -> str:
        msg_id = new_msg_id()
        self.writer.submit(self._w_event, msg_id, session_id, dict(event_payload), utc_now_iso())
        return msg_id

    def finish(self, session_id: str, summary: dict) -> str:
        with self._finish_lock:
            known = self._finished.get(session_id)
            if known is None:
                known = self._finished[session_id] = new_msg_id()
                self.writer.submit(
                    self._w_close, session_id, dict(summary), "finished", known, utc_now_iso()
                )
        return known

    def recover_interrupted(self, reason: str, build: Callable[[dict, str], dict]) -> list[str]:
        recovered: list[str] = []
        self.writer.submit(self._w_recover, reason, build, recovered)
        self.writer.flush()
        return list(recovered) if not self.writer.held else []

    # -- the writes themselves (writer thread) -----------------------------------------------------
    def _w_start(
        self, db: sqlite3.Connection, sid: str, protocol: str, tool: str, started: str, ts: str
    ) -> None:
        db.execute(
            "INSERT OR IGNORE INTO sessions(session_id, protocol, tool, started_at, state, updated_at) "
            "VALUES (?, ?, ?, ?, 'running', ?)",
            (sid, protocol, tool, started, ts),
        )

    def _w_checkpoint(self, db: sqlite3.Connection, sid: str, partial_json: str, ts: str) -> None:
        db.execute(
            "UPDATE sessions SET partial_json = ?, updated_at = ? WHERE session_id = ? AND state = 'running'",
            (partial_json, ts, sid),
        )

    def _w_event(
        self, db: sqlite3.Connection, msg_id: str, sid: str | None, data: dict, ts: str
    ) -> None:
        payload = self.outbox.stamp(db, {"session_id": sid, **data}, msg_id, ts)
        t_s = payload.get("t_s")
        t_s = float(t_s) if isinstance(t_s, int | float) and not isinstance(t_s, bool) else None
        db.execute(
            "INSERT INTO events(msg_id, session_id, event_type, t_s, payload_json, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (msg_id, sid, payload.get("event_type"), t_s, dumps(payload), ts),
        )
        self.outbox.enqueue(db, msg_id, "event", sid, payload)
        self.outbox.bound_events(db)

    def _w_close(
        self, db: sqlite3.Connection, sid: str, summary: dict, state: str, msg_id: str, ts: str
    ) -> None:
        row = db.execute(
            "SELECT state, started_at FROM sessions WHERE session_id = ?", (sid,)
        ).fetchone()
        if row and row[0] != "running":
            return
        started_at = summary.get("started_at") or (row[1] if row else ts)
        payload = self.outbox.stamp(
            db, {**summary, "session_id": sid, "started_at": started_at}, msg_id, ts
        )
        if row is None:
            self._w_start(db, sid, summary.get("protocol"), summary.get("tool"), started_at, ts)
        db.execute(
            "UPDATE sessions SET state = ?, summary_json = ?, summary_msg_id = ?, updated_at = ? "
            "WHERE session_id = ?",
            (state, dumps(payload), msg_id, ts, sid),
        )
        self.outbox.enqueue(db, msg_id, "session", sid, payload)

    def _w_recover(
        self, db: sqlite3.Connection, reason: str, build: Callable[[dict, str], dict],
        recovered: list[str],
    ) -> None:
        recovered.clear()  # a retried attempt starts over
        for row in self._running_sessions():
            sid = row["session_id"]
            try:
                summary = build(row, reason)
            except Exception as e:  # a broken builder must not lose the session
                summary = default_interrupted_summary(
                    row, f"{reason} (summary builder failed: {e})"
                )
            summary.update(completed=False, interrupted=summary.get("interrupted") or reason)
            with self._finish_lock:
                msg_id = self._finished.setdefault(sid, new_msg_id())
            self._w_close(db, sid, summary, "interrupted", msg_id, utc_now_iso())
            recovered.append(sid)

    def _running_sessions(self) -> list[dict]:
        with self.file.lock:
            db = self.file.db
            rows = db.execute(
                "SELECT session_id, protocol, tool, started_at, partial_json FROM sessions WHERE state = 'running'"
            ).fetchall()
            out = []
            for sid, protocol, tool, started_at, partial in rows:
                events = [
                    json.loads(p)
                    for (p,) in db.execute(
                        "SELECT payload_json FROM events WHERE session_id = ? ORDER BY created_at",
                        (sid,),
                    )
                ]
                out.append(
                    {
                        "session_id": sid,
                        "protocol": protocol,
                        "tool": tool,
                        "started_at": started_at,
                        "partial": json.loads(partial) if partial else None,
                        "events": events,
                    }
                )
            return out

    # -- reads ---------------------------------------------------------------------------------------
    def session(self, session_id: str) -> dict | None:
        self.writer.flush()
        row = self.file.read(lambda db: db.execute(
            "SELECT session_id, protocol, tool, started_at, state, summary_json, delivered "
            "FROM sessions WHERE session_id = ?",
            (session_id,),
        ).fetchone(), None)
        if row is None:
            return None
        keys = ("session_id", "protocol", "tool", "started_at", "state", "summary", "delivered")
        out = dict(zip(keys, row, strict=True))
        out["summary"] = json.loads(out["summary"]) if out["summary"] else None
        out["delivered"] = bool(out["delivered"])
        return out

    def sessions(self) -> list[dict]:
        ids = self.file.read(lambda db: [
            r[0] for r in db.execute("SELECT session_id FROM sessions ORDER BY started_at")
        ], [])
        return [s for s in (self.session(i) for i in ids) if s]
