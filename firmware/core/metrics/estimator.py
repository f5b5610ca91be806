"""The metrics estimator: frames (firmware.core.metrics.frames) -> gyro bias, roll axis, tissue
speed, position, passes, holds, contact and force. Pure numpy, no I/O, no clock.

Physics, in order per frame (a frame holds exact sums of its samples, so window means,
variances and the rotation integral are the per-sample ones); each step has its module:
- contact (contact.py): force hysteresis on the frame mean force.
- gyro bias (bias.py): mean gyro over the latest rest (VQF-style); before any rest the
  calibration prior; without a prior, the mean over a long still period under contact.
- still and holds (holds.py): window-mean speed < 1 cm/s (or net travel over 2 s under
  2 cm with the rotation under 6 °/s: a pressed tool rocks) under contact for >= 5 s (gaps
  < 0.5 s merged).
- zero-velocity update (zupt.py): nothing is integrated at rest nor deep inside a hold; what
  the lagging still flag held back is restored when motion resumes.
- roll axis and tissue speed (axis.py): the axis given, or the principal axis of the scatter
  of strong rotation; speed |ω·axis|·r (roller, stick) or |ω|·r (ball).
- running sums (totals.py): position r·∫ω·axis dt (the trapezoid over every sample interval,
  only under contact and not at rest nor inside a hold), path, time and force integrals.
- passes (passes.py): turnarounds where the position retreats min_pass_m from its running
  extreme; length |x(turn_k) - x(turn_k-1)|. The ball: moves ended by a stop or a turn of the
  rolling direction, length the path rolled.

Every decision is made frame by frame on state carried across calls (windowed statistics from
running cumulative sums, run starts found by forward-filling, a zigzag on the position); only
the axis is updated per call, and the calls come in fixed groups of the frame grid, so the
result does not depend on how the samples were split into Blocks. This module wires the steps
together and keeps what they share: the window sums and the time of the first sample.
"""

from __future__ import annotations

import math
from itertools import chain

import numpy as np

from firmware.common.model import Hold, Pass
from firmware.core.metrics.axis import RollAxis
from firmware.core.metrics.bias import ACCEL_COUNT, GYRO_COUNT, W_COUNT, WINDOW_COLS, GyroBias
from firmware.core.metrics.contact import Contact
from firmware.core.metrics.frames import Frames
from firmware.core.metrics.holds import Holds
from firmware.core.metrics.passes import PASS_LIST_MAX, Passes, pass_columns
from firmware.core.metrics.spots import SpotBins
from firmware.core.metrics.state import WindowBuffer
from firmware.core.metrics.totals import Totals
from firmware.core.metrics.zupt import ZeroVelocity

__all__ = ["PASS_LIST_MAX", "TRACE_KEYS", "Estimator", "pass_columns"]

TRACE_KEYS = ("t_s", "rest", "still", "contact", "bias_rad_s", "speed_mps", "position_m")


