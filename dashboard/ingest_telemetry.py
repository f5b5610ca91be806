"""The ingest's telemetry buffer: live, best-effort data (QoS 0 by contract), downsampled per
device and written in one transaction every ``flush_s`` by a flusher thread of its own, so
the MQTT thread never waits on a commit for it and sessions and events are stored and acked
without queueing behind it (the module docstring of dashboard/ingest.py)."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("rollsense.ingest")


class TelemetryBuffer:
    """Telemetry samples waiting for the store: at most one per ``min_interval_s`` per
    device is kept; ``flush`` writes them (counted in ``stats``: ``telemetry``, or
    ``dropped`` while the store is down)."""

    def __init__(self, store, stats: dict[str, int], *, min_interval_s: float, flush_s: float,
                 meter=None) -> None:
        self.store = store
        self.stats = stats
        self.min_interval_s = min_interval_s
        self.flush_s = flush_s
        self.meter = meter  # dashboard.metrics.IngestMeter: batches, commit time, lag
        self._last_s: dict[str, float] = {}  # device -> when its last kept sample came
        self._samples: list[tuple[str, dict, str | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    def offer(self, device_id: str, sample: dict, payload: bytes) -> None:
        """Keep ``sample`` (its ``payload`` as received) unless one of the device's came less
        than ``min_interval_s`` ago. Called from the MQTT thread: it never waits on the store."""
        now = time.time()
        if now - self._last_s.get(device_id, 0.0) >= self.min_interval_s:
            self._last_s[device_id] = now
            raw = payload.decode()  # valid UTF-8 (decoded once already): stored as received
            with self._lock:
                self._samples.append((device_id, sample, raw))

    def flush(self) -> int:
        """Write the buffered telemetry now (one transaction); returns how many samples."""
        with self._lock:
            batch, self._samples = self._samples, []
        if not batch:
            return 0
        started = time.monotonic()
        try:
            self.store.save_telemetry_many(batch)
        except Exception as e:  # the store is down: live data is best-effort, say so and go on
            self.stats["dropped"] += len(batch)
            log.error("could not store %d telemetry samples: %s", len(batch), e)
            return 0
        self.stats["telemetry"] += len(batch)
        if self.meter is not None:
            self.meter.committed("telemetry", time.monotonic() - started,
                                 [("telemetry", sample) for _, sample, _ in batch])
        return len(batch)

    def start(self) -> None:
        self._stop.clear()
        self._flusher = threading.Thread(target=self._flush_loop, name="ingest-telemetry", daemon=True)
        self._flusher.start()

    def stop(self) -> None:
        """End the flusher, then write what is left."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(5)
        self.flush()

    @property
    def alive(self) -> bool:
        return bool(self._flusher and self._flusher.is_alive())

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()
