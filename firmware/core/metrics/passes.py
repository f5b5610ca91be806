"""Passes: turnarounds of the position, frame by frame, and the summary's pass list. Pure
numpy, no I/O, no clock.

Roller and stick: a turnaround is where the position retreats min_pass_m from its running
extreme (a zigzag on the position, carried across calls); a pass runs from one turnaround to
the next, its length r·|a·(Θ(turn_k) - Θ(turn_k-1))|: the rotation between the two turnarounds
projected on the best roll axis known when the pass ends (the axis is fixed in the tool, so the
latest estimate is the best for every pass; the position itself was integrated on the axis known
at each frame, which early on comes from little rotation and can be off by a hand's wobble).

Ball: a ball has no fixed axis and so no signed position to reverse. A pass is one move: it
ends at a stop or where the rolling direction turns (BallMoves); its length is the path rolled.

Either way a pass's duration, speed and force are differences of the running sums (totals.py)
between its two ends, kept as rows [t, *q]. The completed passes are kept columnar
(``PassLog``): a long session rolls a pass every few seconds, for an hour.
"""

from __future__ import annotations

import math
from array import array
from collections import deque

import numpy as np

from firmware.common.model import Pass
from firmware.common.runs import first_true
from firmware.common.wire import JsonList
from firmware.core.metrics.totals import Q_COLS, Q_PATH, Q_THETA

PASS_LIST_MAX = 2000  # passes listed in the summary (the count is never capped)


class Passes:
    """The zigzag on the position (roller, stick) or the moves of the ball; `passes` are the
    completed ones, `distance_m` their total length, `sign` maps the raw rotation sign to "up"
    (+1/-1; 0 until the first pass defines it, when up is not given)."""

    def __init__(self, settings) -> None:
        self.settings = s = settings
        self.log = PassLog()  # the completed passes, with the raw positions of their ends
        self.distance_m = 0.0  # sum of completed pass lengths
        self.sign = float(s.up_sign) if s.sign_known else 0.0
        self._dir = 0
        self._ext = np.zeros(1 + Q_COLS)  # [t, *q] at the running extreme
        self._ext2 = np.zeros(1 + Q_COLS)  # direction 0: max in _ext, min in _ext2
        self._turn = np.zeros(1 + Q_COLS)
        self._seeded = False
        self._moves = BallMoves(s, self._emit) if s.tool == "ball" else None
        self._axis: np.ndarray | None = None  # the roll axis a pass's rotation is projected on

    @property
    def passes(self) -> list[Pass]:
        """The completed passes, in order (made from the log: equal, not the same objects)."""
        return self.log.passes()

    def update(self, t, q, wb, out: list[Pass], engaged=None, axis=None) -> None:
        """Passes from the running sums `q` of the frames at times `t` (appended to `out` and
        `passes`); the ball's from its moves, with `wb` the short-window mean rate (bias
        removed, rad/s) and `engaged` the frames in contact (or without a force sensor);
        `axis` the best roll axis known (None: the position's difference is the length)."""
        if axis is not None:
            self._axis = axis
        if self._moves is not None:
            self._moves.update(t, q, wb, True if engaged is None else engaged, out)
            return
        self._zigzag(t, q, out)

    def finish(self, out: list[Pass]) -> None:
        """Close the open pass at the end of the data."""
        if self._moves is not None:
            self._moves.finish(out)
        elif self._dir != 0:
            self._emit(self._turn, self._ext, out)

    def open_pass(self) -> Pass | None:
        """The open pass as finish() would close it (None if none, or too short)."""
        if self._moves is not None:
            ends = self._moves.open_rows()
            return None if ends is None else self._make(*ends)
        return self._make(self._turn, self._ext) if self._dir != 0 else None

    def open_ends_raw(self) -> tuple[float, float, int] | None:
        """(raw start, raw end, direction) of the open pass as finish() would close it."""
        p = self.open_pass()
        if p is None or self._moves is not None:
            return None
        return float(self._turn[1]), float(self._ext[1]), p.direction

    def open_leg_m(self, q_last) -> float:
        """Length of the pass in progress so far; `q_last` the running sums at the last
        frame."""
        if self._moves is not None:
            return self._moves.open_leg_m(q_last)
        if self._dir == 0:
            return 0.0
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

    def _emit(self, a, b, out: list[Pass]) -> None:
        """The pass from row `a` to row `b` (appended to `out` and `passes`), if long enough."""
        p = self._make(a, b)
        if p is None:
            return
        if self.sign == 0.0:  # up unknown: the first pass's direction defines +
            self.sign = float(p.direction)
        self.log.add(p, float(a[1]), float(b[1]))
        self.distance_m += p.length_m
        out.append(p)

    def _make(self, a, b) -> Pass | None:
        """The pass from turn row `a` to turn row `b`, or None if it is too short."""
        s = self.settings
        dx = b[1] - a[1]
        if s.tool == "ball":
            length = b[1 + Q_PATH] - a[1 + Q_PATH]
        elif self._axis is not None:
            ax = self._axis
            d = b[1 + Q_THETA.start : 1 + Q_THETA.stop] - a[1 + Q_THETA.start : 1 + Q_THETA.stop]
            length = abs(float(ax[0] * d[0] + ax[1] * d[1] + ax[2] * d[2])) * s.radius_m
        else:
            length = abs(dx)
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


