"""Turn Blocks of raw IMU + force samples into Metrics: bias, roll axis, tissue speed, position,
passes, holds, contact and force. Pure numpy, no I/O, no clock: time comes from the samples.

Physics, in order per sample:
- gyro bias: mean gyro over the latest rest (VQF-style: 0.5 s window deviation < 2 °/s and
  accel deviation < 0.5 m/s², window mean within 3 °/s of the prior, for >= 1.5 s); before any
  rest the calibration prior; without a prior, the mean over a long still period under contact.
- roll axis: given, or the principal axis of the scatter of strong rotation (> 30 °/s; weaker
  rotation only until there is some), re-estimated every 0.25 s of such rotation.
- tissue speed |ω·axis|·r (roller, stick) or |ω|·r (ball); position r·∫ω·axis dt (trapezoid,
  any dt), integrated only under contact and not at rest nor inside a hold (zero-velocity
  update; what the lagging still flag held back is restored when motion resumes).
- passes: turnarounds where the position retreats min_pass_m from its running extreme;
  length |x(turn_k) - x(turn_k-1)| (ball: the path rolled, and a hold also ends a leg).
- holds: window-mean speed < 1 cm/s under contact for >= 5 s (gaps < 0.5 s merged).
- contact: force hysteresis; force mean/peak over contact, mean per direction while rolling.

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
from firmware.metrics_state import RunMean, SpeedHistogram, WindowBuffer
from firmware.model import Block, Hold, Metrics, Pass

TOOLS = ("roller", "ball", "stick")
DEG = math.pi / 180.0
SPEED_BIN_MPS = 0.0005
SPEED_BINS = 8000  # up to 4 m/s
FORCE_BIN_N = 0.1
FORCE_BINS = 30001  # up to 3000 N
CHUNK_SAMPLES = 16384  # longer blocks are processed in pieces of this many samples
_SUM_GYRO_ACCEL = np.repeat(np.eye(2), 3, axis=0)  # (6, 2): sums of the gyro / accel columns
_TWO = np.ones(2, dtype=np.int64)
_THREE = np.ones(3, dtype=np.int64)


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
    zupt_restore_s: float = 0.5  # at the end of a zero-velocity period, restore this much
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
    """MetricsSettings from recording metadata (tool, radius_m, axis, up, gyro_bias_rad_s;
    typed or as the raw strings of the file); keyword overrides win, None overrides are
    ignored (handy for optional command-line flags). ConfigError on bad values."""
    fields: dict = {}
    try:
        if "tool" in meta:
            fields["tool"] = str(meta["tool"]).strip().lower()
        if "radius_m" in meta:
            fields["radius_m"] = float(meta["radius_m"])
        if meta.get("axis") is not None:
            fields["axis_xyz"] = _vector3(meta["axis"])
        if meta.get("up") is not None:
            fields["up_sign"] = _up_sign(meta["up"])
        if meta.get("gyro_bias_rad_s") is not None:
            fields["gyro_bias_rad_s"] = _vector3(meta["gyro_bias_rad_s"])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"metrics: bad recording metadata: {exc}") from exc
    fields.update({k: v for k, v in overrides.items() if v is not None})
    if "radius_m" not in fields:
        raise ConfigError("metrics: no radius_m in the recording or on the command line")
    return MetricsSettings(**fields)


def _vector3(value) -> tuple[float, float, float]:
    parts = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    if len(parts) != 3:
        raise ValueError(f"{value!r} is not three numbers")
    x, y, z = (float(v) for v in parts)
    return (x, y, z)


def _up_sign(value) -> int:
    text = str(value).strip()
    if text in ("+", "+1", "1"):
        return 1
    if text in ("-", "-1"):
        return -1
    raise ValueError(f"up {value!r} must be '+' or '-'")


class MetricsEngine:
    """Streaming metrics: `.update(block)` per Block, `.finish()` at the end, `.summary()`."""

    def __init__(self, settings: MetricsSettings, *, trace: bool = False) -> None:
        self.settings = settings
        # trace=True keeps per-sample arrays (t, rest, still, contact, bias, speed) for analysis
        self.trace: dict[str, list[np.ndarray]] | None = (
            {
                k: []
                for k in (
                    "t_s",
                    "rest",
                    "still",
                    "contact",
                    "bias_rad_s",
                    "speed_mps",
                    "position_m",
                )
            }
            if trace
            else None
        )
        self.passes: list[Pass] = []
        self._distance_m = 0.0
        self.holds: list[Hold] = []
        self._finished = False
        s = settings
        self._prior = np.zeros(3) if s.gyro_bias_rad_s is None else np.array(s.gyro_bias_rad_s)
        self._fixed_axis = (
            None
            if s.axis_xyz is None or s.tool == "ball"
            else (np.asarray(s.axis_xyz, float) / np.linalg.norm(s.axis_xyz))
        )
        self._win = WindowBuffer(max(s.rest_window_s, s.still_window_s) + 0.5, ncols=12)
        self._rest_var_max = np.array([s.rest_gyro_max_rad_s**2, s.rest_accel_max_m_s2**2])
        self._still_rate2 = (s.hold_speed_max_mps / s.radius_m) ** 2
        self._lost = WindowBuffer(s.zupt_restore_s + 1.0, ncols=4)  # held back by ZUPT
        self._zupt_prev = False
        self._n = 0  # samples seen
        self._t0 = math.nan
        self._t_last = -math.inf
        self._prev_wc = np.zeros(3)  # bias-removed gyro of the last sample
        self._prev_speed = 0.0
        # rest (still) detector and bias
        self._rest = RunMean(s.rest_min_s)  # strict rest (VQF): the bias source of choice
        # long still under contact: the bias when there is nothing better (no rest, no prior)
        self._loose = RunMean(s.hold_min_s, center=self._prior, clip=s.rest_bias_clip_rad_s)
        self._bias = self._prior.copy()
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
        # +1/-1 maps the raw rotation sign to "up"; 0 until the first pass defines it (relative)
        self._sign = float(s.up_sign) if s.sign_known else 0.0
        # cumulative [x, path, moving_s, force*dt rolling, dt rolling with force, θx, θy, θz]
        self._q = np.zeros(8)
        # passes (zigzag on x)
        self._dir = 0
        self._ext = np.zeros(9)  # [t, x, path, moving, fdt, tdt, θxyz] at the running extreme
        self._ext2 = np.zeros(9)  # direction 0: max in _ext, min in _ext2
        self._turn = np.zeros(9)
        self._leg0 = np.zeros(9)  # ball: where the current leg started (after a hold)
        self._seeded = False
        self._hold_qualified = False  # ball: the last sample was in a hold of hold_min_s
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
        self._speed_hist = SpeedHistogram(SPEED_BIN_MPS, SPEED_BINS)  # time-weighted
        self._dir_sums = [0.0, 0.0, 0.0, 0.0]  # force·dt and dt rolling with raw sign +, -
        self._last = None  # last Metrics

    # ------------------------------------------------------------------ public
    def update(self, block: Block) -> Metrics:
        """Process one Block; Metrics at its last sample (new passes/holds completed in it).

        Long blocks are processed in chunks of CHUNK_SAMPLES (results do not depend on how
        the data is split), which bounds memory for whole recordings."""
        if self._finished:
            raise RuntimeError("MetricsEngine: update() after finish()")
        if len(block) <= CHUNK_SAMPLES:
            return self._update(block)
        passes: list[Pass] = []
        holds: list[Hold] = []
        for start in range(0, len(block), CHUNK_SAMPLES):
            m = self._update(block.slice(start, start + CHUNK_SAMPLES))
            passes += m.new_passes
            holds += m.new_holds
        self._last = replace(m, new_passes=tuple(passes), new_holds=tuple(holds))
        return self._last

    def _update(self, block: Block) -> Metrics:
        t, w, a, f = block.t_s, block.gyro_rad_s, block.accel_m_s2, block.force_n
        if len(t) == 0:
            return self._last if self._last is not None else self._empty_metrics()
        prep = self._prepare(t, w, a)
        if prep is None:  # non-finite or non-increasing samples: drop them
            t, w, a, f = _clean(block, self._t_last)
            if len(t) == 0:
                return self._last if self._last is not None else self._empty_metrics()
            prep = self._prepare(t, w, a)
        return self._process(t, w, a, np.asarray(f, dtype=float), *prep)

    def finish(self) -> Metrics:
        """Close an open pass and an open hold at the end of the data (idempotent)."""
        if self._finished:
            return (
                replace(self._last, new_passes=(), new_holds=())
                if self._last
                else self._empty_metrics()
            )
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
            base,
            new_passes=tuple(new_passes),
            new_holds=tuple(new_holds),
            passes=len(self.passes),
            holding=False,
            hold_s=0.0,
            distance_m=self.distance_m,
        )
        return self._last

    @property
    def distance_m(self) -> float:
        """Sum of completed pass lengths (m)."""
        return self._distance_m

    @property
    def bias_rad_s(self) -> np.ndarray:
        """The gyro bias in use now (rad/s)."""
        return self._bias.copy()

    @property
    def axis_xyz(self) -> np.ndarray | None:
        """The roll axis in use now (unit vector in the sensor frame), None if not known yet."""
        return None if self._axis is None else self._axis.copy()

    def summary(self) -> dict:
        """The DESIGN §3.2 metric fields, as if the data ended now (an open pass or hold is
        included the way finish() would close it; the engine itself is not changed)."""
        passes, holds = list(self.passes), list(self.holds)
        if not self._finished:
            open_pass = self._make_pass(self._turn, self._ext) if self._dir != 0 else None
            open_hold = self._make_hold(self._last_hold_t) if self._hold_active else None
            passes += [open_pass] if open_pass is not None else []
            holds += [open_hold] if open_hold is not None else []
        lengths = [p.length_m for p in passes]
        dur = 0.0 if math.isnan(self._t0) else self._t_last - self._t0
        has_f = self._has_force
        return {
            "duration_s": float(dur),
            "contact_s": float(self._contact_s) if has_f else None,
            "distance_m": float(sum(lengths)),
            "passes": len(passes),
            "pass_length_m": {
                "mean": float(np.mean(lengths)) if lengths else None,
                "max": float(np.max(lengths)) if lengths else None,
            },
            "speed_mps": {
                "mean": self._speed_dt / self._rolling_s if self._rolling_s > 0 else None,
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
                "mean": self._force_dt / self._contact_s if has_f and self._contact_s > 0 else None,
                "peak": float(self._force_peak) if has_f and self._contact_s > 0 else None,
            },
            "force_by_direction_n": self._force_by_direction(),
        }

    # ------------------------------------------------------------------ pipeline
    def _prepare(self, t, w, a):
        """Sample intervals and window rows [ω, a, ω², a²]; None if samples need cleaning."""
        n = len(t)
        dt = np.empty(n)
        first = self._n == 0
        dt[0] = 0.0 if first else t[0] - self._t_last
        np.subtract(t[1:], t[:-1], out=dt[1:])
        if (
            not math.isfinite(t[0])
            or (n > 1 and not dt[1:].min() > 0)
            or (not first and not dt[0] > 0)
        ):
            return None
        rows = np.concatenate((w, a, w * w, a * a), axis=1)
        if not math.isfinite(rows.sum()):
            return None
        return dt, rows

    def _process(self, t, w, a, f, dt, rows) -> Metrics:
        s = self.settings
        n = len(t)
        r = s.radius_m
        if self._n == 0:
            self._t0 = float(t[0])
        has_f = np.isfinite(f)
        allf = bool(has_f.all())
        fz = f if allf else np.where(has_f, f, 0.0)

        contact = self._contact_of(fz, has_f, allf)
        engaged = contact if allf else (contact | ~has_f)
        # rest detector (VQF style) on window statistics, then the bias
        cum, first_row = self._win.append(t, rows)
        m = self._win.window_mean(t, first_row, s.rest_window_s)
        var = (m[:, 6:12] - m[:, 0:6] ** 2) @ _SUM_GYRO_ACCEL  # (n, 2): gyro, accel
        near_prior = (np.abs(m[:, 0:3] - self._prior) < s.rest_bias_clip_rad_s) @ _THREE == 3
        rest_raw = ((var < self._rest_var_max) @ _TWO == 2) & near_prior
        ms_raw = self._win.window_mean(t, first_row, s.still_window_s, cols=slice(0, 3))
        d = ms_raw - self._prior
        loose_raw = engaged & (np.einsum("ij,ij->i", d, d) < self._still_rate2)
        rest, bias, rest_any = self._rest_and_bias(t, cum[:, 0:3], rest_raw, loose_raw)
        wc = w - bias
        # smoothed rotation -> still (tissue speed below the hold speed)
        ms = ms_raw - bias
        still = np.einsum("ij,ij->i", ms, ms) < self._still_rate2
        hold_raw = still & engaged
        runs = self._hold_runs(t, hold_raw)
        rate2 = None
        # zero-velocity update: nothing is integrated at rest or deep inside a hold; what the
        # lagging still flag hid at the end of one is restored when it ends (_restore_lost)
        zupt = rest if rest_any else None
        if runs is not None:
            deep = runs[1] & (t - runs[2] >= s.hold_zupt_after_s)
            zupt = deep if zupt is None else (deep | zupt)
        gate = engaged if zupt is None else (engaged & ~zupt)
        ext = np.empty((n + 1, 3))
        ext[0] = self._prev_wc
        ext[1:] = wc
        self._prev_wc = ext[n].copy()
        dtheta_all = (ext[:-1] + ext[1:]) * (0.5 * dt * engaged)[:, None]
        dtheta = dtheta_all if zupt is None else dtheta_all * ~zupt[:, None]
        restored = None
        if zupt is not None or self._zupt_prev:
            last_t = None if runs is None else runs[0]
            restored = self._restore_lost(t, dt, zupt, dtheta_all, dtheta, wc, engaged, last_t)
            if restored is not None:  # the held-back rotation re-enters at the end sample
                dtheta = dtheta.copy() if dtheta is dtheta_all else dtheta
                dtheta[restored[0]] += restored[1][:, 1:4]

        proj, axis = self._project(wc, dtheta, dt, gate, rate2)
        vel, speed, axis_last = self._speeds(wc, gate, axis, rate2)
        rolling = (engaged & ~still) if zupt is None else (engaged & ~still & ~zupt)
        rdt = dt * rolling
        rdt_f = rdt if allf else rdt * has_f

        inc = np.empty((n + 1, 8))
        inc[0] = self._q
        np.multiply(proj, r, out=inc[1:, 0])
        if s.tool == "ball":  # path along the surface (trapezoid of the gated speed)
            inc[1, 1] = self._prev_speed + speed[0]
            np.add(speed[1:], speed[:-1], out=inc[2:, 1])
            inc[1:, 1] *= 0.5 * dt
            self._prev_speed = float(speed[-1])
        else:
            inc[1:, 1] = 0.0
        inc[1:, 2] = rdt
        np.multiply(fz, rdt_f, out=inc[1:, 3])
        inc[1:, 4] = rdt_f
        inc[1:, 5:8] = dtheta  # integrated rotation (rad): the ball's net roll
        if restored is not None and s.tool == "ball":
            inc[1 + restored[0], 1] += restored[1][:, 0]
        q = np.cumsum(inc, axis=0)[1:]
        self._q = q[-1].copy()

        self._totals(dt, fz, has_f, allf, contact, rdt, rdt_f, speed, vel)
        new_passes: list[Pass] = []
        self._passes_of(t, q, runs, new_passes)
        new_holds: list[Hold] = []
        if runs is not None:
            self._holds(t, hold_raw, runs, fz, has_f, new_holds)

        self._n += n
        self._t_last = float(t[-1])
        sign = self._sign if self._sign != 0 else 1.0
        if self.trace is not None:
            self._record_trace(t, rest, still, contact, bias, speed, q[:, 0] * sign)
        return self._metrics(
            f, contact, has_f, still, ms[-1], axis_last, sign, q, new_passes, new_holds
        )

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
        for k in np.flatnonzero(qual & ~prev):
            self._zigzag(t, q, out, lo, k)
            self._break_leg(t, q, k, out)
            lo = k
        self._zigzag(t, q, out, lo, len(t))

    def _metrics(
        self, f, contact, has_f, still, ms_last, axis_last, sign, q, new_passes, new_holds
    ) -> Metrics:
        s = self.settings
        hold_s = (self._t_last - self._hold_rep_start()) if self._hold_active else 0.0
        holding = self._hold_active and hold_s >= s.hold_min_s
        speed_now = s.radius_m * math.sqrt(float(ms_last @ ms_last))
        vel_now = 0.0 if axis_last is None else s.radius_m * float(axis_last @ ms_last) * sign
        self._last = Metrics(
            t_s=self._t_last,
            speed_mps=speed_now,
            velocity_mps=vel_now,
            position_m=float(q[-1, 0] * sign),
            force_n=float(f[-1]),
            contact=bool(contact[-1]) and bool(has_f[-1]),
            still=bool(still[-1]),
            holding=holding,
            hold_s=float(hold_s) if holding else 0.0,
            passes=len(self.passes),
            rolling_s=self._rolling_s,
            contact_s=self._contact_s,
            distance_m=self._distance_m + self._open_leg_m(),
            new_passes=tuple(new_passes),
            new_holds=tuple(new_holds),
        )
        return self._last

    def _record_trace(self, t, rest, still, contact, bias, speed, position) -> None:
        n = len(t)
        bias = np.broadcast_to(bias, (n, 3))
        for key, arr in (
            ("t_s", t),
            ("rest", rest),
            ("still", still),
            ("contact", contact),
            ("bias_rad_s", bias),
            ("speed_mps", speed),
            ("position_m", position),
        ):
            self.trace[key].append(np.array(arr))

    # ------------------------------------------------------------------ stages
    def _rest_and_bias(self, t, gcum, rest_raw, loose_raw):
        """Bias per sample: the mean gyro over the latest rest (>= rest_min_s, VQF-style);
        without a rest yet, the calibration prior; without a prior either, the mean gyro over
        the latest long still period under contact (>= hold_min_s), where the user's
        micro-motion averages out. Returns (rest mask, bias (3,) or (n, 3), any rest)."""
        n = len(t)
        loose_on = self.settings.gyro_bias_rad_s is None and self._rest.value is None
        if self._rest.idle(rest_raw) and (not loose_on or self._loose.idle(loose_raw)):
            return np.zeros(n, dtype=bool), self._bias, False
        prev_cum = self._win.prev_cum[0:3]
        bias = np.empty((n, 3))
        bias[:] = self._bias if self._rest.value is not None else self._prior
        if loose_on:
            _, values, has = self._loose.update(t, self._n, gcum, prev_cum, loose_raw)
            bias[has] = values[has]
        rest, values, has = self._rest.update(t, self._n, gcum, prev_cum, rest_raw)
        bias[has] = values[has]
        self._bias = bias[-1].copy()
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
        """Projection of each rotation increment on the roll axis, and the axis in use:
        None (not known yet), a (3,) vector, or (n, 3) rows when it changed in the block."""
        n = len(wc)
        if self._fixed_axis is not None:
            return dtheta @ self._fixed_axis, self._fixed_axis
        s = self.settings
        if rate2 is None:
            rate2 = np.einsum("ij,ij->i", wc, wc)
        weak = gate & (rate2 > s.axis_weak_rad_s**2)
        wdt = dt * weak
        cum = np.cumsum(np.concatenate(((self._weak_s,), wdt)))[1:]
        k_prev = math.floor(self._weak_s / s.axis_update_s)
        self._weak_s = float(cum[-1])
        if self._first_strong is None and weak.any():
            self._first_strong = wc[int(np.argmax(weak))].copy()
        sdt = wdt * (rate2 > s.axis_strong_rad_s**2)
        if math.floor(self._weak_s / s.axis_update_s) == k_prev:  # no re-estimate here
            self._accumulate_scatter(wc, wdt, sdt, 0, n)
            if self._axis is None:
                self._theta_pre += dtheta.sum(axis=0)
                return np.zeros(n), None
            return dtheta @ self._axis, self._axis
        ks = np.floor(cum / s.axis_update_s)
        checkpoints = np.flatnonzero(ks > np.concatenate(((k_prev,), ks[:-1])))
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
        edges = np.flatnonzero(prev & ~z)
        if not len(edges):
            return None
        extra = 0.0
        if last_t is not None:
            extra = np.clip(t[edges] - last_t[edges], 0.0, s.hold_merge_gap_s + 0.1)
        return edges, self._lost.window_sum_at(t, first_row, edges, s.zupt_restore_s + extra)

    def _speeds(self, wc, gate, axis, rate2):
        """Signed velocity along the axis (m/s, raw sign), unsigned tissue speed (m/s), and
        the axis in use at the last sample."""
        s = self.settings
        r = s.radius_m
        n = len(wc)
        if axis is None:
            vel = np.zeros(n)
            axis_last = None
        elif axis.ndim == 1:
            vel = (wc @ axis) * (r * gate)
            axis_last = axis
        else:
            vel = np.einsum("ij,ij->i", axis, wc) * (r * gate)
            axis_last = axis[-1] if axis[-1].any() else None
        if s.tool == "ball" or axis is None or axis.ndim == 2:
            if rate2 is None:
                rate2 = np.einsum("ij,ij->i", wc, wc)
            norm = np.sqrt(rate2) * (r * gate)
            if s.tool == "ball":
                norm[norm < s.ball_deadband_mps] = 0.0
                return vel, norm, axis_last
            if axis is None:
                return vel, norm, axis_last
            return vel, np.where(axis.any(axis=1), np.abs(vel), norm), axis_last
        return vel, np.abs(vel), axis_last

    def _accumulate_scatter(self, wc, wdt, sdt, lo, hi) -> None:
        if hi <= lo:
            return
        seg = wc[lo:hi]
        if self._strong_s < self.settings.axis_update_s:  # the weak scatter is still in use
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
        _, vecs = np.linalg.eigh(use)
        axis = vecs[:, -1]
        ref = self._axis if self._axis is not None else self._first_strong
        if ref is not None and float(axis @ ref) < 0:
            axis = -axis
        self._axis = axis

    def _totals(self, dt, fz, has_f, allf, contact, rdt, rdt_f, speed, vel) -> None:
        """Running sums: contact time and force, rolling time and speed, force per direction."""
        thr = 0.1 * self.settings.hold_speed_max_mps
        cdt = dt * contact if allf else dt * (contact & has_f)
        wts = np.vstack((cdt, rdt, rdt_f * (vel > thr), rdt_f * (vel < -thr)))
        sums = wts @ np.column_stack((fz, speed))
        (c_f, _), (_, r_v), (u_f, _), (d_f, _) = sums.tolist()
        c_t, r_t, u_t, d_t = wts.sum(axis=1).tolist()
        self._contact_s += c_t
        self._force_dt += c_f
        self._rolling_s += r_t
        self._speed_dt += r_v
        self._dir_sums[0] += u_f
        self._dir_sums[1] += d_f
        self._dir_sums[2] += u_t
        self._dir_sums[3] += d_t
        if allf or has_f.any():
            self._has_force = True
            if c_t > 0 and fz.max() > self._force_peak:
                self._force_peak = float((fz * contact).max())
        if r_t > 0:
            self._speed_hist.add(speed, rdt)

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
        k = int(np.argmax(seg))
        if seg[k] > ext[1] * d:
            ext[0] = t[lo + k]
            ext[1:] = q[lo + k]

    def _emit_pass(self, a, b, out: list[Pass]) -> None:
        p = self._make_pass(a, b)
        if p is None:
            return
        if self._sign == 0.0:  # up unknown: the first pass's direction defines +
            self._sign = float(p.direction)
        self.passes.append(p)
        self._distance_m += p.length_m
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
        sign = self._sign if self._sign != 0.0 else (1.0 if dx >= 0 else -1.0)
        return Pass(
            start_s=float(a[0]),
            end_s=float(b[0]),
            length_m=float(length),
            direction=int(sign) if dx >= 0 else -int(sign),
            mean_speed_mps=float(speed),
            mean_force_n=float(force),
        )

    def _open_leg_m(self) -> float:
        if self._dir == 0:
            return 0.0
        if self.settings.tool == "ball":
            return float(self._q[1] - self._turn[2])
        return float(abs(self._ext[1] - self._turn[1]))

    def _hold_runs(self, t, hold_raw):
        """Per sample: time of the last still-under-contact sample, whether a hold run is
        active (gaps shorter than hold_merge_gap_s do not end it) and when that run started.
        None when no run is active anywhere in the block."""
        n = len(t)
        if not self._hold_active and not hold_raw.any():
            return None
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
        force = math.nan
        if self._hold_hist_n:
            cum = np.cumsum(self._hold_hist)
            force = float(np.searchsorted(cum, 0.5 * self._hold_hist_n) * FORCE_BIN_N)
        return Hold(start_s=float(start), duration_s=float(duration), force_n=force)

    def _force_by_direction(self) -> dict:
        if not (self.settings.sign_known and self._has_force):
            return {"up": None, "down": None}
        pairs = zip(self._dir_sums[0:2], self._dir_sums[2:4], strict=True)
        means = [fdt / tt if tt > 0 else None for fdt, tt in pairs]
        up_raw, down_raw = means if self.settings.up_sign > 0 else means[::-1]
        return {"up": up_raw, "down": down_raw}

    def _empty_metrics(self) -> Metrics:
        return Metrics(
            t_s=0.0 if math.isinf(self._t_last) else self._t_last,
            speed_mps=0.0,
            velocity_mps=0.0,
            position_m=0.0,
            force_n=math.nan,
            contact=False,
            still=True,
            holding=False,
            hold_s=0.0,
            passes=len(self.passes),
            rolling_s=0.0,
            contact_s=0.0,
            distance_m=self.distance_m,
        )


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
