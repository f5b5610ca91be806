"""The live path of the metrics engine: what the coach acts on changes in the Block where it
happens, while passes and holds come from the estimator at most one group later, and none is
lost or reported twice (also when summary() runs the estimator in between)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from device.sim import sample_block
from firmware.app.simulate import scenario
from firmware.common.model import Block
from firmware.core.metrics import MetricsEngine, MetricsSettings

RATE_HZ = 1000.0
BLOCK = 40  # the device's 40 ms blocks at 1 kHz


def _blocks(block: Block, size: int = BLOCK):
    return [block.slice(i, i + size) for i in range(0, len(block), size)]


@pytest.fixture(scope="module")
def roller():
    user = scenario("quads-roller", "moved-hold", 31, rolling_s=20.0)
    block = sample_block(user, RATE_HZ, seed=31)
    return user, block, MetricsSettings(tool=user.tool, radius_m=user.radius_m)


def test_force_and_contact_change_in_the_block_where_they_happen():
    n = 4000
    t = np.arange(n) / RATE_HZ
    force = np.where(t < 2.0, 0.0, 120.0)
    force[t >= 3.0] = 300.0
    gyro = np.zeros((n, 3))
    accel = np.tile([0.0, 0.0, 9.81], (n, 1))
    engine = MetricsEngine(MetricsSettings(tool="roller", radius_m=0.05))
    seen = [engine.update(b) for b in _blocks(Block(t, gyro, accel, force))]
    first_contact = next(m for m in seen if m.contact)
    assert first_contact.t_s == pytest.approx(2.039, abs=1e-9)  # the block holding t = 2.0
    assert first_contact.force_n == 120.0
    assert next(m for m in seen if m.force_n == 300.0).t_s == pytest.approx(3.039, abs=1e-9)
    assert not any(m.contact for m in seen if m.t_s < 2.0)


def test_speed_and_still_follow_the_roll_within_the_smoothing_window(roller):
    user, block, settings = roller
    engine = MetricsEngine(settings)
    t_roll = next(sg.t0 for sg in user.segments if sg.kind == "move" and sg.contact)
    seen = [engine.update(b) for b in _blocks(block)]
    moving = next(m for m in seen if m.t_s > t_roll and not m.still)
    assert moving.t_s - t_roll <= settings.still_window_s + 0.1
    assert moving.speed_mps > 0.0


def _report_times(engine: MetricsEngine, blocks, checkpoint_every: int = 0):
    """(pass, sensor time its Metrics reported it) and the holds, in the order reported."""
    passes, holds = [], []
    for k, b in enumerate(blocks):
        m = engine.update(b)
        passes += [(p, m.t_s) for p in m.new_passes]
        holds += m.new_holds
        if checkpoint_every and k % checkpoint_every == 7:  # the estimator runs in between
            engine.summary()
    m = engine.finish()
    return passes + [(p, m.t_s) for p in m.new_passes], holds + list(m.new_holds)


def test_every_pass_and_hold_is_reported_once_and_soon(roller):
    _, block, settings = roller
    engine = MetricsEngine(settings)
    passes, holds = _report_times(engine, _blocks(block), checkpoint_every=50)
    assert len(passes) >= 6 and [p for p, _ in passes] == engine.passes
    assert holds == engine.holds and len(holds) == 2
    # against an estimator that runs every frame: each pass comes at most one estimator
    # group (plus a block) later than it could
    eager = MetricsEngine(replace(settings, estimate_every_s=settings.frame_s))
    soonest, _ = _report_times(eager, _blocks(block, 20))
    assert [p.end_s for p, _ in soonest] == [p.end_s for p in engine.passes]
    for (p, _), q in zip(soonest, engine.passes, strict=True):  # the axis, re-estimated per
        assert p.length_m == pytest.approx(q.length_m, rel=1e-6)  # group, moves a hair
    late = [t - t_min for (_, t), (_, t_min) in zip(passes, soonest, strict=True)]
    assert max(late) <= settings.estimate_every_s + BLOCK / RATE_HZ + 1e-9
    assert max(late) > 0.5  # the grouping is real: some come later than they could


def test_hold_timer_runs_live_during_a_hold(roller):
    user, block, settings = roller
    engine = MetricsEngine(settings)
    seen = [engine.update(b) for b in _blocks(block)]
    holding = [m for m in seen if m.holding]
    assert holding, "the scenario holds twice"
    first = holding[0]
    truth = user.truth["holds"][0]
    # holding starts once hold_min_s of stillness is seen, give or take an estimator group
    assert first.t_s - truth["start_s"] == pytest.approx(settings.hold_min_s, abs=1.0)
    run = [m for m in holding if m.t_s - first.t_s < 3.0]
    steps = np.diff([m.hold_s for m in run])
    assert (steps > 0).all() and steps.max() < 0.05  # it counts block by block, not in jumps


def test_summary_mid_stream_covers_the_data_so_far(roller):
    _, block, settings = roller
    engine = MetricsEngine(settings)
    half = len(block) // 2
    for b in _blocks(block.slice(0, half)):
        engine.update(b)
    mid = engine.summary()
    assert mid["duration_s"] == pytest.approx(block.t_s[half - 1] - block.t_s[0])
    assert mid["passes"] >= 2 and math.isfinite(mid["distance_m"])
    for b in _blocks(block.slice(half, len(block))):
        engine.update(b)
    engine.finish()
    whole = MetricsEngine(settings)
    whole.update(block)
    whole.finish()
    assert engine.summary() == whole.summary()  # checkpoints do not change the result


def test_bad_block_does_not_disturb_the_live_values():
    n = 400
    t = np.arange(n) / RATE_HZ
    gyro = np.zeros((n, 3))
    accel = np.tile([0.0, 0.0, 9.81], (n, 1))
    force = np.full(n, 100.0)
    engine = MetricsEngine(MetricsSettings(tool="roller", radius_m=0.05))
    engine.update(Block(t[:200], gyro[:200], accel[:200], force[:200]))
    bad = gyro[200:].copy()
    bad[-1] = np.nan
    m = engine.update(Block(t[200:], bad, accel[200:], force[200:]))
    assert m.still and m.speed_mps == 0.0 and m.contact
    back = engine.update(Block(t[:5] + 1.0, gyro[:5], accel[:5], force[:5]))
    assert back.t_s == pytest.approx(1.004) and back.still


def test_run_helpers_keep_no_memory_of_a_long_array():
    from firmware.common import runs as metrics_runs

    before = metrics_runs._AR1.nbytes
    on = np.zeros(1_000_000, dtype=bool)
    on[10] = True
    assert metrics_runs.schmitt(on, ~on, False).sum() == 1
    assert metrics_runs._AR1.nbytes == before  # a one-off arange, not a cache that stays