LISTED = ("end_s", "length_m", "direction", "mean_speed_mps", "mean_force_n")  # pass_list's


def listed(p: Pass) -> tuple:
    """One pass as the summary's ``pass_list`` has it: sensor-time end s, length mm, direction
    +1/-1/0, mean speed mm/s, mean force 0.1 N (rounded; None where not finite)."""
    return (round(p.end_s, 2), round(p.length_m, 3), int(p.direction),
            None if not math.isfinite(p.mean_speed_mps) else round(p.mean_speed_mps, 3),
            None if not math.isfinite(p.mean_force_n) else round(p.mean_force_n, 1))


def pass_columns(passes: list[Pass]) -> dict:
    """The summary's ``pass_list`` (DESIGN §3.2): the passes in order, columnar and rounded
    (``listed``); the first PASS_LIST_MAX of them (``passes`` says how many there were)."""
    rows = [listed(p) for p in passes[:PASS_LIST_MAX]]
    return {name: [row[i] for row in rows] for i, name in enumerate(LISTED)}


class PassLog:
    """The completed passes of a session, columnar: an array of float64 per field of ``Pass``
    (int8 for the direction) and the raw positions of each pass's ends (for the spots), under
    100 bytes a pass where the Pass objects, their floats and a tuple of their ends took about
    370; and the JSON text of the ``pass_list`` columns of the first ``list_max`` passes,
    written once as each pass is added, so that a checkpoint neither rounds nor encodes them
    all again. ``columns`` gives what ``pass_columns`` gives for the same passes."""

    def __init__(self, list_max: int = PASS_LIST_MAX) -> None:
        self.list_max = list_max
        self.start_s, self.end_s, self.length_m = array("d"), array("d"), array("d")
        self.mean_speed_mps, self.mean_force_n = array("d"), array("d")
        self.direction = array("b")
        self.raw_start, self.raw_end = array("d"), array("d")  # the ends on the raw position
        self._json = [JsonList() for _ in LISTED]  # pass_list's columns, as text

    def __len__(self) -> int:
        return len(self.direction)

    def add(self, p: Pass, raw_start: float, raw_end: float) -> None:
        """Append a completed pass; ``raw_start``/``raw_end`` its ends on the raw position."""
        self.start_s.append(p.start_s)
        self.end_s.append(p.end_s)
        self.length_m.append(p.length_m)
        self.mean_speed_mps.append(p.mean_speed_mps)
        self.mean_force_n.append(p.mean_force_n)
        self.direction.append(p.direction)
        self.raw_start.append(raw_start)
        self.raw_end.append(raw_end)
        if len(self) <= self.list_max:
            for col, value in zip(self._json, listed(p), strict=True):
                col.append(value)

    def pass_at(self, i: int) -> Pass:
        return Pass(self.start_s[i], self.end_s[i], self.length_m[i], self.direction[i],
                    self.mean_speed_mps[i], self.mean_force_n[i])

    def passes(self) -> list[Pass]:
        return [self.pass_at(i) for i in range(len(self))]

    def columns(self, also: Pass | None = None, *, encoded: bool = False) -> dict:
        """``pass_columns`` of the logged passes and then ``also`` (the open pass), if any;
        ``encoded``: each column as ``JsonText`` (what ``dumps`` writes is the same)."""
        n = min(len(self), self.list_max)
        also = also if n < self.list_max else None
        if not encoded:
            return pass_columns([*map(self.pass_at, range(n)), *([also] if also else [])])
        more = listed(also) if also else ()
        return {name: col.text(*more[i : i + 1])
                for i, (name, col) in enumerate(zip(LISTED, self._json, strict=True))}

    def ends_raw(self, also: tuple[float, float, int] | None = None):
        """(raw starts, raw ends, directions) of the logged passes and then ``also``, as numpy
        arrays."""
        starts, ends = np.array(self.raw_start, dtype=float), np.array(self.raw_end, dtype=float)
        dirs = np.array(self.direction, dtype=np.int64)
        if also is not None:
            starts, ends = np.append(starts, also[0]), np.append(ends, also[1])
            dirs = np.append(dirs, also[2])
        return starts, ends, dirs


