"""Passes (firmware.core.metrics.passes): turnarounds of the position where it retreats
min_pass_m from its extreme, each pass measured on the running sums, and the summary's pass
list."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware.common.model import Pass
from firmware.common.wire import dumps
from firmware.core.metrics import MetricsSettings
from firmware.core.metrics.passes import PASS_LIST_MAX, Passes, PassLog, pass_columns
from firmware.core.metrics.totals import Q_COLS, Q_FDT, Q_FORCE_DT, Q_MOVING, Q_X

DT_S = 0.02


def _sums(x):
    """Running sums of a tool rolling along x (m) frame by frame, always moving, at 20 N."""
    n = len(x)
    t = DT_S * np.arange(1, n + 1)
    q = np.zeros((n, Q_COLS))
    q[:, Q_X] = x
    q[:, Q_MOVING] = t
    q[:, Q_FDT] = t
    q[:, Q_FORCE_DT] = 20.0 * t
    return t, q


def _legs(*points, step=0.005):
    """Positions going straight from point to point in steps of `step`."""
    out = [np.array([points[0]])]
    for a, b in zip(points, points[1:], strict=False):
        k = round(abs(b - a) / step)
        out.append(np.linspace(a, b, k + 1)[1:])
    return np.concatenate(out)


def test_turnarounds_make_passes_and_finish_closes_the_open_one():
    t, q = _sums(_legs(0.0, 0.2, 0.05, 0.25))
    passes = Passes(MetricsSettings())
    out: list[Pass] = []
    passes.update(t, q, None, out)
    assert [round(p.length_m, 6) for p in out] == [0.2, 0.15]
    assert [p.direction for p in out] == [1, -1]  # up unknown: the first pass defines it
    assert passes.sign == 1.0
    assert out[0].mean_force_n == pytest.approx(20.0)
    assert out[0].mean_speed_mps == pytest.approx(0.2 / (out[0].end_s - out[0].start_s))
    assert passes.open_leg_m(q[-1]) == pytest.approx(0.2)
    assert passes.open_pass().length_m == pytest.approx(0.2)
    last: list[Pass] = []
    passes.finish(last)
    assert [round(p.length_m, 6) for p in last] == [0.2]
    assert passes.passes == out + last
    assert passes.distance_m == pytest.approx(0.55)


def test_wobbles_smaller_than_min_pass_m_are_not_turnarounds():
    t, q = _sums(_legs(0.0, 0.1, 0.08, 0.2, 0.18, 0.3))
    passes = Passes(MetricsSettings())
    out: list[Pass] = []
    passes.update(t, q, None, out)
    assert out == []
    passes.finish(out)
    assert [round(p.length_m, 6) for p in out] == [0.3]


def test_a_known_up_sign_names_the_directions():
    t, q = _sums(_legs(0.0, 0.2, 0.0))
    passes = Passes(MetricsSettings(axis_xyz=(1.0, 0.0, 0.0), up_sign=-1))
    out: list[Pass] = []
    passes.update(t, q, None, out)
    passes.finish(out)
    assert [p.direction for p in out] == [-1, 1]


def test_pass_columns_round_and_cap_the_list():
    passes = [Pass(0.0, 1.23456, 0.12345, 1, 0.45678, 23.456),
              Pass(1.3, 2.5, 0.2, -1, math.inf, math.nan)]
    cols = pass_columns(passes)
    assert cols == {"end_s": [1.23, 2.5], "length_m": [0.123, 0.2], "direction": [1, -1],
                    "mean_speed_mps": [0.457, None], "mean_force_n": [23.5, None]}
    assert len(pass_columns(passes * PASS_LIST_MAX)["end_s"]) == PASS_LIST_MAX


def _some_passes(n):
    """Passes with every kind of value the pass list rounds or leaves null."""
    out = []
    for i in range(n):
        speed = math.inf if i % 5 == 3 else 0.01 * i + 0.00049
        force = math.nan if i % 4 == 1 else 20.0 + i * 0.123456
        out.append(Pass(1.5 * i, 1.5 * i + 1.23456 + 0.001 * i, 0.1 + 0.0012345 * i,
                        (1, -1, 0)[i % 3], speed, force))
    return out


@pytest.mark.parametrize("list_max", [1, 4, PASS_LIST_MAX])
def test_the_pass_log_gives_back_its_passes_and_lists_them_as_pass_columns(list_max):
    passes = _some_passes(9)
    log = PassLog(list_max)
    assert log.columns() == pass_columns([]) and dumps(log.columns(encoded=True)) == dumps(pass_columns([]))
    for k, p in enumerate(passes, 1):
        log.add(p, 0.01 * k, -0.02 * k)
        assert len(log) == k
        assert repr(log.passes()) == repr(passes[:k])  # repr: NaN forces compare equal
        for also in (None, Pass(99.0, 101.234, 0.25, 1, 0.12345, math.nan)):
            shown = [*passes[:k], *([also] if also else [])][:list_max]
            assert log.columns(also) == pass_columns(shown)  # no NaN in it: nulls are None
            assert dumps(log.columns(also, encoded=True)) == dumps(pass_columns(shown))
    starts, ends, dirs = log.ends_raw((5.0, 6.0, -1))
    assert starts.tolist() == [0.01 * k for k in range(1, 10)] + [5.0]
    assert ends.tolist() == [-0.02 * k for k in range(1, 10)] + [6.0]
    assert dirs.tolist() == [p.direction for p in passes] + [-1]
