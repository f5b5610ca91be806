"""Gyro bias (firmware.core.metrics.bias) on frames: the rest test on window means, the mean
over a rest once it lasts rest_min_s, and without a prior the mean over a long still period
under contact."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.core.metrics import DEG, MetricsSettings
from firmware.core.metrics.bias import GyroBias
from firmware.core.metrics.estimator import Estimator
from firmware.core.metrics.frames import Framer

RATE_HZ = 200.0
GRAVITY = np.array([0.0, 0.0, 9.81])
TRUE_BIAS = np.array([0.012, -0.018, 0.004])  # rad/s


def _estimate(settings, gyro_sigma_rad_s, force_n, seconds=9.0, seed=0):
    """Run the estimator on a tool lying still (gyro = TRUE_BIAS + noise) for `seconds`."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, seconds, 1.0 / RATE_HZ)
    gyro = TRUE_BIAS + rng.normal(0.0, gyro_sigma_rad_s, (len(t), 3))
    accel = GRAVITY + rng.normal(0.0, 0.02, (len(t), 3))
    force = np.full(len(t), float(force_n))
    framer = Framer(settings.frame_s, 100)
    framer.push(t, gyro, accel, force)
    frames, starts = framer.frames(final=True)
    est = Estimator(settings, trace=True)
    for lo, hi in zip(starts, [*starts[1:], len(frames)], strict=True):
        est.process(frames.slice(lo, hi), [], [])
    trace = {k: np.concatenate(v) for k, v in est.trace.items()}
    return est, trace


def _means(rows):
    """Window means as the estimator sees them: gyro (3), count, accel (3), E|g|², E|a|²."""
    m = np.zeros((len(rows), 9))
    for i, (g, g_var, a, a_var) in enumerate(rows):
        g, a = np.asarray(g, float), np.asarray(a, float)
        m[i, 0:3], m[i, 3], m[i, 4:7] = g, 1.0, a
        m[i, 7], m[i, 8] = g @ g + g_var, a @ a + a_var
    return m


def test_rest_candidates_apply_the_three_vqf_tests():
    prior = (0.01, 0.0, 0.0)
    bias = GyroBias(MetricsSettings(gyro_bias_rad_s=prior))
    near = [0.011, 0.0, 0.0]
    m = _means([
        (near, (1.0 * DEG) ** 2, GRAVITY, 0.1**2),  # quiet: rest
        (near, (3.0 * DEG) ** 2, GRAVITY, 0.1**2),  # gyro deviation too large
        (near, (1.0 * DEG) ** 2, GRAVITY, 1.0**2),  # accel deviation too large
        ([0.01 + 5 * DEG, 0, 0], (1.0 * DEG) ** 2, GRAVITY, 0.1**2),  # too far from the prior
    ])
    assert bias.rest_candidates(m).tolist() == [True, False, False, False]


def test_bias_is_the_prior_until_a_rest_lasts_rest_min_s_then_its_mean():
    prior = (0.01, -0.02, 0.005)
    settings = MetricsSettings(gyro_bias_rad_s=prior)
    est, trace = _estimate(settings, gyro_sigma_rad_s=0.2 * DEG, force_n=0.0)
    t, bias = trace["t_s"], trace["bias_rad_s"]
    early = t < settings.rest_min_s
    assert early.any() and (bias[early] == prior).all()
    assert trace["rest"][t > settings.rest_min_s + settings.rest_window_s].all()
    assert est.bias == pytest.approx(TRUE_BIAS, abs=2e-4)


def test_without_a_prior_a_long_still_period_under_contact_gives_the_bias():
    # micro-motion too strong for a rest (3 °/s > 2 °/s), but still: window-mean speed is low
    settings = MetricsSettings()
    est, trace = _estimate(settings, gyro_sigma_rad_s=3.0 * DEG, force_n=40.0)
    t, bias = trace["t_s"], trace["bias_rad_s"]
    assert not trace["rest"].any()
    assert (bias[t < settings.hold_min_s] == 0.0).all()
    assert est.bias == pytest.approx(TRUE_BIAS, abs=5e-3)
    # the same off the body (no contact): nothing to learn from, the bias stays zero
    est, _ = _estimate(settings, gyro_sigma_rad_s=3.0 * DEG, force_n=0.0)
    assert (est.bias == 0.0).all()
