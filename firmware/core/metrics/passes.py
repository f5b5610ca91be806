"""Passes: turnarounds of the position, frame by frame, and the summary's pass list. Pure
numpy, no I/O, no clock.

A turnaround is where the position retreats min_pass_m from its running extreme (a zigzag on
the position, carried across calls); a pass runs from one turnaround to the next, its length
|x(turn_k) - x(turn_k-1)| (the ball: the path rolled, and a hold also ends a leg). Its
duration, speed and force are differences of the running sums (totals.py) between the two
turnarounds, kept as rows [t, *q].
"""

from __future__ import annotations

import math

import numpy as np

from firmware.common.model import Pass
from firmware.common.runs import first_true
from firmware.core.metrics.totals import Q_COLS, Q_PATH

PASS_LIST_MAX = 2000  # passes listed in the summary (the count is never capped)


class Passes:
    """The zigzag on the position; `passes` are the completed ones, `distance_m` their total
    length, `sign` maps the raw rotation sign to "up" (+1/-1; 0 until the first pass defines
    it, when up is not given)."""

    def __init__(self, settings) -> None:
        self.settings = s = settings
        self.passes: list[Pass] = []
        self.distance_m = 0.0  # sum of completed pass lengths
        self.sign = float(s.up_sign) if s.sign_known else 0.0
        self._dir = 0
        self._ext = np.zeros(1 + Q_COLS)  # [t, *q] at the running extreme
        self._ext2 = np.zeros(1 + Q_COLS)  # direction 0: max in _ext, min in _ext2
        self._turn = np.zeros(1 + Q_COLS)
        self._leg0 = np.zeros(1 + Q_COLS)  # ball: where the current leg started (after a hold)
        self._seeded = False
        self._hold_qualified = False  # ball: the last frame was in a hold of hold_min_s

    def update(self, t, q, runs, out: list[Pass]) -> None:
        """Passes from the running sums `q` of the frames at times `t` (appended to `out` and
        `passes`); for the ball, a qualifying hold (`runs` from holds.Holds.runs) also ends a
        leg."""
        s = self.settings
        if s.tool != "ball" or runs is None:
            self._hold_qualified = False
            self._zigzag(t, q, out)
            return
        qual = runs[1] & (t - runs[2] >= s.hold_min_s)
        prev = np.empty(len(t), dtype=bool)
        prev[0] = self._hold_qualified
        prev[1:] = qual[:-1]
        self._hold_qualified = bool(qual[-1])
        lo = 0
        for k in (qual & ~prev).nonzero()[0]:
            self._zigzag(t, q, out, lo, k)
            self._break_leg(t, q, k, out)
            lo = k
        self._zigzag(t, q, out, lo, len(t))

    def finish(self, out: list[Pass]) -> None:
        """Close the open pass at the end of the data."""
        if self._dir != 0:
            self._emit(self._turn, self._ext, out)

    def open_pass(self) -> Pass | None:
        """The open pass as finish() would close it (None if none, or too short)."""
        return self._make(self._turn, self._ext) if self._dir != 0 else None

    def open_leg_m(self, q_last) -> float:
        """Length of the pass in progress so far; `q_last` the running sums at the last
        frame."""
        if self._dir == 0:
            return 0.0
        if self.settings.tool == "ball":
            return float(q_last[Q_PATH] - self._turn[2])
        return float(abs(self._ext[1] - self._turn[1]))

    def _zigzag(self, t, q, out: list[Pass], lo: int = 0, hi: int | None = None) -> None:
        """Turnarounds in samples [lo, hi): the position retreats min_pass_m from its running
        extreme."""
        h = self.settings.min_pass_m
        n = len(q) if hi is None else hi
        x = q[:n, 0]
        if not self._seeded:
            first = np.array([t[0], *q[0]])
            self._ext = first.copy()
            self._ext2 = first.copy()
            self._leg0 = first.copy()
            self._seeded = True
        i0 = lo
        while i0 < n:
            xs = x[i0:]
            if self._dir == 0:
                hi = np.maximum(np.maximum.accumulate(xs), self._ext[1])
                lo = np.minimum(np.minimum.accumulate(xs), self._ext2[1])
                trig = (xs > lo + h) | (xs < hi - h)
                j = first_true(trig)
                if j < 0:
                    _track(t, q, i0, n, +1, self._ext)
                    _track(t, q, i0, n, -1, self._ext2)
                    return
                _track(t, q, i0, i0 + j, +1, self._ext)
                _track(t, q, i0, i0 + j, -1, self._ext2)
                up = bool(xs[j] > lo[j] + h)
                self._turn = (self._ext2 if up else self._ext).copy()
                self._dir = 1 if up else -1
                self._ext = np.array([t[i0 + j], *q[i0 + j]])
                i0 += j + 1
                continue
            d = self._dir
            run = np.maximum.accumulate(xs * d)
            run = np.maximum(run, self._ext[1] * d)
            j = first_true(xs * d < run - h)
            if j < 0:
                _track(t, q, i0, n, d, self._ext)
                return
            _track(t, q, i0, i0 + j, d, self._ext)
            self._emit(self._turn, self._ext, out)
            self._turn = self._ext.copy()
            self._dir = -d
            self._ext = np.array([t[i0 + j], *q[i0 + j]])
            i0 += j + 1

    def _break_leg(self, t, q, k: int, out: list[Pass]) -> None:
        """Ball: a hold ends the current leg (the ball then rolls off in any direction)."""
        if self._dir != 0:
            self._emit(self._turn, self._ext, out)
        else:  # rolled off the axis estimate since the last break: judge the net roll
            here = np.array([t[k], *q[k]])
            net_m = self.settings.radius_m * float(np.linalg.norm(here[6:9] - self._leg0[6:9]))
            if net_m >= self.settings.min_pass_m:
                self._emit(self._leg0, here, out)
        self._dir = 0
        self._ext = np.array([t[k], *q[k]])
        self._ext2 = self._ext.copy()
        self._leg0 = self._ext.copy()

    def _emit(self, a, b, out: list[Pass]) -> None:
        p = self._make(a, b)
        if p is None:
            return
        if self.sign == 0.0:  # up unknown: the first pass's direction defines +
            self.sign = float(p.direction)
        self.passes.append(p)
        self.distance_m += p.length_m
        out.append(p)

    def _make(self, a, b) -> Pass | None:
        """The pass from turn row `a` to turn row `b`, or None if it is too short."""
        s = self.settings
        dx = b[1] - a[1]
        length = (b[2] - a[2]) if s.tool == "ball" else abs(dx)
        if length < s.min_pass_m or (s.tool != "ball" and abs(dx) < 1e-12):
            return None
        moving = b[3] - a[3]
        duration = b[0] - a[0]
        speed = length / moving if moving > 0 else (length / duration if duration > 0 else 0.0)
        ftime = b[5] - a[5]
        force = (b[4] - a[4]) / ftime if ftime > 0 else math.nan
        sign = self.sign if self.sign != 0.0 else (1.0 if dx >= 0 else -1.0)
        return Pass(
            start_s=float(a[0]),
            end_s=float(b[0]),
            length_m=float(length),
            direction=int(sign) if dx >= 0 else -int(sign),
            mean_speed_mps=float(speed),
            mean_force_n=float(force),
        )


def _track(t, q, lo, hi, d, ext) -> None:
    """Move the extreme `ext` (in place) to the first strictly better sample in [lo, hi)."""
    if hi <= lo:
        return
    seg = q[lo:hi, 0] * d
    k = int(seg.argmax())
    if seg[k] > ext[1] * d:
        ext[0] = t[lo + k]
        ext[1:] = q[lo + k]


def pass_columns(passes: list[Pass]) -> dict:
    """The summary's ``pass_list`` (DESIGN §3.2): the passes in order, columnar and rounded
    (sensor-time end s, length mm, direction +1/-1/0, mean speed mm/s, mean force 0.1 N); the first
    PASS_LIST_MAX of them (``passes`` says how many there were)."""
    shown = passes[:PASS_LIST_MAX]
    return {
        "end_s": [round(p.end_s, 2) for p in shown],
        "length_m": [round(p.length_m, 3) for p in shown],
        "direction": [int(p.direction) for p in shown],
        "mean_speed_mps": [None if not math.isfinite(p.mean_speed_mps) else round(p.mean_speed_mps, 3)
                           for p in shown],
        "mean_force_n": [None if not math.isfinite(p.mean_force_n) else round(p.mean_force_n, 1) for p in shown],
    }
