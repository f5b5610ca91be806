"""Metrics: Blocks of raw samples -> speed, position, passes, holds, contact and force.

Pure numpy, no I/O, no clock. ``engine`` is the per-Block front (``MetricsEngine``), ``frames``
sums samples into frames, and ``estimator`` runs the steps on the frames, one module each:
``contact`` (force hysteresis), ``bias`` (gyro bias from rest), ``holds`` (still and holds),
``zupt`` (zero-velocity update), ``axis`` (roll axis and tissue speed), ``totals`` (running
sums) and ``passes`` (turnarounds, passes, the summary's pass list); ``state`` holds the
windowed sums and histograms they carry across calls.
"""

from firmware.core.metrics.engine import (
    CHUNK_SAMPLES,
    DEG,
    TOOLS,
    MetricsEngine,
    MetricsSettings,
    parse_up_sign,
    settings_from_meta,
)

__all__ = ["CHUNK_SAMPLES", "DEG", "TOOLS", "MetricsEngine", "MetricsSettings",
           "parse_up_sign", "settings_from_meta"]
