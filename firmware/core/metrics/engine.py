"""Turn Blocks of raw IMU + force samples into Metrics: bias, roll axis, tissue speed, position,
passes, holds, contact and force. Pure numpy, no I/O, no clock: time comes from the samples.

Two paths, so the device can afford 1 kHz:

- per Block, the live values the coach acts on at once (force, contact, the tissue speed over
  the last still_window_s, still, the hold timer) from a handful of scalar sums: a Block costs
  a few microseconds whatever its length;
- every estimate_every_s of sensor time (and at summary() / finish()), the estimator: samples
  become frames of frame_s holding exact sums (firmware.core.metrics.frames), and bias, roll axis,
  position, passes and holds are estimated on the frames (firmware.core.metrics.estimator).

The estimator sees the same frames however the samples were split into Blocks, and it carries
its state across calls, so streaming gives exactly the passes, holds and summary of processing
the recording whole. Passes and holds reach the coach up to estimate_every_s after their data
(a pass is only known once the roll has reversed by min_pass_m anyway).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from firmware.common.errors import ConfigError
from firmware.common.model import Block, Hold, Metrics, Pass
from firmware.core.metrics.axis import principal_axis
from firmware.core.metrics.estimator import Estimator
from firmware.core.metrics.frames import Framer
from firmware.core.metrics.radius import RadiusCurve, RadiusOfForce, parse_radius_curve, radius_at
from firmware.core.metrics.saturation import rebuild

TOOLS = ("roller", "ball", "stick")
DEG = math.pi / 180.0
CHUNK_SAMPLES = 16384  # the estimator takes at most this many samples at a time (bounds memory)


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
    still_long_window_s: float = 2.0  # still also when the net travel over this window is ...
    still_rock_rad_s: float = 6.0 * DEG  # ... below hold speed and the smoothed rate below this
    min_pass_m: float = 0.03  # a pass travels at least this; also the reversal threshold
    rest_window_s: float = 0.5  # rest detector low-pass window (VQF restFilterTau)
    rest_gyro_max_rad_s: float = 2.0 * DEG  # rms deviation of gyro from its window mean
    rest_accel_max_m_s2: float = 0.5  # rms deviation of accel from its window mean
    rest_bias_clip_rad_s: float = 3.0 * DEG  # window-mean gyro must stay this close to the prior
    rest_tilt_max_m_s2: float = 0.09  # mean accel, last vs first third of the rest window
    rest_drift_max_rad_s: float = 0.5 * DEG  # mean gyro, last vs first third of the rest window
    rest_min_s: float = 1.5  # rest (its windows included) must span this long to give the bias
    axis_strong_rad_s: float = 30.0 * DEG  # only stronger rotation re-estimates the axis ...
    axis_weak_rad_s: float = 8.0 * DEG  # ... until there is some, rotation above this is used
    axis_update_s: float = 0.25  # rotation time (at least) between axis re-estimates
    ball_axis_memory: float = 0.6  # ball: weight the old scatter keeps per axis_update_s
    ball_deadband_mps: float = 0.0  # ball: |ω|·r below this is dropped from the path
    ball_stop_mps: float = 0.005  # ball: a move stops when its speed stays below this ...
    ball_stop_min_s: float = 0.2  # ... this long
    ball_quiet_mps: float = 0.001  # ball: a move starts/ends where the speed crosses this
    ball_turn_max_deg: float = 40.0  # ball: the rolling direction turning this much ...
    ball_turn_path_m: float = 0.02  # ... within this much path ends a move (an arc does not)
    ball_move_window_s: float = 0.1  # ball: window of the speed and direction of a move
    frame_s: float = 0.02  # the estimator works on frames of this length (exact sums)
    estimate_every_s: float = 2.0  # sensor time between estimator runs (latency of passes)
    # the gyro's full scale (rad/s): a raw axis at it clipped and is rebuilt along the roll axis
    # (firmware.core.metrics.saturation). Unknown: the MPU-6050's widest range, ±2000 °/s,
    # which no reading of it can exceed; None: no clipping detection at all.
    gyro_full_scale_rad_s: float | None = 2000.0 * DEG
    # foam compresses: (force N, radius m) points, linear between, flat outside; the radius of
    # each sample comes from its force (radius_m where there is no force reading). None: radius_m
    radius_curve: RadiusCurve | None = None

    def __post_init__(self) -> None:
        if self.tool not in TOOLS:
            raise ConfigError(f"metrics: unknown tool {self.tool!r} (expected {', '.join(TOOLS)})")
        if not (isinstance(self.radius_m, int | float) and 0 < self.radius_m <= 0.5):
            raise ConfigError(f"metrics: radius_m {self.radius_m!r} must be > 0 and <= 0.5 m")
        if self.up_sign not in (None, 1, -1):
            raise ConfigError(f"metrics: up_sign {self.up_sign!r} must be +1, -1 or None")
        for name in ("frame_s", "estimate_every_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 10):
                raise ConfigError(f"metrics: {name} {value!r} must be > 0 and <= 10 s")
        fs = self.gyro_full_scale_rad_s
        if fs is not None and not (isinstance(fs, int | float) and math.isfinite(fs) and fs > 0):
            raise ConfigError(f"metrics: gyro_full_scale_rad_s {fs!r} must be a positive number")
        if self.radius_curve is not None:
            try:
                object.__setattr__(self, "radius_curve", parse_radius_curve(self.radius_curve))
            except ValueError as exc:
                raise ConfigError(f"metrics: {exc}") from None
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
    """MetricsSettings from recording metadata (tool, radius_m, axis, up, gyro_bias_rad_s,
    radius_m_at_force_n, gyro_full_scale_dps; typed or as the raw strings of the file); keyword
    overrides win, None overrides are ignored (handy for optional command-line flags). Without
    radius_m, a curve's radius at 0 N stands in. ConfigError on bad values."""
    fields: dict = {}
    try:
        if "tool" in meta:
            fields["tool"] = str(meta["tool"]).strip().lower()
        if "radius_m" in meta:
            fields["radius_m"] = float(meta["radius_m"])
        if meta.get("axis") is not None:
            fields["axis_xyz"] = _vector3(meta["axis"])
        if meta.get("up") is not None:
            fields["up_sign"] = parse_up_sign(meta["up"])
        if meta.get("gyro_bias_rad_s") is not None:
            fields["gyro_bias_rad_s"] = _vector3(meta["gyro_bias_rad_s"])
        if meta.get("radius_m_at_force_n") is not None:
            fields["radius_curve"] = parse_radius_curve(meta["radius_m_at_force_n"])
        if meta.get("gyro_full_scale_dps") is not None:
            fields["gyro_full_scale_rad_s"] = parse_full_scale_dps(meta["gyro_full_scale_dps"]) * DEG
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"metrics: bad recording metadata: {exc}") from exc
    fields.update({k: v for k, v in overrides.items() if v is not None})
    if "radius_m" not in fields and fields.get("radius_curve"):
        fields["radius_m"] = radius_at(fields["radius_curve"], 0.0, math.nan)
    if "radius_m" not in fields:
        raise ConfigError("metrics: no radius_m in the recording or on the command line")
    return MetricsSettings(**fields)


