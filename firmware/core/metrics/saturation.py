"""Gyro saturation: samples where an axis sat at the gyro's full scale, and their rate rebuilt
from the axes that did not clip. Pure numpy, no I/O, no clock.

A fast stick pass turns the tool faster than the gyro's full scale (±2000 °/s on an MPU-6050 at
its widest range is 35 rad/s, 0.52 m/s of tissue speed on a 1.5 cm stick): the clipped axes
then read the full scale, not the rate, and every such sample loses distance. A roller or stick
turns about its own axis, so the rate is ω = s·a (a the roll axis, a unit vector in the sensor
frame); the axes that did not clip still measure s·a_i, and s comes back from them by least
squares, s = Σ_U a_i (w_i - b_i) / Σ_U a_i² (U the unclipped axes, b the bias). The clipped
axes are then set to s·a_i + b_i.

What it assumes, and where it gives up (the sample is left as measured, still counted):
- the rate is along the axis in use (a ball turned freely has no fixed axis; its latest
  principal axis is used, and a residual check refuses samples that do not fit it);
- the unclipped part of the axis carries at least MIN_UNCLIPPED_SHARE of it (|a_U| >= 0.1),
  else the axis error and the noise are amplified more than 10 times;
- the signs agree (a clipped axis reads the sign of s·a_i), the unclipped axes fit s·a_U within
  RESIDUAL_MAX of |s·a_U|, and the clip bound (each clipped axis is at least at full scale)
  asks for at most CLIP_BOUND_MAX times the least-squares |s|;
- all three axes clipped: nothing is left to rebuild from.
"""

from __future__ import annotations

import numpy as np

CLIP_FRACTION = 0.9985  # |raw| at or above this share of the full scale counts as clipped
MIN_UNCLIPPED_SHARE = 0.1
RESIDUAL_MAX = 0.2
CLIP_BOUND_MAX = 1.2
STRONG_RAD_S = 0.5236  # 30 °/s: rotation strong enough to show the roll axis
STRONG_MIN_SAMPLES = 20


def clip_level_rad_s(full_scale_rad_s: float) -> float:
    """The raw reading (rad/s) from which an axis counts as clipped. A little below the full
    scale: an MPU-6050 at ±2000 °/s tops out at 32767/16.4 = 1998 °/s, and a recorder may have
    scaled the counts by its own calibration."""
    return CLIP_FRACTION * full_scale_rad_s


def any_clipped(w: np.ndarray, level: float) -> bool:
    """True when any sample of the (n, 3) raw gyro sits at or beyond the clip level (two
    reductions, no temporary array: the common, unclipped case stays cheap)."""
    return bool(len(w)) and (float(w.max()) >= level or float(w.min()) <= -level)


def clipped_rows(w: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(row indices with any clipped axis, (k, 3) mask of the clipped axes of those rows)."""
    mask = np.abs(w) >= level
    rows = np.flatnonzero(mask.any(axis=1))
    return rows, mask[rows]


def strong_axis(w: np.ndarray, clip_rows: np.ndarray, bias: np.ndarray) -> np.ndarray | None:
    """The roll axis from the unclipped strong rotation among the samples ``w`` (the principal
    axis of its scatter), for clipped samples that come before the estimator knows an axis;
    None with fewer than STRONG_MIN_SAMPLES such samples."""
    wb = w - bias
    use = np.einsum("ij,ij->i", wb, wb) > STRONG_RAD_S**2
    use[clip_rows] = False
    if int(use.sum()) < STRONG_MIN_SAMPLES:
        return None
    x = wb[use]
    _, vecs = np.linalg.eigh(x.T @ x)
    return vecs[:, -1]


def rebuild(w: np.ndarray, clip: np.ndarray, axis: np.ndarray, bias: np.ndarray,
            level: float) -> np.ndarray:
    """The rows ``w`` ((k, 3) raw gyro, each with some clipped axes ``clip``) with the clipped
    axes rebuilt along ``axis`` (see the module docstring); rows that cannot be rebuilt are
    returned as they are."""
    a = np.asarray(axis, dtype=float)
    b = np.asarray(bias, dtype=float)
    wb = w - b
    keep = ~clip
    au = a * keep
    den = np.einsum("ij,ij->i", au, au)
    num = np.einsum("ij,j->i", wb * keep, a)
    ok = den >= MIN_UNCLIPPED_SHARE**2
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(ok, num / np.where(ok, den, 1.0), 0.0)
        sign = np.sign(w)
        # each clipped axis read at least the clip level: |s·a_i| >= level - sign_i·b_i
        need = np.where(clip & (np.abs(a) > 1e-9), (level - sign * b) / np.abs(a), 0.0)
    bound = need.max(axis=1)
    s_abs = np.abs(s)
    ok &= s_abs > 0
    ok &= bound <= CLIP_BOUND_MAX * s_abs
    # a clipped axis must read the sign the axis gives it
    ok &= ~(clip & (sign * a * np.sign(s)[:, None] <= 0)).any(axis=1)
    resid = (wb - s[:, None] * a) * keep
    ok &= np.einsum("ij,ij->i", resid, resid) <= (RESIDUAL_MAX**2) * (s * s) * den
    s = np.sign(s) * np.maximum(s_abs, bound)
    out = w.copy()
    rebuilt = s[:, None] * a + b
    fix = clip & ok[:, None]
    out[fix] = rebuilt[fix]
    return out
