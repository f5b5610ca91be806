"""An independent motion model for the metrics tests: a massage ball rolled without slip, a ball
turned freely in the hand, and still tools (ball, roller, stick) held under force, sampled by an
MPU6050-like IMU at any rate, with ground truth. Written from the physics, not from
device/sim.py, so the estimators are tested against motion they were not tuned on.

Kinematics
- Ball rolling without slip on a plane with unit normal n (world z): the centre moves with v and
  the ball turns with ω = n × v / r, so the surface speed is |ω|·r = |v|. A straight move keeps
  the axis of rotation fixed in the world (R(t) = Rot(axis, θ(t))·R_start exactly); a heading
  change (at a stop, or a reversal) turns that axis in the ground plane. Each move has a smooth
  speed profile (raised cosine: zero speed and acceleration-continuous at both ends).
- Freely turned ball: bouts of rotation about a fixed world axis at a slowly varying rate
  (down to a few °/s), separated by breaks; the path the surface travels is r·∫|ω| dt.
- Still tool under a hand: the tool is not displaced, but the user's body rocks it (breathing,
  postural sway): a zero-mean rotation, band-limited 0.2..3 Hz, about 1 °/s rms per axis. That
  is real rotation (the accelerometer sees it too), never net travel: a few mm at 0.29 m.

Sensor (MPU6050 datasheet values): gyro rate noise density 0.005 °/s/√Hz over a band of half
the sample rate, a constant bias (calibrated away to within `bias_error_dps`), bias instability
as a slow random walk, quantisation to the LSB of the full scale (±250/±500/±2000 °/s:
131/65.5/16.4 LSB per °/s) and clipping at full scale; accelerometer 400 µg/√Hz, ±4 g full scale
(8192 LSB/g). Sample times carry a little jitter.

Truth: `moves` (start, end, path length m), `holds` (start, duration), `distance_m` (sum of the
moves' surface paths), and the sampled Block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from firmware.common.model import Block

G = 9.80665
DEG = math.pi / 180.0
GYRO_LSB_PER_DPS = {250: 131.0, 500: 65.5, 2000: 16.4}
GYRO_DENSITY_DPS = 0.005  # °/s/√Hz
ACCEL_DENSITY_G = 400e-6  # g/√Hz
ACCEL_LSB_PER_G = 8192.0  # ±4 g


@dataclass
class Imu:
    """MPU6050-like sampling of true body rate (rad/s) and specific force (m/s²)."""

    rate_hz: float = 200.0
    full_scale_dps: int = 500
    bias_dps: tuple[float, float, float] = (1.2, -0.8, 0.5)
    bias_walk_dps_per_sqrt_s: float = 0.003  # bias instability as a random walk
    jitter_frac: float = 0.05

    def times(self, duration_s: float, rng) -> np.ndarray:
        n = int(duration_s * self.rate_hz)
        t = np.arange(n) / self.rate_hz
        t = t + rng.uniform(-0.5, 0.5, n) * self.jitter_frac / self.rate_hz
        return t

    def gyro(self, omega_rad_s: np.ndarray, rng) -> np.ndarray:
        n = len(omega_rad_s)
        white = GYRO_DENSITY_DPS * math.sqrt(self.rate_hz / 2.0)
        walk = np.cumsum(rng.normal(0.0, self.bias_walk_dps_per_sqrt_s / math.sqrt(self.rate_hz),
                                    (n, 3)), axis=0)
        dps = omega_rad_s / DEG + np.asarray(self.bias_dps) + walk + rng.normal(0, white, (n, 3))
        lsb = GYRO_LSB_PER_DPS[self.full_scale_dps]
        counts = np.clip(np.round(dps * lsb), -32768, 32767)
        return counts / lsb * DEG

    def accel(self, f_m_s2: np.ndarray, rng) -> np.ndarray:
        white = ACCEL_DENSITY_G * math.sqrt(self.rate_hz / 2.0)
        g = f_m_s2 / G + rng.normal(0, white, f_m_s2.shape)
        counts = np.clip(np.round(g * ACCEL_LSB_PER_G), -32768, 32767)
        return counts / ACCEL_LSB_PER_G * G


# ---------------------------------------------------------------------- rotation helpers
def rot(axis, angle):
    """Rotation matrices about unit `axis` (3,) by `angle` (n,) (Rodrigues)."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    ang = np.atleast_1d(np.asarray(angle, float))
    s, c = np.sin(ang)[:, None, None], np.cos(ang)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def random_rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def rocking_angle(t: np.ndarray, rms_rad_s: float, rng, band=(0.2, 3.0)) -> np.ndarray:
    """Zero-mean band-limited rocking angle (n, 3) whose rate is `rms_rad_s` rms per axis: a
    sum of sines across the band; what a user's breathing and sway do to a tool pressed
    still."""
    freqs = np.exp(rng.uniform(np.log(band[0]), np.log(band[1]), (3, 12)))
    phase = rng.uniform(0, 2 * np.pi, (3, 12))
    amp = rng.uniform(0.5, 1.0, (3, 12)) / (2 * np.pi * freqs)  # angle of a unit-rate sine
    arg = 2 * np.pi * freqs[None] * t[:, None, None] + phase[None]
    angle = (np.sin(arg) * amp[None]).sum(axis=2)
    rate_rms = np.sqrt(0.5 * ((amp * 2 * np.pi * freqs) ** 2).sum(axis=1))
    return angle / rate_rms * rms_rad_s