def _vector3(value) -> tuple[float, float, float]:
    parts = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    if len(parts) != 3:
        raise ValueError(f"{value!r} is not three numbers")
    x, y, z = (float(v) for v in parts)
    return (x, y, z)


def parse_full_scale_dps(value) -> float:
    """A gyro full scale in °/s (recording key gyro_full_scale_dps): a number above 0 and up
    to 10000; ValueError otherwise."""
    try:
        dps = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"gyro_full_scale_dps {value!r} is not a number (e.g. 2000)") from None
    if not (math.isfinite(dps) and 0 < dps <= 10000):
        raise ValueError(f"gyro_full_scale_dps {value!r} must be > 0 and <= 10000 deg/s")
    return dps


def parse_up_sign(value) -> int:
    """'+'/'-' (or +1/-1) -> +1/-1; ValueError otherwise."""
    text = str(value).strip()
    if text in ("+", "+1", "1"):
        return 1
    if text in ("-", "-1"):
        return -1
    raise ValueError(f"up {value!r} must be '+' or '-'")



class MetricsEngine:
    """Streaming metrics: `.update(block)` per Block, `.finish()` at the end, `.summary()`."""

    def __init__(self, settings: MetricsSettings, *, trace: bool = False) -> None:
        self.settings = s = settings
        group = max(1, round(s.estimate_every_s / s.frame_s))
        self._radius = (None if s.radius_curve is None
                        else RadiusOfForce(s.radius_curve, s.radius_m))
        self._framer = Framer(s.frame_s, group, CHUNK_SAMPLES,
                              full_scale_rad_s=s.gyro_full_scale_rad_s, radius=self._radius)
        self._est = Estimator(s, trace=trace)
        self._finished = False
        self._last: Metrics | None = None
        self._due_t = -math.inf  # sensor time when the open group of frames is complete
        # live values: the last gyro sample of each Block over the last still_window_s and
        # their running sum, contact, rotation integrated since the estimator's last frame
        self._t_live = -math.inf
        self._blocks: deque = deque()  # (t, gyro x, y, z) of each Block's last sample
        self._sum = [0.0, 0.0, 0.0]
        self._blocks_long: deque = deque()  # the same over still_long_window_s
        self._sum_long = [0.0, 0.0, 0.0]
        self._contact = False
        self._theta = [0.0, 0.0, 0.0]
        self._unreported: tuple[list[Pass], list[Hold]] | None = None  # found by summary()
        self._still_rate2 = (s.hold_speed_max_mps / s.radius_m) ** 2
        self._rock_rate2 = max(self._still_rate2, s.still_rock_rad_s**2)
        self._strong_rate2 = s.axis_strong_rad_s**2
        self._live_scatter = [0.0] * 6  # xx xy xz yy yz zz of strong live samples, no axis yet
        self._snapshot()

    # ------------------------------------------------------------------ public
    @property
    def trace(self) -> dict[str, list[np.ndarray]] | None:
        """Per-sample arrays (t_s, rest, still, contact, bias_rad_s, speed_mps, position_m) of
        what the estimator has processed, when built with trace=True; each sample carries its
        frame's value."""
        return self._est.trace

    @property
    def passes(self) -> list[Pass]:
        return self._est.passes

    @property
    def holds(self) -> list[Hold]:
        return self._est.holds

    @property
    def distance_m(self) -> float:
        """Sum of completed pass lengths (m)."""
        return self._est.distance_m

    @property
    def bias_rad_s(self) -> np.ndarray:
        """The gyro bias in use now (rad/s)."""
        return np.array(self._est.bias, dtype=float)

    @property
    def axis_xyz(self) -> np.ndarray | None:
        """The roll axis in use now (unit vector in the sensor frame), None if not known yet."""
        return None if self._est.axis is None else self._est.axis.copy()

    def update(self, block: Block) -> Metrics:
        """Take one Block; Metrics at its last sample, with the passes and holds the estimator
        completed during this call."""
        if self._finished:
            raise RuntimeError("MetricsEngine: update() after finish()")
        t = block.t_s
        if len(t) == 0:
            return self._last if self._last is not None else self._empty_metrics()
        framer = self._framer
        framer.push(t, block.gyro_rad_s, block.accel_m_s2, block.force_n)
        t_end = float(t[-1])
        new = self._unreported
        if t_end >= self._due_t or framer.queued >= CHUNK_SAMPLES:
            new = new or ([], [])
            self._estimate(False, *new)
            t0 = framer.t0
            if t_end >= self._due_t and t_end < math.inf and t0 == t0:  # the next group's end
                group_s = framer.group_frames * self.settings.frame_s
                k = math.floor(max(t_end - t0, 0.0) / group_s) + 1
                self._due_t = t0 + k * group_s
        if new is None:
            return self._live(block, t_end, (), ())
        self._unreported = None
        return self._live(block, t_end, tuple(new[0]), tuple(new[1]))

    def finish(self) -> Metrics:
        """Close an open pass and an open hold at the end of the data (idempotent)."""
        new_passes, new_holds = self._unreported or ([], [])
        self._unreported = None
        if not self._finished:
            self._estimate(True, new_passes, new_holds)
            passes, holds = self._est.finish()
            new_passes += passes
            new_holds += holds
            self._finished = True
        base = self._last if self._last is not None else self._empty_metrics()
        self._last = base._replace(
            new_passes=tuple(new_passes),
            new_holds=tuple(new_holds),
            passes=self._est.pass_count,
            holding=False,
            hold_s=0.0,
            distance_m=self.distance_m,
        )
        return self._last

    def summary(self, *, encoded: bool = False) -> dict:
        """The DESIGN §3.2 metric fields, as if the data ended now: duration to the last sample,
        the rest from everything the estimator has seen (all complete groups of frames, so at
        most estimate_every_s behind); an open pass or hold is included the way finish() would
        close it. Calling it does not change what the engine finally reports. ``encoded``: the
        long lists as ``JsonText`` (for ``dumps``: the same JSON, made without encoding them
        again)."""
        if not self._finished:  # what this finds is reported by the next update()
            self._unreported = self._unreported or ([], [])
            self._estimate(False, *self._unreported)
        est = self._est
        end = max(est.t_last, self._t_live)
        return est.summary(0.0 if math.isnan(est.t0) else end - est.t0, encoded=encoded)

    # ------------------------------------------------------------------ paths
    def _estimate(self, final: bool, new_passes: list[Pass], new_holds: list[Hold]) -> None:
        """Run the estimator over the queued samples: every complete group of frames (with
        `final`, the open one too), one group per Estimator.process call."""
        before = self._est.t_last
        framer = self._framer
        est = self._est
        while framer.queued:
            framer.axis, framer.bias = est.axis, est.bias  # what rebuilds clipped samples
            got = framer.frames(final)
            if got is not None:
                frames, starts = got
                for lo, hi in zip(starts, [*starts[1:], len(frames)], strict=True):
                    self._est.process(frames.slice(lo, hi), new_passes, new_holds)
            if not framer.truncated:
                break
        if self._est.t_last > before:
            self._theta = [0.0, 0.0, 0.0]
        self._snapshot()

    def _snapshot(self) -> None:
        """What the live path needs from the estimator, as plain floats (taken once per
        estimator run, so a Block costs no numpy scalar work)."""
        est = self._est
        axis = (0.0, 0.0, 0.0) if est.axis is None else tuple(est.axis.tolist())
        self._snap = (
            *est.bias.tolist(),
            *axis,
            est.sign if est.sign != 0 else 1.0,
            est.position_m,
            est.distance_m + est.open_leg_m(),
            est.pass_count,
            est.rolling_s,
            est.contact_s,
            est.hold_rep_start_s if est.hold_active else math.inf,
        )

    def _live(self, block: Block, t_end: float, new_passes, new_holds) -> Metrics:
        """Metrics at the end of the Block. Live values (force, contact, smoothed speed, still,
        the hold timer, position since the estimator's last frame) come from the Block's last
        sample and the last still_window_s of Blocks, in plain Python: a Block costs a few
        microseconds whatever its length. The rest comes from the estimator."""
        s = self.settings
        bx, by, bz, ax, ay, az, sign, pos0, dist, passes, rolling, contact_s, hold0 = self._snap
        wx, wy, wz = block.gyro_rad_s[-1].tolist()
        lv = self._framer.clip_level
        if wx >= lv or wx <= -lv or wy >= lv or wy <= -lv or wz >= lv or wz <= -lv:
            wx, wy, wz = self._rebuilt(block.gyro_rad_s[-1], lv)
        elif ax == ay == az == 0.0:  # no axis yet: learn one from strong unclipped samples
            ux, uy, uz = wx - bx, wy - by, wz - bz
            if ux * ux + uy * uy + uz * uz > self._strong_rate2:
                m = self._live_scatter
                m[0] += ux * ux
                m[1] += ux * uy
                m[2] += ux * uz
                m[3] += uy * uy
                m[4] += uy * uz
                m[5] += uz * uz
        force = float(block.force_n[-1])
        acc, q = self._sum, self._blocks
        dt_block = math.inf
        if t_end > self._t_live and math.isfinite(wx + wy + wz):  # else: a bad sample, skip
            dt_block = t_end - self._t_live
            self._t_live = t_end
            _window_push(q, acc, t_end, wx, wy, wz, s.still_window_s)
            _window_push(self._blocks_long, self._sum_long, t_end, wx, wy, wz,
                         s.still_long_window_s)
            if force > s.contact_on_n:
                self._contact = True
            elif not force >= s.contact_off_n:  # below, or NaN (no force sensor)
                self._contact = False
        k = len(q) or 1
        mx, my, mz = acc[0] / k - bx, acc[1] / k - by, acc[2] / k - bz
        rate2 = mx * mx + my * my + mz * mz
        still = rate2 < self._still_rate2
        if not still and rate2 < self._rock_rate2:  # the estimator's rule (holds.Holds.still)
            acc_l = self._sum_long
            k_l = len(self._blocks_long) or 1
            lx, ly, lz = acc_l[0] / k_l - bx, acc_l[1] / k_l - by, acc_l[2] / k_l - bz
            still = lx * lx + ly * ly + lz * lz < self._still_rate2
        engaged = self._contact or force != force  # in contact, or no force sensor
        th = self._theta
        if engaged and not still and dt_block < 1.0:  # this Block's rotation, bias removed
            th[0] += (wx - bx) * dt_block
            th[1] += (wy - by) * dt_block
            th[2] += (wz - bz) * dt_block
        radius = s.radius_m if s.radius_curve is None else radius_at(s.radius_curve, force, s.radius_m)
        r_sign = radius * sign
        hold_s = t_end - hold0 if still and engaged else 0.0
        holding = hold_s >= s.hold_min_s
        # positional (in the field order of model.Metrics): a third of the cost of keywords
        self._last = Metrics(
            t_end,  # t_s
            radius * math.sqrt(rate2),  # speed_mps
            r_sign * (ax * mx + ay * my + az * mz),  # velocity_mps
            pos0 + r_sign * (ax * th[0] + ay * th[1] + az * th[2]),  # position_m
            force,  # force_n
            self._contact,  # contact
            still,  # still
            holding,  # holding
            hold_s if holding else 0.0,  # hold_s
            passes,  # passes
            rolling,  # rolling_s
            contact_s,  # contact_s
            dist,  # distance_m
            new_passes,  # new_passes
            new_holds,  # new_holds
        )
        return self._last

    def _rebuilt(self, w: np.ndarray, level: float) -> list[float]:
        """A clipped gyro sample rebuilt along the roll axis in use, as the summary's samples
        are (firmware.core.metrics.saturation); as it is while no axis is known."""
        est = self._est
        axis = est.axis
        if axis is None:  # before the estimator has one: the strong samples seen live
            xx, xy, xz, yy, yz, zz = self._live_scatter
            if xx + yy + zz <= 0.0:
                return w.tolist()
            axis = principal_axis([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]], None)
        row = w.reshape(1, 3)
        return rebuild(row, np.abs(row) >= level, axis, est.bias, level)[0].tolist()

    def _empty_metrics(self) -> Metrics:
        return Metrics(
            t_s=0.0 if math.isinf(self._t_live) else self._t_live,
            speed_mps=0.0,
            velocity_mps=0.0,
            position_m=0.0,
            force_n=math.nan,
            contact=False,
            still=True,
            holding=False,
            hold_s=0.0,
            passes=self._est.pass_count,
            rolling_s=0.0,
            contact_s=0.0,
            distance_m=self.distance_m,
        )


def _window_push(q: deque, acc: list, t_end: float, wx: float, wy: float, wz: float,
                 window_s: float) -> None:
    """Add a Block's last gyro sample to a window of Blocks and its running sum, dropping the
    Blocks older than window_s."""
    q.append((t_end, wx, wy, wz))
    acc[0] += wx
    acc[1] += wy
    acc[2] += wz
    horizon = t_end - window_s
    while q[0][0] <= horizon:
        _, ox, oy, oz = q.popleft()
        acc[0] -= ox
        acc[1] -= oy
        acc[2] -= oz
    if len(q) == 1:  # start the running sums afresh (no rounding drift)
        acc[:] = [wx, wy, wz]
