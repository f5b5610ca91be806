"""The metrics estimator: frames (firmware.core.metrics.frames) -> gyro bias, roll axis, tissue
speed, position, passes, holds, contact and force. Pure numpy, no I/O, no clock.

Physics, in order per frame (a frame holds exact sums of its samples, so window means,
variances and the rotation integral are the per-sample ones):
- gyro bias: mean gyro over the latest rest (VQF-style: 0.5 s window deviation < 2 °/s and
  accel deviation < 0.5 m/s², window mean within 3 °/s of the prior, for >= 1.5 s); before any
  rest the calibration prior; without a prior, the mean over a long still period under contact.
- roll axis: given, or the principal axis of the scatter of strong rotation (> 30 °/s; weaker
  rotation only until there is some), re-estimated at the end of each group of frames that
  brings at least 0.25 s of rotation (the ball's scatter fades, so its axis can turn).
- tissue speed |ω·axis|·r (roller, stick) or |ω|·r (ball); position r·∫ω·axis dt (the
  trapezoid over every sample interval), integrated only under contact and not at rest nor
  inside a hold (zero-velocity update; what the lagging still flag held back is restored when
  motion resumes).
- passes: turnarounds where the position retreats min_pass_m from its running extreme;
  length |x(turn_k) - x(turn_k-1)| (ball: the path rolled, and a hold also ends a leg).
- holds: window-mean speed < 1 cm/s under contact for >= 5 s (gaps < 0.5 s merged).
- contact: force hysteresis on the frame mean force; force mean/peak over contact, mean per
  direction while rolling.

Every decision is made frame by frame on state carried across calls (windowed statistics from
running cumulative sums, run starts found by forward-filling, a zigzag on the position); only
the axis is updated per call, and the calls come in fixed groups of the frame grid, so the
result does not depend on how the samples were split into Blocks.
"""

from __future__ import annotations

import math

import numpy as np

from firmware.common.model import Hold, Pass
from firmware.common.runs import carried, ffill1, first_true, schmitt
from firmware.core.metrics.frames import Frames
from firmware.core.metrics.state import RunMean, SpeedHistogram, WindowBuffer

SPEED_BIN_MPS = 0.0005
SPEED_BINS = 8000  # up to 4 m/s
# columns of the window sums: gyro (3), sample count, accel (3), |gyro|², |accel|²
WINDOW_COLS, W_COUNT = 9, 3
_GYRO_COUNT = slice(0, 4)  # window columns of a gyro mean
# columns of the running sums (Estimator._q): position, ball path, moving time, force·dt and dt
# rolling with a force reading, rotation; totals: contact time and force·dt, speed·dt, and
# force·dt / dt rolling up and down (raw sign)
Q_X, Q_PATH, Q_MOVING, Q_FORCE_DT, Q_FDT, Q_THETA = 0, 1, 2, 3, 4, slice(5, 8)
Q_CONTACT, Q_CONTACT_F, Q_SPEED_DT, Q_UP_F, Q_DOWN_F, Q_UP_DT, Q_DOWN_DT = range(8, 15)
Q_COLS = 15
_ONES3 = np.ones(3)


