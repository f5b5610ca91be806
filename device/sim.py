"""Physics simulator: a scripted user (passes, holds, moves, force with ease-in, stepping off)
turned into physically consistent IMU + force samples, with ground truth.

The tool rolls without slipping: tissue speed = |ω|·r. The script moves the contact point along
the tissue with smooth (cosine) velocity profiles; each move rotates the tool about a horizontal
world axis, so the body-frame gyro points along that axis and gravity turns in the accelerometer.
Roller and stick always roll about their own axis; the ball's rolling direction changes between
spots, so its axis in the sensor frame changes too. Sensor errors: gyro bias, accel offset,
datasheet white noise (MPU-6050: 0.005 °/s/√Hz, 400 µg/√Hz) and, in `sample_block`,
quantisation and clipping at ±1000 °/s and ±8 g.

Physics only: it takes plain parameters (a ``ProtocolSim``, a scenario name, a seed) and knows
no routine files and no recording format. Which simulation a routine gets, and writing a
simulated session to a recording, are the app's (``firmware/app/simulate.py``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from device.scenarios import SCENARIOS
from firmware.common.errors import ConfigError
from firmware.common.model import Block
from firmware.common.runs import schmitt

G_M_S2 = 9.80665
DEG = math.pi / 180.0
GYRO_DENSITY_RAD_S = 0.005 * DEG  # per √Hz
ACCEL_DENSITY_M_S2 = 400e-6 * G_M_S2  # per √Hz
GYRO_FS_RAD_S = 1000.0 * DEG
ACCEL_FS_M_S2 = 8.0 * G_M_S2
GYRO_LSB_RAD_S = GYRO_FS_RAD_S / 32768.0
ACCEL_LSB_M_S2 = ACCEL_FS_M_S2 / 32768.0
CONTACT_ON_N = 15.0  # same defaults as MetricsSettings: truth uses the same contact rule
CONTACT_OFF_N = 8.0
HOLD_SPEED_MAX_MPS = 0.01
HOLD_MIN_S = 5.0
SAMPLE_CHUNK = 1 << 16  # instants sampled at a time by sample_blocks (65 s at 1 kHz)
TRUTH_STEP_S = 1e-3  # the ground truth's grid
TRUTH_CHUNK = 1 << 17  # its points at a time (131 s)
MIN_PASS_M = 0.03
FORCE_BLEND_S = 0.4  # force changes between segments blend over this time
RAMP_S = 0.6  # stepping on/off the tool


@dataclass(frozen=True)
class ProtocolSim:
    """How a routine is performed: tool, radius, pass/hold pattern and force (N)."""

    tool: str
    radius_m: float
    mode: str  # "roll" | "hold"
    pass_m: tuple[float, float] = (0.15, 0.30)
    pass_s: tuple[float, float] = (2.0, 4.0)
    force_up_n: float = 220.0
    force_down_n: float = 220.0
    spots: int = 1
    hold_s: tuple[float, float] = (30.0, 45.0)
    rolling_s: float = 66.0  # time spent in passes (s)
    # scenario "tender-spots": every pass starts at the same place and the user lingers over
    # these positions (m up the muscle from there)
    spots_m: tuple[float, ...] = (0.08, 0.17)




@dataclass
class Segment:
    """One piece of the script: a move of `ds_m` (0 = still) over [t0, t1] with a force."""

    t0: float
    t1: float
    s0: float
    ds_m: float
    force_n: float  # target force during the segment (before ease-in and wobble)
    contact: bool
    heading_rad: float = 0.0  # rolling direction on the floor (ball)
    kind: str = "still"  # still | move | hold | pause


@dataclass
class Script:
    """A timed list of segments; builders append with `still`/`move`."""

    segments: list[Segment] = field(default_factory=list)
    t: float = 0.0
    s: float = 0.0
    heading_rad: float = 0.0

    def still(self, duration_s, force_n, contact=True, kind="still"):
        self.segments.append(
            Segment(
                self.t, self.t + duration_s, self.s, 0.0, force_n, contact, self.heading_rad, kind
            )
        )
        self.t += duration_s

    def move(self, ds_m, duration_s, force_n, contact=True):
        self.segments.append(
            Segment(
                self.t,
                self.t + duration_s,
                self.s,
                ds_m,
                force_n,
                contact,
                self.heading_rad,
                "move",
            )
        )
        self.t += duration_s
        self.s += ds_m


class SimUser:
    """A scripted user on a tool: `.sample(t_s)` gives (gyro rad/s, accel m/s², force N) with
    bias and noise (no quantisation: the fake chip does that), `.truth` the ground truth."""

    def __init__(
        self,
        script: Script,
        *,
        tool: str,
        radius_m: float,
        seed: int,
        bias_rad_s=None,
        noise_bandwidth_hz: float = 98.0,
        mount=None,
        micro_motion_m: float = 0.0005,
        start_contact_s: float | None = None,
        meta: dict | None = None,
    ) -> None:
        self.tool = tool
        self.radius_m = float(radius_m)
        self.meta = dict(meta or {})
        rng = np.random.default_rng(seed)
        self._noise_rng = np.random.default_rng([seed, 1])
        self.mount = _random_rotation(rng) if mount is None else np.asarray(mount, float)
        self.bias_rad_s = (
            rng.uniform(-2.0, 2.0, 3) * DEG if bias_rad_s is None else np.asarray(bias_rad_s, float)
        )
        self.accel_offset_m_s2 = rng.uniform(-0.3, 0.3, 3)
        self.gyro_sigma = GYRO_DENSITY_RAD_S * math.sqrt(noise_bandwidth_hz)
        self.accel_sigma = ACCEL_DENSITY_M_S2 * math.sqrt(noise_bandwidth_hz)
        self.micro_motion_m = micro_motion_m
        self._micro_phase = rng.uniform(0, 2 * math.pi)
        self._wobble_phase = rng.uniform(0, 2 * math.pi)
        self.segments = script.segments
        self.end_s = script.t
        self._t0 = np.array([sg.t0 for sg in self.segments])
        self._first_contact = (
            next((sg.t0 for sg in self.segments if sg.contact), 0.0)
            if start_contact_s is None
            else start_contact_s
        )
        self._orient = self._segment_orientations()

    @functools.cached_property
    def truth(self) -> dict:
        """Ground truth of the whole script (on a 1 ms grid), computed the first time it is
        asked for: a device running on the simulator never needs it, and for an hour-long
        script it costs seconds and hundreds of MB while it is built."""
        return self._truth()

    # ------------------------------------------------------------------ source interface
    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sensor values at the instants t_s (s): gyro (n,3) rad/s, accel (n,3) m/s², force (n,)."""
        t_s = np.asarray(t_s, dtype=float)
        omega, accel = self.true_motion(t_s)
        n = len(t_s)
        gyro = omega + self.bias_rad_s + self._noise_rng.normal(0, self.gyro_sigma, (n, 3))
        accel = accel + self.accel_offset_m_s2 + self._noise_rng.normal(0, self.accel_sigma, (n, 3))
        force = self.true_force(t_s)
        force = np.maximum(
            0.0,
            force * (1 + self._noise_rng.normal(0, 0.01, n)) + self._noise_rng.normal(0, 0.3, n),
        )
        return gyro, accel, force

    # ------------------------------------------------------------------ kinematics
    def _segment_index(self, t: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self._t0, t, side="right") - 1, 0, len(self.segments) - 1)

    def kinematics(self, t: np.ndarray):
        """Tissue position s (m), velocity (m/s), acceleration (m/s²) and segment index."""
        k = self._segment_index(t)
        t0 = self._t0[k]
        t1 = np.array([sg.t1 for sg in self.segments])[k]
        s0 = np.array([sg.s0 for sg in self.segments])[k]
        ds = np.array([sg.ds_m for sg in self.segments])[k]
        dur = np.maximum(t1 - t0, 1e-9)
        u = np.clip((t - t0) / dur, 0.0, 1.0)
        pos = s0 + ds * (1 - np.cos(np.pi * u)) / 2
        inside = (t >= t0) & (t <= t1)
        vel = np.where(inside, ds * np.pi / (2 * dur) * np.sin(np.pi * u), 0.0)
        acc = np.where(inside, ds * np.pi**2 / (2 * dur**2) * np.cos(np.pi * u), 0.0)
        # micro-motion of a user pressing on a still tool (never a pass, never > hold speed)
        still = (ds == 0) & np.array([sg.contact for sg in self.segments])[k]
        w = 2 * np.pi * 0.4
        wob = self.micro_motion_m * np.sin(w * t + self._micro_phase)
        dwob = self.micro_motion_m * w * np.cos(w * t + self._micro_phase)
        ramp = np.clip(np.minimum(t - t0, t1 - t) / 0.5, 0.0, 1.0)  # fades in and out
        pos = pos + np.where(still, wob * ramp, 0.0)
        vel = vel + np.where(still, dwob * ramp, 0.0)
        return pos, vel, acc, k

    def true_motion(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Body-frame angular rate (rad/s) and specific force (m/s²), noise- and bias-free."""
        pos, vel, acc, k = self.kinematics(t)
        r = self.radius_m
        rot0, axis_world, heading, s_start = (
            self._orient[0][k],
            self._orient[1][k],
            self._orient[2][k],
            self._orient[3][k],
        )
        omega_world = axis_world * (vel / r)[:, None]
        theta = (pos - s_start) / r
        # world specific force: gravity reaction + linear acceleration of the contact motion
        direction = np.column_stack([np.cos(heading), np.sin(heading), np.zeros_like(heading)])
        f_world = np.array([0.0, 0.0, G_M_S2]) + direction * (0.5 * acc)[:, None]
        f_seg = _rodrigues(axis_world, -theta, f_world)  # undo the rotation inside the segment
        accel = np.einsum("nji,nj->ni", rot0, f_seg)  # R0ᵀ · v
        omega = np.einsum("nji,nj->ni", rot0, omega_world)
        return omega, accel

    def _segment_orientations(self):
        """Orientation at each segment start, the world rolling axis and heading per segment."""
        r = self.radius_m
        rot = self.mount.copy()
        rots, axes, heads, starts = [], [], [], []
        for sg in self.segments:
            axis = np.array([-math.sin(sg.heading_rad), math.cos(sg.heading_rad), 0.0])
            rots.append(rot.copy())
            axes.append(axis)
            heads.append(sg.heading_rad)
            starts.append(sg.s0)
            rot = _rotation(axis, sg.ds_m / r) @ rot
        return np.array(rots), np.array(axes), np.array(heads), np.array(starts)

    def body_axis(self, k: int = 0) -> np.ndarray:
        """Roll axis in the sensor frame during segment k (fixed for roller and stick)."""
        return self._orient[0][k].T @ self._orient[1][k]

    # ------------------------------------------------------------------ force
    def true_force(self, t: np.ndarray) -> np.ndarray:
        """Noise-free force (N): segment targets blended, ease-in, stepping on/off, wobble."""
        t = np.asarray(t, dtype=float)
        k = self._segment_index(t)
        target = np.array([sg.force_n if sg.contact else 0.0 for sg in self.segments])
        cur = target[k]
        prev = target[np.maximum(k - 1, 0)]
        since = t - self._t0[k]
        contact_now = np.array([sg.contact for sg in self.segments])[k]
        contact_prev = np.array([sg.contact for sg in self.segments])[np.maximum(k - 1, 0)]
        blend_s = np.where(contact_now != contact_prev, RAMP_S, FORCE_BLEND_S)
        x = np.clip(since / blend_s, 0.0, 1.0)
        x = x * x * (3 - 2 * x)  # smoothstep
        force = prev + (cur - prev) * x
        ease = np.clip(0.4 + 0.6 * (t - self._first_contact) / 10.0, 0.4, 1.0)
        wobble = 1.0 + 0.03 * np.sin(2 * np.pi * 0.25 * t + self._wobble_phase)
        force = force * ease * wobble
        force = np.where(t < self.segments[0].t0, 0.0, force)
        return np.where(t > self.end_s, target[-1], force)

    # ------------------------------------------------------------------ ground truth
    def _truth(self) -> dict:
        """Contact, forces and holds on a 1 ms grid, TRUTH_CHUNK points at a time: an hour-long
        script would need gigabytes as one grid. A script within one chunk gets the very
        numbers of one grid; a longer one's means differ from them in the last bits only
        (sums added chunk by chunk)."""
        n = math.ceil(self.end_s / TRUTH_STEP_S)  # len(np.arange(0, end_s, TRUTH_STEP_S))
        contact_n, state = 0, False
        sums = {"contact": [0.0, 0], "up": [0.0, 0], "down": [0.0, 0]}  # force sum, count
        peak = -math.inf
        for i0 in range(0, n, TRUTH_CHUNK):
            grid = np.arange(i0, min(n, i0 + TRUTH_CHUNK)) * TRUTH_STEP_S  # = np.arange's values
            force = self.true_force(grid)
            contact = schmitt(force > CONTACT_ON_N, force < CONTACT_OFF_N, state)
            state = bool(contact[-1])
            _, vel, _, _ = self.kinematics(grid)
            moving = np.abs(vel) >= HOLD_SPEED_MAX_MPS
            contact_n += int(contact.sum())
            for key, sel in (("contact", contact), ("up", contact & moving & (vel > 0)),
                             ("down", contact & moving & (vel < 0))):
                if sel.any():
                    sums[key][0] += float(force[sel].sum())
                    sums[key][1] += int(sel.sum())
            if contact.any():
                peak = max(peak, float(force[contact].max()))
        mean = {k: (total / count if count else None) for k, (total, count) in sums.items()}
        passes = self._truth_passes()
        holds = self._truth_holds(n)
        return {
            "duration_s": float(self.end_s),
            "tool": self.tool,
            "radius_m": self.radius_m,
            "axis_xyz": [float(v) for v in self.body_axis(0)],
            "up_sign": 1,
            "gyro_bias_rad_s": [float(v) for v in self.bias_rad_s],
            "passes": passes,
            "pass_count": len(passes),
            "distance_m": float(sum(p["length_m"] for p in passes)),
            "holds": holds,
            "contact_s": float(contact_n * TRUTH_STEP_S),
            "contact_mean_force_n": mean["contact"],
            "contact_peak_force_n": peak if contact_n else None,
            "force_by_direction_n": {"up": mean["up"], "down": mean["down"]},
        }

    def _truth_passes(self) -> list[dict]:
        """Moves under contact, turnaround to turnaround: same-direction moves merge (for the
        ball only along the same heading and without a hold in between)."""
        legs: list[list] = []
        still_s = 0.0
        for sg in self.segments:
            if sg.ds_m == 0 or not sg.contact:
                still_s += (sg.t1 - sg.t0) if sg.contact else 0.0
                continue
            d = 1 if sg.ds_m > 0 else -1
            same = bool(legs) and legs[-1][3] == d
            if self.tool == "ball":
                same = same and sg.heading_rad == legs[-1][4] and still_s < HOLD_MIN_S
            if same:
                legs[-1][1] = sg.t1
                legs[-1][2] += abs(sg.ds_m)
            else:
                legs.append([sg.t0, sg.t1, abs(sg.ds_m), d, sg.heading_rad])
            still_s = 0.0
        return [
            {"start_s": a, "end_s": b, "length_m": length, "direction": d}
            for a, b, length, d, _ in legs
            if length >= MIN_PASS_M
        ]

    def _truth_holds(self, n: int) -> list[dict]:
        """Runs of still segments under contact lasting at least HOLD_MIN_S (force: the
        median over the hold's points of the n-point truth grid)."""
        holds, run = [], None
        for sg in self.segments:
            if sg.ds_m == 0 and sg.contact:
                run = [sg.t0, sg.t1] if run is None else [run[0], sg.t1]
                continue
            if run is not None:
                holds.append(run)
            run = None
        if run is not None:
            holds.append(run)
        out = []
        for a, b in holds:
            if b - a >= HOLD_MIN_S:
                lo = min(max(math.floor(a / TRUTH_STEP_S) - 1, 0), n)
                hi = min(max(math.ceil(b / TRUTH_STEP_S) + 1, 0), n)
                grid = np.arange(lo, hi) * TRUTH_STEP_S
                grid = grid[(grid >= a) & (grid < b)]
                out.append(
                    {"start_s": a, "duration_s": b - a, "force_n": float(np.median(self.true_force(grid)))}
                )
        return out


# ---------------------------------------------------------------------- scenarios
def performing(proto: ProtocolSim, protocol_id: str, name: str, seed: int,
               radius_m: float | None = None, bias_rad_s=None, mount=None) -> SimUser:
    """A scripted user performing ``proto`` the way scenario ``name`` says (deterministic for
    ``seed``); ``protocol_id`` only labels its truth. Which ``ProtocolSim`` a routine gets is
    the app's knowledge (``firmware.app.simulate``)."""
    if name not in SCENARIOS:
        raise ConfigError(f"sim: unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    r = proto.radius_m if radius_m is None else float(radius_m)
    rng = np.random.default_rng([seed, 7])
    script = _build_script(proto, name, r, rng)
    meta = {"protocol": protocol_id, "scenario": name, "seed": seed}
    return SimUser(
        script,
        tool=proto.tool,
        radius_m=r,
        seed=seed,
        bias_rad_s=bias_rad_s,
        mount=mount,
        meta=meta,
    )


def _build_script(p: ProtocolSim, name: str, r: float, rng) -> Script:
    sc = Script()
    force_up, force_down = p.force_up_n, p.force_down_n
    if name == "too-hard":
        force_up, force_down = 1.8 * force_up, 1.8 * force_down
    if name == "reversed":
        force_up, force_down = force_down, force_up
    base = 0.5 * (force_up + force_down)
    if name != "starts-moving":
        sc.still(1.5, 0.0, contact=False)
        sc.still(2.5, base)
    if p.mode == "roll":
        _roll_script(sc, p, name, r, rng, force_up, force_down)
    else:
        _hold_script(sc, p, name, r, rng, base, force_up, force_down)
    if name != "step-off":
        sc.still(0.8, 0.0, contact=False)  # steps off at the end
        sc.still(1.5, 0.0, contact=False)
    return sc


def _roll_script(sc, p, name, r, rng, force_up, force_down) -> None:
    lengths, durations = p.pass_m, p.pass_s
    if name == "too-fast":
        durations = (0.6, 1.0)
    if name == "too-short":
        lengths = (0.045, 0.08)
    rolled = 0.0
    direction = 1
    step_off_at = p.rolling_s * 0.5 if name == "step-off" else math.inf
    moved_hold_at = p.rolling_s * 0.4 if name == "moved-hold" else math.inf
    while rolled < p.rolling_s:
        length = rng.uniform(*lengths)
        duration = max(rng.uniform(*durations), _min_duration(length, r))
        force = force_up if direction > 0 else force_down
        if name == "tender-spots":
            length = length if direction > 0 else sc.s  # every pass starts where the first did
            duration = max(duration, _min_duration(length, r))
            rolled += _lingering_move(sc, direction * length, duration, force, p.spots_m, rng)
            sc.still(rng.uniform(0.15, 0.5), force, kind="pause")
            direction = -direction
            continue
        sc.move(direction * length, duration, force)
        rolled += duration
        sc.still(rng.uniform(0.15, 0.5), force_up if direction > 0 else force_down, kind="pause")
        direction = -direction
        if rolled >= step_off_at:
            _step_off(sc, rng)
            return
        if rolled >= moved_hold_at:
            base = 0.5 * (force_up + force_down)
            sc.still(rng.uniform(15.0, 20.0), base, kind="hold")
            sc.move(direction * 0.06, 1.5, base)
            sc.still(rng.uniform(15.0, 20.0), base, kind="hold")
            direction = -direction
            moved_hold_at = math.inf


LINGER_HALF_M = 0.015  # the user slows down over this far either side of a tender spot
LINGER_S = (2.2, 3.2)  # ... taking this long to cross it


def _lingering_move(sc: Script, ds_m: float, duration_s: float, force_n: float, spots_m,
                    rng) -> float:
    """A pass of ``ds_m`` from the script's position that slows down over each spot it
    crosses: the rest of the pass in ``duration_s``, each spot's 3 cm in LINGER_S. Returns
    the time it took."""
    a, b = sc.s, sc.s + ds_m
    d = 1 if ds_m > 0 else -1
    zones = sorted(((s - LINGER_HALF_M, s + LINGER_HALF_M) for s in spots_m
                    if min(a, b) <= s - LINGER_HALF_M and s + LINGER_HALF_M <= max(a, b)),
                   reverse=d < 0)
    free_m = abs(ds_m) - 2 * LINGER_HALF_M * len(zones)
    took = 0.0
    for lo, hi in zones:
        enter = lo if d > 0 else hi
        gap = abs(enter - sc.s)
        if gap > 1e-9:
            sc.move(enter - sc.s, duration_s * gap / free_m, force_n)
            took += duration_s * gap / free_m
        linger = rng.uniform(*LINGER_S)
        sc.move(d * 2 * LINGER_HALF_M, linger, force_n)
        took += linger
    gap = abs(b - sc.s)
    if gap > 1e-9:
        sc.move(b - sc.s, duration_s * gap / max(free_m, 1e-9), force_n)
        took += duration_s * gap / max(free_m, 1e-9)
    return took


def _hold_script(sc, p, name, r, rng, base, force_up, force_down) -> None:
    if name in ("too-fast", "reversed"):
        direction = 1
        for _ in range(12 if name == "too-fast" else 8):
            length = rng.uniform(0.06, 0.10)
            duration = rng.uniform(0.5, 0.8) if name == "too-fast" else rng.uniform(1.5, 2.5)
            duration = max(duration, _min_duration(length, r))
            sc.move(direction * length, duration, force_up if direction > 0 else force_down)
            sc.still(0.3, force_up if direction > 0 else force_down, kind="pause")
            direction = -direction
    spots = 3 if name == "too-short" else p.spots
    for spot in range(spots):
        hold = rng.uniform(12.0, 16.0) if name == "too-short" else rng.uniform(*p.hold_s)
        if name == "step-off" and spot == spots - 1:
            sc.still(hold * 0.5, base, kind="hold")
            _step_off(sc, rng)
            return
        if name == "moved-hold" and spot == 0:  # the ball slips/is nudged mid-hold
            sc.still(hold * 0.45, base, kind="hold")
            sc.heading_rad = float(rng.uniform(-math.pi, math.pi))
            sc.move(float(rng.uniform(0.04, 0.06)), rng.uniform(1.0, 1.5), base)
            sc.still(hold * 0.55, base, kind="hold")
        else:
            sc.still(hold, base, kind="hold")
        if spot < spots - 1:
            sc.heading_rad = float(rng.uniform(-math.pi, math.pi)) if p.tool == "ball" else 0.0
            sc.move(float(rng.uniform(0.06, 0.12)), rng.uniform(1.5, 2.5), base)


def _step_off(sc: Script, rng) -> None:
    """Force drops to zero, the tool rolls away on its own, then lies still."""
    sc.still(0.8, 0.0, contact=False)
    sc.move(float(rng.uniform(0.05, 0.15)), 1.0, 0.0, contact=False)
    sc.still(6.0, 0.0, contact=False)


def _min_duration(length_m: float, radius_m: float) -> float:
    """Shortest cosine move that keeps the peak rate inside 85 % of the gyro full scale."""
    return math.pi * length_m / (2 * radius_m * 0.85 * GYRO_FS_RAD_S)


# ---------------------------------------------------------------------- calibration
CALIBRATION_STEPS = ("gyro", "axis", "radius", "force")
CAL_LEAD_S = 1.5  # after an instruction the user waits this long before rolling
CAL_ROLL_M = 0.30  # the axis step's one roll up the limb
CAL_ROLL_S = 4.0  # a calibration roll takes this long (longer if the gyro would clip)
CAL_FOREVER_S = 3600.0  # the tool lies still this long after the last action
CAL_LOAD_NOISE_REL = 0.002  # a weight's reading varies this much (relative, 1 sigma)


class CalibrationUser:
    """A simulated user doing what a calibration step asks, so ``rollsense calibrate STEP
    --sim`` runs the real procedure end to end. The tool lies still on the floor; each
    instruction the procedure gives (``follow``) starts the step's next action at that time:

    - gyro: keeps the tool still;
    - axis: after ``CAL_LEAD_S`` rolls ``CAL_ROLL_M`` once up the limb (+s is up, as in
      every scenario);
    - radius: after ``CAL_LEAD_S`` rolls exactly ``distance_m`` once;
    - force: the tare empties the sensor, then each weight of ``weights_kg`` above 0 is
      put on in turn.

    Tool, radius, mounting and gyro bias are those of the routine's simulated user for the
    same seed (``SimUser``), so ``truth`` holds what each step must find."""

    def __init__(self, step: str, *, tool: str, radius_m: float, seed: int,
                 distance_m: float | None = None, weights_kg=()) -> None:
        if step not in CALIBRATION_STEPS:
            raise ConfigError(f"sim: no simulated user for calibration step {step!r}")
        self.step, self.tool, self.radius_m, self.seed = step, tool, float(radius_m), seed
        self.distance_m = distance_m
        self.loads_n = [float(w) * G_M_S2 for w in weights_kg if float(w) > 0]
        self._moves: list[tuple[float, float, float]] = []  # (start s, distance m, duration s)
        self._load_changes: list[tuple[float, float]] = [(-math.inf, 0.0)]  # (from s, N)
        self._told = 0
        self._load_rng = np.random.default_rng([seed, 11])
        self._user = self._build()  # mount and bias from the seed, as the routine's user

    def _build(self) -> SimUser:
        sc = Script()
        for start_s, ds_m, duration_s in self._moves:
            sc.still(start_s - sc.t, 0.0, contact=False)
            sc.move(ds_m, duration_s, 0.0, contact=False)
        sc.still(CAL_FOREVER_S, 0.0, contact=False)
        old = getattr(self, "_user", None)
        return SimUser(sc, tool=self.tool, radius_m=self.radius_m, seed=self.seed,
                       bias_rad_s=None if old is None else old.bias_rad_s,
                       mount=None if old is None else old.mount)

    def follow(self, instruction: str, now_s: float) -> str:
        """Do the step's next action from ``now_s`` (the time the source is sampled on);
        returns what the simulated user does, for the terminal."""
        told, self._told = self._told, self._told + 1
        if self.step == "gyro":
            return "the tool lies still"
        if self.step == "force":
            load_n = 0.0 if told == 0 or told > len(self.loads_n) else self.loads_n[told - 1]
            self._load_changes.append((now_s, load_n))
            return f"{load_n / G_M_S2:g} kg on the sensor" if load_n else "no load on the sensor"
        ds_m = CAL_ROLL_M if self.step == "axis" else float(self.distance_m or 0.0)
        duration_s = max(CAL_ROLL_S, _min_duration(abs(ds_m), self.radius_m))
        start_s = max(now_s, self._user.end_s - CAL_FOREVER_S) + CAL_LEAD_S
        self._moves.append((start_s, ds_m, duration_s))
        self._user = self._build()
        what = "up the limb" if self.step == "axis" else "exactly"
        return f"rolls {what} {ds_m:g} m in {duration_s:.1f} s, {CAL_LEAD_S:g} s from now"

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sensor values like ``SimUser.sample``; force is the load on the sensor (N)."""
        gyro, accel, _ = self._user.sample(t_s)
        starts = np.array([t for t, _ in self._load_changes])
        loads = np.array([n for _, n in self._load_changes])
        load_n = loads[np.searchsorted(starts, np.asarray(t_s, float), side="right") - 1]
        return gyro, accel, load_n * (1 + self._load_rng.normal(0, CAL_LOAD_NOISE_REL, len(load_n)))

    @property
    def truth(self) -> dict:
        """What the calibration must find: gyro bias (rad/s), roll axis in the sensor frame
        (positive rotation about it rolls up the limb), radius (m), tool."""
        return {"tool": self.tool, "radius_m": self.radius_m,
                "gyro_bias_rad_s": [float(v) for v in self._user.bias_rad_s],
                "axis_xyz": [float(v) for v in self._user.body_axis(0)], "up_sign": 1}


# ---------------------------------------------------------------------- recording
def sample_block(
    user: SimUser,
    rate_hz: float = 200.0,
    *,
    jitter_frac: float = 0.0,
    drop_frac: float = 0.0,
    seed: int = 0,
    quantize: bool = True,
    duration_s: float | None = None,
) -> Block:
    """Sample a user like the chip would: rate, timing jitter, dropped samples, quantisation."""
    blocks = list(sample_blocks(user, rate_hz, jitter_frac=jitter_frac, drop_frac=drop_frac,
                                seed=seed, quantize=quantize, duration_s=duration_s, chunk=None))
    if not blocks:
        return Block(np.empty(0), np.empty((0, 3)), np.empty((0, 3)), np.empty(0))
    return blocks[0]


def sample_blocks(
    user: SimUser,
    rate_hz: float = 200.0,
    *,
    jitter_frac: float = 0.0,
    drop_frac: float = 0.0,
    seed: int = 0,
    quantize: bool = True,
    duration_s: float | None = None,
    chunk: int | None = SAMPLE_CHUNK,
) -> Iterator[Block]:
    """``sample_block`` as Blocks of the samples of ``chunk`` instants of the grid each (None:
    one Block), so an hour at 1 kHz never sits in memory whole. A session within one chunk
    gets ``sample_block``'s very samples (every built-in routine's at the default 200 Hz); a longer
    one draws its randomness (jitter, drops, noise) chunk by chunk, so it is as random but
    not the same draws. Deterministic for a given seed and chunk."""
    if not 1.0 <= rate_hz <= 8000.0:
        raise ConfigError(f"sim: rate_hz {rate_hz!r} must be 1..8000")
    rng = np.random.default_rng([seed, 3])
    end = user.end_s if duration_s is None else duration_s
    period = 1.0 / rate_hz
    n = max(math.ceil(end / period), 0)  # len(np.arange(0.0, end, period))
    step = n if chunk is None else max(1, int(chunk))
    for i0 in range(0, n, max(step, 1)):
        t = np.arange(i0, min(n, i0 + step)) * period  # np.arange(0.0, end, period)'s values
        if jitter_frac:
            t = t + rng.uniform(-jitter_frac, jitter_frac, len(t)) * period * 0.5
            if i0 == 0:
                t[0] = max(t[0], 0.0)
        if drop_frac:
            keep = rng.random(len(t)) >= drop_frac
            if i0 == 0:
                keep[0] = True
            t = t[keep]
        if not len(t):
            continue
        gyro, accel, force = user.sample(t)
        if quantize:
            gyro = np.clip(np.round(gyro / GYRO_LSB_RAD_S), -32768, 32767) * GYRO_LSB_RAD_S
            accel = np.clip(np.round(accel / ACCEL_LSB_M_S2), -32768, 32767) * ACCEL_LSB_M_S2
        yield Block(t_s=t, gyro_rad_s=gyro, accel_m_s2=accel, force_n=force)


# ---------------------------------------------------------------------- maths
def _random_rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def _rodrigues(axis: np.ndarray, angle: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate each row of v about the matching row of axis by angle (rad)."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    dot = np.einsum("ij,ij->i", axis, v)[:, None]
    return v * c + np.cross(axis, v) * s + axis * dot * (1 - c)


# ---------------------------------------------------------------------- the simulated tool
SIM_LEFT_AFTER_S = 5.0  # a routine's simulated user has left this long after its script ends


class SimTool:
    """The simulated tool of ``rollsense run --sim``: one sensor clock, a new scripted user
    for every routine started on it (button, start command, dashboard).

    Before the first routine the tool lies still on the floor. ``begin(routine, now_s)`` puts
    a user performing ``routine`` on it from ``now_s`` (the time the fake chips sample on);
    ``left(now_s)`` says when that user's script has ended. Every user has the same seed,
    so the same mounting, gyro bias and accelerometer offset: one physical tool. ``user_for``
    makes the user for a routine: ``user_for(routine, scenario_name, seed, radius_m=...)``
    (``firmware.app.simulate.routine_user``); a routine is anything with ``id`` and ``tool``."""

    def __init__(self, tool: str, radius_m: float, *, scenario_name: str = "good", seed: int = 1,
                 user_for) -> None:
        self.tool = tool
        self.radius_m = float(radius_m)
        self.scenario_name = scenario_name
        self.seed = seed
        self.user_for = user_for
        idle = Script()
        idle.still(1.0, 0.0, contact=False)  # and on, still, after the script's end
        self._starts_s = [0.0]
        self._users = [SimUser(idle, tool=tool, radius_m=self.radius_m, seed=seed)]

    @property
    def user(self) -> SimUser:
        """The user on the tool now (the latest ``begin``)."""
        return self._users[-1]

    def body_axis(self, k: int = 0) -> np.ndarray:
        """Roll axis in the sensor frame (the same for every user: one mounting)."""
        return self._users[0].body_axis(k)

    def begin(self, routine, now_s: float) -> SimUser:
        """A new user performing ``routine`` (a ``Routine``) from ``now_s`` on."""
        if routine.tool != self.tool:
            raise ConfigError(f"sim: {routine.id} is for a {routine.tool}; the simulated tool is a {self.tool}")
        user = self.user_for(routine, self.scenario_name, self.seed, radius_m=self.radius_m)
        self._starts_s.append(float(now_s))
        self._users.append(user)
        return user

    def left(self, now_s: float) -> bool:
        """True once the latest user's script is over (plus ``SIM_LEFT_AFTER_S``)."""
        return len(self._users) > 1 and now_s > self._starts_s[-1] + self.user.end_s + SIM_LEFT_AFTER_S

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sensor values at ``t_s`` from whichever user was on the tool then (each on its own
        script time: ``t_s`` minus its start)."""
        t_s = np.asarray(t_s, dtype=float)
        which = np.searchsorted(np.array(self._starts_s), t_s, side="right") - 1
        gyro, accel, force = np.empty((len(t_s), 3)), np.empty((len(t_s), 3)), np.empty(len(t_s))
        for k in np.unique(which):
            sel = which == k
            g, a, f = self._users[k].sample(t_s[sel] - self._starts_s[k])
            gyro[sel], accel[sel], force[sel] = g, a, f
        return gyro, accel, force
