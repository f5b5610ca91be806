"""Ingest workers in processes of their own, for fleets (``rollsense dashboard --ingest-workers N``).

Threads of one Python process share one interpreter lock: two ingest workers as threads of the
dashboard process stop keeping up at about 0.7 of a core, whatever the machine has. So each
worker here is a child process running a ``dashboard.ingest.Ingest`` on the shared subscription
(``$share/<group>/...``) with its own database connection, client id and interpreter::

    broker --$share--> worker process 1..N: store, PUBACK, ack --pipe--> dashboard process:
                                                                         listeners (live view)
    dashboard process: commands out, their results in (its own small Ingest)

Each worker hands what it has stored (and the live telemetry) to the dashboard process in
batches over a pipe, so the listeners there see every message once, after it is stored, as
with a single in-process ``Ingest``. Commands leave from the dashboard process's own
``Ingest``, which alone subscribes to the command results, so a pairing is recognised by
the process that asked for it. A worker that dies is started again with the same client id
(after 1 s, doubling to 30 s while it keeps failing to come up, its database down, say): its
persistent session brings back whatever it had not PUBACKed. Workers ignore SIGINT and
SIGTERM (a terminal's Ctrl-C and systemd reach the whole process group): the dashboard
process stops them, each after storing what it holds; a worker whose dashboard process is
gone sees its pipe close and stops too. Workers start by ``spawn`` (a fresh interpreter, no
copy of the dashboard's threads), so a script that calls ``run_dashboard(workers=2)`` itself
needs the usual ``if __name__ == "__main__":`` guard; ``rollsense dashboard`` has it.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable

from dashboard.ingest import SUBSCRIPTIONS, Ingest
from dashboard.ingest_live import LiveFeed
from dashboard.store import open_store
from firmware.common.errors import RollsenseError

log = logging.getLogger("rollsense.ingest")

RESULTS = tuple(t for t in SUBSCRIPTIONS if "/cmd/" in t)  # the dashboard process's own
STORED = tuple(t for t in SUBSCRIPTIONS if t not in RESULTS)  # the workers'
FORWARD_BATCH = 500
HEALTH_EVERY_S = 1.0
HEALTH_STALE_S = 5.0  # a worker silent this long is not working, whatever it said last
MAX_RESTART_S = 30.0
Listener = Callable[[str, str, dict], None]


def _worker_main(conn, broker_url: str, db_url: str, client_id: str, group: str,
                 forward_notices: bool = True) -> None:
    """A worker process: store and acknowledge its share, send the notices up the pipe (unless
    its dashboard hears them from the broker and the store: ``IngestGroup(live="broker")``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        store = open_store(db_url)
    except RollsenseError as e:  # one line (the dashboard process starts it again later)
        print(f"rollsense ingest worker {client_id}: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    ingest = Ingest(broker_url, store, client_id=client_id, shared_group=group, topics=STORED)
    notices: queue.SimpleQueue = queue.SimpleQueue()
    if forward_notices:
        ingest.add_listener(lambda kind, device_id, payload: notices.put((kind, device_id, payload)))
    sending = threading.Lock()  # the forwarder and this thread both send

    def send(message) -> None:
        with sending:
            conn.send(message)

    def forward() -> None:
        while (item := notices.get()) is not None:
            batch = [item]
            while len(batch) < FORWARD_BATCH:
                try:
                    item = notices.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    notices.put(None)
                    break
                batch.append(item)
            try:
                send(batch)
            except OSError:  # the dashboard process is gone
                return

    forwarder = threading.Thread(target=forward, name="ingest-forward", daemon=True)
    forwarder.start()
    ingest.start()
    ready_sent, health_at = False, 0.0
    try:
        while True:
            if not ready_sent and ingest.connected:  # subscribed (once; it reconnects alone)
                send("ready")
                ready_sent = True
            if time.monotonic() - health_at >= HEALTH_EVERY_S:
                health_at = time.monotonic()
                send({"health": ingest.health(), "metrics": ingest.meter.snapshot(ingest.stats)})
            if conn.poll(0.1) and conn.recv() == "stop":
                break
    except (EOFError, OSError):  # the dashboard process is gone: stop all the same
        pass
    finally:
        ingest.stop()  # stores what is queued, then PUBACKs it
        notices.put(None)
        forwarder.join(5)
        store.close()
        try:
            send({"stats": ingest.stats})
        except OSError:
            pass
        conn.close()


class WorkerProcess:
    """One ingest worker process and the thread that reads its notices."""

    def __init__(self, broker_url: str, db_url: str, client_id: str, group: str,
                 listeners: list[Listener], restart_s: float = 1.0,
                 forward_notices: bool = True) -> None:
        self.args = (broker_url, db_url, client_id, group, forward_notices)
        self.client_id = client_id
        self.listeners = listeners
        self.restart_s = restart_s
        self.ready = threading.Event()
        self.restarts = 0
        self.stats: dict[str, int] = {}  # Ingest.stats, summed over its runs, once it stopped
        self.health: dict | None = None  # its Ingest.health(), at most HEALTH_EVERY_S old
        self.health_at = 0.0  # when it came (monotonic)
        self.metrics = None  # its IngestMeter.snapshot(), sent with its health (/metrics)
        self.stale_s = HEALTH_STALE_S
        self.proc: multiprocessing.process.BaseProcess | None = None
        self._conn = None
        self._stopping = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._spawn()
        self._reader = threading.Thread(target=self._read, name=f"ingest-{self.client_id}",
                                        daemon=True)
        self._reader.start()

    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # no copy of this process's threads
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, *self.args),
                                name=self.client_id, daemon=True)
        self.proc.start()
        child.close()

    def _read(self) -> None:
        failures = 0  # exits in a row without coming up (its database down, say): back off
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                self.ready.clear()
                self.health = None
                self.proc.join(5)
                if self._stopping.is_set():
                    return
                delay = min(MAX_RESTART_S, self.restart_s * 2 ** min(failures, 5))
                failures += 1
                log.error("ingest worker %s exited (code %s); starting it again in %.1f s",
                          self.client_id, self.proc.exitcode, delay)
                if self._stopping.wait(delay):
                    return
                self.restarts += 1
                self._spawn()
                continue
            if message == "ready":
                self.ready.set()
                failures = 0  # it came up: the next exit is started again at once
                continue
            if isinstance(message, dict):  # its health every second, its counters at the end
                if "health" in message:
                    self.health = message["health"]
                    self.metrics = message.get("metrics")
                    self.health_at = time.monotonic()
                else:
                    self.stats = {k: self.stats.get(k, 0) + v for k, v in message["stats"].items()}
                continue
            for kind, device_id, payload in message:
                for fn in list(self.listeners):
                    try:
                        fn(kind, device_id, payload)
                    except Exception:
                        log.exception("listener failed on %s from %s", kind, device_id)

    def request_stop(self) -> None:
        """Ask the worker to store what it holds and exit (returns at once)."""
        self._stopping.set()
        try:
            self._conn.send("stop")
        except (OSError, ValueError):
            pass

    def wait_stopped(self, timeout_s: float = 12.0) -> None:
        """Wait for the worker to exit; kill it after ``timeout_s`` (its writer gives up
        after 10 s, leaving the rest un-PUBACKed for redelivery). Only the reader thread
        joins the process: two joiners race for its exit status."""
        if self._reader is not None:
            self._reader.join(timeout_s)
        if (self._reader is not None and self._reader.is_alive()) or self.proc.is_alive():
            log.error("ingest worker %s did not stop in %.0f s; killing it", self.client_id, timeout_s)
            self.proc.kill()
            if self._reader is not None:
                self._reader.join(10)
            else:
                self.proc.join(5)
        self._conn.close()


