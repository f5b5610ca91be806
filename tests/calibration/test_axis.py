"""Roll axis and "up" from one roll up the limb: axis within 2 %, sign from the instruction."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.axis import estimate_axis
from firmware.common.errors import CalibrationError
from tests.calibration.synth import roll, still, unit

BIAS = np.array([0.04, -0.09, 0.02])


@pytest.mark.parametrize("axis", [[0, 1, 0], [1, 0, 0], [0.3, -0.8, 0.5], [-0.2, 0.1, -0.97]])
@pytest.mark.parametrize("direction", [+1, -1])
def test_recovers_axis_and_up_sign(axis, direction):
    b = roll(axis=axis, bias=BIAS, radius_m=0.075, distance_m=0.25, direction=direction,
             wobble_rad_s=0.15, seed=3)
    a = estimate_axis(b, BIAS, direction="up")
    truth = unit(axis)
    est = np.array(a.axis_xyz)
    assert np.linalg.norm(est) == pytest.approx(1.0)
    assert abs(est @ truth) > 0.9998  # within ~1.1 degrees (2 % of a radian)
    # "up" is the rotation the user made: up_sign * axis points along direction * truth
    assert np.sign(a.up_sign * est @ truth) == direction
    assert a.planarity > 0.95
    assert abs(a.rotation_rad) == pytest.approx(0.25 / 0.075, rel=0.02)


def test_told_down_flips_the_sign():
    b = roll(axis=[0, 1, 0], bias=BIAS, radius_m=0.075, distance_m=0.25)
    assert estimate_axis(b, BIAS, direction="down").up_sign == -estimate_axis(b, BIAS).up_sign


def test_axis_sign_is_canonical():
    for direction in (1, -1):
        b = roll(axis=[0, -1, 0], bias=BIAS, radius_m=0.075, distance_m=0.25, direction=direction)
        assert estimate_axis(b, BIAS).axis_xyz[1] > 0.99


def test_refuses_no_rolling():
    with pytest.raises(CalibrationError, match="no rolling seen"):
        estimate_axis(still(4.0, bias=BIAS), BIAS)


def test_refuses_too_short_a_roll():
    b = roll(axis=[0, 1, 0], bias=BIAS, radius_m=0.075, distance_m=0.05)
    with pytest.raises(CalibrationError, match="roll further"):
        estimate_axis(b, BIAS)


def test_refuses_twisting():
    b = roll(axis=[0, 1, 0], bias=BIAS, radius_m=0.075, distance_m=0.25, wobble_rad_s=3.0)
    with pytest.raises(CalibrationError, match="not about one axis"):
        estimate_axis(b, BIAS)
