"""An independent motion model of a roller or stick rolled along tissue, for accuracy tests: raw
MPU-6050-like samples (gyro + accel) plus force, with ground truth. Written from the physics,
not from the project's simulator (device/sim.py), so the estimators are checked against the
world and not against the code that made their test data.

The model:
- the tool is a cylinder rolled along a straight line on the tissue, back and forth: one pass
  is a cosine velocity profile over its length, with a short stop at each turnaround;
- the rolling radius is r(F): a foam cover compresses under the force (``Foam``: an exponential
  stiffening foam, compression δ(F) = δ_max·(1 - exp(-F/F_c)), about 10 % at 90 N and 14 % at
  220 N for the default 7.5 cm roller); a rigid tool keeps its radius;
- a little slip: in each pass the tool turns (1 + slip) times what rolling without slip would
  (slip drawn in [0, slip_max]); the gyro cannot see it, so it is an error floor;
- the sensor is fixed in the tool at an orientation not aligned with the tool axis: the gyro
  reads s(t)·a plus a small wobble perpendicular to a (the hand tilting the tool), the
  accelerometer reads gravity and the tool's acceleration turning about a;
- sensor errors: a constant gyro bias, white noise at the MPU-6050 density (0.005 °/s/√Hz and
  400 µg/√Hz), quantisation to the configured range's LSB and clipping at its full scale
  (int16 counts, so ±2000 °/s tops out at 1998 °/s), a force sensor with 1 N of noise.

``roll_session`` returns the samples (a Block) and a truth dict: distance_m (the sum of pass
lengths along the tissue), passes, clipped_samples (samples with any gyro axis clipped), speed_mps
(the tissue speed at each sample).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from firmware.common.model import Block

G = 9.80665
DEG = math.pi / 180.0
GYRO_LSB_PER_DPS = {250: 131.0, 500: 65.5, 1000: 32.8, 2000: 16.4}
ACCEL_LSB_PER_G = 4096.0  # ±8 g
GYRO_NOISE_DPS_RTHZ = 0.005
ACCEL_NOISE_G_RTHZ = 400e-6


@dataclass(frozen=True)
class Foam:
    """A foam cover: the rolling radius drops by δ(F) = δ_max·(1 - exp(-F/F_c)) under force F
    (a foam that stiffens as its cells close: soft at first, then harder)."""

    radius_m: float = 0.075  # at no load
    compression_max_m: float = 0.01126
    force_scale_n: float = 82.0

    def radius_at(self, force_n):
        f = np.maximum(np.asarray(force_n, dtype=float), 0.0)
        return self.radius_m - self.compression_max_m * (1.0 - np.exp(-f / self.force_scale_n))


@dataclass(frozen=True)
class RollSpec:
    """One session: the tool, its mounting and sensor, and what the user does."""

    tool: str = "stick"
    radius_m: float = 0.015  # rigid radius (ignored with a foam)
    foam: Foam | None = None
    axis_xyz: tuple[float, float, float] = (0.36, 0.80, 0.48)  # tool axis in the sensor frame
    pass_lengths_m: tuple[float, ...] = (0.30,) * 10
    peak_speed_mps: float = 0.5  # peak tissue speed of a pass (cosine profile)
    turn_stop_s: float = 0.15  # stop at each turnaround
    force_mean_n: float = 80.0
    force_swing_n: float = 20.0  # force swings this much around the mean ...
    force_period_s: float = 7.0  # ... with this period
    slip_max: float = 0.004  # each pass turns (1 + U(0, slip_max)) times the no-slip rotation
    wobble_dps: float = 3.0  # off-axis rotation of the hand tilting the tool
    gyro_range_dps: int = 2000
    gyro_bias_dps: tuple[float, float, float] = (0.8, -1.1, 0.5)
    rate_hz: float = 1000.0
    still_s: float = 2.0  # still, no contact, before and after
    seed: int = 0
    extra: dict = field(default_factory=dict)


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _basis(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors completing the right-handed frame (a, u, v)."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = _unit(np.cross(a, helper))
    return u, np.cross(a, u)


def _velocity_plan(spec: RollSpec, rng) -> tuple[list, float]:
    """[(t0, duration, signed length, slip)] of the passes and the end time."""
    plan = []
    t = spec.still_s + 0.6  # the force comes on, then the first pass
    for k, length in enumerate(spec.pass_lengths_m):
        duration = math.pi * length / (2.0 * spec.peak_speed_mps)
        plan.append((t, duration, length * (1 if k % 2 == 0 else -1), rng.uniform(0, spec.slip_max)))
        t += duration + spec.turn_stop_s
    return plan, t + 0.4 + spec.still_s


def roll_session(spec: RollSpec) -> tuple[Block, dict]:
    """Samples and truth of one session (see the module docstring)."""
    rng = np.random.default_rng(spec.seed)
    plan, end_s = _velocity_plan(spec, rng)
    t = sample_times(spec, end_s, rng)
    n = len(t)
    v = np.zeros(n)  # tissue speed, signed
    dvdt = np.zeros(n)
    slip = np.zeros(n)
    for t0, dur, length, sl in plan:
        m = (t >= t0) & (t < t0 + dur)
        tau = (t[m] - t0) / dur
        v[m] = length * math.pi / (2 * dur) * np.sin(math.pi * tau)
        dvdt[m] = length * (math.pi / dur) ** 2 / 2 * np.cos(math.pi * tau)
        slip[m] = sl
    block, truth = sense(spec, t, v, dvdt, slip, end_s, rng)
    truth["distance_m"] = float(sum(abs(p[2]) for p in plan))
    truth["passes"] = len(plan)
    return block, truth


def sample_times(spec: RollSpec, end_s: float, rng) -> np.ndarray:
    """Sample instants at spec.rate_hz with a little timing jitter, from 0 to end_s."""
    period = 1.0 / spec.rate_hz
    t = np.arange(0.0, end_s, period)
    t = t + rng.uniform(-0.05, 0.05, len(t)) * period
    t[0] = 0.0
    return t


def sense(spec: RollSpec, t, v, dvdt, slip, end_s: float, rng) -> tuple[Block, dict]:
    """What the sensors read of a tool rolled at signed tissue speed `v` (m/s; `dvdt` its
    derivative, `slip` the extra turning per sample) at the times `t`: the Block, and the
    truth that does not depend on the plan (clipped samples, axis, loaded radius)."""
    n = len(t)
    # force: on shortly after the first still period, off before the last
    on0, on1 = spec.still_s + 0.1, end_s - spec.still_s - 0.1
    ramp = np.clip(np.minimum(t - on0, on1 - t) / 0.3, 0.0, 1.0)
    force_true = ramp * (spec.force_mean_n + spec.force_swing_n
                         * np.sin(2 * math.pi * t / spec.force_period_s + rng.uniform(0, 6.3)))
    radius = (spec.foam.radius_at(force_true) if spec.foam is not None
              else np.full(n, spec.radius_m))
    s_rate = v / radius * (1.0 + slip)  # roll rate about the tool axis (rad/s)
    a = _unit(spec.axis_xyz)
    u, w_perp = _basis(a)
    phase = rng.uniform(0, 6.3, 2)
    wob = spec.wobble_dps * DEG * (np.abs(v) > 0.01)
    e = (np.outer(wob * np.sin(2 * math.pi * 0.7 * t + phase[0]), u)
         + np.outer(wob * np.sin(2 * math.pi * 1.1 * t + phase[1]), w_perp))
    omega = np.outer(s_rate, a) + e
    # roll angle, for gravity turning in the sensor frame
    phi = np.concatenate(([0.0], np.cumsum(0.5 * (s_rate[1:] + s_rate[:-1]) * np.diff(t))))
    fx, fz = dvdt, np.full(n, G)  # specific force in the world: along the travel, and up
    c, sn = np.cos(phi), np.sin(phi)
    accel = np.outer(fx * c + fz * sn, u) + np.outer(-fx * sn + fz * c, w_perp)
    # sensor errors
    gyro_sd = GYRO_NOISE_DPS_RTHZ * math.sqrt(spec.rate_hz / 2) * DEG
    acc_sd = ACCEL_NOISE_G_RTHZ * math.sqrt(spec.rate_hz / 2) * G
    gyro = omega + np.asarray(spec.gyro_bias_dps) * DEG + rng.normal(0, gyro_sd, (n, 3))
    accel = accel + rng.normal(0, acc_sd, (n, 3))
    lsb = GYRO_LSB_PER_DPS[spec.gyro_range_dps]
    counts = np.rint(gyro / DEG * lsb)
    clipped = ((counts >= 32767) | (counts <= -32768)).any(axis=1)  # at a rail: clipped
    gyro = np.clip(counts, -32768, 32767) / lsb * DEG
    acc_lsb = G / ACCEL_LSB_PER_G
    accel = np.clip(np.rint(accel / acc_lsb), -32768, 32767) * acc_lsb
    force = force_true + rng.normal(0, 1.0, n)
    block = Block(t_s=t, gyro_rad_s=gyro, accel_m_s2=accel, force_n=force)
    truth = {
        "clipped_samples": int(clipped.sum()),
        "axis_xyz": tuple(float(x) for x in a),
        "radius_at_mean_force_m": float(np.mean(radius[np.abs(v) > 0.01])),
        "speed_mps": np.abs(v),  # tissue speed at each sample
    }
    return block, truth


def calibration_roll(foam: Foam, *, force_n: float, distance_m: float = 0.5,
                     axis_xyz=(0.2, 0.9, -0.39), rate_hz: float = 500.0, seed: int = 0) -> Block:
    """One calibration roll over ``distance_m`` at a steady ``force_n`` on a foam tool: a still
    second, the roll (cosine profile, 2.5 s), a still second."""
    spec = RollSpec(tool="roller", foam=foam, axis_xyz=axis_xyz, pass_lengths_m=(distance_m,),
                    peak_speed_mps=math.pi * distance_m / (2 * 2.5), force_mean_n=force_n,
                    force_swing_n=0.0, slip_max=0.0, gyro_range_dps=500, rate_hz=rate_hz,
                    still_s=1.0, seed=seed)
    block, _ = roll_session(spec)
    return block