class BallMoves:
    """The ball's moves, frame by frame, on carried state (the same for any block split).

    Rolling without slip, the ball turns with ω = n × v / r: the contact travels at |ω|·r and
    its heading is the direction of ω in the ground plane (turned a quarter turn). In the sensor
    frame ω_b = Rᵀω_w, and since Ṙ = R[ω_b]×, dω_b/dt = Rᵀ dω_w/dt: the ball's own rotation
    does not turn ω_b; only a change of ω in the world does, by the same angle. So a straight
    move keeps the direction of ω_b fixed however far the ball rolls, and a new heading (or a
    reversal: ω flips) turns it by the heading change, without any orientation estimate.

    A move starts when the short-window speed |ω|·r reaches ball_stop_mps, and it ends
    - at a stop: the speed stays below ball_stop_mps for ball_stop_min_s; or
    - at a turn: the direction of ω, taken where the speed is at least twice ball_stop_mps (so
      noise cannot swing it), is more than ball_turn_max_deg from the direction it had
      ball_turn_path_m back along the path (or the move's first, on a shorter move); the cut is
      at the slowest frame since the last such direction (the corner). Judged over a length
      of path, not of time: a corner turns the heading within millimetres, an arc rolled
      without stopping (the heading turning evenly along the path) by 40° only along 1.4 times
      its radius, far more than ball_turn_path_m for any arc a ball is steered along; so an
      arc is one move, whatever its speed, and its length is its path.
    Its ends are pulled out to where the speed crosses ball_quiet_mps, so the slow start and end
    of a move count in full while the rocking of a still ball between moves does not. A move
    shorter than min_pass_m is not a pass.
    """

    def __init__(self, settings, emit) -> None:
        s = settings
        self._emit = emit
        self._r = s.radius_m
        self._stop = s.ball_stop_mps
        self._dir = 2.0 * s.ball_stop_mps
        self._quiet = s.ball_quiet_mps
        self._stop_s = s.ball_stop_min_s
        self._cos_turn = math.cos(math.radians(s.ball_turn_max_deg))
        self._turn_path = s.ball_turn_path_m
        self._dirs: deque = deque()  # (path m, direction) of the open move, oldest first
        self.moving = False
        self._start = np.zeros(1 + Q_COLS)  # the open move's first row
        self._quiet_row: np.ndarray | None = None  # last quiet row while not moving
        self._below_t = math.nan  # moving: when the speed dropped below the stop speed
        self._end_row: np.ndarray | None = None  # ... and the first quiet row after it
        self._u0: tuple[float, float, float] | None = None  # the move's first direction
        self._cut_row: np.ndarray | None = None  # slowest row since the last direction
        self._cut_speed = math.inf
        self._last_row: np.ndarray | None = None

    def update(self, t, q, wb, engaged, out) -> None:
        n = len(t)
        speed = np.sqrt(np.einsum("ij,ij->i", wb, wb)) * self._r * engaged
        if not self.moving and not (speed >= self._stop).any():  # still throughout: cheap
            quiet = (speed < self._quiet).nonzero()[0]
            if len(quiet):
                k = int(quiet[-1])
                self._quiet_row = _row(t, q, k)
            self._last_row = _row(t, q, n - 1)
            return
        tl, sp, w = t.tolist(), speed.tolist(), wb.tolist()
        for i in range(n):
            v = sp[i]
            if not self.moving:
                if v < self._quiet:
                    self._quiet_row = _row(t, q, i)
                if v >= self._stop:
                    self._begin(t, q, i)
                else:
                    continue
            if v < self._stop:
                if self._below_t != self._below_t:
                    self._below_t = tl[i]
                if v < self._quiet and self._end_row is None:
                    self._end_row = _row(t, q, i)
                if tl[i] - self._below_t >= self._stop_s:
                    end = self._end_row if self._end_row is not None else _row(t, q, i)
                    self._emit(self._start, end, out)
                    self.moving = False
                    self._quiet_row = end
                continue
            self._below_t = math.nan
            self._end_row = None
            if v < self._cut_speed:
                self._cut_speed = v
                self._cut_row = None
                cut_i = i
            if v < self._dir:
                continue
            x, y, z = w[i]
            norm = math.sqrt(x * x + y * y + z * z)
            u = (x / norm, y / norm, z / norm)
            path = float(q[i, Q_PATH])
            dirs = self._dirs
            if self._u0 is None:
                self._u0 = u
                dirs.clear()
            else:  # the reference: the newest direction at least ball_turn_path_m back
                back = path - self._turn_path
                while len(dirs) > 1 and dirs[1][0] <= back:
                    dirs.popleft()
                ref = dirs[0][1] if dirs else self._u0
                if u[0] * ref[0] + u[1] * ref[1] + u[2] * ref[2] < self._cos_turn:
                    cut = self._cut_row if self._cut_row is not None else _row(t, q, cut_i)
                    self._emit(self._start, cut, out)
                    self._start = cut
                    self._u0 = u
                    dirs.clear()
            dirs.append((path, u))
            self._cut_speed = math.inf
            self._cut_row = None
        if self.moving and self._cut_speed < math.inf and self._cut_row is None:
            self._cut_row = _row(t, q, cut_i)
        self._last_row = _row(t, q, n - 1)

    def _begin(self, t, q, i: int) -> None:
        self.moving = True
        if self._quiet_row is not None:
            self._start = self._quiet_row
        elif i > 0:
            self._start = _row(t, q, i - 1)
        elif self._last_row is not None:
            self._start = self._last_row
        else:
            self._start = _row(t, q, 0)
        self._below_t = math.nan
        self._end_row = None
        self._u0 = None
        self._cut_row = None
        self._cut_speed = math.inf

    def open_rows(self):
        """(start, end) rows of the open move as finish() would close it, or None."""
        if not self.moving or self._last_row is None:
            return None
        return self._start, (self._end_row if self._end_row is not None else self._last_row)

    def finish(self, out) -> None:
        ends = self.open_rows()
        if ends is not None:
            self._emit(*ends, out)
        self.moving = False

    def open_leg_m(self, q_last) -> float:
        return float(q_last[Q_PATH] - self._start[1 + Q_PATH]) if self.moving else 0.0


def _row(t, q, i: int) -> np.ndarray:
    row = np.empty(1 + Q_COLS)
    row[0] = t[i]
    row[1:] = q[i]
    return row
