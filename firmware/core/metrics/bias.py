"""Gyro bias from still periods, frame by frame. Pure numpy, no I/O, no clock.

The bias is the mean gyro over the latest rest (VQF-style: 0.5 s window deviation < 2 °/s and
accel deviation < 0.5 m/s², window mean within 3 °/s of the prior, for >= 1.5 s); before any
rest, the calibration prior; without a prior either, the mean over the latest long still
period under contact (>= hold_min_s), where the user's micro-motion averages out.

A steady slow rotation (a ball turned at a few °/s, a roller rolled slowly) passes the variance
tests: its gyro is as steady as a still one's, only offset. Learning that offset as bias, and
zeroing the motion as rest, is what ate slow rolling. Rolling turns the tool about an axis
across gravity, so gravity turns in the sensor frame: rest also requires the mean accel of the
last third of the rest window to match that of the first third within rest_tilt_max_m_s2
(0.09 m/s² over 1/3 s: rotation across gravity above about 1.6 °/s is seen; accel noise of an
MPU6050 averages to about 0.01 m/s² over a third of 0.5 s at any rate from 100 Hz, and a hand
holding an IMU still (the x-io recording) wavers by a few hundredths). Slower rotation can
still pass as rest for a moment; the ZUPT gives back what any period shorter than a hold held
back (zupt.py), so it costs no distance. A slow turn fading in or out (a ball turned in the
hand slows to a stop about an axis that may be near the vertical, where gravity barely turns)
ramps its rate: rest also needs the mean gyro of the window's last third within
rest_drift_max_rad_s (0.5 °/s) of its first third, while an MPU6050 at rest averages to about
0.01 °/s over a third. And the bias is the mean over the rest run's data without its last rest
window: a rest run is only known to have held once a window has passed. Without these, a 1 s
stop between two slow bouts, with their slow ends, passed as a 1.5 s rest, and its mean (up to
1 °/s off) became the bias of the whole next bout (-2 % of distance, -5 % on a slow first pass
of a large roller). The window
statistics come from the estimator's running sums (columns below), so the result is the same
however the samples were split.
"""

from __future__ import annotations

import numpy as np

from firmware.core.metrics.state import InnerRunMean, RunMean

# columns of the window sums: gyro (3), sample count, accel (3), |gyro|², |accel|²
WINDOW_COLS, W_COUNT = 9, 3
GYRO_COUNT = slice(0, 4)  # window columns of a gyro mean
ACCEL_COUNT = slice(3, 7)  # window columns of an accel mean (count first)
_ONES3 = np.ones(3)


class GyroBias:
    """Rest detector and gyro bias; `value` is the bias at the last frame (rad/s)."""

    def __init__(self, settings) -> None:
        self.settings = s = settings
        self.prior = np.zeros(3) if s.gyro_bias_rad_s is None else np.array(s.gyro_bias_rad_s)
        self._rest_var_max = np.array([s.rest_gyro_max_rad_s**2, s.rest_accel_max_m_s2**2])
        self._still_rate2 = (s.hold_speed_max_mps / s.radius_m) ** 2
        # strict rest (VQF): the bias source of choice. Its mean covers the data the run's
        # rest windows vouched for, from the first one's start, but not the last rest window
        # (a slow motion fading in passes the tests for a moment); it counts once that data
        # spans rest_min_s
        self._rest = InnerRunMean(s.rest_min_s, s.rest_window_s)
        # long still under contact: the bias when there is nothing better (no rest, no prior)
        self._loose = RunMean(s.hold_min_s, center=self.prior, clip=s.rest_bias_clip_rad_s)
        self.value = self.prior.copy()

    def rest_candidates(self, m):
        """Frames whose rest window passes the VQF tests: gyro and accel deviation from the
        window mean (E|x|² - |E x|²), window-mean gyro near the prior. `m`: window means of
        the window columns."""
        s = self.settings
        g = m[:, 0:3]
        rest = m[:, 7] - (g * g) @ _ONES3 < self._rest_var_max[0]
        if not rest.any():  # moving: nothing more to test
            return rest
        acc = m[:, 4:7]
        rest &= m[:, 8] - (acc * acc) @ _ONES3 < self._rest_var_max[1]
        rest &= (np.abs(g - self.prior) < s.rest_bias_clip_rad_s).all(axis=1)
        return rest

    def gravity_steady(self, early, late):
        """Frames whose gravity did not turn across the rest window: `early`, `late` are
        [count, accel sum (3)] over its first and last third."""
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty third: not rest
            diff = late[:, 1:4] / late[:, 0:1] - early[:, 1:4] / early[:, 0:1]
        return np.einsum("ij,ij->i", diff, diff) < self.settings.rest_tilt_max_m_s2**2

    def rate_steady(self, early, late):
        """Frames whose mean gyro did not drift across the rest window: `early`, `late` are
        [gyro sum (3), count] over its first and last third."""
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty third: not rest
            diff = late[:, 0:3] / late[:, 3:4] - early[:, 0:3] / early[:, 3:4]
        return np.einsum("ij,ij->i", diff, diff) < self.settings.rest_drift_max_rad_s**2

    def update(self, t, cum, prev_cum, rest_raw, ms_raw, engaged, cum_at, t0):
        """Bias per frame from the rest candidates `rest_raw`, the still-window mean gyro
        `ms_raw` (bias not removed) and `engaged` (contact, or no force sensor); `cum` are the
        window buffer's running sums of the frames, `prev_cum` the row before them, `cum_at`
        its running sums [gyro (3), count] at or before given times, `t0` the first sample.
        Returns (rest mask, bias (3,) or (n, 3), any rest)."""
        n = len(t)
        loose_raw = None
        if self.settings.gyro_bias_rad_s is None and self._rest.value is None:
            d = ms_raw - self.prior
            loose_raw = engaged & (np.einsum("ij,ij->i", d, d) < self._still_rate2)
        if self._rest.idle(rest_raw) and (loose_raw is None or self._loose.idle(loose_raw)):
            return np.zeros(n, dtype=bool), self.value, False
        gcum = cum[:, GYRO_COUNT]
        prev_gcum = prev_cum[GYRO_COUNT]
        bias = np.empty((n, 3))
        bias[:] = self.value if self._rest.value is not None else self.prior
        if loose_raw is not None:
            _, values, has = self._loose.update(t, gcum, prev_gcum, loose_raw)
            bias[has] = values[has]
        rest, values, has = self._rest.update(t, rest_raw, cum_at, t0)
        if has.all():
            bias = values
        else:
            bias[has] = values[has]
        self.value = bias[-1].copy()
        return rest, bias, bool(rest.any())
