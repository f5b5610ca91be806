"""Telemetry retention (``rollsense dashboard --telemetry-retention-days N``, issue 24): a
thread of the dashboard process that, every ``every_s``, makes the coming PostgreSQL
partitions and drops the telemetry received more than ``days`` ago (dashboard/telemetry_table.py),
with one log line per run saying what went. ``days`` 0 keeps telemetry for ever (the
partitions are still made ahead). Sessions, their per-second series and events stay."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dashboard import telemetry_table
from firmware.common.errors import ConfigError, first_line
from firmware.common.wire import utc_iso

log = logging.getLogger("rollsense.dashboard")

DEFAULT_DAYS = 90
MAX_DAYS = 100 * 366
EVERY_S = 3600.0


def parse_retention_days(text: str | int) -> int:
    """--telemetry-retention-days: a whole number of days, 0 (keep for ever) up to 100 years;
    ConfigError (one line) otherwise."""
    try:
        days = int(str(text).strip())
    except ValueError:
        raise ConfigError(f"--telemetry-retention-days {text!r}: give a whole number of days "
                          "(0 keeps telemetry for ever)") from None
    if not 0 <= days <= MAX_DAYS:
        raise ConfigError(f"--telemetry-retention-days {days}: give 0 (keep for ever) to {MAX_DAYS}")
    return days


class TelemetryRetention:
    """Runs ``run_once`` now and every ``every_s`` until ``stop``; ``clock`` gives wall-clock
    seconds (tests move it). Counts what it did for /metrics (``runs``, ``partitions_dropped``,
    ``rows_deleted``, ``failures``, ``last_run_s``)."""

    def __init__(self, store, days: int, *, every_s: float = EVERY_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.days = days
        self.every_s = every_s
        self.clock = clock
        self.stats = {"runs": 0, "partitions_dropped": 0, "rows_deleted": 0, "failures": 0}
        self.last_run_s: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict | None:
        """Make the coming partitions, drop what is older than ``days``; what was dropped
        (None when keeping for ever, or when the store failed: logged, tried next run)."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        try:
            telemetry_table.prepare(self.store, now)
            if self.days == 0:
                dropped = None
            else:
                cutoff = now - timedelta(days=self.days)
                dropped = self.store.drop_telemetry_before(cutoff)
        except Exception as e:  # the store down, a DROP waiting on a long read: next run
            self.stats["failures"] += 1
            log.error("telemetry retention: could not run (%s); trying again in %.0f s",
                      first_line(e), self.every_s)
            return None
        self.stats["runs"] += 1
        self.last_run_s = now.timestamp()
        if dropped is None:
            log.info("telemetry retention: keeping all telemetry (--telemetry-retention-days 0)")
            return None
        self.stats["partitions_dropped"] += len(dropped["partitions"])
        self.stats["rows_deleted"] += dropped["rows"] or 0
        # what went is said at WARNING (the level the dashboard shows without logging set
        # up); a run that found nothing to drop at INFO
        level = logging.WARNING if dropped["partitions"] or dropped["rows"] else logging.INFO
        log.log(level, "telemetry retention (%d days): %s", self.days, _said(dropped, cutoff))
        return dropped

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="telemetry-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _loop(self) -> None:
        while True:
            self.run_once()
            if self._stop.wait(self.every_s):
                return


def _said(dropped: dict, cutoff: datetime) -> str:
    before = utc_iso(cutoff, "seconds")
    if dropped["partitions"]:
        return (f"dropped {len(dropped['partitions'])} weekly partition(s) of telemetry, all of "
                f"it received before {before}: {', '.join(dropped['partitions'])}")
    if dropped["rows"]:
        return f"deleted {dropped['rows']} telemetry rows received before {before}"
    return f"nothing received before {before} to drop"
