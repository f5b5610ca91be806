"""Gyro bias: recovered from a still period within 2 %, refused when the tool moved."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.gyro import estimate_gyro_bias, find_still_bias, sample_dt_s
from firmware.common.errors import CalibrationError
from tests.calibration.synth import roll, still

BIAS = np.array([0.0523, -0.1204, 0.0311])  # rad/s: 3.0, -6.9, 1.8 deg/s


def test_recovers_bias_within_2_percent():
    g = estimate_gyro_bias(still(5.0, bias=BIAS))
    assert np.all(np.abs(np.array(g.bias_rad_s) - BIAS) <= 0.02 * np.abs(BIAS))
    assert 0.0005 < g.noise_rad_s < 0.003  # 0.0009 rad/s per axis, norm over 3 axes
    assert g.duration_s == pytest.approx(5.0, abs=0.01)
    assert g.calibrated_at.endswith("Z")


def test_refuses_when_the_tool_rolled():
    moving = roll(axis=[0, 1, 0], bias=BIAS, radius_m=0.075, distance_m=0.1, still_s=1.0, roll_s=2.0)
    with pytest.raises(CalibrationError, match=r"^gyro: the tool moved .*keep it still"):
        estimate_gyro_bias(moving)


def test_refuses_a_small_nudge():
    b = still(5.0, bias=BIAS)
    b.gyro_rad_s[500:520, 2] += 0.2  # a 0.1 s bump
    with pytest.raises(CalibrationError, match="moved"):
        estimate_gyro_bias(b)


def test_refuses_shaking():
    with pytest.raises(CalibrationError, match="shaken"):
        estimate_gyro_bias(still(5.0, bias=BIAS, accel_noise=1.0))


def test_refuses_too_little_data():
    with pytest.raises(CalibrationError, match=r"only 0\.49 s of data"):
        estimate_gyro_bias(still(0.5, bias=BIAS))


def test_find_still_bias_in_a_roll():
    b = roll(axis=[1, 2, 0], bias=BIAS, radius_m=0.075, distance_m=0.3, still_s=1.5)
    assert np.allclose(find_still_bias(b), BIAS, atol=0.001)
    always_moving = roll(axis=[1, 0, 0], bias=BIAS, radius_m=0.075, distance_m=0.3, still_s=0,
                         roll_s=3.0, after_s=0)
    always_moving.gyro_rad_s[:, 1] += np.sin(np.arange(len(always_moving)) / 3.0)
    assert find_still_bias(always_moving) is None


def test_dt_ignores_gaps():
    t = np.array([0.0, 0.005, 0.010, 1.0, 1.005])
    assert np.allclose(sample_dt_s(t), [0.005, 0.005, 0.005, 0.005, 0.005])
