"""Vectorised run helpers for the metrics estimator: forward-fill, first True, Schmitt trigger.
Each carries its state in and out so results do not depend on block boundaries. Written with
ndarray methods and plain ufuncs: on arrays of a few dozen frames the cost is the number of
numpy calls, not the data."""

from __future__ import annotations

import numpy as np

_AR1 = np.arange(1, 4097, dtype=np.int64)


def ffill1(mask: np.ndarray) -> np.ndarray:
    """For each i, 1 + the index of the last True at or before i; 0 where there is none (so it
    indexes the output of `carried`)."""
    n = len(mask)
    ar1 = _AR1[:n] if n <= len(_AR1) else np.arange(1, n + 1, dtype=np.int64)  # no big cache
    idx = ar1 * mask
    np.maximum.accumulate(idx, out=idx)
    return idx


def carried(values: np.ndarray, before) -> np.ndarray:
    """`values` with `before` (the state carried in) put in front: index it with ffill1."""
    ext = np.empty((len(values) + 1, *values.shape[1:]), dtype=values.dtype)
    ext[0] = before
    ext[1:] = values
    return ext


def first_true(mask: np.ndarray) -> int:
    """Index of the first True, or -1."""
    if len(mask) == 0:
        return -1
    k = int(mask.argmax())
    return k if mask[k] else -1


def schmitt(on: np.ndarray, off: np.ndarray, state: bool) -> np.ndarray:
    """Hysteresis: True after an `on` sample, False after an `off` one, else the previous state."""
    return carried(on, state)[ffill1(on | off)]
