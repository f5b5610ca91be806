"""Synthetic IMU/force Blocks with known truth for the calibration tests (numpy only):
a tool that lies still, or rolls a known distance about a known axis, with gyro bias,
MPU-6050-like noise, a little wobble, and a force channel."""

from __future__ import annotations

import numpy as np

from firmware.common.model import Block

G = np.array([0.0, 0.0, 9.80665])


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def make_block(t_s, rate_rad_s, *, bias, noise_rad_s=0.0009, force=0.0, seed=0,
               accel_noise=0.05) -> Block:
    rng = np.random.default_rng(seed)
    n = len(t_s)
    gyro = rate_rad_s + np.asarray(bias, dtype=float) + rng.normal(0, noise_rad_s, (n, 3))
    accel = G + rng.normal(0, accel_noise, (n, 3))
    f = np.broadcast_to(np.asarray(force, dtype=float), (n,)).copy()
    return Block(np.asarray(t_s, dtype=float), gyro, accel, f)


def still(seconds, *, bias, rate_hz=200.0, t0=0.0, force=0.0, seed=0, **kw) -> Block:
    t = t0 + np.arange(int(round(seconds * rate_hz))) / rate_hz
    return make_block(t, np.zeros((len(t), 3)), bias=bias, force=force, seed=seed, **kw)


def roll(*, axis, bias, radius_m, distance_m, direction=+1, still_s=1.0, roll_s=3.0,
         after_s=0.5, rate_hz=200.0, wobble_rad_s=0.0, seed=0, t0=0.0, **kw) -> Block:
    """Still, then one smooth roll (sin^2 speed profile) of ``distance_m`` at ``radius_m``
    about ``axis`` (sign ``direction``), then still again."""
    axis = unit(axis)
    n = int(round((still_s + roll_s + after_s) * rate_hz))
    t = t0 + np.arange(n) / rate_hz
    tr = t - t0 - still_s
    peak = 2.0 * distance_m / (radius_m * roll_s)  # so that the integral is distance / radius
    spin = np.where((tr >= 0) & (tr <= roll_s), peak * np.sin(np.pi * tr / roll_s) ** 2, 0.0)
    rate = direction * spin[:, None] * axis
    if wobble_rad_s:
        other = unit(np.cross(axis, [0.3, 0.5, 0.8]))  # a perpendicular rocking motion
        rate = rate + (wobble_rad_s * np.sin(2 * np.pi * 1.3 * t) * (spin > 0))[:, None] * other
    return make_block(t, rate, bias=bias, seed=seed, **kw)


class ScriptedSource:
    """A block source: each call hands out the next scripted segment in 0.1 s Blocks."""

    def __init__(self, segments: list[Block]) -> None:
        self.segments = list(segments)
        self.calls: list[float] = []

    def __call__(self, seconds: float):
        self.calls.append(seconds)
        block = self.segments.pop(0)
        step = max(1, int(0.1 / float(np.median(np.diff(block.t_s)))))
        for i in range(0, len(block), step):
            yield block.slice(i, i + step)
