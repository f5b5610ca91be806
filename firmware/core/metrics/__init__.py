"""Metrics: Blocks of raw samples -> speed, position, passes, holds, contact and force.

Pure numpy, no I/O, no clock. ``engine`` is the per-Block front (``MetricsEngine``), ``frames``
sums samples into frames, and ``estimator`` runs the steps on the frames, one module each:
``contact`` (force hysteresis), ``bias`` (gyro bias from rest), ``holds`` (still and holds),
``zupt`` (zero-velocity update), ``saturation`` (clipped gyro samples rebuilt along the roll
axis), ``radius`` (the rolling radius against force: foam compresses), ``axis`` (roll axis and tissue speed), ``totals`` (running
sums) and ``passes`` (turnarounds, passes, the summary's pass list); ``state`` holds the
windowed sums and histograms they carry across calls.
"""

from firmware.core.metrics.engine import (
    CHUNK_SAMPLES,
    DEG,
    TOOLS,
    MetricsEngine,
    MetricsSettings,
    parse_full_scale_dps,
    parse_up_sign,
    settings_from_meta,
)
from firmware.core.metrics.radius import format_radius_curve, parse_radius_curve, radius_at

__all__ = ["CHUNK_SAMPLES", "DEG", "TOOLS", "MetricsEngine", "MetricsSettings",
           "format_radius_curve", "parse_full_scale_dps", "parse_radius_curve", "parse_up_sign",
           "radius_at", "settings_from_meta"]