# ---------------------------------------------------------------------- scripts
@dataclass
class Seg:
    """One segment: a straight move of `length_m` along `heading_rad` (0 = still) lasting
    `duration_s`, under `force_n` (NaN: no force sensor), rocked by the user when still and
    pressed (`rock`)."""

    duration_s: float
    length_m: float = 0.0
    heading_rad: float = 0.0
    force_n: float = math.nan
    rock: bool = False
    rate_axis: tuple | None = None  # free rotation: world axis (rate from `length_m`/radius)
    kind: str = "still"
    turn_rad: float = 0.0  # an arc: the heading turns this much, evenly along the path


@dataclass
class Session:
    radius_m: float
    segs: list[Seg] = field(default_factory=list)
    tool: str = "ball"
    rock_rms_dps: float = 1.0
    has_force: bool = True  # segments without a force are off the body (0 N); else NaN

    def add(self, seg: Seg) -> Session:
        self.segs.append(seg)
        return self


def _profile(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raised-cosine move: fraction of the length done and its rate d/du, u in [0, 1]."""
    return (1 - np.cos(np.pi * u)) / 2, np.pi / 2 * np.sin(np.pi * u)


def simulate(sess: Session, imu: Imu, seed: int) -> dict:
    """Sample the session; returns {'block', 'moves', 'holds', 'distance_m', 't_s'}."""
    rng = np.random.default_rng(seed)
    total = sum(sg.duration_s for sg in sess.segs)
    t = imu.times(total, rng)
    r = sess.radius_m
    n_up = np.array([0.0, 0.0, 1.0])
    omega_w = np.zeros((len(t), 3))
    acc_w = np.zeros((len(t), 3))
    rmat = np.empty((len(t), 3, 3))
    rock_mask = np.zeros(len(t), dtype=bool)
    force = np.full(len(t), math.nan)
    orient = random_rotation(rng)  # world <- body at the start
    t0 = 0.0
    moves, holds = [], []
    for sg in sess.segs:
        t1 = t0 + sg.duration_s
        sel = (t >= t0) & (t < t1)
        u = (t[sel] - t0) / sg.duration_s
        frac, dfrac = _profile(u)
        if sg.length_m > 0 and sg.turn_rad:  # rolled along an arc
            orient = _arc(sg, r, t[sel], t0, orient, omega_w, acc_w, rmat, np.flatnonzero(sel))
            moves.append((t0, t1, sg.length_m))
        elif sg.length_m > 0:
            if sg.rate_axis is not None:  # turned freely about a fixed world axis
                axis = np.asarray(sg.rate_axis, float)
                axis /= np.linalg.norm(axis)
            else:  # rolling: ω = n × v / r
                v_dir = np.array([math.cos(sg.heading_rad), math.sin(sg.heading_rad), 0.0])
                axis = np.cross(n_up, v_dir)
                speed = sg.length_m * dfrac / sg.duration_s
                dspeed = sg.length_m * (np.pi**2 / 2) * np.cos(np.pi * u) / sg.duration_s**2
                acc_w[sel] = v_dir * dspeed[:, None]
                del speed
            angle_total = sg.length_m / r
            omega_w[sel] = axis * (angle_total * dfrac / sg.duration_s)[:, None]
            rmat[sel] = rot(axis, angle_total * frac) @ orient
            orient = rot(axis, angle_total)[0] @ orient
            moves.append((t0, t1, sg.length_m))
        else:
            rmat[sel] = orient
            rock_mask[sel] = sg.rock
        force[sel] = sg.force_n if (sg.force_n == sg.force_n or not sess.has_force) else 0.0
        t0 = t1
    # the user's rocking of a pressed, still tool: small real rotation (first order in angle),
    # its angle tapered to zero at the segment's ends so it leaves the tool where it found it
    if rock_mask.any():
        taper = np.zeros(len(t))
        t0 = 0.0
        for sg in sess.segs:
            if sg.rock and sg.length_m == 0:
                sel = (t >= t0) & (t < t0 + sg.duration_s)
                edge = np.minimum(t[sel] - t0, t0 + sg.duration_s - t[sel])
                taper[sel] = np.clip(edge / 0.5, 0.0, 1.0) ** 2
            t0 += sg.duration_s
        phi = rocking_angle(t, sess.rock_rms_dps * DEG, rng) * taper[:, None]
        w = np.gradient(phi, t, axis=0)
        omega_w += w
        skew = np.zeros((len(t), 3, 3))
        skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -phi[:, 2], phi[:, 1], -phi[:, 0]
        skew[:, 1, 0], skew[:, 2, 0], skew[:, 2, 1] = phi[:, 2], -phi[:, 1], phi[:, 0]
        rmat = (np.eye(3) + skew) @ rmat
    holds = _still_runs(sess)
    omega_b = np.einsum("nji,nj->ni", rmat, omega_w)
    f_w = acc_w + np.array([0.0, 0.0, G])
    f_b = np.einsum("nji,nj->ni", rmat, f_w)
    gyro = imu.gyro(omega_b, rng)
    accel = imu.accel(f_b, rng)
    if np.isfinite(force).any():
        force = force + rng.normal(0, 0.5, len(t))
    block = Block(t, gyro, accel, force)
    return {
        "block": block,
        "moves": moves,
        "holds": holds,
        "distance_m": float(sum(m[2] for m in moves)),
        "t_s": t,
    }


def _arc(sg: Seg, r: float, ts, t0: float, orient, omega_w, acc_w, rmat, idx):
    """A move along an arc: the heading turns by sg.turn_rad in proportion to the path rolled
    (constant curvature κ = turn/length), rolling without slip or spin: ω = n × v / r with v
    turning, so the ball's orientation is integrated sample by sample (each step a rotation by
    the mean ω over it). The acceleration has its centripetal part v²κ. Returns the orientation
    at the end of the move."""
    n_up = np.array([0.0, 0.0, 1.0])
    u = (ts - t0) / sg.duration_s
    frac, dfrac = _profile(u)
    speed = sg.length_m * dfrac / sg.duration_s
    dspeed = sg.length_m * (np.pi**2 / 2) * np.cos(np.pi * u) / sg.duration_s**2
    heading = sg.heading_rad + sg.turn_rad * frac
    v_dir = np.stack([np.cos(heading), np.sin(heading), np.zeros_like(heading)], axis=1)
    left = np.cross(n_up, v_dir)
    kappa = sg.turn_rad / sg.length_m
    omega = left * (speed / r)[:, None]
    omega_w[idx] = omega
    acc_w[idx] = v_dir * dspeed[:, None] + left * (speed**2 * kappa)[:, None]
    # orientation: from the segment's start, one rotation per sample step
    t_prev, w_prev, rm = t0, np.zeros(3), orient
    for k, i in enumerate(idx):
        w_mid = 0.5 * (w_prev + omega[k])
        angle = float(np.linalg.norm(w_mid)) * (ts[k] - t_prev)
        if angle > 0:
            rm = rot(w_mid, angle)[0] @ rm
        rmat[i] = rm
        t_prev, w_prev = ts[k], omega[k]
    # the rest of the way to the segment's end (the ball is all but stopped there)
    return rm


def _still_runs(sess: Session, min_s: float = 5.0) -> list[tuple[float, float]]:
    """Truth holds: maximal runs of still segments under force lasting min_s or more."""
    out, run, t0 = [], None, 0.0
    for sg in [*sess.segs, Seg(0.0, 1.0)]:
        pressed = sg.length_m == 0 and sg.force_n == sg.force_n and sg.force_n > 0
        if pressed:
            run = [t0, t0 + sg.duration_s] if run is None else [run[0], t0 + sg.duration_s]
        elif run is not None:
            if run[1] - run[0] >= min_s:
                out.append((run[0], run[1] - run[0]))
            run = None
        t0 += sg.duration_s
    return out


# ---------------------------------------------------------------------- scenarios
def ball_short_moves(seed: int, radius_m: float = 0.04, moves: int = 14,
                     stop_s=(0.3, 0.9), turn_deg=(30.0, 180.0)) -> Session:
    """A ball under the back moved in `moves` short moves (4-8 cm at 1-3.5 cm/s mean), each in
    a new heading (turns of 30..180°, reversals among them), stops of 0.3-0.9 s; rests first
    and last. With stop_s (0, 0): corners, each move straight on from the last one's end in a
    new heading (turns of turn_deg), the ball only slowing through the corner."""
    rng = np.random.default_rng([seed, 1])
    sess = Session(radius_m)
    sess.add(Seg(2.0))  # lying on the floor before use: rest
    sess.add(Seg(2.0, force_n=80.0, rock=True))
    heading = rng.uniform(-math.pi, math.pi)
    for k in range(moves):
        length = rng.uniform(0.04, 0.08)
        speed = rng.uniform(0.01, 0.035)
        sess.add(Seg(length / speed, length, heading, 80.0, kind="move"))
        stop = rng.uniform(*stop_s)
        if stop > 0:
            sess.add(Seg(stop, force_n=80.0, kind="stop"))
        heading += rng.choice([-1, 1]) * rng.uniform(*turn_deg) * DEG
        del k
    sess.add(Seg(2.0))
    return sess


def ball_stop_and_turn(seed: int, radius_m: float = 0.04) -> Session:
    """The case of the issue: 10 cm, a 1.4 s stop, then 7 cm in a heading 78° away."""
    rng = np.random.default_rng([seed, 2])
    h = rng.uniform(-math.pi, math.pi)
    sess = Session(radius_m)
    sess.add(Seg(2.0)).add(Seg(1.5, force_n=90.0, rock=True))
    sess.add(Seg(4.0, 0.10, h, 90.0, kind="move"))
    sess.add(Seg(1.4, force_n=90.0, kind="stop"))
    sess.add(Seg(3.0, 0.07, h + 78 * DEG, 90.0, kind="move"))
    sess.add(Seg(1.5, force_n=90.0, rock=True)).add(Seg(2.0))
    return sess


def still_hold(seed: int, radius_m: float, tool: str, hold_s: float = 35.0) -> Session:
    """A tool rolled a little, then held still under steady force for `hold_s` while the user's
    body rocks it (~1 °/s rms), then rolled again: one hold, no other."""
    rng = np.random.default_rng([seed, 3])
    sess = Session(radius_m, tool=tool)
    sess.add(Seg(2.5))  # rest: the bias is learned
    sess.add(Seg(1.0, force_n=120.0, rock=True))
    h = rng.uniform(-math.pi, math.pi) if tool == "ball" else 0.0
    for k in range(3):  # back and forth: the heading reverses
        sess.add(Seg(2.0, 0.12, h + (k % 2) * math.pi, 120.0, kind="move"))
        sess.add(Seg(0.4, force_n=120.0, kind="stop"))
    sess.add(Seg(hold_s, force_n=150.0, rock=True, kind="hold"))
    sess.add(Seg(2.0, 0.12, h, 120.0, kind="move"))
    sess.add(Seg(1.0, force_n=120.0, kind="stop")).add(Seg(2.0))
    return sess


def piriformis_hold(seed: int, radius_m: float = 0.03) -> Session:
    """Sit on a mini ball at the hip: placed, a 45 s hold under steady force (rocked), a short
    shift to a new spot, a 30 s hold, off."""
    rng = np.random.default_rng([seed, 4])
    sess = Session(radius_m)
    sess.add(Seg(2.0)).add(Seg(1.0, force_n=60.0))
    sess.add(Seg(45.0, force_n=rng.uniform(120, 200), rock=True, kind="hold"))
    sess.add(Seg(1.5, 0.05, rng.uniform(-math.pi, math.pi), 100.0, kind="move"))
    sess.add(Seg(30.0, force_n=rng.uniform(120, 200), rock=True, kind="hold"))
    sess.add(Seg(2.0))
    return sess


def ball_arcs(seed: int, radius_m: float = 0.04) -> Session:
    """A ball under the back rolled along arcs without stopping to steer: each move turns its
    heading by 60-120° along 12-25 cm (an arc of 7-24 cm radius) at 1.5-6 cm/s mean, stops of
    0.5-1 s between moves, each move heading off where the last ended or back the other way."""
    rng = np.random.default_rng([seed, 6])
    sess = Session(radius_m)
    sess.add(Seg(2.0)).add(Seg(1.5, force_n=80.0, rock=True))
    heading = rng.uniform(-math.pi, math.pi)
    for _ in range(5):
        length = rng.uniform(0.12, 0.25)
        turn = rng.choice([-1, 1]) * rng.uniform(60, 120) * DEG
        speed = rng.uniform(0.015, 0.06)
        sess.add(Seg(length / speed, length, heading, 80.0, kind="move", turn_rad=turn))
        sess.add(Seg(rng.uniform(0.5, 1.0), force_n=80.0, kind="stop"))
        heading += turn + rng.choice([0.0, math.pi])
    sess.add(Seg(2.0))
    return sess


def slow_free_rotation(seed: int, radius_m: float = 0.05, fast: bool = False) -> Session:
    """A ball turned freely in the hand (no force sensor), bouts of rotation about a new axis
    each, slow (8..40 cm of surface at a mean 1.2..3 cm/s: 14..35 °/s at 5 cm, above the 1 cm/s
    that is "still" by contract, its slow ends down to zero) or fast, with 10 s breaks, as in BROAD's "slow rotation with breaks"."""
    rng = np.random.default_rng([seed, 5])
    sess = Session(radius_m, has_force=False)
    sess.add(Seg(3.0))
    for _ in range(6):
        for _ in range(int(rng.integers(2, 4))):
            length = rng.uniform(0.08, 0.4)
            speed = rng.uniform(0.1, 0.4) if fast else rng.uniform(0.012, 0.03)
            axis = rng.normal(size=3)
            sess.add(Seg(length / speed, length, rate_axis=tuple(axis), kind="move"))
            sess.add(Seg(rng.uniform(0.5, 1.5), kind="stop"))
        sess.add(Seg(10.0))
    return sess
