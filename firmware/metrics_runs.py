"""Vectorised run helpers for the metrics engine: forward-fill indices, first True, Schmitt
trigger. Each carries its state in and out so results do not depend on block boundaries."""

from __future__ import annotations

import numpy as np


def ffill_index(mask: np.ndarray) -> np.ndarray:
    """For each i, the index of the last True at or before i; -1 where there is none."""
    idx = np.where(mask, np.arange(len(mask)), -1)
    np.maximum.accumulate(idx, out=idx)
    return idx


def first_true(mask: np.ndarray) -> int:
    """Index of the first True, or -1."""
    if len(mask) == 0:
        return -1
    k = int(np.argmax(mask))
    return k if mask[k] else -1


def schmitt(on: np.ndarray, off: np.ndarray, state: bool) -> np.ndarray:
    """Hysteresis: True after an `on` sample, False after an `off` one, else the previous state."""
    events = on | off
    idx = ffill_index(events)
    ext = np.append(on, state)
    return ext[np.where(idx >= 0, idx, len(on))]