class Estimator:
    """Frames in (`process`), passes, holds and running totals out; `finish` at the end."""

    def __init__(self, settings, *, trace: bool = False) -> None:
        self.settings = s = settings
        # trace=True keeps per-sample arrays (each sample carries its frame's value) for analysis
        self.trace: dict[str, list[np.ndarray]] | None = (
            {k: [] for k in TRACE_KEYS} if trace else None
        )
        self.t0 = math.nan  # first sample
        self.t_last = -math.inf  # last sample of the last frame
        # window sums of the frames (bias.WINDOW_COLS) for the rest and still windows
        keep = max(s.rest_window_s, s.still_window_s, s.still_long_window_s, s.ball_move_window_s)
        self._win = WindowBuffer(keep + 0.5, WINDOW_COLS)
        self._contact = Contact(s)
        self._bias = GyroBias(s)
        self._holds = Holds(s)
        self._zupt = ZeroVelocity(s)
        self._axis = RollAxis(s)
        self._totals = Totals(s)
        self._passes = Passes(s)
        self._spots = SpotBins(s)
        self._finished = False
        self.gyro_clipped_samples = 0  # samples with a gyro axis at full scale

    # ------------------------------------------------------------------ public
    @property
    def passes(self) -> list[Pass]:
        return self._passes.passes

    @property
    def pass_count(self) -> int:
        """How many passes are complete (``len(passes)``, without making them)."""
        return len(self._passes.log)

    @property
    def holds(self) -> list[Hold]:
        return self._holds.holds

    @property
    def distance_m(self) -> float:
        """Sum of completed pass lengths."""
        return self._passes.distance_m

    @property
    def bias(self) -> np.ndarray:
        """The gyro bias at the last frame (rad/s)."""
        return self._bias.value

    @property
    def axis(self) -> np.ndarray | None:
        """The roll axis in use (None until known)."""
        return self._axis.axis

    @property
    def sign(self) -> float:
        """+1/-1 maps the raw rotation sign to "up"; 0 until the first pass defines it."""
        return self._passes.sign

    @property
    def hold_active(self) -> bool:
        """A hold run is open at the last frame."""
        return self._holds.active

    @property
    def position_m(self) -> float:
        """Position along the pass axis at the last frame (+ is up once the sign is known)."""
        sign = self._passes.sign
        return float(self._totals.q[0]) * (sign if sign != 0 else 1.0)

    @property
    def contact_s(self) -> float:
        """Time under contact so far."""
        return self._totals.contact_s

    @property
    def rolling_s(self) -> float:
        """Time moving under contact so far."""
        return self._totals.rolling_s

    @property
    def hold_rep_start_s(self) -> float:
        """Reported start of the open hold run (meaningful while hold_active)."""
        return self._holds.rep_start(self.t0)

    def finish(self) -> tuple[list[Pass], list[Hold]]:
        """Close an open pass and an open hold at the end of the data (idempotent)."""
        new_passes: list[Pass] = []
        new_holds: list[Hold] = []
        if self._finished:
            return new_passes, new_holds
        self._finished = True
        self._passes.finish(new_passes)
        self._holds.finish(self.t0, new_holds)
        self._spots.hold_x += [self._spots.hold_position(self._totals.q)] * len(new_holds)
        return new_passes, new_holds

    def open_leg_m(self) -> float:
        """Length of the pass in progress so far."""
        return self._passes.open_leg_m(self._totals.q)

    def summary(self, duration_s: float, *, encoded: bool = False) -> dict:
        """The DESIGN §3.2 metric fields, as if the data ended now (an open pass or hold is
        included the way finish() would close it; the estimator itself is not changed).
        ``encoded``: the pass list's columns as ``JsonText`` (``PassLog.columns``)."""
        log = self._passes.log
        holds, hold_x = list(self.holds), list(self._spots.hold_x)
        open_pass = open_ends = None
        if not self._finished:
            open_pass = self._passes.open_pass()
            open_hold = self._holds.open_hold(self.t0)
            holds += [open_hold] if open_hold is not None else []
            open_ends = self._passes.open_ends_raw()
            hold_x += [self._spots.hold_position(self._totals.q)] if open_hold is not None else []
        also = [] if open_pass is None else [open_pass.length_m]
        lengths = np.array(log.length_m, dtype=float)
        if also:
            lengths = np.append(lengths, also)
        totals = self._totals
        return {
            "duration_s": float(duration_s),
            "contact_s": totals.contact_s if totals.has_force else None,
            # summed in order, as Python floats (as sum() of the pass lengths always was)
            "distance_m": float(sum(chain(log.length_m, also))),
            "passes": len(lengths),
            "pass_length_m": {
                "mean": float(np.mean(lengths)) if len(lengths) else None,
                "max": float(np.max(lengths)) if len(lengths) else None,
            },
            "speed_mps": totals.speed_fields(),
            "holds": [
                {
                    "start_s": h.start_s,
                    "duration_s": h.duration_s,
                    "force_n": None if math.isnan(h.force_n) else h.force_n,
                }
                for h in holds
            ],
            "force_n": totals.force_fields(),
            "force_by_direction_n": totals.force_by_direction(),
            "pass_list": log.columns(open_pass, encoded=encoded),
            # samples with a gyro axis at full scale (None: the full scale is not known)
            "gyro_clipped_samples": (None if self.settings.gyro_full_scale_rad_s is None
                                     else self.gyro_clipped_samples),
            # issue 23: time, speed and force per position along the muscle, holds' positions
            "spots": self._spots.fields(self.sign, *log.ends_raw(open_ends),
                                        [(x, h.duration_s) for x, h in zip(hold_x, holds, strict=True)]),
        }

    # ------------------------------------------------------------------ pipeline
    def process(self, fr: Frames, new_passes: list[Pass], new_holds: list[Hold]) -> None:
        """Take the next group of frames; passes and holds completed in it are appended to the
        lists. Written for few numpy calls per group: the common case (rolling, no rest, no
        hold starting) takes the fast path at every stage."""
        s = self.settings
        t, dt, count = fr.t_s, fr.dt_s, fr.count
        if self.t0 != self.t0:
            self.t0 = float(t[0] - dt[0])
        f = fr.force_n
        has_f = f == f  # not NaN
        allf = bool(has_f.all())
        fz = f if allf else np.where(has_f, f, 0.0)

        contact = self._contact.update(fz, has_f, allf)
        engaged = contact if allf else (contact | ~has_f)
        # rest detector (VQF style) on window statistics, then the bias
        cum, first_row = self._win.append(t, fr.gyro, count, fr.accel, fr.gyro2, fr.accel2)
        d = self._win.window_delta(t, first_row, s.rest_window_s)
        m = d / d[:, W_COUNT : W_COUNT + 1]
        rest_raw = self._bias.rest_candidates(m)
        if rest_raw.any():  # and gravity did not turn in the sensor frame (slow rolling does)
            third = s.rest_window_s / 3.0
            late = self._win.window_delta(t, first_row, third, ACCEL_COUNT)
            early = d[:, ACCEL_COUNT] - self._win.window_delta(
                t, first_row, s.rest_window_s - third, ACCEL_COUNT
            )
            rest_raw &= self._bias.gravity_steady(early, late)
        if rest_raw.any():  # and the rate did not drift (a slow turn fading in or out)
            late = self._win.window_delta(t, first_row, third, GYRO_COUNT)
            early = d[:, GYRO_COUNT] - self._win.window_delta(
                t, first_row, s.rest_window_s - third, GYRO_COUNT
            )
            rest_raw &= self._bias.rate_steady(early, late)
        d = self._win.window_delta(t, first_row, s.still_window_s, GYRO_COUNT)
        ms_raw = d[:, 0:3] / d[:, 3:4]
        d = self._win.window_delta(t, first_row, s.still_long_window_s, GYRO_COUNT)
        ml_raw = d[:, 0:3] / d[:, 3:4]
        rest, bias, rest_any = self._bias.update(
            t, cum, self._win.prev_cum, rest_raw, ms_raw, engaged,
            lambda times: self._win.cum_at(times, first_row, len(t), GYRO_COUNT), self.t0,
        )
        wc = fr.gyro / count[:, None] - bias  # frame mean rate
        # smoothed rotation -> still (tissue speed below the hold speed)
        still = self._holds.still(ms_raw - bias, ml_raw - bias)
        hold_raw = still & engaged
        runs = self._holds.runs(t, hold_raw)
        rate2 = np.einsum("ij,ij->i", wc, wc)
        # zero-velocity update: nothing is integrated at rest or deep inside a hold; what the
        # lagging still flag hid at the end of one is restored when it ends
        zupt = self._zupt.mask(t, rest, rest_any, runs, None, self._holds.short)
        gate = engaged if zupt is None else (engaged & ~zupt)
        theta, bias_w, r_scale = _rotation_source(fr, s.radius_m)
        bias_dt = bias * bias_w[:, None] if bias.ndim == 2 else np.multiply.outer(bias_w, bias)
        dtheta_all = theta - bias_dt
        dtheta_all *= engaged[:, None]
        dtheta = dtheta_all if zupt is None else dtheta_all * ~zupt[:, None]
        last_t = None if runs is None else runs[0]
        restored = self._zupt.restore(t, dt, zupt, dtheta_all, dtheta, wc, engaged, last_t)
        if restored is not None:  # the held-back rotation re-enters at the end frame
            dtheta = dtheta.copy() if dtheta is dtheta_all else dtheta
            dtheta[restored[0]] += restored[1][:, 1:4]

        clipped = float(fr.clipped.sum())
        self.gyro_clipped_samples += int(clipped)
        # clipped frames were rebuilt along the axis in use: they teach the axis nothing new
        axis_gate = gate if not clipped else gate & (fr.clipped == 0)
        proj, axis = self._axis.project(wc, dtheta, dt, axis_gate, rate2)
        # the ball's path is not zeroed at all: its passes count it only inside moves, which
        # stops end (passes.BallMoves), so slow rolling is never lost to a still flag
        speed_gate = engaged if s.tool == "ball" else gate
        vel, speed = self._axis.speeds(wc, speed_gate if r_scale is None else speed_gate * r_scale,
                                       axis, rate2)
        rolling = engaged & ~still if zupt is None else engaged & ~(still | zupt)
        totals = self._totals
        q = totals.integrate(dt, fz, has_f, allf, contact, rolling, proj, speed, vel, dtheta, None)
        totals.extremes(fr.force_peak_n, has_f, allf, contact, rolling, speed, dt)
        self._spots.update(q, dt, engaged, speed, fz, has_f)
        wb = None
        if s.tool == "ball":  # the ball's moves: speed and direction over a short window
            d = self._win.window_delta(t, first_row, s.ball_move_window_s, GYRO_COUNT)
            wb = d[:, 0:3] / d[:, 3:4] - bias
        self._passes.update(t, q, wb, new_passes, engaged, self._axis.best)
        if runs is not None:
            before = len(self._holds.holds)
            self._holds.update(t, hold_raw, runs, fz, has_f, self.t0, new_holds)
            for h in self._holds.holds[before:]:  # where it was: inside the hold (ZUPT)
                i = min(int(np.searchsorted(t, h.start_s + 0.5 * h.duration_s)), len(t) - 1)
                self._spots.hold_x.append(self._spots.hold_position(q[i]))

        self.t_last = float(t[-1])
        if self.trace is not None:
            sign = self.sign if self.sign != 0 else 1.0
            counts = count.astype(np.int64)
            self._record_trace(counts, t, rest, still, contact, bias, speed, q[:, 0] * sign)

    def _record_trace(self, counts, t, rest, still, contact, bias, speed, position) -> None:
        bias = np.broadcast_to(bias, (len(t), 3))
        for key, arr in zip(TRACE_KEYS, (t, rest, still, contact, bias, speed, position),
                            strict=True):
            self.trace[key].append(np.repeat(arr, counts, axis=0))


def _rotation_source(fr: Frames, radius_m: float):
    """(rotation per frame, weight of the bias in it, per-frame radius / radius_m or None).
    With a radius curve the "rotation" is the arc rolled, sum of r(F)·ω per sample, over
    radius_m: everything downstream that multiplies a rotation by radius_m then gets the
    per-sample arc, and the bias enters as bias·sum of r(F)·dt / radius_m."""
    if fr.arc_m is None:
        return fr.theta_rad, fr.dt_s, None
    inv = 1.0 / radius_m
    bias_w = fr.r_dt * inv
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(fr.dt_s > 0, bias_w / fr.dt_s, 1.0)
    return fr.arc_m * inv, bias_w, scale
