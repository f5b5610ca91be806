"""The device journal: session state, events, summaries and the MQTT outbox in one SQLite file.

Nothing is lost on power loss: WAL + ``synchronous=FULL``, and every outbox row is written in
the same transaction as the state change that made it (an event with its session, a summary
with the session's ``finished`` state). The app loop never waits for the disk: its writes go to
a writer thread that commits them in order (group commit, one fsync per batch) a few ms later.
A power cut in between loses at most those ms; a session whose ``finished`` write was lost is
still ``running`` on disk and is recovered as interrupted with its last ``checkpoint``. Call
``flush()`` to wait for the disk; reads (``outbox``, ``due``, ``session``...) do so themselves.

``Journal`` is the one object callers hold; it puts together the parts, each in its module:

- ``journal_file``: the SQLite file, its three connections (app: ``FULL``; link bookkeeping:
  ``NORMAL``; checkpoints in the link thread), damaged files moved aside, never deleted;
- ``journal_writer``: the writer thread, and the writes held in memory while the disk is full
  (said once, retried with backoff, written when there is space again);
- ``journal_sessions``: sessions, events, summaries, recovery of interrupted sessions;
- ``journal_outbox``: the outbox rows and their delivery state (which ``firmware.core.outbox``
  decides; the link performs its actions here), the bounds on events;
- ``journal_commands``: the ids of commands seen (dedup).

A full disk (or one that fails writes) stops nothing: the writer keeps what it could not commit
in memory, the outbox hands out nothing meanwhile (the link's bookkeeping could not be kept) and
the link's own writes are skipped, never raised. A journal that cannot even be opened because
the disk is full starts detached (everything held) and is opened by the retry. A journal file
that is empty (0 bytes) or not a database is moved aside to ``journal.db.damaged-<UTC time>``
(with its ``-wal``/``-shm``), said in one log line, and a new journal is started.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware.common.clock import Clock, MonotonicClock
from firmware.common.errors import SetupError
from firmware.core.outbox import OutboxRow
from firmware.edge.journal_commands import CommandLog
from firmware.edge.journal_file import SCHEMA_VERSION, JournalFile, storage_problem
from firmware.edge.journal_outbox import OutboxStore
from firmware.edge.journal_sessions import (
    DEFAULT_INTERRUPT_REASON,
    SessionStore,
    default_interrupted_summary,
    new_msg_id,
)
from firmware.edge.journal_writer import JournalWriter

__all__ = [
    "DEFAULT_INTERRUPT_REASON", "SCHEMA_VERSION", "Journal", "JournalSettings", "OutboxRow",
    "default_interrupted_summary", "new_msg_id", "storage_problem",
]


@dataclass(frozen=True)
class JournalSettings:
    """Outbox bounds. Sessions are never dropped; events beyond these are (oldest first)."""

    max_event_rows: int = 20_000
    max_event_age_s: float = 7 * 24 * 3600.0
    max_commands_remembered: int = 5_000
    # storage full: events kept in memory until it is back (oldest dropped beyond this), and
    # how often to try again (doubling from min to max)
    max_held_events: int = 2_000
    storage_retry_min_s: float = 1.0
    storage_retry_max_s: float = 60.0


class Journal:
    """The session journal and outbox at ``path`` (created if missing)."""

    def __init__(
        self,
        path: str | Path,
        settings: JournalSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``clock`` times the storage retries (monotonic seconds)."""
        self.path = Path(path)
        self.settings = settings or JournalSettings()
        self.clock = clock or MonotonicClock()
        self.file = JournalFile(self.path)
        self.writer = JournalWriter(self.file, self.settings, self.clock,
                                    on_storage_back=self.reset_inflight)
        self.outbox_rows = OutboxStore(self.file, self.settings, self.writer)
        self.sessions_store = SessionStore(self.file, self.writer, self.outbox_rows)
        self.commands = CommandLog(self.file, self.settings.max_commands_remembered)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SetupError(f"cannot open journal {self.path}: {e}") from e
        try:
            self.file.open()
        except (sqlite3.Error, OSError) as e:
            problem = storage_problem(e, self.path)
            if not problem:
                raise SetupError(f"cannot open journal {self.path}: {e}") from e
            self.file.close_connections()  # detached: writes are held until the disk takes them
            self.writer.storage_failed(problem)
        self.writer.start()

    # -- the parts' state, by the names tools and tests use ----------------------------------------
    @property
    def storage(self) -> str:
        """"" while the disk takes writes, else why not ("storage full", "storage error (...)")."""
        return self.file.storage

    @property
    def replaced(self) -> Path | None:
        """Where a damaged journal file was moved aside (None if it was not)."""
        return self.file.replaced

    @property
    def _db(self) -> sqlite3.Connection | None:
        return self.file.db

    @property
    def _relaxed(self) -> sqlite3.Connection | None:
        return self.file.relaxed

    @property
    def _ckpt(self) -> sqlite3.Connection | None:
        return self.file.ckpt

    @property
    def _held(self) -> list:
        return self.writer.held

    @property
    def _cond(self):
        return self.writer.cond

    @property
    def _next_retry_s(self) -> float:
        return self.writer.next_retry_s

    # -- the writer ------------------------------------------------------------------------------
    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every write queued so far is on disk; False on timeout, or at once when
        the storage fails and writes are held in memory (``storage`` says why)."""
        return self.writer.flush(timeout_s)

    def add_commit_listener(self, fn: Callable[[], None]) -> None:
        """``fn()`` runs in the writer thread after each commit (the link wakes its outbox worker)."""
        self.writer.add_commit_listener(fn)

    def add_storage_listener(self, fn: Callable[[str], None]) -> None:
        """``fn(problem)`` when the storage fails ("storage full", ...) and ``fn("")`` when it is
        writable again; once per change, from whichever thread noticed."""
        self.writer.add_storage_listener(fn)

    def maintain(self) -> None:
        """Checkpoint the WAL into the database without blocking writers (the link calls this
        every few seconds from its own thread, so app writes never pay for a checkpoint)."""
        if self.file.checkpoint():
            self.prune_events()

    def prune_events(self, now_wall_s: float | None = None) -> int:
        """Forget journalled events older than ``max_event_age_s`` that are delivered and whose
        session is no longer running; returns how many were removed."""
        return self.outbox_rows.prune_events(now_wall_s)

    # -- sessions (app loop): queued, never wait for the disk ------------------------------------
    def start_session(self, session_id: str, protocol: str, tool: str, started_at_iso: str) -> None:
        """Record a running session (ignored if the id is already known)."""
        self.sessions_store.start(session_id, protocol, tool, started_at_iso)

    def checkpoint(self, session_id: str, partial_summary: dict) -> None:
        """Keep the metrics so far (e.g. ``MetricsEngine.summary()``) for recovery after power loss."""
        self.sessions_store.checkpoint(session_id, partial_summary)

    def record_event(self, session_id: str | None, event_payload: dict) -> str:
        """Journal an event and queue it for the link (one transaction); returns its msg_id at once."""
        return self.sessions_store.record_event(session_id, event_payload)

    def finish_session(self, session_id: str, summary: dict) -> str:
        """Mark the session finished and queue its summary (one transaction); returns the msg_id.

        Finishing a session twice queues nothing the second time (same msg_id returned while
        the process lives; after a restart the journal still refuses the second summary).
        """
        return self.sessions_store.finish(session_id, summary)

    def recover_interrupted(
        self,
        reason: str = DEFAULT_INTERRUPT_REASON,
        build_summary: Callable[[dict, str], dict] | None = None,
    ) -> list[str]:
        """Mark every still-running session interrupted and queue its partial summary.

        ``build_summary(row, reason) -> dict`` may build a richer summary; ``row`` has
        session_id, protocol, tool, started_at, partial (checkpointed dict or None) and events
        (their payloads). The result always gets ``completed: false`` and ``interrupted``.
        Call at start-up, before new sessions start (writes stay in order, so a recovery held
        on a full disk still runs before them). Returns the recovered session ids; on a full
        disk the recovery is held like any write (done when there is space again) and this
        returns [] at once.
        """
        return self.sessions_store.recover_interrupted(
            reason, build_summary or default_interrupted_summary
        )

    def session(self, session_id: str) -> dict | None:
        """The journal's row for a session (state, delivered, summary) or None."""
        return self.sessions_store.session(session_id)

    def sessions(self) -> list[dict]:
        """Every session the journal knows, oldest first."""
        return self.sessions_store.sessions()

    # -- outbox (link thread) --------------------------------------------------------------------
    def reset_inflight(self) -> int:
        """At link start: messages a previous process had in flight go back to pending."""
        return self.outbox_rows.reset_inflight()

    def resend_awaiting_now(self) -> int:
        """After a (re)connect: summaries still waiting for the dashboard's ack are due at once."""
        return self.outbox_rows.resend_awaiting_now()

    def due(self, now_s: float, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` rows to publish now (pending or awaiting_ack past their retry time),
        oldest first; none while the storage fails (their bookkeeping could not be kept)."""
        return self.outbox_rows.due(now_s, limit)

    def next_due_s(self) -> float | None:
        """The earliest retry time of any waiting row (None if nothing waits or can be sent)."""
        return self.outbox_rows.next_due_s()

    def mark_inflight(self, msg_id: str) -> None:
        """The link handed the row to the MQTT client."""
        self.outbox_rows.mark_inflight(msg_id)

    def attempts(self, msg_id: str) -> int:
        """How often the row was handed to the MQTT client (0 if unknown)."""
        return self.outbox_rows.attempts(msg_id)

    def published(self, msg_id: str, resend_at_s: float) -> None:
        """PUBACK ok: an event is done (deleted); a summary waits for the dashboard's ack until ``resend_at_s``."""
        self.outbox_rows.published(msg_id, resend_at_s)

    def publish_failed(self, msg_id: str, error: str, retry_at_s: float) -> None:
        """PUBACK >= 0x80 or a client error: back to pending, retried at ``retry_at_s``."""
        self.outbox_rows.publish_failed(msg_id, error, retry_at_s)

    def ack_session(self, session_id: str) -> bool:
        """The dashboard stored the summary: drop it from the outbox. True if it was waiting
        (False too while the storage fails: the dashboard acks the re-send later)."""
        return self.outbox_rows.ack_session(session_id)

    def outbox(self) -> list[OutboxRow]:
        """Every row in the outbox, oldest first (for status displays and tests)."""
        return self.outbox_rows.rows()

    def outbox_counts(self) -> dict[str, int]:
        """Rows per state plus ``dropped_events`` (ever dropped by the bounds) and ``held``
        (messages kept in memory while the storage fails; counted in ``pending`` too)."""
        return self.outbox_rows.counts()

    # -- commands (link thread) ------------------------------------------------------------------
    def remember_command(self, cmd_id: str) -> bool:
        """Remember a command id; False if it was seen before (a duplicate). While the storage
        fails nothing is remembered and every command counts as new."""
        return self.commands.remember(cmd_id)

    def close(self) -> None:
        """Write what is queued, stop the writer, checkpoint and close."""
        self.writer.close()
        self.file.close()
