"""The ingest's state for monitoring in Prometheus's text format (``/metrics``, issue 24),
written by the prometheus-client library.

Each ``Ingest`` measures into an ``IngestMeter``: a ``CollectorRegistry`` of its own (never the
library's global one) with what it received per topic kind, redeliveries (the MQTT DUP flag),
its writers' batches, their commit times and the lag from publish (the envelope's ``ts``) to
stored. ``IngestMeter.snapshot`` turns that and the ingest's counters (``Ingest.stats``) into
plain data, which a worker process sends up with the health it already reports every second
(dashboard/workers.py). The dashboard process's ``DashboardCollector`` serves them, one
``worker`` label per ingest, beside gauges of the workers alive and the retention's counters.

Why not prometheus-client's multiprocess mode: it shares metric files in one directory, so
every process must be on one host with one disk; a worker's snapshot travels with its health
instead, and a dashboard on another host serves its own workers' on its own ``/metrics`` (a
Prometheus server sums them: ``sum by (kind) (rate(rollsense_ingest_messages_received_total[5m]))``).
A worker started again counts from zero under its label, which Prometheus's ``rate`` and
``increase`` read as the counter reset it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

__all__ = ["CONTENT_TYPE_LATEST", "DashboardCollector", "IngestMeter", "exposition"]

KINDS = ("session", "event", "telemetry", "status", "info", "result")
COMMIT_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
# Ingest.stats -> (metric, its help, labels): counted where they happen, exposed here
STATS = {
    "sessions_new": ("rollsense_ingest_stored", "Messages stored (sessions and events: new ones only)", {"kind": "session"}),
    "events": ("rollsense_ingest_stored", "", {"kind": "event"}),
    "telemetry": ("rollsense_ingest_stored", "", {"kind": "telemetry"}),
    "sessions_dup": ("rollsense_ingest_duplicates", "Session summaries received again and not stored again", {"kind": "session"}),
    "acks": ("rollsense_ingest_session_acks", "Summary acks sent to devices", {}),
    "quarantined": ("rollsense_ingest_quarantined", "Messages that failed their schema, kept aside", {}),
    "results_without_id": ("rollsense_ingest_results_without_id", "Device replies to a command it could "
                           "read no id from (not sent by this dashboard): counted and logged, not quarantined", {}),
    "callback_errors": ("rollsense_ingest_errors", "Errors: a failed callback or batch, a message the database refused, telemetry lost while the store was down, store outages", {"error": "callback"}),
    "dropped": ("rollsense_ingest_errors", "", {"error": "dropped"}),
    "store_outages": ("rollsense_ingest_errors", "", {"error": "store_outage"}),
}

Snapshot = list[tuple[str, str, str, list[tuple[str, dict, float]]]]  # name, type, help, samples


class IngestMeter:
    """One ingest's measurements. ``clock`` gives wall-clock seconds (the lag's "stored")."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=False)
        received = Counter("rollsense_ingest_messages_received", "MQTT messages received, per topic kind",
                           ["kind"], registry=self.registry)
        redelivered = Counter("rollsense_ingest_redeliveries",
                              "Messages the broker delivered again (the MQTT DUP flag)", ["kind"],
                              registry=self.registry)
        self.batches = Counter("rollsense_ingest_batches", "Transactions the writers committed",
                               ["writer"], registry=self.registry)
        self.commit = Histogram("rollsense_ingest_commit_seconds", "Time to store one batch (one transaction)",
                                ["writer"], buckets=COMMIT_BUCKETS_S, registry=self.registry)
        self.lag = Histogram("rollsense_ingest_lag_seconds",
                             "From publish (the envelope's ts) to stored; a device clock ahead counts 0",
                             ["kind"], buckets=LAG_BUCKETS_S, registry=self.registry)
        self._received = {k: received.labels(k) for k in KINDS}
        self._redelivered = {k: redelivered.labels(k) for k in KINDS}
        self._lag = {k: self.lag.labels(k) for k in KINDS}
        for writer in ("messages", "telemetry"):
            self.batches.labels(writer)
            self.commit.labels(writer)

    def received(self, kind: str, dup: bool) -> None:
        """A message on a topic of ``kind`` arrived (``dup``: the broker's redelivery)."""
        if kind in self._received:
            self._received[kind].inc()
            if dup:
                self._redelivered[kind].inc()

    def committed(self, writer: str, seconds: float, items: Iterable[tuple[str, dict]]) -> None:
        """A batch of ``(kind, payload)`` was stored in ``seconds``: its commit time, and each
        message's lag from the ``ts`` it was published with (none: not counted)."""
        self.batches.labels(writer).inc()
        self.commit.labels(writer).observe(seconds)
        now = self.clock()
        for kind, payload in items:
            ts = payload.get("ts") if isinstance(payload, dict) else None
            if kind not in self._lag or not isinstance(ts, str):
                continue
            try:
                sent = datetime.fromisoformat(ts).timestamp()
            except ValueError:
                continue
            self._lag[kind].observe(max(0.0, now - sent))

    def snapshot(self, stats: dict[str, int]) -> Snapshot:
        """The measurements and ``stats`` as plain data (pickled to the dashboard process)."""
        out: Snapshot = [
            (m.name, m.type, m.documentation,
             [(s.name, dict(s.labels), s.value) for s in m.samples if not s.name.endswith("_created")])
            for m in self.registry.collect()
        ]
        counters: dict[str, tuple[str, list]] = {}
        for key, (name, doc, labels) in STATS.items():
            entry = counters.setdefault(name, (doc, []))
            entry[1].append((name + "_total", labels, float(stats.get(key, 0))))
        out += [(name, "counter", doc, samples) for name, (doc, samples) in counters.items()]
        return out


