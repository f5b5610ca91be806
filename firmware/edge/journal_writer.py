"""The journal's writer thread: the app's writes committed in order, a few ms later, and held in
memory while the disk is full.

The app loop never waits for the disk: its writes are queued here and committed in order by one
thread (group commit, one fsync per batch). A full disk (or one that fails writes) stops
nothing: the writes that could not be committed are kept in memory, in order (sessions and
summaries all of them, the latest checkpoint per session, events up to ``max_held_events``,
oldest dropped first and counted), said once (one log line and the storage listeners) and tried
again with backoff (``storage_retry_min_s`` doubling to ``storage_retry_max_s``) until the write
lands; then it is said once more.

A write is ``(fn, args)``; ``fn(db, *args)`` runs in a durable transaction. The holding rules go
by the function's name (``_w_checkpoint``, ``_w_event``, ``_w_close``, ``_w_start``), so the
session store's write functions keep those names.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from firmware.common.clock import Clock
from firmware.common.errors import SetupError
from firmware.edge.journal_file import JournalFile, storage_problem

log = logging.getLogger("rollsense.journal")


class JournalWriter:
    """Commits queued writes to ``file`` in order; holds them while the storage fails.

    ``on_storage_back()`` runs when the disk takes writes again (the outbox puts what was in
    flight back to pending: its bookkeeping may not have been kept)."""

    def __init__(self, file: JournalFile, settings: Any, clock: Clock,
                 on_storage_back: Callable[[], Any]) -> None:
        self.file = file
        self.settings = settings
        self.clock = clock
        self._on_storage_back = on_storage_back
        self.cond = threading.Condition()
        self._queue: list = []
        self._submitted = self._committed = 0
        self._closed = False
        self._commit_listeners: list[Callable[[], None]] = []
        self._storage_listeners: list[Callable[[str], None]] = []
        # storage full (or failing): the writes not on disk yet, in order, and when to retry
        self.held: list = []
        self.held_dropped = 0  # events dropped from memory since the last successful write
        self._retry_s = settings.storage_retry_min_s
        self.next_retry_s = 0.0
        file.on_storage_failed = self._link_write_failed
        self.thread = threading.Thread(target=self._loop, name="journal-writer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue one write (run by the writer thread in a durable transaction)."""
        with self.cond:
            if self._closed:
                raise SetupError(f"journal {self.file.path} is closed")
            self._submitted += 1
            self._queue.append((fn, args))
            self.cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while not self._closed and not self._queue and not self._retry_due():
                    self.cond.wait(self._retry_wait_s())
                if self._closed and not self._queue and not self.held:
                    return
                batch, self._queue = self._queue, []
                closing = self._closed
            if self.file.storage and not self._retry_due() and not closing:
                self._hold(batch)  # behind what is already held: order is kept
                wrote = False
            else:
                wrote = self._write([*self._take_held(), *batch])
            with self.cond:
                self._committed += len(batch)
                self.cond.notify_all()
            if wrote:
                for fn in list(self._commit_listeners):
                    try:
                        fn()
                    except Exception:
                        log.exception("journal commit listener failed")
            if closing and self.held:
                self._give_up_held()
                return

    def _retry_due(self) -> bool:
        return bool(self.file.storage) and self.clock.now_s() >= self.next_retry_s

    def _retry_wait_s(self) -> float | None:
        """How long the writer may sleep: until the next storage retry (None: until woken)."""
        if not self.file.storage:
            return None
        # a real-time cap, so an injected clock that jumps ahead is noticed soon
        return min(max(0.0, self.next_retry_s - self.clock.now_s()), 0.5)

    def _write(self, items: list) -> bool:
        """Commit ``items`` (group commit; item by item if a bad one fails the group). On a
        storage failure the rest is held for a retry. True if anything reached the disk."""
        file = self.file
        if not items:
            if not file.storage:
                return False
            items = [(self._w_probe, ())]  # only the link's writes failed: is the disk back?
        try:
            if file.db is None:
                with file.lock:  # readers see no connection or a whole one
                    file.open()
            with file.tx() as db:
                for fn, args in items:
                    fn(db, *args)
        except Exception as e:
            problem = storage_problem(e, file.path)
            if not problem and file.db is None:  # could not open it again: keep trying
                problem = f"storage error ({e})"
            if problem:
                self._hold(items)
                self.storage_failed(problem)
                return False
        else:
            self._storage_back()
            return True
        wrote = False
        for i, (fn, args) in enumerate(items):
            try:
                with file.tx() as db:
                    fn(db, *args)
                wrote = True
            except Exception as e:
                problem = storage_problem(e, file.path)
                if problem:
                    self._hold(items[i:])
                    self.storage_failed(problem)
                    return wrote
                log.error("journal write %s failed: %s", fn.__name__, e)
        self._storage_back()
        return wrote

    def _take_held(self) -> list:
        held, self.held = self.held, []
        if self.held_dropped:
            held.insert(0, (self._w_dropped, (self.held_dropped,)))
            self.held_dropped = 0
        return held

    def _hold(self, items: list) -> None:
        """Keep writes in memory: every session write, the latest checkpoint per session,
        events up to ``max_held_events`` (the oldest are dropped and counted)."""
        for fn, args in items:
            if fn.__name__ == "_w_probe":
                continue
            if fn.__name__ == "_w_checkpoint":
                self.held = [h for h in self.held
                             if not (h[0].__name__ == "_w_checkpoint" and h[1][0] == args[0])]
            self.held.append((fn, args))
        events = [i for i, h in enumerate(self.held) if h[0].__name__ == "_w_event"]
        excess = len(events) - self.settings.max_held_events
        if excess > 0:
            drop = set(events[:excess])
            self.held = [h for i, h in enumerate(self.held) if i not in drop]
            self.held_dropped += excess

    def held_messages(self) -> int:
        """Outbox messages (events, summaries) kept in memory while the storage fails."""
        return sum(1 for fn, _ in list(self.held) if fn.__name__ in ("_w_event", "_w_close"))

    def storage_failed(self, problem: str) -> None:
        """Said once per outage; the retry interval doubles at every failed attempt."""
        with self.cond:
            first = not self.file.storage
            self.file.storage = problem
            if first:
                self._retry_s = self.settings.storage_retry_min_s
            else:
                self._retry_s = min(self._retry_s * 2, self.settings.storage_retry_max_s)
            self.next_retry_s = self.clock.now_s() + self._retry_s
        if first:
            log.warning("journal %s: %s; coaching goes on, the session is kept in memory and "
                        "written when there is space again (retrying every %g-%g s)",
                        self.file.path, problem, self.settings.storage_retry_min_s,
                        self.settings.storage_retry_max_s)
            self._tell_storage(problem)

    def _link_write_failed(self, problem: str) -> None:
        self.storage_failed(problem)
        with self.cond:
            self.cond.notify_all()  # the writer probes the disk from now on

    def _storage_back(self) -> None:
        with self.cond:
            was, self.file.storage = self.file.storage, ""
        if was:
            # what the link sent meanwhile may not be marked: send it again (the dashboard dedups)
            self._on_storage_back()
            log.warning("journal %s: writable again; what was kept in memory is written",
                        self.file.path)
            self._tell_storage("")

    def _tell_storage(self, problem: str) -> None:
        for fn in list(self._storage_listeners):
            try:
                fn(problem)
            except Exception:
                log.exception("journal storage listener failed")

    def _give_up_held(self) -> None:
        """Closing while the storage fails: say once what did not reach the disk."""
        started = {args[0] for fn, args in self.held if fn.__name__ == "_w_start"}
        closed = {args[0] for fn, args in self.held if fn.__name__ == "_w_close"}
        lost, later = closed & started, closed - started
        log.error("journal %s: closing with %d write(s) not on disk (%s): %d finished session(s) "
                  "will be recovered as interrupted at the next start, %d never reached the "
                  "disk", self.file.path, len(self.held), self.file.storage, len(later), len(lost))
        self.held = []

    def add_storage_listener(self, fn: Callable[[str], None]) -> None:
        self._storage_listeners.append(fn)

    def add_commit_listener(self, fn: Callable[[], None]) -> None:
        self._commit_listeners.append(fn)

    def _w_probe(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = value WHERE key = 'schema'")

    def _w_dropped(self, db: sqlite3.Connection, n: int) -> None:
        db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'dropped_events'", (n,)
        )

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every write queued so far is on disk; False on timeout, or at once when
        the storage fails and writes are held in memory."""
        if threading.current_thread() is self.thread:  # a commit listener reading: already written
            return True
        with self.cond:
            target = self._submitted
            done = self.cond.wait_for(lambda: self._committed >= target, timeout_s)
            return done and not self.held

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        with self.cond:
            self._closed = True
            self.cond.notify_all()
        self.thread.join()
