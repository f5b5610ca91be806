"""Where on the muscle the time went (issue 23, the tender spots): per position along the pass
axis, the time in contact, the mean tissue speed and the mean force there; and where each hold
was. Pure numpy, no I/O, no clock.

Positions come from the estimator's running position (totals.Q_X, raw rotation sign), which
counts only under contact and not at rest nor inside a hold. Frames are summed into fine bins
of FINE_M on that raw axis, anchored at the position where the tool was first put under load
(raw 0), so the sums are the same for any split of the samples into Blocks (the estimator sees
the same frames). Only the summary picks the origin and the reported bins:

- ``origin`` "pass_start": the median of the positions where the passes going up start (up:
  the direction the calibration gives, or else the first pass's direction), so x_m is the
  distance up the muscle from where the person usually starts a pass; with no pass going up,
  the lowest turnaround of any pass; with no pass at all, where the tool was first put under
  load ("put_down").
- the reported bins are BIN_M wide from that origin: bin j covers [j·BIN_M, (j+1)·BIN_M),
  x_m its centre (negative below the origin); fine bins go to the reported bin of their centre.
- a ball has no fixed axis and so no position along the muscle: no bins, and a hold's x_m is
  how far the ball had rolled (straight line, from its net rotation) from where it was first
  put under load (origin "put_down").
"""

from __future__ import annotations

import numpy as np

from firmware.core.metrics.totals import Q_THETA, Q_X

FINE_M = 0.005  # fine bins on the raw axis (m)
BIN_M = 0.03  # reported bins (m)
MAX_FINE = 2000  # fine bins kept either side of raw 0 (10 m); beyond: the outermost bin
# columns of the fine sums: contact time, speed·dt, force·dt, time with a force reading, entries
S_DT, S_SPEED_DT, S_FORCE_DT, S_FORCE_T, S_ENTRIES = range(5)


class SpotBins:
    """Time, speed and force per fine bin of raw position under contact, the visits to each
    bin, and the raw position of each hold (carried across calls)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.ball = settings.tool == "ball"
        self.sums = np.zeros((2 * MAX_FINE + 1, 5))
        self._last_bin = -1  # fine bin of the last engaged frame (-1: none yet)
        self.hold_x: list[float] = []  # raw position (ball: distance rolled) of each hold

    def update(self, q, dt, engaged, speed, fz, has_f) -> None:
        """Add a group of frames: running sums `q` (totals), frame lengths `dt`, the engaged
        mask, tissue speed, force and whether it was read."""
        if self.ball or not engaged.any():
            return
        idx = np.clip(np.floor(q[:, Q_X] / FINE_M).astype(np.int64) + MAX_FINE, 0, 2 * MAX_FINE)
        w = dt * engaged
        sums = self.sums
        n = len(sums)
        sums[:, S_DT] += np.bincount(idx, weights=w, minlength=n)
        sums[:, S_SPEED_DT] += np.bincount(idx, weights=speed * w, minlength=n)
        wf = w * has_f
        sums[:, S_FORCE_DT] += np.bincount(idx, weights=np.where(has_f, fz, 0.0) * wf, minlength=n)
        sums[:, S_FORCE_T] += np.bincount(idx, weights=wf, minlength=n)
        on = idx[engaged]
        prev = np.empty(len(on), dtype=np.int64)
        prev[0] = self._last_bin
        prev[1:] = on[:-1]
        entered = on[on != prev]
        sums[:, S_ENTRIES] += np.bincount(entered, minlength=n)
        self._last_bin = int(on[-1])

    def hold_position(self, q_row) -> float:
        """The raw position of a hold from the running sums at its end (ball: how far it has
        rolled from where it was put down, from the net rotation)."""
        if self.ball:
            return float(np.linalg.norm(q_row[Q_THETA]) * self.settings.radius_m)
        return float(q_row[Q_X])

    def fields(self, sign: float, starts_raw: np.ndarray, ends_raw: np.ndarray,
               directions: np.ndarray, holds: list[tuple[float, float]]) -> dict:
        """The summary's ``spots``: `sign` maps raw to up (+1/-1); `starts_raw`, `ends_raw`
        and `directions` of each pass (raw positions of its ends, +1/-1/0), in order; `holds`
        (raw position, duration s) of each reported hold."""
        sign = sign if sign != 0 else 1.0
        if self.ball:
            return {"bin_m": BIN_M, "origin": "put_down", "bins": [],
                    "holds": [{"x_m": round(x, 3), "s": round(d, 1)} for x, d in holds]}
        up_starts_raw = starts_raw[directions > 0]
        if len(up_starts_raw):
            origin, how = float(np.median(up_starts_raw)), "pass_start"
        elif len(starts_raw):  # the lowest turnaround (the first of equals), start and end alike
            turns_raw = np.column_stack((starts_raw, ends_raw)).ravel()
            origin, how = float(turns_raw[np.argmin(turns_raw * sign)]), "pass_start"
        else:
            origin, how = 0.0, "put_down"
        used = (self.sums[:, S_DT] > 0).nonzero()[0]
        bins: list[dict] = []
        if len(used):
            centre_up = sign * ((used - MAX_FINE + 0.5) * FINE_M - origin)
            j = np.floor(centre_up / BIN_M).astype(np.int64)
            rows = self.sums[used]
            # j is monotonic along `used` (every step above is), so the fine bins of each
            # reported bin are one run of rows: a slice, in the order a mask would pick them
            ks, firsts, counts = np.unique(j, return_index=True, return_counts=True)
            for k, lo, n in zip(ks.tolist(), firsts.tolist(), counts.tolist(), strict=True):
                r = rows[lo : lo + n].sum(axis=0)
                entries = rows[lo : lo + n, S_ENTRIES].tolist()
                bins.append({
                    "x_m": round((k + 0.5) * BIN_M, 3),
                    "dwell_s": round(float(r[S_DT]), 2),
                    "speed_mps": round(float(r[S_SPEED_DT] / r[S_DT]), 4),
                    "force_n": (round(float(r[S_FORCE_DT] / r[S_FORCE_T]), 1)
                                if r[S_FORCE_T] > 0 else None),
                    "visits": _median_whole(entries),
                })
        return {"bin_m": BIN_M, "origin": how, "bins": bins,
                "holds": [{"x_m": round(sign * (x - origin), 3), "s": round(d, 1)} for x, d in holds]}


def _median_whole(values: list[float]) -> int:
    """``int(np.median(values))`` of whole numbers (counts), without numpy's overhead: the
    middle one, or the mean of the middle two (exact for whole numbers), truncated."""
    v = sorted(values)
    m = len(v) // 2
    return int(v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2)
