"""What the coach returns instead of doing anything itself: cues for the user and events for
the journal. Others perform them (``device/outputs.py`` plays a cue, the journal writes an
event), which keeps the coach pure and its tests free of pins and files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cue:
    """Something the user should hear/see now (``device/outputs.py`` performs it)."""

    name: str
    t_s: float  # sensor time of the Metrics update that caused it
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """Something the journal records (phase changes, holds, over-pressure, the end)."""

    event_type: str
    t_s: float
    data: dict = field(default_factory=dict)


def json_number(x: Any) -> float | None:
    """A number for an event's data or a target row: rounded to 4 places, None when it is not
    a finite number (JSON has no NaN, and a bool is not a measurement)."""
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return round(float(x), 4)
