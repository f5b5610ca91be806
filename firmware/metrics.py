"""Turn Blocks of raw IMU + force samples into Metrics: bias, roll axis, tissue speed, position,
passes, holds, contact and force. Pure numpy, no I/O, no clock: time comes from the samples.

Every decision is made sample by sample on state carried across blocks (windowed statistics from
running cumulative sums, run starts found by forward-filling, a zigzag on the position), so
feeding a recording in blocks of any size gives the same passes and holds as feeding it whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from firmware.errors import ConfigError
from firmware.metrics_runs import ffill_index, first_true, schmitt
from firmware.metrics_state import WindowBuffer, weighted_quantile
from firmware.model import Block, Hold, Metrics, Pass

TOOLS = ("roller", "ball", "stick")
DEG = math.pi / 180.0
SPEED_BIN_MPS = 0.0005
SPEED_BINS = 8000  # up to 4 m/s
FORCE_BIN_N = 0.1
FORCE_BINS = 30001  # up to 3000 N


@dataclass(frozen=True)
class MetricsSettings:
    """Everything the metrics engine needs, SI units in the names."""

    tool: str = "roller"
    radius_m: float = 0.075
    axis_xyz: tuple[float, float, float] | None = None  # roll axis in the sensor frame
    up_sign: int | None = None  # +1/-1: rotation sign about axis_xyz meaning "up the limb"
    gyro_bias_rad_s: tuple[float, float, float] | None = None  # calibration prior
    contact_on_n: float = 15.0  # contact starts above this force
    contact_off_n: float = 8.0  # ... and ends below this one (hysteresis)
    hold_speed_max_mps: float = 0.01  # still: window-mean tissue speed below this
    hold_min_s: float = 5.0  # still under contact this long is a hold
    hold_merge_gap_s: float = 0.5  # interruptions shorter than this do not end a hold
    hold_zupt_after_s: float = 1.0  # still under contact this long: stop integrating rotation
    still_window_s: float = 0.3  # window of the smoothed speed
    min_pass_m: float = 0.03  # a pass travels at least this; also the reversal threshold
    rest_window_s: float = 0.5  # rest detector low-pass window (VQF restFilterTau)
    rest_gyro_max_rad_s: float = 2.0 * DEG  # rms deviation of gyro from its window mean
    rest_accel_max_m_s2: float = 0.5  # rms deviation of accel from its window mean
    rest_bias_clip_rad_s: float = 3.0 * DEG  # window-mean gyro must stay this close to the prior
    rest_min_s: float = 1.5  # rest must last this long before the bias is learned
    axis_strong_rad_s: float = 30.0 * DEG  # only stronger rotation re-estimates the axis ...
    axis_weak_rad_s: float = 8.0 * DEG  # ... until there is some, rotation above this is used
    axis_update_s: float = 0.25  # strong-rotation time between axis re-estimates
    ball_axis_memory: float = 0.6  # ball: weight kept by the old scatter at each re-estimate
    ball_deadband_mps: float = 0.002  # ball: |ω|·r below this is noise, not motion

    def __post_init__(self) -> None:
        if self.tool not in TOOLS:
            raise ConfigError(f"metrics: unknown tool {self.tool!r} (expected {', '.join(TOOLS)})")
        if not (isinstance(self.radius_m, int | float) and 0 < self.radius_m <= 0.5):
            raise ConfigError(f"metrics: radius_m {self.radius_m!r} must be > 0 and <= 0.5 m")
        if self.up_sign not in (None, 1, -1):
            raise ConfigError(f"metrics: up_sign {self.up_sign!r} must be +1, -1 or None")
        if self.contact_off_n > self.contact_on_n:
            raise ConfigError("metrics: contact_off_n must not exceed contact_on_n")
        if self.axis_xyz is not None:
            vec = np.asarray(self.axis_xyz, dtype=float)
            if vec.shape != (3,) or not np.isfinite(vec).all() or np.linalg.norm(vec) < 1e-6:
                raise ConfigError(f"metrics: axis_xyz {self.axis_xyz!r} is not a 3-vector")
        if self.gyro_bias_rad_s is not None:
            vec = np.asarray(self.gyro_bias_rad_s, dtype=float)
            if vec.shape != (3,) or not np.isfinite(vec).all():
                raise ConfigError(f"metrics: gyro_bias_rad_s {self.gyro_bias_rad_s!r} invalid")

    @property
    def sign_known(self) -> bool:
        """True when 'up the limb' is known (axis and up sign both given, not a ball)."""
        return self.axis_xyz is not None and self.up_sign is not None and self.tool != "ball"


def settings_from_meta(meta: dict, **overrides) -> MetricsSettings:
    """MetricsSettings from recording metadata (tool, radius_m, axis, up); overrides win.

    Overrides with value None are ignored (handy for optional command-line flags).
    """
    fields: dict = {}
    if "tool" in meta:
        fields["tool"] = str(meta["tool"])
    if "radius_m" in meta:
        fields["radius_m"] = float(meta["radius_m"])
    if meta.get("axis") is not None:
        fields["axis_xyz"] = tuple(float(v) for v in meta["axis"])
    if meta.get("up") is not None:
        fields["up_sign"] = int(meta["up"])
    if meta.get("gyro_bias_rad_s") is not None:
        fields["gyro_bias_rad_s"] = tuple(float(v) for v in meta["gyro_bias_rad_s"])
    fields.update({k: v for k, v in overrides.items() if v is not None})
    if "radius_m" not in fields:
        raise ConfigError("metrics: no radius_m in the recording or on the command line")
    return MetricsSettings(**fields)


class MetricsEngine:
    """Streaming metrics: `.update(block)` per Block, `.finish()` at the end, `.summary()`."""

    def __init__(self, settings: MetricsSettings, *, trace: bool = False) -> None:
        self.settings = settings
        # trace=True keeps per-sample arrays (t, rest, still, contact, bias, speed) for analysis
        self.trace: dict[str, list[np.ndarray]] | None = (
            {k: [] for k in ("t_s", "rest", "still", "contact", "bias_rad_s", "speed_mps",
                             "position_m")} if trace else None)
        self.passes: list[Pass] = []
        self.holds: list[Hold] = []
        self._finished = False
        s = settings
        self._prior = np.zeros(3) if s.gyro_bias_rad_s is None else np.array(s.gyro_bias_rad_s)
        self._fixed_axis = None if s.axis_xyz is None or s.tool == "ball" else (
            np.asarray(s.axis_xyz, float) / np.linalg.norm(s.axis_xyz)
        )
        self._win = WindowBuffer(max(s.rest_window_s, s.still_window_s) + 0.5)
        self._n = 0  # samples seen
        self._t0 = math.nan
        self._t_last = -math.inf
        self._prev_wc = np.zeros(3)  # bias-removed gyro of the last sample
        self._prev_speed = 0.0
        # rest (still) detector and bias
        self._rest_raw = False
        self._rest_start_t = math.nan
        self._rest_start_n = 0
        self._rest_prefix = np.zeros(3)  # cumulative gyro before the rest run started
        self._bias = self._prior.copy()
        self._bias_learned = False
        # contact
        self._contact = False
        # axis
        self._axis = None if self._fixed_axis is None else self._fixed_axis.copy()
        self._scatter = np.zeros((3, 3))
        self._pending = np.zeros((3, 3))
        self._scatter_weak = np.zeros((3, 3))
        self._pending_weak = np.zeros((3, 3))
        self._strong_s = 0.0  # time of strong rotation seen (s)
        self._weak_s = 0.0  # time of rotation above the weak threshold (s)
        self._theta_pre = np.zeros(3)  # integrated rotation before any axis is known
        self._first_strong: np.ndarray | None = None
        self._sign = float(s.up_sign) if s.sign_known else (1.0 if self._axis is None else 0.0)
        # cumulative [x, path, moving_s, force*dt rolling, dt rolling with force]
        self._q = np.zeros(5)
        # passes (zigzag on x)
        self._dir = 0
        self._ext = np.zeros(6)  # [t, x, path, moving, fdt, tdt] at the running extreme
        self._ext2 = np.zeros(6)  # direction 0: max in _ext, min in _ext2
        self._turn = np.zeros(6)
        self._seeded = False
        # holds
        self._last_hold_t = -math.inf
        self._hold_active = False
        self._hold_start_t = math.nan
        self._hold_hist = np.zeros(FORCE_BINS, dtype=np.int64)
        self._hold_hist_n = 0
        # totals
        self._contact_s = 0.0
        self._rolling_s = 0.0
        self._force_dt = 0.0
        self._force_peak = -math.inf
        self._has_force = False
        self._speed_dt = 0.0
        self._speed_hist = np.zeros(SPEED_BINS)
        self._dir_force = np.zeros(2)  # raw sign +, -
        self._dir_time = np.zeros(2)
        self._last = None  # last Metrics

    # ------------------------------------------------------------------ public
    def update(self, block: Block) -> Metrics:
        """Process one Block; Metrics at its last sample (new passes/holds completed in it)."""
        if self._finished:
            raise RuntimeError("MetricsEngine: update() after finish()")
        t, w, a, f = _clean(block, self._t_last)
        if len(t) == 0:
            return self._last if self._last is not None else self._empty_metrics()
        return self._process(t, w, a, f)

    def finish(self) -> Metrics:
        """Close an open pass and an open hold at the end of the data (idempotent)."""
        if self._finished:
            return replace(self._last, new_passes=(), new_holds=()) if self._last else \
                self._empty_metrics()
        self._finished = True
        new_passes: list[Pass] = []
        new_holds: list[Hold] = []
        if self._dir != 0:
            self._emit_pass(self._turn, self._ext, new_passes)
        if self._hold_active:
            self._close_hold(self._last_hold_t, new_holds)
            self._hold_active = False
        base = self._last if self._last is not None else self._empty_metrics()
        self._last = replace(
            base, new_passes=tuple(new_passes), new_holds=tuple(new_holds),
            passes=len(self.passes), holding=False, hold_s=0.0,
            distance_m=self.distance_m,
        )
        return self._last

    @property
    def distance_m(self) -> float:
        """Sum of completed pass lengths (m)."""
        return float(sum(p.length_m for p in self.passes))

    @property
    def bias_rad_s(self) -> np.ndarray:
        """The gyro bias in use now (rad/s)."""
        return self._bias.copy()

    @property
    def axis_xyz(self) -> np.ndarray | None:
        """The roll axis in use now (unit vector in the sensor frame), None if not known yet."""
        return None if self._axis is None else self._axis.copy()

    def summary(self) -> dict:
        """The DESIGN §3.2 metric fields; finishes the engine first."""
        self.finish()
        lengths = [p.length_m for p in self.passes]
        dur = 0.0 if math.isnan(self._t0) else self._t_last - self._t0
        has_f = self._has_force
        return {
            "duration_s": float(dur),
            "contact_s": float(self._contact_s) if has_f else None,
            "distance_m": self.distance_m,
            "passes": len(self.passes),
            "pass_length_m": {
                "mean": float(np.mean(lengths)) if lengths else None,
                "max": float(np.max(lengths)) if lengths else None,
            },
            "speed_mps": {
                "mean": self._speed_dt / self._rolling_s if self._rolling_s > 0 else None,
                "p95": weighted_quantile(self._speed_hist, SPEED_BIN_MPS, 0.95),
            },
            "holds": [
                {"start_s": h.start_s, "duration_s": h.duration_s,
                 "force_n": None if math.isnan(h.force_n) else h.force_n}
                for h in self.holds
            ],
            "force_n": {
                "mean": self._force_dt / self._contact_s if has_f and self._contact_s > 0
                else None,
                "peak": float(self._force_peak) if has_f and self._contact_s > 0 else None,
            },
            "force_by_direction_n": self._force_by_direction(),
        }

    # ------------------------------------------------------------------ pipeline
    def _process(self, t, w, a, f) -> Metrics:
        s = self.settings
        n = len(t)
        if self._n == 0:
            self._t0 = float(t[0])
        dt = np.empty(n)
        dt[0] = 0.0 if self._n == 0 else t[0] - self._t_last
        np.subtract(t[1:], t[:-1], out=dt[1:])
        has_f = np.isfinite(f)
        fz = np.where(has_f, f, 0.0)

        # windowed statistics from cumulative sums (exact across block splits)
        rows = np.empty((n, 8))
        rows[:, 0:3] = w
        rows[:, 3] = np.einsum("ij,ij->i", w, w)
        rows[:, 4:7] = a
        rows[:, 7] = np.einsum("ij,ij->i", a, a)
        cum, first_row = self._win.append(t, rows)
        r_mean, r_cnt = self._win.window_mean(t, first_row, s.rest_window_s)
        var_w = r_mean[:, 3] - np.einsum("ij,ij->i", r_mean[:, 0:3], r_mean[:, 0:3])
        var_a = r_mean[:, 7] - np.einsum("ij,ij->i", r_mean[:, 4:7], r_mean[:, 4:7])
        rest_raw = (
            (var_w < s.rest_gyro_max_rad_s ** 2)
            & (var_a < s.rest_accel_max_m_s2 ** 2)
            & (np.abs(r_mean[:, 0:3] - self._prior).max(axis=1) < s.rest_bias_clip_rad_s)
        )
        rest, bias = self._rest_and_bias(t, cum[:, 0:3], rest_raw)

        contact = schmitt(fz > s.contact_on_n, (fz < s.contact_off_n) & has_f, self._contact)
        self._contact = bool(contact[-1])
        engaged = contact | ~has_f

        wc = w - bias
        # smoothed (window-mean) rotation -> tissue speed, for still detection and display
        s_mean, _ = self._win.window_mean(t, first_row, s.still_window_s, cols=slice(0, 3))
        m_rot = s_mean - bias
        win_speed = s.radius_m * np.sqrt(np.einsum("ij,ij->i", m_rot, m_rot))
        still = win_speed < s.hold_speed_max_mps
        hold_raw = still & (contact | ~has_f)
        runs = self._hold_runs(t, hold_raw)
        # zero-velocity update: no rotation is integrated at rest or deep inside a hold (while
        # the instantaneous speed stays low too, so the start of the next move is not lost)
        rate2 = np.einsum("ij,ij->i", wc, wc)
        slow = rate2 * s.radius_m ** 2 < (0.5 * s.hold_speed_max_mps) ** 2
        zupt = rest | (hold_raw & slow & (t - runs[2] >= s.hold_zupt_after_s))

        wc_prev = np.empty_like(wc)
        wc_prev[0] = self._prev_wc
        wc_prev[1:] = wc[:-1]
        self._prev_wc = wc[-1].copy()
        gate = engaged & ~zupt
        dtheta = (wc_prev + wc) * (0.5 * dt * gate)[:, None]

        proj, axis_rows = self._project(wc, dtheta, dt, gate)
        vel = s.radius_m * np.einsum("ij,ij->i", axis_rows, wc) * gate
        if s.tool == "ball":
            speed = s.radius_m * np.sqrt(np.einsum("ij,ij->i", wc, wc)) * gate
            speed[speed < s.ball_deadband_mps] = 0.0
        else:
            known = axis_rows.any(axis=1)
            speed = np.where(known, np.abs(vel),
                             s.radius_m * np.sqrt(np.einsum("ij,ij->i", wc, wc)) * gate)
        rolling = engaged & ~still & ~zupt

        # cumulative per-sample quantities for passes
        speed_prev = np.empty(n)
        speed_prev[0] = self._prev_speed
        speed_prev[1:] = speed[:-1]
        self._prev_speed = float(speed[-1])
        roll_f = rolling & has_f
        inc = np.empty((n + 1, 5))
        inc[0] = self._q
        inc[1:, 0] = s.radius_m * proj
        inc[1:, 1] = 0.5 * (speed_prev + speed) * dt
        inc[1:, 2] = dt * rolling
        inc[1:, 3] = fz * dt * roll_f
        inc[1:, 4] = dt * roll_f
        q = np.cumsum(inc, axis=0)[1:]
        self._q = q[-1].copy()

        self._totals(dt, fz, has_f, contact, rolling, speed, vel)
        new_passes: list[Pass] = []
        self._zigzag(t, q, new_passes)
        new_holds: list[Hold] = []
        self._holds(t, hold_raw, runs, fz, has_f, new_holds)

        self._n += n
        self._t_last = float(t[-1])
        sign = self._sign if self._sign != 0 else 1.0
        if self.trace is not None:
            for key, arr in (("t_s", t), ("rest", rest), ("still", still), ("contact", contact),
                             ("bias_rad_s", bias), ("speed_mps", speed),
                             ("position_m", q[:, 0] * sign)):
                self.trace[key].append(np.array(arr))
        hold_s = (self._t_last - self._hold_rep_start()) if self._hold_active else 0.0
        holding = self._hold_active and hold_s >= s.hold_min_s
        vel_now = float(np.dot(axis_rows[-1], m_rot[-1]) * s.radius_m * sign)
        self._last = Metrics(
            t_s=self._t_last,
            speed_mps=float(win_speed[-1]),
            velocity_mps=vel_now,
            position_m=float(q[-1, 0] * sign),
            force_n=float(f[-1]),
            contact=bool(contact[-1]) and bool(has_f[-1]),
            still=bool(still[-1]),
            holding=holding,
            hold_s=float(hold_s) if holding else 0.0,
            passes=len(self.passes),
            rolling_s=float(self._rolling_s),
            contact_s=float(self._contact_s),
            distance_m=self.distance_m + self._open_leg_m(),
            new_passes=tuple(new_passes),
            new_holds=tuple(new_holds),
        )
        return self._last

    # ------------------------------------------------------------------ stages
    def _rest_and_bias(self, t, gcum, rest_raw):
        """Rest runs (>= rest_min_s) and the bias per sample: mean gyro over the rest run."""
        s = self.settings
        n = len(t)
        prev = np.empty(n, dtype=bool)
        prev[0] = self._rest_raw
        prev[1:] = rest_raw[:-1]
        starts = rest_raw & ~prev
        idx = ffill_index(starts)
        gidx = self._n + np.arange(n)
        start_t = np.append(t, self._rest_start_t)[idx]
        start_n = np.append(gidx, self._rest_start_n)[idx]
        gpre = np.empty((n + 1, 3))
        gpre[0] = self._win.prev_cum[0:3]
        gpre[1:n] = gcum[:-1]
        gpre[n] = self._rest_prefix
        prefix = gpre[np.where(idx >= 0, idx, n)]
        rest = rest_raw & (t - start_t >= s.rest_min_s)
        run_bias = (gcum - prefix) / (gidx - start_n + 1)[:, None]
        last = ffill_index(rest)
        bias_ext = np.empty((n + 1, 3))
        bias_ext[:n] = run_bias
        bias_ext[n] = self._bias
        bias = bias_ext[np.where(last >= 0, last, n)]
        if rest.any():
            self._bias_learned = True
        self._bias = bias[-1].copy()
        self._rest_raw = bool(rest_raw[-1])
        if self._rest_raw:
            self._rest_start_t = float(start_t[-1])
            self._rest_start_n = int(start_n[-1])
            self._rest_prefix = prefix[-1].copy()
        return rest, bias

    def _project(self, wc, dtheta, dt, gate):
        """Per-sample projection of the rotation increment on the roll axis, and the axis rows."""
        n = len(wc)
        if self._fixed_axis is not None:
            axis = self._fixed_axis
            if self._sign == 0.0:
                self._learn_sign_fixed(wc, gate)
            return dtheta @ axis, np.broadcast_to(axis, (n, 3))
        s = self.settings
        rate2 = np.einsum("ij,ij->i", wc, wc)
        weak = gate & (rate2 > s.axis_weak_rad_s ** 2)
        strong = weak & (rate2 > s.axis_strong_rad_s ** 2)
        if self._first_strong is None and weak.any():
            self._first_strong = wc[int(np.argmax(weak))].copy()
        wdt = dt * weak
        sdt = dt * strong
        cum = np.cumsum(np.append(self._weak_s, wdt))[1:]
        k_prev = math.floor(self._weak_s / s.axis_update_s)
        ks = np.floor(cum / s.axis_update_s)
        checkpoints = np.flatnonzero(ks > np.append(k_prev, ks[:-1]))
        self._weak_s = float(cum[-1])
        axis_rows = np.zeros((n, 3))
        proj = np.zeros(n)
        lo = 0
        for c in checkpoints:
            self._apply_axis(axis_rows, proj, dtheta, lo, c + 1)
            self._accumulate_scatter(wc, wdt, sdt, lo, c + 1)
            first = self._axis is None
            self._update_axis()
            if first:
                proj[c] += float(self._axis @ self._theta_pre)
                self._theta_pre[:] = 0.0
            lo = c + 1
        self._apply_axis(axis_rows, proj, dtheta, lo, n)
        self._accumulate_scatter(wc, wdt, sdt, lo, n)
        return proj, axis_rows

    def _accumulate_scatter(self, wc, wdt, sdt, lo, hi) -> None:
        if hi <= lo:
            return
        seg = wc[lo:hi]
        self._pending_weak += (seg * wdt[lo:hi, None]).T @ seg
        self._pending += (seg * sdt[lo:hi, None]).T @ seg
        self._strong_s += float(sdt[lo:hi].sum())

    def _apply_axis(self, axis_rows, proj, dtheta, lo, hi):
        if hi <= lo:
            return
        if self._axis is None:
            self._theta_pre += dtheta[lo:hi].sum(axis=0)
        else:
            axis_rows[lo:hi] = self._axis
            proj[lo:hi] = dtheta[lo:hi] @ self._axis

    def _update_axis(self) -> None:
        """Principal axis of the strong-rotation scatter; sign kept continuous."""
        s = self.settings
        keep = s.ball_axis_memory if s.tool == "ball" else 1.0
        self._scatter = keep * self._scatter + self._pending
        self._scatter_weak = keep * self._scatter_weak + self._pending_weak
        self._pending = np.zeros((3, 3))
        self._pending_weak = np.zeros((3, 3))
        use = self._scatter if self._strong_s >= s.axis_update_s else self._scatter_weak
        vals, vecs = np.linalg.eigh(use)
        axis = vecs[:, -1]
        ref = self._axis if self._axis is not None else self._first_strong
        if ref is not None and float(axis @ ref) < 0:
            axis = -axis
        self._axis = axis

    def _learn_sign_fixed(self, wc, gate) -> None:
        """Fixed axis, unknown up: the first strong rotation's direction defines +."""
        s = self.settings
        p = wc @ self._fixed_axis
        strong = gate & (np.abs(p) > s.axis_weak_rad_s)
        if strong.any():
            self._sign = 1.0 if p[int(np.argmax(strong))] > 0 else -1.0

    def _totals(self, dt, fz, has_f, contact, rolling, speed, vel) -> None:
        s = self.settings
        cdt = dt * (contact & has_f)
        self._contact_s += float(cdt.sum())
        self._force_dt += float(fz @ cdt)
        if has_f.any():
            self._has_force = True
            if (contact & has_f).any():
                self._force_peak = max(self._force_peak, float(fz[contact & has_f].max()))
        rdt = dt * rolling
        self._rolling_s += float(rdt.sum())
        self._speed_dt += float(speed @ rdt)
        if rolling.any():
            bins = np.minimum((speed[rolling] / SPEED_BIN_MPS).astype(np.int64), SPEED_BINS - 1)
            h = np.bincount(bins, weights=rdt[rolling])
            self._speed_hist[: len(h)] += h
        if self._has_force:
            up = rolling & has_f & (vel > 0.1 * s.hold_speed_max_mps)
            dn = rolling & has_f & (vel < -0.1 * s.hold_speed_max_mps)
            self._dir_force += (float(fz @ (dt * up)), float(fz @ (dt * dn)))
            self._dir_time += (float(dt @ up), float(dt @ dn))

    def _zigzag(self, t, q, out: list[Pass]) -> None:
        """Turnarounds: the position retreats min_pass_m from its running extreme."""
        h = self.settings.min_pass_m
        x = q[:, 0]
        n = len(x)
        if not self._seeded:
            first = np.array([t[0], *q[0]])
            self._ext = first.copy()
            self._ext2 = first.copy()
            self._seeded = True
        i0 = 0
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

    @staticmethod
    def _track(t, q, lo, hi, d, ext) -> None:
        """Move the extreme `ext` (in place) to the first strictly better sample in [lo, hi)."""
        if hi <= lo:
            return
        seg = q[lo:hi, 0] * d
        k = int(np.argmax(seg))
        if seg[k] > ext[1] * d:
            ext[0] = t[lo + k]
            ext[1:] = q[lo + k]

    def _emit_pass(self, a, b, out: list[Pass]) -> None:
        s = self.settings
        dx = b[1] - a[1]
        length = (b[2] - a[2]) if s.tool == "ball" else abs(dx)
        if length < s.min_pass_m or abs(dx) < 1e-12:
            return
        moving = b[3] - a[3]
        duration = b[0] - a[0]
        speed = length / moving if moving > 0 else (length / duration if duration > 0 else 0.0)
        ftime = b[5] - a[5]
        force = (b[4] - a[4]) / ftime if ftime > 0 else math.nan
        sign = self._sign
        direction = int(np.sign(dx) * sign) if sign != 0 else 0
        p = Pass(start_s=float(a[0]), end_s=float(b[0]), length_m=float(length),
                 direction=direction, mean_speed_mps=float(speed), mean_force_n=float(force))
        self.passes.append(p)
        out.append(p)

    def _open_leg_m(self) -> float:
        if self._dir == 0:
            return 0.0
        if self.settings.tool == "ball":
            return float(self._q[1] - self._turn[2])
        return float(abs(self._ext[1] - self._turn[1]))

    def _hold_runs(self, t, hold_raw):
        """Per sample: time of the last still-under-contact sample, whether a hold run is
        active (gaps shorter than hold_merge_gap_s do not end it) and when that run started."""
        n = len(t)
        idx = ffill_index(hold_raw)
        last_t = np.append(t, self._last_hold_t)[np.where(idx >= 0, idx, n)]
        active = (t - last_t) < self.settings.hold_merge_gap_s
        prev = np.empty(n, dtype=bool)
        prev[0] = self._hold_active
        prev[1:] = active[:-1]
        sidx = ffill_index(active & ~prev)
        start_t = np.append(t, self._hold_start_t)[np.where(sidx >= 0, sidx, n)]
        start_t = np.where(active, start_t, np.inf)
        return last_t, active, start_t, prev

    def _holds(self, t, hold_raw, runs, fz, has_f, out: list[Hold]) -> None:
        """Emit holds: runs of still under contact lasting at least hold_min_s."""
        n = len(t)
        last_t, active, _, prev = runs
        edges = np.flatnonzero(active != prev)
        lo = 0
        bins = None
        if has_f.any():
            bins = np.clip(np.rint(fz / FORCE_BIN_N), 0, FORCE_BINS - 1).astype(np.int64)
        for e in edges:
            self._hold_accumulate(bins, hold_raw & has_f, lo, e)
            if active[e]:
                self._hold_active = True
                self._hold_start_t = float(t[e])
                self._hold_hist[:] = 0
                self._hold_hist_n = 0
            else:
                self._close_hold(float(last_t[e]), out)
                self._hold_active = False
            lo = e
        self._hold_accumulate(bins, hold_raw & has_f, lo, n)
        self._last_hold_t = float(last_t[-1])

    def _hold_accumulate(self, bins, mask, lo, hi) -> None:
        if not self._hold_active or bins is None or hi <= lo:
            return
        sel = bins[lo:hi][mask[lo:hi]]
        if len(sel):
            h = np.bincount(sel)
            self._hold_hist[: len(h)] += h
            self._hold_hist_n += len(sel)

    def _hold_rep_start(self) -> float:
        """Reported hold start: the still window lags by about half its length."""
        return max(self._t0, self._hold_start_t - 0.5 * self.settings.still_window_s)

    def _close_hold(self, end_t: float, out: list[Hold]) -> None:
        start = self._hold_rep_start()
        end_t = max(start, end_t - 0.5 * self.settings.still_window_s)
        duration = end_t - start
        if duration < self.settings.hold_min_s:
            return
        force = math.nan
        if self._hold_hist_n:
            cum = np.cumsum(self._hold_hist)
            force = float(np.searchsorted(cum, 0.5 * self._hold_hist_n) * FORCE_BIN_N)
        hold = Hold(start_s=float(start), duration_s=float(duration), force_n=force)
        self.holds.append(hold)
        out.append(hold)

    def _force_by_direction(self) -> dict:
        if not (self.settings.sign_known and self._has_force):
            return {"up": None, "down": None}
        pairs = zip(self._dir_force, self._dir_time, strict=True)
        means = [fdt / tt if tt > 0 else None for fdt, tt in pairs]
        up_raw, down_raw = means if self.settings.up_sign > 0 else means[::-1]
        return {"up": up_raw, "down": down_raw}

    def _empty_metrics(self) -> Metrics:
        return Metrics(t_s=0.0 if math.isinf(self._t_last) else self._t_last, speed_mps=0.0,
                       velocity_mps=0.0, position_m=0.0, force_n=math.nan, contact=False,
                       still=True, holding=False, hold_s=0.0, passes=len(self.passes),
                       rolling_s=0.0, contact_s=0.0, distance_m=self.distance_m)


def _clean(block: Block, t_last: float):
    """Arrays of the block, dropping samples that are non-finite or not after `t_last`."""
    t = np.asarray(block.t_s, dtype=float)
    w = np.asarray(block.gyro_rad_s, dtype=float)
    a = np.asarray(block.accel_m_s2, dtype=float)
    f = np.asarray(block.force_n, dtype=float)
    if len(t) == 0:
        return t, w, a, f
    ok_sum = math.isfinite(float(t.sum()) + float(w.sum()) + float(a.sum()))
    if ok_sum and t[0] > t_last and (len(t) == 1 or bool((t[1:] > t[:-1]).all())):
        return t, w, a, f
    keep = np.isfinite(t) & np.isfinite(w).all(axis=1) & np.isfinite(a).all(axis=1)
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return t[:0], w[:0], a[:0], f[:0]
    tk = t[idx]
    running = np.maximum.accumulate(np.append(t_last, tk))[:-1]
    idx = idx[tk > running]
    return t[idx], w[idx], a[idx], f[idx]
