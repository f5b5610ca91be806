"""The session summary (DESIGN.md §3.2): one JSON object, a stable contract.

Built from the metrics engine's fields, the coach's verdict on the targets, and the
session's identity: which session, and (issue 22) who rolled, which side, which programme
step and how sore it was before (``SessionTags``). Pure: no I/O, no clock (the caller passes
``started_at``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

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
# scale (rebuilt along the roll axis where it could be; null when the full scale is unknown);
# spots (issue 23): time, speed and force per position along the muscle, holds' positions
ADDED_METRIC_FIELDS = ("gyro_clipped_samples", "spots")


# the issue 22 fields, in every summary the device makes (null when unknown)
TAG_FIELDS = ("person_id", "side", "program_id", "program_step", "soreness")


@dataclass(frozen=True)
class SessionTags:
    """Who rolled and what the session was part of (issue 22), as the start command or the
    button gave it: a person id (WIRE_ID), ``side`` "left"/"right" (None: the spine, or not
    said), a programme id and the index of its step, and soreness 0-10 before and after
    (the device only ever knows "before"; the dashboard adds "after")."""

    person_id: str | None = None
    side: str | None = None
    program_id: str | None = None
    program_step: int | None = None
    soreness_before: int | None = None
    soreness_after: int | None = None
    # issue 23: the prescription the coach followed, {"version", "by"?} (None: the routine file's)
    prescription: dict | None = None

    def fields(self) -> dict:
        """The summary's fields for these tags, every one present (null when unknown);
        ``prescription`` (issue 23, additive) only when the session followed one."""
        return {
            "person_id": self.person_id,
            "side": self.side,
            "program_id": self.program_id,
            "program_step": self.program_step,
            "soreness": {"before": self.soreness_before, "after": self.soreness_after},
            **({"prescription": dict(self.prescription)} if self.prescription else {}),
        }

    @classmethod
    def from_fields(cls, data: dict | None) -> SessionTags:
        """The tags a summary or an event already carries (what is missing or odd: None)."""
        data = data if isinstance(data, dict) else {}
        soreness = data.get("soreness") if isinstance(data.get("soreness"), dict) else {}

        def text(key: str) -> str | None:
            return data[key] if isinstance(data.get(key), str) else None

        def whole(value) -> int | None:
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        rx = data.get("prescription")
        rx = ({k: rx[k] for k in ("version", "by") if k in rx}
              if isinstance(rx, dict) and whole(rx.get("version")) is not None else None)
        return cls(text("person_id"), text("side"), text("program_id"),
                   whole(data.get("program_step")), whole(soreness.get("before")),
                   whole(soreness.get("after")), rx)


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
    tags: SessionTags | None = None,
) -> dict:
    """Assemble the §3.2 object. ``metrics`` is ``MetricsEngine.summary()``; ``tags`` who
    rolled and which side (every tag field is present, null when not known)."""
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
        **(tags or SessionTags()).fields(),
    }
    if interrupted:
        summary["interrupted"] = interrupted
    if started_at:
        summary["started_at"] = started_at
    if extra:
        summary.update({k: v for k, v in extra.items() if k not in summary})
    return clean_json(summary)
