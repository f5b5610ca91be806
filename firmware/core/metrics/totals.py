"""Running sums per frame: position, ball path, time moving and in contact, force and speed
integrals, by one cumulative sum per group of frames. Pure numpy, no I/O, no clock.

A pass is the difference of two rows of these sums (passes.py), the summary's totals are the
last row; summing sequentially from the carried row keeps them bit-identical for any split of
the samples into Blocks.
"""

from __future__ import annotations

import math

import numpy as np

from firmware.core.metrics.state import SpeedHistogram

SPEED_BIN_MPS = 0.0005
SPEED_BINS = 8000  # up to 4 m/s
# columns of the running sums (Totals.q): position, ball path, moving time, force·dt and dt
# rolling with a force reading, rotation (3); totals: contact time and force·dt, speed·dt, and
# force·dt / dt rolling up and down (raw sign)
Q_X, Q_PATH, Q_MOVING, Q_FORCE_DT, Q_FDT, Q_THETA = 0, 1, 2, 3, 4, slice(5, 8)
Q_CONTACT, Q_CONTACT_F, Q_SPEED_DT, Q_UP_F, Q_DOWN_F, Q_UP_DT, Q_DOWN_DT = range(8, 15)
Q_COLS = 15


class Totals:
    """The running sums at the last frame (`q`, the Q_ columns), the peak force over contact
    and the time-weighted histogram of rolling speeds."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.q = np.zeros(Q_COLS)
        self.has_force = False  # a force reading was seen
        self._force_peak = -math.inf
        self._speed_hist = SpeedHistogram(SPEED_BIN_MPS, SPEED_BINS)  # time-weighted

    @property
    def contact_s(self) -> float:
        """Time under contact so far."""
        return float(self.q[Q_CONTACT])

    @property
    def rolling_s(self) -> float:
        """Time moving under contact so far."""
        return float(self.q[Q_MOVING])

    def integrate(self, dt, fz, has_f, allf, contact, rolling, proj, speed, vel, dtheta, extra):
        """Running sums per frame (one cumsum): position, ball path, moving time, force while
        rolling, the rotation, and the totals (contact time and force, speed, force by
        direction). Returns the (n, Q_COLS) cumulative rows; the last is carried."""
        s = self.settings
        n = len(dt)
        inc = np.empty((n + 1, Q_COLS))
        inc[0] = self.q
        rows = inc[1:]
        np.multiply(proj, s.radius_m, out=rows[:, Q_X])
        ball = s.tool == "ball"
        if ball:  # path along the surface: the gated speed over each frame
            np.multiply(speed, dt, out=rows[:, Q_PATH])
        else:
            rows[:, Q_PATH] = 0.0
        # the integrated rotation (rad, what the position projects): a pass's length is its
        # difference projected on the best roll axis known when the pass ends (passes.py)
        rows[:, Q_THETA] = dtheta
        rdt = np.multiply(dt, rolling, out=rows[:, Q_MOVING])
        rdt_f = rdt if allf else np.multiply(rdt, has_f, out=rows[:, Q_FDT])
        if allf:
            rows[:, Q_FDT] = rdt
        np.multiply(fz, rdt_f, out=rows[:, Q_FORCE_DT])
        cdt = np.multiply(dt, contact if allf else contact & has_f, out=rows[:, Q_CONTACT])
        np.multiply(fz, cdt, out=rows[:, Q_CONTACT_F])
        np.multiply(speed, rdt, out=rows[:, Q_SPEED_DT])
        if s.sign_known:  # force by direction: only reported when up is known
            thr = 0.1 * s.hold_speed_max_mps
            np.multiply(rdt_f, vel > thr, out=rows[:, Q_UP_DT])
            np.multiply(rdt_f, vel < -thr, out=rows[:, Q_DOWN_DT])
            np.multiply(fz, rows[:, Q_UP_DT], out=rows[:, Q_UP_F])
            np.multiply(fz, rows[:, Q_DOWN_DT], out=rows[:, Q_DOWN_F])
        else:
            rows[:, Q_UP_F : Q_DOWN_DT + 1] = 0.0
        if extra is not None:  # the ball's path held back by a zero-velocity period
            rows[extra[0], Q_PATH] += extra[1][:, 0]
        q = np.add.accumulate(inc, axis=0)[1:]
        self.q = q[-1].copy()
        if not self.has_force and (allf or has_f.any()):
            self.has_force = True
        return q

    def extremes(self, peak, has_f, allf, contact, rolling, speed, dt) -> None:
        """Peak force over contact; the rolling speeds into the quantile histogram."""
        if self.has_force and contact.any():
            top = np.max(peak, where=contact if allf else contact & has_f, initial=-np.inf)
            self._force_peak = max(self._force_peak, float(top))
        if rolling.any():
            self._speed_hist.add(speed, dt * rolling)

    def speed_fields(self) -> dict:
        """The summary's speed_mps: mean over the time rolling, and the 95th percentile."""
        rolling_s = self.rolling_s
        speed_dt = float(self.q[Q_SPEED_DT])
        return {
            "mean": speed_dt / rolling_s if rolling_s > 0 else None,
            "p95": self._speed_hist.quantile(0.95),
        }

    def force_fields(self) -> dict:
        """The summary's force_n: mean and peak over contact (None without a force sensor)."""
        has_f, contact_s = self.has_force, self.contact_s
        force_dt = float(self.q[Q_CONTACT_F])
        return {
            "mean": force_dt / contact_s if has_f and contact_s > 0 else None,
            "peak": float(self._force_peak) if has_f and contact_s > 0 else None,
        }

    def force_by_direction(self) -> dict:
        """The summary's force_by_direction_n: mean force rolling up and down the limb (None
        unless up is known and there is a force sensor)."""
        if not (self.settings.sign_known and self.has_force):
            return {"up": None, "down": None}
        q = self.q.tolist()
        pairs = ((q[Q_UP_F], q[Q_UP_DT]), (q[Q_DOWN_F], q[Q_DOWN_DT]))
        means = [fdt / tt if tt > 0 else None for fdt, tt in pairs]
        up_raw, down_raw = means if self.settings.up_sign > 0 else means[::-1]
        return {"up": up_raw, "down": down_raw}
