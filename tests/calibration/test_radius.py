"""Effective radius from a roll over a known distance: within 2 % for roller, ball and stick."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.radius import estimate_radius
from firmware.common.errors import CalibrationError
from tests.calibration.synth import roll, still

BIAS = np.array([-0.06, 0.11, 0.035])


@pytest.mark.parametrize("radius_m, distance_m", [(0.075, 0.5), (0.03, 0.3), (0.015, 0.4)])
@pytest.mark.parametrize("known_axis", [True, False])
def test_recovers_radius_within_2_percent(radius_m, distance_m, known_axis):
    axis = np.array([0.2, 0.9, -0.4]) / np.linalg.norm([0.2, 0.9, -0.4])
    b = roll(axis=axis, bias=BIAS, radius_m=radius_m, distance_m=distance_m, direction=-1,
             wobble_rad_s=0.1, seed=5)
    r = estimate_radius(b, distance_m=distance_m, bias_rad_s=BIAS,
                        axis_xyz=tuple(axis) if known_axis else None, tool="roller")
    assert r.radius_m == pytest.approx(radius_m, rel=0.02)
    assert r.distance_m == distance_m and r.tool == "roller"


def test_slow_roll_with_small_bias_error():
    # slow (3 cm/s peak) over 10 s, and a bias known only to 0.002 rad/s
    b = roll(axis=[0, 1, 0], bias=BIAS, radius_m=0.075, distance_m=0.15, roll_s=10.0)
    r = estimate_radius(b, distance_m=0.15, bias_rad_s=BIAS + 0.002, axis_xyz=(0, 1, 0))
    assert r.radius_m == pytest.approx(0.075, rel=0.02)


def test_refuses_no_rolling():
    with pytest.raises(CalibrationError, match="no rolling seen"):
        estimate_radius(still(3.0, bias=BIAS), distance_m=0.5, bias_rad_s=BIAS)
    with pytest.raises(CalibrationError, match="only 0.00 rad of rolling"):
        estimate_radius(still(3.0, bias=BIAS), distance_m=0.5, bias_rad_s=BIAS, axis_xyz=(0, 1, 0))


def test_refuses_an_implausible_radius():
    b = roll(axis=[0, 1, 0], bias=BIAS, radius_m=0.075, distance_m=0.5)
    with pytest.raises(CalibrationError, match="not a plausible radius"):
        estimate_radius(b, distance_m=50.0, bias_rad_s=BIAS)