class Estimator:
    """Frames in (`process`), passes, holds and running totals out; `finish` at the end."""

    def __init__(self, settings, *, trace: bool = False) -> None:
        self.settings = s = settings
        # trace=True keeps per-sample arrays (each sample carries its frame's value) for analysis
        keys = ("t_s", "rest", "still", "contact", "bias_rad_s", "speed_mps", "position_m")
        self.trace: dict[str, list[np.ndarray]] | None = {k: [] for k in keys} if trace else None
        self.passes: list[Pass] = []
        self.holds: list[Hold] = []
        self.distance_m = 0.0  # sum of completed pass lengths
        self._prior = np.zeros(3) if s.gyro_bias_rad_s is None else np.array(s.gyro_bias_rad_s)
        self._fixed_axis = (
            None
            if s.axis_xyz is None or s.tool == "ball"
            else (np.asarray(s.axis_xyz, float) / np.linalg.norm(s.axis_xyz))
        )
        self._win = WindowBuffer(max(s.rest_window_s, s.still_window_s) + 0.5, WINDOW_COLS)
        self._rest_var_max = np.array([s.rest_gyro_max_rad_s**2, s.rest_accel_max_m_s2**2])
        self._still_rate2 = (s.hold_speed_max_mps / s.radius_m) ** 2
        self._lost = WindowBuffer(s.zupt_restore_s + 1.0, 4)  # held back by ZUPT
        self._zupt_prev = False
        self.t0 = math.nan  # first sample
        self.t_last = -math.inf  # last sample of the last frame
        # rest (still) detector and bias
        self._rest = RunMean(s.rest_min_s)  # strict rest (VQF): the bias source of choice
        # long still under contact: the bias when there is nothing better (no rest, no prior)
        self._loose = RunMean(s.hold_min_s, center=self._prior, clip=s.rest_bias_clip_rad_s)
        self.bias = self._prior.copy()
        # contact
        self._contact = False
        # axis
        self.axis = None if self._fixed_axis is None else self._fixed_axis.copy()
        self._scatter = np.zeros((3, 3))
        self._pending = np.zeros((3, 3))
        self._scatter_weak = np.zeros((3, 3))
        self._pending_weak = np.zeros((3, 3))
        self._strong_s = 0.0  # time of strong rotation seen (s)
        self._weak_s = 0.0  # time of rotation above the weak threshold (s)
        self._theta_pre = np.zeros(3)  # integrated rotation before any axis is known
        self._first_strong: np.ndarray | None = None
        # +1/-1 maps the raw rotation sign to "up"; 0 until the first pass defines it (relative)
        self.sign = float(s.up_sign) if s.sign_known else 0.0
        self._q = np.zeros(Q_COLS)  # running sums (the Q_ columns)
        # passes (zigzag on x)
        self._dir = 0
        self._ext = np.zeros(1 + Q_COLS)  # [t, *q] at the running extreme
        self._ext2 = np.zeros(1 + Q_COLS)  # direction 0: max in _ext, min in _ext2
        self._turn = np.zeros(1 + Q_COLS)
        self._leg0 = np.zeros(1 + Q_COLS)  # ball: where the current leg started (after a hold)
        self._seeded = False
        self._hold_qualified = False  # ball: the last frame was in a hold of hold_min_s
        # holds
        self._last_hold_t = -math.inf
        self.hold_active = False
        self._hold_start_t = math.nan
        self._hold_forces: list[np.ndarray] = []  # frame forces of the open hold run
        # totals beyond the running sums
        self._force_peak = -math.inf
        self._has_force = False
        self._speed_hist = SpeedHistogram(SPEED_BIN_MPS, SPEED_BINS)  # time-weighted
        self._finished = False

    # ------------------------------------------------------------------ public
    @property
    def position_m(self) -> float:
        """Position along the pass axis at the last frame (+ is up once the sign is known)."""
        return float(self._q[0]) * (self.sign if self.sign != 0 else 1.0)

    @property
    def contact_s(self) -> float:
        """Time under contact so far."""
        return float(self._q[Q_CONTACT])

    @property
    def rolling_s(self) -> float:
        """Time moving under contact so far."""
        return float(self._q[Q_MOVING])

    @property
    def hold_rep_start_s(self) -> float:
        """Reported start of the open hold run (meaningful while hold_active)."""
        return self._hold_rep_start()

    def finish(self) -> tuple[list[Pass], list[Hold]]:
        """Close an open pass and an open hold at the end of the data (idempotent)."""
        new_passes: list[Pass] = []
        new_holds: list[Hold] = []
        if self._finished:
            return new_passes, new_holds
        self._finished = True
        if self._dir != 0:
            self._emit_pass(self._turn, self._ext, new_passes)
        if self.hold_active:
            self._close_hold(self._last_hold_t, new_holds)
            self.hold_active = False
        return new_passes, new_holds

    def open_leg_m(self) -> float:
        """Length of the pass in progress so far."""
        if self._dir == 0:
            return 0.0
        if self.settings.tool == "ball":
            return float(self._q[1] - self._turn[2])
        return float(abs(self._ext[1] - self._turn[1]))

    def summary(self, duration_s: float) -> dict:
        """The DESIGN §3.2 metric fields, as if the data ended now (an open pass or hold is
        included the way finish() would close it; the estimator itself is not changed)."""
        passes, holds = list(self.passes), list(self.holds)
        if not self._finished:
            open_pass = self._make_pass(self._turn, self._ext) if self._dir != 0 else None
            open_hold = self._make_hold(self._last_hold_t) if self.hold_active else None
            passes += [open_pass] if open_pass is not None else []
            holds += [open_hold] if open_hold is not None else []
        lengths = [p.length_m for p in passes]
        has_f = self._has_force
        contact_s, rolling_s = self.contact_s, self.rolling_s
        force_dt, speed_dt = float(self._q[Q_CONTACT_F]), float(self._q[Q_SPEED_DT])
        return {
            "duration_s": float(duration_s),
            "contact_s": contact_s if has_f else None,
            "distance_m": float(sum(lengths)),
            "passes": len(passes),
            "pass_length_m": {
                "mean": float(np.mean(lengths)) if lengths else None,
                "max": float(np.max(lengths)) if lengths else None,
            },
            "speed_mps": {
                "mean": speed_dt / rolling_s if rolling_s > 0 else None,
                "p95": self._speed_hist.quantile(0.95),
            },
            "holds": [
                {
                    "start_s": h.start_s,
                    "duration_s": h.duration_s,
                    "force_n": None if math.isnan(h.force_n) else h.force_n,
                }
                for h in holds
            ],
            "force_n": {
                "mean": force_dt / contact_s if has_f and contact_s > 0 else None,
                "peak": float(self._force_peak) if has_f and contact_s > 0 else None,
            },
            "force_by_direction_n": self._force_by_direction(),
            "pass_list": pass_columns(passes),
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

        contact = self._contact_of(fz, has_f, allf)
        engaged = contact if allf else (contact | ~has_f)
        # rest detector (VQF style) on window statistics, then the bias
        cum, first_row = self._win.append(t, fr.gyro, count, fr.accel, fr.gyro2, fr.accel2)
        d = self._win.window_delta(t, first_row, s.rest_window_s)
        m = d / d[:, W_COUNT : W_COUNT + 1]
        rest_raw = self._rest_candidates(m)
        d = self._win.window_delta(t, first_row, s.still_window_s, _GYRO_COUNT)
        ms_raw = d[:, 0:3] / d[:, 3:4]
        rest, bias, rest_any = self._rest_and_bias(t, cum, rest_raw, ms_raw, engaged)
        wc = fr.gyro / count[:, None] - bias  # frame mean rate
        # smoothed rotation -> still (tissue speed below the hold speed)
        ms = ms_raw - bias
        still = np.einsum("ij,ij->i", ms, ms) < self._still_rate2
        hold_raw = still & engaged
        runs = self._hold_runs(t, hold_raw)
        rate2 = np.einsum("ij,ij->i", wc, wc)
        # zero-velocity update: nothing is integrated at rest or deep inside a hold; what the
        # lagging still flag hid at the end of one is restored when it ends (_restore_lost)
        zupt = rest if rest_any else None
        if runs is not None:
            deep = runs[1] & (t - runs[2] >= s.hold_zupt_after_s)
            zupt = deep if zupt is None else (deep | zupt)
        gate = engaged if zupt is None else (engaged & ~zupt)
        bias_dt = bias * dt[:, None] if bias.ndim == 2 else np.multiply.outer(dt, bias)
        dtheta_all = fr.theta_rad - bias_dt
        dtheta_all *= engaged[:, None]
        dtheta = dtheta_all if zupt is None else dtheta_all * ~zupt[:, None]
        restored = None
        if zupt is not None or self._zupt_prev:
            last_t = None if runs is None else runs[0]
            restored = self._restore_lost(t, dt, zupt, dtheta_all, dtheta, wc, engaged, last_t)
            if restored is not None:  # the held-back rotation re-enters at the end frame
                dtheta = dtheta.copy() if dtheta is dtheta_all else dtheta
                dtheta[restored[0]] += restored[1][:, 1:4]

        proj, axis = self._project(wc, dtheta, dt, gate, rate2)
        vel, speed = self._speeds(wc, gate, axis, rate2)
        rolling = engaged & ~still if zupt is None else engaged & ~(still | zupt)
        extra = restored if restored is not None and s.tool == "ball" else None
        q = self._integrate(dt, fz, has_f, allf, contact, rolling, proj, speed, vel, dtheta, extra)
        self._force_and_speed_extremes(fr.force_peak_n, has_f, allf, contact, rolling, speed, dt)
        self._passes_of(t, q, runs, new_passes)
        if runs is not None:
            self._holds(t, hold_raw, runs, fz, has_f, new_holds)

        self.t_last = float(t[-1])
        if self.trace is not None:
            sign = self.sign if self.sign != 0 else 1.0
            counts = count.astype(np.int64)
            self._record_trace(counts, t, rest, still, contact, bias, speed, q[:, 0] * sign)

    def _integrate(self, dt, fz, has_f, allf, contact, rolling, proj, speed, vel, dtheta, extra):
        """Running sums per frame (one cumsum): position, ball path, moving time, force while
        rolling, the rotation, and the totals (contact time and force, speed, force by
        direction). Returns the (n, Q_COLS) cumulative rows; the last is carried."""
        s = self.settings
        n = len(dt)
        inc = np.empty((n + 1, Q_COLS))
        inc[0] = self._q
        rows = inc[1:]
        np.multiply(proj, s.radius_m, out=rows[:, Q_X])
        ball = s.tool == "ball"
        if ball:  # path along the surface: the gated speed over each frame
            np.multiply(speed, dt, out=rows[:, Q_PATH])
            rows[:, Q_THETA] = dtheta  # integrated rotation (rad): the ball's net roll
        else:
            rows[:, Q_PATH] = 0.0
            rows[:, Q_THETA] = 0.0
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
        self._q = q[-1].copy()
        if not self._has_force and (allf or has_f.any()):
            self._has_force = True
        return q

    def _force_and_speed_extremes(self, peak, has_f, allf, contact, rolling, speed, dt):
        """Peak force over contact; the rolling speeds into the quantile histogram."""
        if self._has_force and contact.any():
            top = np.max(peak, where=contact if allf else contact & has_f, initial=-np.inf)
            self._force_peak = max(self._force_peak, float(top))
        if rolling.any():
            self._speed_hist.add(speed, dt * rolling)

    def _passes_of(self, t, q, runs, out: list[Pass]) -> None:
        """Passes from the position; for the ball, a qualifying hold also ends a leg."""
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

    def _record_trace(self, counts, t, rest, still, contact, bias, speed, position) -> None:
        bias = np.broadcast_to(bias, (len(t), 3))
        for key, arr in (
            ("t_s", t),
            ("rest", rest),
            ("still", still),
            ("contact", contact),
            ("bias_rad_s", bias),
            ("speed_mps", speed),
            ("position_m", position),
        ):
            self.trace[key].append(np.repeat(arr, counts, axis=0))

    # ------------------------------------------------------------------ stages
    def _rest_candidates(self, m):
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
        rest &= (np.abs(g - self._prior) < s.rest_bias_clip_rad_s).all(axis=1)
        return rest

    def _rest_and_bias(self, t, cum, rest_raw, ms_raw, engaged):
        """Bias per frame: the mean gyro over the latest rest (>= rest_min_s, VQF-style);
        without a rest yet, the calibration prior; without a prior either, the mean gyro over
        the latest long still period under contact (>= hold_min_s), where the user's
        micro-motion averages out. Returns (rest mask, bias (3,) or (n, 3), any rest)."""
        n = len(t)
        loose_raw = None
        if self.settings.gyro_bias_rad_s is None and self._rest.value is None:
            d = ms_raw - self._prior
            loose_raw = engaged & (np.einsum("ij,ij->i", d, d) < self._still_rate2)
        if self._rest.idle(rest_raw) and (loose_raw is None or self._loose.idle(loose_raw)):
            return np.zeros(n, dtype=bool), self.bias, False
        gcum = cum[:, _GYRO_COUNT]
        prev_cum = self._win.prev_cum[_GYRO_COUNT]
        bias = np.empty((n, 3))
        bias[:] = self.bias if self._rest.value is not None else self._prior
        if loose_raw is not None:
            _, values, has = self._loose.update(t, gcum, prev_cum, loose_raw)
            bias[has] = values[has]
        rest, values, has = self._rest.update(t, gcum, prev_cum, rest_raw)
        if has.all():
            bias = values
        else:
            bias[has] = values[has]
        self.bias = bias[-1].copy()
        return rest, bias, bool(rest.any())

    def _contact_of(self, fz, has_f, allf):
        """Contact with hysteresis (force above contact_on_n, until below contact_off_n)."""
        s = self.settings
        n = len(fz)
        if allf and self._contact and fz.min() >= s.contact_off_n:
            return np.ones(n, dtype=bool)
        if allf and not self._contact and fz.max() <= s.contact_on_n:
            return np.zeros(n, dtype=bool)
        off = fz < s.contact_off_n
        contact = schmitt(fz > s.contact_on_n, off if allf else off & has_f, self._contact)
        self._contact = bool(contact[-1])
        return contact

    def _project(self, wc, dtheta, dt, gate, rate2):
        """Projection of each rotation increment on the roll axis and the axis in use (None
        while not known yet). The axis is re-estimated at the end of a group of frames that
        brings axis_update_s of rotation, and that axis is used for the whole group."""
        if self._fixed_axis is not None:
            return dtheta @ self._fixed_axis, self._fixed_axis
        s = self.settings
        wdt = dt * (gate & (rate2 > s.axis_weak_rad_s**2))
        weak_s = float(wdt.sum())
        first = self.axis is None
        if weak_s > 0:
            if self._first_strong is None:
                self._first_strong = wc[int(wdt.argmax())].copy()
            sdt = wdt * (rate2 > s.axis_strong_rad_s**2)
            if self._strong_s < s.axis_update_s:  # the weak scatter is still in use
                self._pending_weak += (wc * wdt[:, None]).T @ wc
            self._pending += (wc * sdt[:, None]).T @ wc
            self._strong_s += float(sdt.sum())
            self._weak_s += weak_s
            if self._weak_s >= s.axis_update_s:
                self._update_axis(self._weak_s / s.axis_update_s)
                self._weak_s = 0.0
        if self.axis is None:
            self._theta_pre += dtheta.sum(axis=0)
            return np.zeros(len(wc)), None
        proj = dtheta @ self.axis
        if first:  # the rotation before the axis was known
            proj[0] += float(self.axis @ self._theta_pre)
        return proj, self.axis

    def _restore_lost(self, t, dt, zupt, dtheta_all, dtheta, wc, engaged, last_t):
        """Where a zero-velocity period ends, what it held back since the last still sample (a
        hold run outlives it by the merge gap) plus zupt_restore_s, as (end indices, rows of
        [path m, rotation rad (3)]); None if none ends here. The still flag lags the start of
        the next move by about that much, so that motion must not be lost."""
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
        prev[0] = self._zupt_prev
        prev[1:] = z[:-1]
        self._zupt_prev = bool(z[-1])
        edges = (prev & ~z).nonzero()[0]
        if not len(edges):
            return None
        extra = 0.0
        if last_t is not None:
            extra = np.minimum(np.maximum(t[edges] - last_t[edges], 0.0), s.hold_merge_gap_s + 0.1)
        return edges, self._lost.window_sum_at(t, first_row, edges, s.zupt_restore_s + extra)

    def _speeds(self, wc, gate, axis, rate2):
        """Signed velocity along the axis (m/s, raw sign) and unsigned tissue speed (m/s)."""
        s = self.settings
        rg = s.radius_m * gate
        if axis is None:
            return np.zeros(len(wc)), np.sqrt(rate2) * rg
        vel = (wc @ axis) * rg
        if s.tool != "ball":
            return vel, np.abs(vel)
        norm = np.sqrt(rate2) * rg
        norm[norm < s.ball_deadband_mps] = 0.0
        return vel, norm

    def _update_axis(self, periods: float) -> None:
        """Principal axis of the strong-rotation scatter (weak rotation until there is some);
        the sign kept continuous. The ball forgets its old scatter by ball_axis_memory per
        axis_update_s of rotation (`periods` of them since the last update)."""
        s = self.settings
        keep = s.ball_axis_memory**periods if s.tool == "ball" else 1.0
        self._scatter = keep * self._scatter + self._pending
        self._scatter_weak = keep * self._scatter_weak + self._pending_weak
        self._pending = np.zeros((3, 3))
        self._pending_weak = np.zeros((3, 3))
        use = self._scatter if self._strong_s >= s.axis_update_s else self._scatter_weak
        ref = self.axis if self.axis is not None else self._first_strong
        axis = _principal_axis(use.tolist(), None if self.axis is None else self.axis.tolist())
        if ref is not None and float(axis @ ref) < 0:
            axis = -axis
        self.axis = axis

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
                    self._track(t, q, i0, n, +1, self._ext)
                    self._track(t, q, i0, n, -1, self._ext2)
                    return
                self._track(t, q, i0, i0 + j, +1, self._ext)
                self._track(t, q, i0, i0 + j, -1, self._ext2)
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
                self._track(t, q, i0, n, d, self._ext)
                return
            self._track(t, q, i0, i0 + j, d, self._ext)
            self._emit_pass(self._turn, self._ext, out)
            self._turn = self._ext.copy()
            self._dir = -d
            self._ext = np.array([t[i0 + j], *q[i0 + j]])
            i0 += j + 1

    def _break_leg(self, t, q, k: int, out: list[Pass]) -> None:
        """Ball: a hold ends the current leg (the ball then rolls off in any direction)."""
        if self._dir != 0:
            self._emit_pass(self._turn, self._ext, out)
        else:  # rolled off the axis estimate since the last break: judge the net roll
            here = np.array([t[k], *q[k]])
            net_m = self.settings.radius_m * float(np.linalg.norm(here[6:9] - self._leg0[6:9]))
            if net_m >= self.settings.min_pass_m:
                self._emit_pass(self._leg0, here, out)
        self._dir = 0
        self._ext = np.array([t[k], *q[k]])
        self._ext2 = self._ext.copy()
        self._leg0 = self._ext.copy()

    @staticmethod
    def _track(t, q, lo, hi, d, ext) -> None:
        """Move the extreme `ext` (in place) to the first strictly better sample in [lo, hi)."""
        if hi <= lo:
            return
        seg = q[lo:hi, 0] * d
        k = int(seg.argmax())
        if seg[k] > ext[1] * d:
            ext[0] = t[lo + k]
            ext[1:] = q[lo + k]

    def _emit_pass(self, a, b, out: list[Pass]) -> None:
        p = self._make_pass(a, b)
        if p is None:
            return
        if self.sign == 0.0:  # up unknown: the first pass's direction defines +
            self.sign = float(p.direction)
        self.passes.append(p)
        self.distance_m += p.length_m
        out.append(p)

    def _make_pass(self, a, b) -> Pass | None:
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

    def _hold_runs(self, t, hold_raw):
        """Per sample: time of the last still-under-contact sample, whether a hold run is
        active (gaps shorter than hold_merge_gap_s do not end it) and when that run started.
        None when no run is active anywhere in the block."""
        n = len(t)
        if not self.hold_active and not hold_raw.any():
            return None
        if self.hold_active and hold_raw.all():  # the run goes on through the whole group
            on = np.ones(n, dtype=bool)
            return t, on, np.full(n, self._hold_start_t), on
        last_t = carried(t, self._last_hold_t)[ffill1(hold_raw)]
        active = (t - last_t) < self.settings.hold_merge_gap_s
        prev = np.empty(n, dtype=bool)
        prev[0] = self.hold_active
        prev[1:] = active[:-1]
        start_t = carried(t, self._hold_start_t)[ffill1(active & ~prev)]
        start_t[~active] = np.inf
        return last_t, active, start_t, prev

    def _holds(self, t, hold_raw, runs, fz, has_f, out: list[Hold]) -> None:
        """Emit holds: runs of still under contact lasting at least hold_min_s."""
        n = len(t)
        last_t, active, _, prev = runs
        edges = (active != prev).nonzero()[0]
        lo = 0
        forces = fz[hold_raw & has_f] if has_f.any() else None
        take = np.add.accumulate(hold_raw & has_f) if forces is not None and len(edges) else None
        for e in edges:
            self._hold_accumulate(forces, take, lo, e)
            if active[e]:
                self.hold_active = True
                self._hold_start_t = float(t[e])
                self._hold_forces = []
            else:
                self._close_hold(float(last_t[e]), out)
                self.hold_active = False
            lo = e
        self._hold_accumulate(forces, take, lo, n)
        self._last_hold_t = float(last_t[-1])

    def _hold_accumulate(self, forces, take, lo: int, hi: int) -> None:
        """Keep the forces of still-under-contact frames [lo, hi) for the hold's median;
        `forces` are those of the whole group, `take` their running count (None: no edges,
        all of them)."""
        if not self.hold_active or forces is None or hi <= lo:
            return
        if take is None:
            self._hold_forces.append(forces)
            return
        first = int(take[lo - 1]) if lo > 0 else 0
        self._hold_forces.append(forces[first : int(take[hi - 1])])

    def _hold_rep_start(self) -> float:
        """Reported hold start: the still window lags by about half its length."""
        return max(self.t0, self._hold_start_t - 0.5 * self.settings.still_window_s)

    def _close_hold(self, end_t: float, out: list[Hold]) -> None:
        hold = self._make_hold(end_t)
        if hold is not None:
            self.holds.append(hold)
            out.append(hold)

    def _make_hold(self, end_t: float) -> Hold | None:
        """The current hold run ending at end_t, or None if it is shorter than hold_min_s."""
        start = self._hold_rep_start()
        end_t = max(start, end_t - 0.5 * self.settings.still_window_s)
        duration = end_t - start
        if duration < self.settings.hold_min_s:
            return None
        forces = np.concatenate(self._hold_forces) if self._hold_forces else np.empty(0)
        force = _median(forces) if len(forces) else math.nan
        return Hold(start_s=float(start), duration_s=float(duration), force_n=force)

    def _force_by_direction(self) -> dict:
        if not (self.settings.sign_known and self._has_force):
            return {"up": None, "down": None}
        q = self._q.tolist()
        pairs = ((q[Q_UP_F], q[Q_UP_DT]), (q[Q_DOWN_F], q[Q_DOWN_DT]))
        means = [fdt / tt if tt > 0 else None for fdt, tt in pairs]
        up_raw, down_raw = means if self.settings.up_sign > 0 else means[::-1]
        return {"up": up_raw, "down": down_raw}


def _principal_axis(m: list[list[float]], start: list[float] | None) -> np.ndarray:
    """Unit eigenvector of the largest eigenvalue of the symmetric 3x3 matrix `m`, by power
    iteration from `start` (the previous axis) in plain Python: a few microseconds, where
    numpy.linalg.eigh costs tens. The scatter of a rolling tool is close to rank one, so it
    converges in a step or two; it stops when the direction moves less than 1e-12."""
    (a, b, c), (_, d, e), (_, _, f) = m
    if start is None:  # the column of the largest diagonal entry is a good first guess
        k = max(range(3), key=lambda i: m[i][i])
        start = m[k]
    x, y, z = start
    for _ in range(50):
        u, v, w = a * x + b * y + c * z, b * x + d * y + e * z, c * x + e * y + f * z
        norm = math.sqrt(u * u + v * v + w * w)
        if norm == 0.0:
            break
        u, v, w = u / norm, v / norm, w / norm
        if u * x + v * y + w * z < 0:  # keep the orientation while iterating
            u, v, w = -u, -v, -w
        moved = (u - x) ** 2 + (v - y) ** 2 + (w - z) ** 2
        x, y, z = u, v, w
        if moved < 1e-24:
            break
    norm = math.sqrt(x * x + y * y + z * z) or 1.0
    return np.array([x / norm, y / norm, z / norm])


def _median(x: np.ndarray) -> float:
    """Median by partition (np.median's first call in a process costs tens of ms of lazy
    set-up: a hiccup in the coaching loop at the end of the first hold)."""
    n = len(x)
    k = n // 2
    if n % 2:
        return float(np.partition(x, k)[k])
    p = np.partition(x, (k - 1, k))
    return float(0.5 * (p[k - 1] + p[k]))


PASS_LIST_MAX = 2000  # passes listed in the summary (the count is never capped)


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
