"""Still, holds, contact and the zero-velocity update (firmware.core.metrics.holds, contact,
zupt) on frames: runs of still under contact of hold_min_s with short gaps merged, their median
force; contact with hysteresis; the rotation held back at rest restored where motion resumes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware.common.model import Hold
from firmware.core.metrics import MetricsSettings
from firmware.core.metrics.contact import Contact
from firmware.core.metrics.holds import Holds, partition_median
from firmware.core.metrics.zupt import ZeroVelocity

DT_S = 0.02


def _run_holds(holds, still, force, group=100):
    """Feed per-frame still-under-contact flags and forces in groups; the holds found."""
    t = DT_S * np.arange(1, len(still) + 1)
    out: list[Hold] = []
    has_f = force == force
    for lo in range(0, len(t), group):
        sl = slice(lo, lo + group)
        runs = holds.runs(t[sl], still[sl])
        if runs is not None:
            holds.update(t[sl], still[sl], runs, force[sl], has_f[sl], 0.0, out)
    return t, out


def test_still_is_the_window_mean_speed_below_the_hold_speed():
    holds = Holds(MetricsSettings(radius_m=0.1, hold_speed_max_mps=0.01))  # 0.1 rad/s
    ms = np.array([[0.05, 0.0, 0.0], [0.0, 0.08, 0.07], [0.0, 0.0, -0.099]])
    assert holds.still(ms).tolist() == [True, False, True]


def test_a_hold_merges_short_gaps_and_takes_the_median_force():
    settings = MetricsSettings()
    t = DT_S * np.arange(1, 601)  # 12 s
    still = (t > 1.0) & (t <= 8.0) & ~((t > 4.0) & (t <= 4.3))  # a 0.3 s gap: merged
    force = np.where(t < 3.0, 30.0, 40.0)
    holds = Holds(settings)
    _, out = _run_holds(holds, still, force)
    assert len(out) == 1 and not holds.active
    half = 0.5 * settings.still_window_s  # the still window lags by half its length
    first, last = t[still][0], t[still][-1]
    assert out[0].start_s == pytest.approx(first - half)
    assert out[0].duration_s == pytest.approx(last - first)
    assert out[0].force_n == 40.0  # median over the still frames
    assert holds.holds == out


def test_a_long_gap_ends_the_run_and_short_runs_are_not_holds():
    t = DT_S * np.arange(1, 601)
    still = ((t > 1.0) & (t <= 7.0)) | ((t > 8.0) & (t <= 10.0))  # 1 s gap, then 2 s still
    holds = Holds(MetricsSettings())
    _, out = _run_holds(holds, still, np.full(len(t), math.nan))
    assert len(out) == 1 and math.isnan(out[0].force_n)
    assert out[0].duration_s == pytest.approx(6.0 - DT_S)


def test_an_open_hold_is_reported_and_closed_at_the_end():
    t = DT_S * np.arange(1, 401)
    holds = Holds(MetricsSettings())
    _, out = _run_holds(holds, t > 1.0, np.full(len(t), 25.0))
    assert out == [] and holds.active
    open_hold = holds.open_hold(0.0)
    assert open_hold is not None and open_hold.force_n == 25.0
    closed: list[Hold] = []
    holds.finish(0.0, closed)
    assert closed == [open_hold] and not holds.active


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11, 1000, 1001])
def test_hold_force_median_by_partition_equals_the_median(n):
    x = np.random.default_rng(n).normal(200.0, 20.0, n)
    assert partition_median(x) == pytest.approx(float(np.median(x)), abs=1e-12)


def test_contact_has_hysteresis_and_a_missing_reading_does_not_end_it():
    contact = Contact(MetricsSettings(contact_on_n=15.0, contact_off_n=8.0))
    f = np.array([0.0, 20.0, 10.0, 7.0, 10.0, 16.0])
    assert contact.update(f, f == f, True).tolist() == [False, True, True, False, False, True]
    f = np.array([0.0, 0.0, 9.0])  # 0 where there is no reading
    has_f = np.array([False, False, True])
    assert contact.update(f, has_f, False).tolist() == [True, True, True]
    assert contact.on


def test_rotation_held_back_at_rest_is_restored_where_motion_resumes():
    settings = MetricsSettings(zupt_restore_s=0.5)
    zupt = ZeroVelocity(settings)
    n = 20
    t = DT_S * np.arange(1, n + 1)
    rest = np.arange(n) < 10
    assert zupt.mask(t, rest, True, None) is rest
    assert zupt.mask(t, rest, False, None) is None
    dtheta_all = np.zeros((n, 3))
    dtheta_all[:, 0] = 0.01
    dtheta = dtheta_all * ~rest[:, None]
    wc = dtheta_all / DT_S
    engaged = np.ones(n, dtype=bool)
    edges, rows = zupt.restore(t, np.full(n, DT_S), rest, dtheta_all, dtheta, wc, engaged, None)
    assert edges.tolist() == [10]
    assert rows[0, 1:4] == pytest.approx([0.1, 0.0, 0.0])  # the 10 frames held back
    # nothing more ends in the next group
    assert zupt.restore(t + 1.0, np.full(n, DT_S), None, dtheta_all, dtheta_all, wc, engaged,
                        None) is None
