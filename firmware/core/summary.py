"""The session summary (DESIGN.md §3.2): one JSON object, a stable contract.

Built from the metrics engine's fields, the coach's verdict on the targets, and the
session's identity. Pure: no I/O, no clock (the caller passes ``started_at``).
"""

from __future__ import annotations

import os
import time

from firmware.common.wire import SUMMARY_FORMAT, clean_json

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

METRIC_FIELDS = (
    "duration_s",
    "contact_s",
    "distance_m",
    "passes",
    "pass_length_m",
    "speed_mps",
    "holds",
    "force_n",
    "force_by_direction_n",
)
# fields added after the contract of §3.2 was first written (added, never renamed); taken from
# the metrics when they have them. gyro_clipped_samples: samples with a gyro axis at its full
# scale (rebuilt along the roll axis where it could be; null when the full scale is unknown)
ADDED_METRIC_FIELDS = ("gyro_clipped_samples",)


def new_session_id(now_ms: int | None = None, random_bytes: bytes | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, Crockford base32, sortable."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(random_bytes or os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def build_summary(
    *,
    session_id: str,
    protocol: str | None,
    tool: str,
    metrics: dict,
    targets: list[dict],
    completed: bool,
    interrupted: str | None = None,
    started_at: str | None = None,
    extra: dict | None = None,
) -> dict:
    """Assemble the §3.2 object. ``metrics`` is ``MetricsEngine.summary()``."""
    missing = [k for k in METRIC_FIELDS if k not in metrics]
    if missing:
        raise ValueError(f"metrics summary lacks {', '.join(missing)}")
    summary = {
        "format": SUMMARY_FORMAT,
        "session_id": session_id,
        "protocol": protocol,
        "tool": tool,
        **{k: metrics[k] for k in METRIC_FIELDS},
        **{k: metrics[k] for k in ADDED_METRIC_FIELDS if k in metrics},
        "targets": targets,
        "completed": bool(completed),
    }
    if interrupted:
        summary["interrupted"] = interrupted
    if started_at:
        summary["started_at"] = started_at
    if extra:
        summary.update({k: v for k, v in extra.items() if k not in summary})
    return clean_json(summary)
