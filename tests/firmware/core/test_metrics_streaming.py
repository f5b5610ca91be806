"""Streaming equals batch: feeding a recording block by block (any block size, down to one
sample) gives the same passes, holds and summary as feeding it whole."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.sim import sample_block
from firmware.app.simulate import scenario
from firmware.common.model import Block
from firmware.core.metrics import MetricsEngine, MetricsSettings


def _recording(protocol: str, name: str, seed: int, rate_hz: float, **overrides) -> tuple:
    user = scenario(protocol, name, seed, **overrides)
    block = sample_block(user, rate_hz, jitter_frac=0.5, drop_frac=0.03, seed=seed)
    settings = MetricsSettings(tool=user.tool, radius_m=user.radius_m)
    return block, settings


# short recordings that still hold passes, turnaround pauses, two holds, a move and a step-off
ROLLER, ROLLER_SETTINGS = _recording("quads-roller", "moved-hold", 41, 100, rolling_s=12.0)
BALL, BALL_SETTINGS = _recording("upper-back-ball", "reversed", 42, 100, hold_s=(8.0, 10.0))


def _feed(block: Block, settings: MetricsSettings, cuts) -> MetricsEngine:
    engine = MetricsEngine(settings)
    edges = [0, *sorted(set(cuts)), len(block)]
    for lo, hi in zip(edges, edges[1:], strict=False):
        if hi > lo:
            engine.update(block.slice(lo, hi))
    engine.finish()
    return engine


def _assert_same(a: MetricsEngine, b: MetricsEngine) -> None:
    assert len(a.passes) == len(b.passes) and len(a.holds) == len(b.holds)
    assert a.holds == b.holds
    for p, q in zip(a.passes, b.passes, strict=True):
        assert (p.start_s, p.end_s, p.direction) == (q.start_s, q.end_s, q.direction)
        assert math.isclose(p.length_m, q.length_m, rel_tol=1e-9)
        assert math.isclose(p.mean_force_n, q.mean_force_n, rel_tol=1e-9)
    _assert_close(a.summary(), b.summary())


def _assert_close(x, y) -> None:
    if isinstance(x, dict):
        assert x.keys() == y.keys()
        for k in x:
            _assert_close(x[k], y[k])
    elif isinstance(x, list):
        assert len(x) == len(y)
        for u, v in zip(x, y, strict=True):
            _assert_close(u, v)
    elif isinstance(x, float):
        assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12), (x, y)
    else:
        assert x == y


WHOLE_ROLLER = _feed(ROLLER, ROLLER_SETTINGS, [])
WHOLE_BALL = _feed(BALL, BALL_SETTINGS, [])


def test_reference_recordings_exercise_passes_and_holds():
    assert len(WHOLE_ROLLER.passes) >= 6 and len(WHOLE_ROLLER.holds) == 2
    assert len(WHOLE_BALL.passes) >= 4 and len(WHOLE_BALL.holds) >= 2


@pytest.mark.parametrize("size", [1, 7, 20, 1000])
def test_fixed_block_sizes_equal_whole(size):
    cuts = list(range(size, len(ROLLER), size))
    _assert_same(_feed(ROLLER, ROLLER_SETTINGS, cuts), WHOLE_ROLLER)


def test_one_sample_blocks_equal_whole_for_the_ball():
    _assert_same(_feed(BALL, BALL_SETTINGS, list(range(1, len(BALL)))), WHOLE_BALL)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=len(ROLLER) - 1), max_size=60), st.booleans())
def test_random_block_splits_equal_whole(cuts, ball):
    if ball:
        cuts = [c % len(BALL) for c in cuts if c % len(BALL)]
        _assert_same(_feed(BALL, BALL_SETTINGS, cuts), WHOLE_BALL)
    else:
        _assert_same(_feed(ROLLER, ROLLER_SETTINGS, cuts), WHOLE_ROLLER)


def test_clustered_one_sample_splits_around_events():
    """Split into single samples right around every pass end and hold boundary."""
    cuts = []
    for p in WHOLE_ROLLER.passes:
        k = int(np.searchsorted(ROLLER.t_s, p.end_s))
        cuts += list(range(max(1, k - 30), min(len(ROLLER) - 1, k + 30)))
    for h in WHOLE_ROLLER.holds:
        for edge in (h.start_s, h.start_s + h.duration_s):
            k = int(np.searchsorted(ROLLER.t_s, edge))
            cuts += list(range(max(1, k - 40), min(len(ROLLER) - 1, k + 40)))
    _assert_same(_feed(ROLLER, ROLLER_SETTINGS, cuts), WHOLE_ROLLER)


def test_long_blocks_are_chunked_without_changing_results():
    user = scenario("calf-stick", "good", 43)
    block = sample_block(user, 1000, seed=43, duration_s=30.0)  # 30000 samples: > one chunk
    settings = MetricsSettings(tool=user.tool, radius_m=user.radius_m)
    whole = MetricsEngine(settings)
    m = whole.update(block)
    assert m.t_s == block.t_s[-1] and list(m.new_passes) == whole.passes
    whole.finish()
    _assert_same(_feed(block, settings, list(range(20, len(block), 20))), whole)