class DashboardCollector:
    """What ``/metrics`` serves: each ingest's snapshot under a ``worker`` label, the workers
    alive, and the telemetry retention's counters."""

    def __init__(self, ingest, retention=None) -> None:
        self.ingest = ingest
        self.retention = retention

    def _ingests(self) -> list[tuple[str, Snapshot | None, bool | None]]:
        """(worker label, its snapshot, alive; None: not a worker but the group's command
        connection) for every ingest of this dashboard."""
        group = getattr(self.ingest, "workers", None)
        if group is None:
            ing = self.ingest
            return [(ing.client_id, ing.meter.snapshot(ing.stats), all(ing.threads_alive().values()))]
        now = time.monotonic()
        commands = self.ingest.commands
        return [(commands.client_id, commands.meter.snapshot(commands.stats), None)] + [
            (w.client_id, w.metrics, w.health is not None and now - w.health_at <= w.stale_s)
            for w in group]

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        ingests = self._ingests() if self.ingest is not None else []
        workers = [ok for _, _, ok in ingests if ok is not None]
        for worker, snapshot, _ in ingests:
            for name, kind, doc, samples in snapshot or ():
                family = families.setdefault(name, Metric(name, doc, kind))
                family.documentation = family.documentation or doc
                for sample_name, labels, value in samples:
                    family.add_sample(sample_name, {**labels, "worker": worker}, value)
        yield from families.values()
        if self.ingest is not None:
            yield GaugeMetricFamily("rollsense_ingest_workers", "Ingest workers configured", value=len(workers))
            yield GaugeMetricFamily("rollsense_ingest_workers_alive",
                                    "Ingest workers running and reporting", value=sum(workers))
        if self.retention is not None:
            yield from _retention_metrics(self.retention)


def _retention_metrics(r) -> Iterable[Metric]:
    yield GaugeMetricFamily("rollsense_telemetry_retention_days",
                            "Days telemetry is kept (0: for ever)", value=r.days)
    for key, name, doc in (
        ("runs", "rollsense_telemetry_retention_runs", "Retention runs done"),
        ("failures", "rollsense_telemetry_retention_failures", "Retention runs the store failed"),
        ("partitions_dropped", "rollsense_telemetry_retention_partitions_dropped",
         "Weekly telemetry partitions dropped (PostgreSQL)"),
        ("rows_deleted", "rollsense_telemetry_retention_rows_deleted", "Telemetry rows deleted (SQLite)"),
    ):
        family = Metric(name, doc, "counter")
        family.add_sample(name + "_total", {}, float(r.stats[key]))
        yield family
    if r.last_run_s is not None:
        yield GaugeMetricFamily("rollsense_telemetry_retention_last_run_timestamp_seconds",
                                "When retention last ran (Unix time)", value=r.last_run_s)


def exposition(collector: DashboardCollector) -> bytes:
    """The text format of everything ``collector`` gives, from a registry of its own."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
