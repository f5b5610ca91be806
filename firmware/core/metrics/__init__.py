"""Metrics: Blocks of raw samples -> speed, position, passes, holds, contact and force.

Pure numpy, no I/O, no clock. ``engine`` is the per-Block front (``MetricsEngine``), ``frames``
sums samples into frames, ``estimator`` finds bias, axis, passes and holds on the frames, and
``state`` carries the estimator's state across calls.
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
