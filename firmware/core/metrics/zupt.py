"""Zero-velocity update: no rotation is integrated at rest nor deep inside a hold, and what the
lagging still flag held back at the end of such a period is restored when motion resumes.
Pure numpy, no I/O, no clock.

The still flag comes from a window mean, so it stays on for about a window after the next move
starts: without the restore, the start of every move after a hold would be lost from the
position (and the ball's path).

A zero-velocity period shorter than hold_min_s is not a hold: it was slow motion (a slow roll
dipping under the hold speed for a second or two, the slow ends of a move) or a short rest, and
all it held back is restored when it ends. Real slow rolling is never lost to the ZUPT; a
short true standstill only gives back its noise, which averages to nothing once bias is off.
"""

from __future__ import annotations

import numpy as np

from firmware.common.runs import carried, ffill1
from firmware.core.metrics.state import WindowBuffer


class ZeroVelocity:
    """Which frames are not integrated, and the rotation (and ball path) they held back."""

    def __init__(self, settings) -> None:
        self.settings = s = settings
        keep = s.zupt_restore_s + s.hold_min_s + s.hold_merge_gap_s + 1.0
        self._lost = WindowBuffer(keep, 4)  # held back: [path m, rotation (3)]
        self._prev = False  # the last frame was in a zero-velocity period
        self._start = 0.0  # start of the current (or last) zero-velocity period
        self._short_t = -np.inf  # last frame still by the short-window test alone
        self._short_last: np.ndarray | None = None  # per frame of this group

    def mask(self, t, rest, rest_any: bool, runs, still=None, short=None):
        """Zero-velocity frames: at rest, or still in a hold run (`runs` from
        holds.Holds.runs) for hold_zupt_after_s (a short move merged into a hold run is
        motion, and integrated); None when there are none."""
        zupt = rest if rest_any else None
        self._short_last = None
        if short is not None and not short.all():  # the long-window clause may lag motion
            self._short_last = carried(t, self._short_t)[ffill1(short)]
            self._short_t = float(self._short_last[-1])
        elif short is not None:
            self._short_t = float(t[-1])
        if runs is not None:
            deep = runs[1] & (t - runs[2] >= self.settings.hold_zupt_after_s)
            if still is not None:
                deep &= still
            zupt = deep if zupt is None else (deep | zupt)
        return zupt

    def restore(self, t, dt, zupt, dtheta_all, dtheta, wc, engaged, last_t):
        """Where a zero-velocity period ends, what it held back since the last still sample (a
        hold run outlives it by the merge gap) plus zupt_restore_s, as (end indices, rows of
        [path m, rotation rad (3)]); None if none ends here. `dtheta_all` is the rotation of
        each frame, `dtheta` what is integrated of it, `last_t` the last still time per frame
        (None without a hold run)."""
        if zupt is None and not self._prev:
            return None
        s = self.settings
        n = len(t)
        z = np.zeros(n, dtype=bool) if zupt is None else zupt
        lost = np.zeros((n, 4))
        if z.any():
            lost[:, 1:4] = dtheta_all - dtheta
            if s.tool == "ball":
                rate = np.sqrt(np.einsum("ij,ij->i", wc[z], wc[z])) * s.radius_m
                lost[z, 0] = np.where(rate >= s.ball_deadband_mps, rate, 0.0) * dt[z] * engaged[z]
        _, first_row = self._lost.append(t, lost)
        prev = np.empty(n, dtype=bool)
        prev[0] = self._prev
        prev[1:] = z[:-1]
        self._prev = bool(z[-1])
        starts = carried(t - dt, self._start)[ffill1(z & ~prev)]
        self._start = float(starts[-1])
        edges = (prev & ~z).nonzero()[0]
        if not len(edges):
            return None
        extra = 0.0
        if last_t is not None:
            extra = np.minimum(np.maximum(t[edges] - last_t[edges], 0.0), s.hold_merge_gap_s + 0.1)
        window = s.zupt_restore_s + extra
        if self._short_last is not None:  # still only by the long window: slow motion too
            lag = np.minimum(t[edges] - self._short_last[edges], s.still_long_window_s + 0.5)
            window = np.maximum(window, s.zupt_restore_s + lag)
        span = t[edges] - starts[edges]  # how long the period lasted
        window = np.where(span < s.hold_min_s, np.maximum(window, span + 0.1), window)
        return edges, self._lost.window_sum_at(t, first_row, edges, window)
