"""Robustness against a second, independent motion model (not device.sim): trapezoidal speed
profiles without turnaround pauses, three times the datasheet noise, an unknown ±2 °/s bias on
every axis, a recording that starts moving, 10 % dropped samples at 100 Hz, and a hold with
2 mm of body sway (too much for the strict rest detector)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware.common.model import Block
from firmware.core.metrics import DEG, MetricsEngine, MetricsSettings

G_M_S2 = 9.80665


def _trapezoid(length_m: float, vmax_mps: float, acc_mps2: float = 0.4, dt: float = 1e-3):
    """Position over time of a move with constant acceleration, cruise and deceleration."""
    t_acc = vmax_mps / acc_mps2
    if length_m < vmax_mps * t_acc:
        vmax_mps = math.sqrt(length_m * acc_mps2)
        t_acc = vmax_mps / acc_mps2
    t_cruise = (length_m - vmax_mps * t_acc) / vmax_mps
    dur = 2 * t_acc + t_cruise
    tt = np.arange(0.0, dur, dt)
    return np.where(
        tt < t_acc,
        0.5 * acc_mps2 * tt**2,
        np.where(
            tt < t_acc + t_cruise,
            0.5 * acc_mps2 * t_acc**2 + vmax_mps * (tt - t_acc),
            length_m - 0.5 * acc_mps2 * (dur - tt) ** 2,
        ),
    )


def _random_rotation(rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def _session(seed: int, radius_m: float, hold_s: float = 20.0, sway_m: float = 0.002):
    rng = np.random.default_rng(seed)
    dt = 1e-3
    pieces, legs, x = [], [], 0.0
    for k in range(22):
        if k == 14:  # a hold with body sway in the middle
            pieces.append(np.full(int(hold_s / dt), x))
            hold_start = sum(len(p) for p in pieces[:-1]) * dt
        length = rng.uniform(0.10, 0.30)
        sign = 1 if k % 2 == 0 else -1
        pieces.append(x + sign * _trapezoid(length, rng.uniform(0.05, 0.15)))
        legs.append(length)
        x = pieces[-1][-1]
    pieces.append(np.full(int(2.0 / dt), x))
    pos = np.concatenate(pieces)
    t = np.arange(len(pos)) * dt
    in_hold = (t > hold_start + 0.5) & (t < hold_start + hold_s - 0.5)
    pos = pos + np.where(in_hold, sway_m * np.sin(2 * np.pi * 0.7 * t), 0.0)
    vel = np.gradient(pos, t)
    mount = _random_rotation(rng)  # sensor frame -> world; the roll axis is world y
    axis = mount.T @ np.array([0.0, 1.0, 0.0])
    theta = pos / radius_m
    g_world = np.column_stack([-np.sin(theta), np.zeros_like(theta), np.cos(theta)]) * G_M_S2
    accel = g_world @ mount  # rows: mountᵀ · g, gravity turning as it rolls
    ts = np.arange(0.0, t[-1], 0.01)  # 100 Hz ...
    ts = ts[rng.random(len(ts)) >= 0.10]  # ... with 10 % of the samples lost
    k = np.searchsorted(t, ts).clip(0, len(t) - 1)
    bias = rng.choice([-1.0, 1.0], 3) * 2.0 * DEG
    gyro = np.outer(vel[k] / radius_m, axis) + bias
    gyro += rng.normal(0, 3 * 0.005 * DEG * math.sqrt(98), gyro.shape)
    acc = accel[k] + rng.normal(0, 3 * 0.004 * G_M_S2, (len(ts), 3))
    force = 200.0 + rng.normal(0, 2.0, len(ts))
    return Block(ts, gyro, acc, force), sum(legs), len(legs), (hold_start, hold_s)


@pytest.mark.parametrize(
    ("seed", "tool", "radius_m"),
    [(0, "roller", 0.075), (5, "roller", 0.075), (1, "stick", 0.015), (3, "stick", 0.02)],
)
def test_independent_motion_model(seed, tool, radius_m):
    block, distance_m, passes, (hold_start_s, hold_s) = _session(seed, radius_m)
    engine = MetricsEngine(MetricsSettings(tool=tool, radius_m=radius_m))
    engine.update(block)
    engine.finish()
    summary = engine.summary()
    assert summary["passes"] == passes
    assert summary["distance_m"] == pytest.approx(distance_m, rel=0.03)
    assert len(summary["holds"]) == 1
    assert abs(summary["holds"][0]["start_s"] - hold_start_s) <= 1.0
    assert abs(summary["holds"][0]["duration_s"] - hold_s) <= 1.5
    assert summary["force_n"]["mean"] == pytest.approx(200.0, rel=0.03)
