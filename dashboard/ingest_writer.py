"""The ingest's writer: stores what the MQTT threads queued, whatever has queued in one
transaction, and only then PUBACKs it (the module docstring of dashboard/ingest.py).

A crash before the commit leaves the messages un-PUBACKed, so the broker delivers them
again. While the store is down the writer holds its batch, un-PUBACKed, and tries again
(backing off from 0.5 to 5 s) until it is back: events come from the devices' outboxes,
which let go of them at the PUBACK, so acknowledging what was not stored would lose them. A
message the database refuses (a constraint, a value no column holds) is dropped alone, with
one log line, and its batch stored without it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from firmware.common.errors import first_line

log = logging.getLogger("rollsense.ingest")

# a queued message: (kind, device_id, payload, mid, qos); kind "quarantine" carries its record
Item = tuple[str, str, dict, int, int]


class BatchWriter:
    """A thread storing queued messages in batches of at most ``max_batch``. After the commit,
    for each message in order: ``ack(mid, qos)`` (its PUBACK), then ``stored(kind, device_id,
    payload, is_new)``. Counts ``store_outages``, ``dropped`` and ``callback_errors`` in
    ``stats``."""

    def __init__(self, store, stats: dict[str, int], *, ack: Callable[[int, int], None],
                 stored: Callable[[str, str, dict, bool], None], max_batch: int = 500,
                 meter=None) -> None:
        self.store = store
        self.stats = stats
        self.ack = ack
        self.stored = stored
        self.max_batch = max_batch
        self.meter = meter  # dashboard.metrics.IngestMeter: batches, commit time, lag
        self._writes: queue.SimpleQueue = queue.SimpleQueue()  # Item, or None: stop
        self._thread: threading.Thread | None = None
        self._abandon = False  # stop() gave up waiting: leave the rest to redelivery
        self._give_up = threading.Event()  # the same, for a writer waiting out a store outage
        self.outage_since: float | None = None  # since when the store is down (monotonic)
        self.beat = time.monotonic()  # the writer's last sign of life (Ingest.health)

    def put(self, item: Item) -> None:
        self._writes.put(item)

    @property
    def backlog(self) -> int:
        """Messages queued and waiting for the database (not yet PUBACKed)."""
        return self._writes.qsize()

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def start(self) -> None:
        self._abandon = False
        self._give_up.clear()
        self._thread = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Store what is queued, for at most 10 s (not at all while the store is down); the
        rest was not PUBACKed, so the broker delivers it again next time."""
        if self._thread is None:
            return
        self._writes.put(None)
        if self.outage_since is None:
            self._thread.join(10)
        self._abandon = True
        self._give_up.set()
        self._thread.join(5)
        self._thread = None

    def _write_loop(self) -> None:
        """Store what the MQTT thread queued as it comes, whatever has queued in one transaction."""
        while not self._abandon:
            self.beat = time.monotonic()
            item = self._writes.get()
            self.beat = time.monotonic()
            batch = []
            while item is not None:
                batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._writes.get_nowait()
                except queue.Empty:
                    break
            if batch and not self._abandon:
                try:
                    self._write_batch(batch)
                except Exception:  # a bug must not end the writer (nothing would be stored)
                    self.stats["callback_errors"] += 1
                    log.exception("the ingest writer failed on a batch of %d", len(batch))
            if item is None:
                return

    def _write_batch(self, batch: list[Item]) -> None:
        outage_s = None  # when this batch first found the store down
        while True:
            self.beat = time.monotonic()
            try:
                new = self._store(batch)
                if self.meter is not None:
                    self.meter.committed("messages", time.monotonic() - self.beat,
                                         [(item[0], item[2]) for item in batch])
                break
            except Exception as e:
                if self.store.refused(e):  # the database refuses the data itself
                    if len(batch) > 1:  # one message must not cost the others theirs: each alone
                        for item in batch:
                            self._write_batch([item])
                        return
                    self.stats["dropped"] += 1  # consumed (PUBACKed) with one log line; no
                    log.error("could not store %s from %s: %s", batch[0][0], batch[0][1],
                              first_line(e))  # summary ack, so a device re-sends a summary
                    self.ack(*batch[0][3:])
                    return
                if outage_s is None:  # the store is down: hold the batch un-PUBACKed (the
                    outage_s = self.outage_since = time.monotonic()  # broker holds the
                    self.stats["store_outages"] += 1  # rest) and try again until it is back
                    log.error("store unavailable (%s): holding %d messages unacknowledged, "
                              "trying again", first_line(e), len(batch))
                if not self._retry_wait(outage_s):
                    return  # stopping: not PUBACKed, so the broker delivers them again
        if outage_s is not None:
            self.outage_since = None
            log.warning("store back after %.1f s; stored the %d messages held",
                        time.monotonic() - outage_s, len(batch))
        for (kind, device_id, payload, mid, qos), is_new in zip(batch, new, strict=True):
            self.ack(mid, qos)
            self.stored(kind, device_id, payload, is_new)

    def _retry_wait(self, outage_s: float) -> bool:
        """Wait before the next try (0.5 s, doubling to 5 s); False once stop() gives up."""
        waited = time.monotonic() - outage_s
        return not self._give_up.wait(min(5.0, max(0.5, waited)))

    def _store(self, batch: list[Item]) -> list[bool]:
        """One transaction for the batch; a queued command result is a successful pairing.
        Quarantined messages of one (device, kind, reason) are one row update (``times``),
        so a flood of bad telemetry costs one statement per batch, not one each."""
        items, merged = [], {}
        for k, d, p, _, _ in batch:
            if k == "quarantine":
                key = (d, p["kind"], p["reason"])
                if key in merged:
                    merged[key]["times"] += 1
                    merged[key].update(topic=p["topic"], payload=p["payload"], size=p["size"])
                    continue
                p = merged[key] = {**p, "times": 1}
            items.append(("paired", d, {"paired": True}) if k == "result" else (k, d, p))
        stored = iter(self.store.save_many(items))
        seen: set[tuple] = set()
        out = []
        for k, d, p, _, _ in batch:  # one answer per message (a quarantined one is kept: True)
            key = (d, p["kind"], p["reason"]) if k == "quarantine" else None
            if key is not None and key in seen:
                out.append(True)
                continue
            if key is not None:
                seen.add(key)
            out.append(next(stored))
        return out