class IngestGroup:
    """N worker processes behind the one-ingest interface the web app uses (listeners,
    ``send_command``, ``start``/``stop``, ``wait_connected``).

    ``live``: how the listeners (the live view) hear what arrives. ``"pipe"``: from these
    workers, after they stored it (they take every message: no other group member exists).
    ``"broker"``: from the broker and the store (dashboard.ingest_live.LiveFeed), for workers
    that share ``group`` with other dashboards' workers, on other hosts: each takes a share,
    and each dashboard's live view must see all of it."""

    def __init__(self, broker_url: str, db_url: str, store, workers: int,
                 client_id: str = "rollsense-dashboard", group: str = "rollsense-dashboard",
                 live: str = "pipe") -> None:
        self.listeners: list[Listener] = []
        self.commands = Ingest(broker_url, store, client_id=f"{client_id}-commands",
                               topics=RESULTS, telemetry=False)
        self.live = (LiveFeed(broker_url, store, f"{client_id}-live", self.listeners)
                     if live == "broker" else None)
        self.workers = [WorkerProcess(broker_url, db_url, f"{client_id}-{i + 1}", group,
                                      self.listeners, forward_notices=self.live is None)
                        for i in range(workers)]

    def add_listener(self, fn: Listener) -> None:
        self.listeners.append(fn)
        self.commands.add_listener(fn)

    def send_command(self, device_id: str, name: str, payload: dict | None = None) -> str:
        return self.commands.send_command(device_id, name, payload)

    def start(self) -> None:
        self.commands.start()
        if self.live is not None:
            self.live.start()
        for w in self.workers:
            w.start()

    def health(self) -> dict:
        """For ``/healthz``: the command connection, each worker (not ok: not running,
        or silent for HEALTH_STALE_S, or its own Ingest.health() not ok) and the live feed."""
        now = time.monotonic()
        workers = []
        for w in self.workers:
            fresh = w.health is not None and now - w.health_at <= HEALTH_STALE_S
            state = dict(w.health) if fresh else {"ok": False, "down": "worker"}
            workers.append({"name": w.client_id, "restarts": w.restarts, **state})
        commands = self.commands.health()
        health = {"ok": commands["ok"] and all(w["ok"] for w in workers),
                  "connected": commands["connected"], "down": commands["down"],
                  "commands": commands, "workers": workers}
        if self.live is not None:  # the live view's own connection (live="broker")
            live_ok = self.live.ready.is_set()
            health["live"] = {"ok": live_ok, **self.live.stats}
            health["ok"] = health["ok"] and live_ok
        return health

    def wait_connected(self, timeout_s: float = 30.0) -> bool:
        """Block until the command connection, the live feed (if any) and every worker are
        subscribed."""
        deadline = time.monotonic() + timeout_s
        live_ok = self.live is None or self.live.ready.wait(timeout_s)
        return live_ok and self.commands.wait_connected(max(0.0, deadline - time.monotonic())) and all(
            w.ready.wait(max(0.0, deadline - time.monotonic())) for w in self.workers)

    def stop(self) -> None:
        """Stop every worker at once (well inside systemd's TimeoutStopSec=15), then the
        command connection."""
        for w in self.workers:
            w.request_stop()
        for w in self.workers:
            w.wait_stopped()
        if self.live is not None:
            self.live.stop()
        self.commands.stop()
