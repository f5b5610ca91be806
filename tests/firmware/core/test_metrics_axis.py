"""Roll axis and tissue speed (firmware.core.metrics.axis): the principal axis of the rotation
scatter, learned from rotation once there is axis_update_s of it, or given."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.core.metrics import DEG, MetricsSettings
from firmware.core.metrics.axis import RollAxis, principal_axis

U = np.array([0.6, 0.0, 0.8])  # the true roll axis in the sensor frame


def _group(rate_rad_s, n=50, dt_s=0.02, seed=0):
    """n frames rotating about U at rate_rad_s (+ a little rotation off the axis)."""
    rng = np.random.default_rng(seed)
    wc = np.outer(np.full(n, rate_rad_s), U) + rng.normal(0.0, 0.5 * DEG, (n, 3))
    dt = np.full(n, dt_s)
    return wc, wc * dt[:, None], dt, np.ones(n, dtype=bool), np.einsum("ij,ij->i", wc, wc)


def test_principal_axis_of_a_nearly_rank_one_scatter():
    m = 5.0 * np.outer(U, U) + 0.01 * np.eye(3)
    assert principal_axis(m.tolist(), None) == pytest.approx(U, abs=1e-9)
    assert principal_axis(m.tolist(), (-U).tolist()) == pytest.approx(-U, abs=1e-9)  # kept


def test_axis_is_learned_from_rotation_with_the_sign_of_the_first_strong_rotation():
    axis = RollAxis(MetricsSettings())
    assert axis.axis is None
    wc, dtheta, dt, gate, rate2 = _group(-60.0 * DEG)  # 1 s of rotation the "negative" way
    proj, used = axis.project(wc, dtheta, dt, gate, rate2)
    assert used is axis.axis
    assert axis.axis == pytest.approx(-U, abs=1e-2)
    assert proj == pytest.approx(np.full(50, 60.0 * DEG * 0.02), rel=0.05)
    # the sign stays continuous when the rotation reverses
    proj, _ = axis.project(*_group(+60.0 * DEG, seed=1))
    assert axis.axis == pytest.approx(-U, abs=1e-2)
    assert (proj < 0).all()


def test_slow_rotation_alone_does_not_define_an_axis():
    axis = RollAxis(MetricsSettings())
    proj, used = axis.project(*_group(5.0 * DEG))  # below axis_weak_rad_s
    assert used is None and axis.axis is None and (proj == 0).all()


def test_a_given_axis_is_used_as_is_and_the_speeds_follow_the_tool():
    settings = MetricsSettings(axis_xyz=(0.0, 0.0, 2.0), radius_m=0.05)
    axis = RollAxis(settings)
    wc = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -2.0], [1.0, 0.0, 0.0]])
    gate = np.array([True, True, False])
    rate2 = np.einsum("ij,ij->i", wc, wc)
    proj, used = axis.project(wc, wc * 0.02, np.full(3, 0.02), gate, rate2)
    assert used.tolist() == [0.0, 0.0, 1.0]
    assert proj.tolist() == pytest.approx([0.02, -0.04, 0.0])
    vel, speed = axis.speeds(wc, gate, used, rate2)
    assert vel.tolist() == pytest.approx([0.05, -0.1, 0.0])
    assert speed.tolist() == pytest.approx([0.05, 0.1, 0.0])
    # the ball: |ω|·r whatever the axis, below the dead band nothing
    ball = RollAxis(MetricsSettings(tool="ball", radius_m=0.05, ball_deadband_mps=0.002))
    wc = np.array([[3.0, 4.0, 0.0], [0.01, 0.0, 0.0]])
    _, speed = ball.speeds(wc, np.ones(2, dtype=bool), U, np.einsum("ij,ij->i", wc, wc))
    assert speed.tolist() == pytest.approx([0.25, 0.0])
