"""The outbox table: the messages (events, session summaries) waiting for the link, and their
delivery state as ``firmware.core.outbox`` decides it.

Row states::

    pending ──publish──> inflight ──PUBACK ok──> (event: deleted)
                                              └─> awaiting_ack (session) ──dashboard ack──> deleted
    awaiting_ack ──resend due──> inflight;  PUBACK failed (>= 0x80) ──> pending (with backoff)

Rows are added by the session store's writes (in the same transaction as the state change that
made them) and stamped with the envelope (``v``, ``ts``, ``seq``) and their ``msg_id``. Events
are bounded by ``max_event_rows`` and ``max_event_age_s`` (the oldest undelivered events are
dropped first and counted); session summaries are never dropped. The link's updates go through
``JournalFile.link_write``: skipped, never raised, while the storage fails; and while it fails
the outbox hands out nothing (the bookkeeping could not be kept).
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from firmware.common.wire import dumps, envelope
from firmware.core.outbox import OutboxRow
from firmware.edge.journal_file import JournalFile
from firmware.edge.journal_writer import JournalWriter

ROW_COLUMNS = "msg_id, kind, session_id, payload_json, state, attempts"


def _rows(found: list) -> list[OutboxRow]:
    return [OutboxRow(m, k, s, json.loads(p), st, a) for m, k, s, p, st, a in found]


class OutboxStore:
    """The outbox rows of the journal ``file`` (``writer`` holds those not on disk yet)."""

    def __init__(self, file: JournalFile, settings: Any, writer: JournalWriter) -> None:
        self.file = file
        self.settings = settings
        self.writer = writer

    # -- written with the session store's changes (writer thread) -------------------------------
    def stamp(self, db: sqlite3.Connection, payload: dict, msg_id: str, ts: str) -> dict:
        """``payload`` with the envelope (the journal's next ``seq``) and its ``msg_id``."""
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'seq'")
        seq = int(db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])
        return {**envelope(payload, seq, ts), "msg_id": msg_id}

    def enqueue(
        self, db: sqlite3.Connection, msg_id: str, kind: str, session_id: str | None, payload: dict
    ) -> None:
        position = int(db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM outbox").fetchone()[0])
        db.execute(
            "INSERT INTO outbox(msg_id, kind, session_id, payload_json, state, created_wall_s, position) "
            "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
            (msg_id, kind, session_id, dumps(payload), time.time(), position),
        )

    def bound_events(self, db: sqlite3.Connection) -> None:
        s = self.settings
        n = db.execute(
            "DELETE FROM outbox WHERE kind = 'event' AND state = 'pending' AND created_wall_s < ?",
            (time.time() - s.max_event_age_s,),
        ).rowcount
        excess = (
            db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'event'").fetchone()[0]
            - s.max_event_rows
        )
        if excess > 0:
            n += db.execute(
                "DELETE FROM outbox WHERE msg_id IN (SELECT msg_id FROM outbox WHERE kind = 'event' "
                "AND state = 'pending' ORDER BY position LIMIT ?)",
                (excess,),
            ).rowcount
        if n:
            db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'dropped_events'",
                (n,),
            )

    def prune_events(self, now_wall_s: float | None = None) -> int:
        """Forget journalled events older than ``max_event_age_s`` that are delivered and whose
        session is no longer running; returns how many were removed."""
        cutoff = datetime.fromtimestamp(
            (now_wall_s if now_wall_s is not None else time.time()) - self.settings.max_event_age_s,
            UTC,
        )
        cutoff_iso = cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self.file.link_write(
            lambda db: db.execute(
                "DELETE FROM events WHERE created_at < ? AND msg_id NOT IN (SELECT msg_id FROM outbox) "
                "AND (session_id IS NULL OR session_id NOT IN "
                "(SELECT session_id FROM sessions WHERE state = 'running'))",
                (cutoff_iso,),
            ).rowcount,
            0,
        )

    # -- the link's bookkeeping ------------------------------------------------------------------
    def reset_inflight(self) -> int:
        """At link start: messages a previous process had in flight go back to pending."""
        return self.file.link_write(
            lambda db: db.execute(
                "UPDATE outbox SET state = 'pending', next_try_s = 0 WHERE state = 'inflight'"
            ).rowcount,
            0,
        )

    def resend_awaiting_now(self) -> int:
        """After a (re)connect: summaries still waiting for the dashboard's ack are due at once."""
        return self.file.link_write(
            lambda db: db.execute(
                "UPDATE outbox SET next_try_s = 0 WHERE state = 'awaiting_ack'"
            ).rowcount,
            0,
        )

    def due(self, now_s: float, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` rows to publish now (pending or awaiting_ack past their retry time),
        oldest first; none while the storage fails (their bookkeeping could not be kept)."""
        self.writer.flush()
        if limit <= 0 or self.file.storage:
            return []
        return _rows(self.file.read(lambda db: db.execute(
            f"SELECT {ROW_COLUMNS} FROM outbox WHERE state IN ('pending', 'awaiting_ack') "
            "AND next_try_s <= ? ORDER BY position LIMIT ?",
            (now_s, limit),
        ).fetchall(), []))

    def next_due_s(self) -> float | None:
        """The earliest retry time of any waiting row (None if nothing waits or can be sent)."""
        self.writer.flush()
        with self.file.lock:
            if self.file.storage or self.file.db is None:
                return None
            row = self.file.db.execute(
                "SELECT MIN(next_try_s) FROM outbox WHERE state IN ('pending', 'awaiting_ack')"
            ).fetchone()
        return row[0]

    def mark_inflight(self, msg_id: str) -> None:
        """The link handed the row to the MQTT client."""
        self.file.link_write(
            lambda db: db.execute(
                "UPDATE outbox SET state = 'inflight', attempts = attempts + 1 WHERE msg_id = ?",
                (msg_id,),
            ),
            None,
        )

    def attempts(self, msg_id: str) -> int:
        """How often the row was handed to the MQTT client (0 if unknown)."""
        row = self.file.read(lambda db: db.execute(
            "SELECT attempts FROM outbox WHERE msg_id = ?", (msg_id,)
        ).fetchone(), None)
        return int(row[0]) if row else 0

    def published(self, msg_id: str, resend_at_s: float) -> None:
        """PUBACK ok: an event is done (deleted); a summary waits for the dashboard's ack until ``resend_at_s``."""

        def write(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM outbox WHERE msg_id = ? AND kind = 'event'", (msg_id,))
            db.execute(
                "UPDATE outbox SET state = 'awaiting_ack', next_try_s = ?, last_error = NULL "
                "WHERE msg_id = ? AND kind = 'session'",
                (resend_at_s, msg_id),
            )

        self.file.link_write(write, None)

    def publish_failed(self, msg_id: str, error: str, retry_at_s: float) -> None:
        """PUBACK >= 0x80 or a client error: back to pending, retried at ``retry_at_s``."""
        self.file.link_write(
            lambda db: db.execute(
                "UPDATE outbox SET state = 'pending', next_try_s = ?, last_error = ? WHERE msg_id = ?",
                (retry_at_s, error[:500], msg_id),
            ),
            None,
        )

    def ack_session(self, session_id: str) -> bool:
        """The dashboard stored the summary: drop it from the outbox. True if it was waiting
        (False too while the storage fails: the dashboard acks the re-send later)."""

        def write(db: sqlite3.Connection) -> bool:
            n = db.execute(
                "DELETE FROM outbox WHERE kind = 'session' AND session_id = ?", (session_id,)
            ).rowcount
            db.execute("UPDATE sessions SET delivered = 1 WHERE session_id = ?", (session_id,))
            return n > 0

        return self.file.link_write(write, False)

    # -- status ------------------------------------------------------------------------------------
    def rows(self) -> list[OutboxRow]:
        """Every row in the outbox, oldest first (for status displays and tests)."""
        self.writer.flush()
        return _rows(self.file.read(lambda db: db.execute(
            f"SELECT {ROW_COLUMNS} FROM outbox ORDER BY position"
        ).fetchall(), []))

    def counts(self) -> dict[str, int]:
        """Rows per state plus ``dropped_events`` (ever dropped by the bounds) and ``held``
        (messages kept in memory while the storage fails; counted in ``pending`` too)."""
        self.writer.flush()
        held = self.writer.held_messages()
        counts = {"pending": held, "inflight": 0, "awaiting_ack": 0, "dropped_events": 0,
                  "held": held}
        with self.file.lock:
            db = self.file.db
            if db is None:
                return counts
            for state, n in db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
                counts[state] += n
            dropped = db.execute("SELECT value FROM meta WHERE key = 'dropped_events'").fetchone()[0]
        counts["dropped_events"] = int(dropped) + self.writer.held_dropped
        return counts
