"""The first passes of a roller or stick whose roll axis is not given, on the independent motion
model (tests/physics/roller.py): radii 0.03-0.29 m, slow and brisk passes, the hand's wobble
across the axis. Goal (issue 21): every pass within 1 %, the first one too.

Before the axis is known the position runs on a provisional axis (the principal axis of the
rotation so far), and a pass's length is the rotation between its turnarounds projected on the
best axis known when it ends: a slow first pass at a large radius, whose first 0.25 s of rotation
points up to ~25° off the axis (the wobble of the hand is a third of the roll rate), no longer
comes out short (it lost up to 4.9 %, mostly to a bias learned from its slow start)."""

from __future__ import annotations

import pytest

from firmware.core.metrics import MetricsEngine, MetricsSettings
from tests.physics.roller import RollSpec, roll_session

AXES = [(0.36, 0.80, 0.48), (0.10, 0.20, 0.97), (-0.60, 0.30, 0.74)]
LENGTHS = (0.25, 0.30, 0.20, 0.28)


def _passes(spec: RollSpec, cut: int | None = None):
    block, truth = roll_session(spec)
    engine = MetricsEngine(MetricsSettings(tool=spec.tool, radius_m=spec.radius_m))
    step = cut or len(block)
    for lo in range(0, len(block), step):
        engine.update(block.slice(lo, lo + step))
    engine.finish()
    return engine, truth


@pytest.mark.parametrize("radius_m", [0.03, 0.075, 0.15, 0.29])
@pytest.mark.parametrize("peak_mps", [0.05, 0.2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_pass_within_1_percent_before_the_axis_is_known(radius_m, peak_mps, seed):
    spec = RollSpec(tool="roller" if seed % 2 else "stick", radius_m=radius_m,
                    axis_xyz=AXES[seed % 3], pass_lengths_m=LENGTHS, peak_speed_mps=peak_mps,
                    gyro_range_dps=500 if radius_m >= 0.075 else 2000, rate_hz=200.0,
                    seed=seed + int(radius_m * 100))
    engine, truth = _passes(spec)
    assert len(engine.passes) == truth["passes"]
    # slip turns the tool up to 0.4 % more than it rolls: the gyro cannot see it
    for p, length in zip(engine.passes, LENGTHS, strict=True):
        assert p.length_m == pytest.approx(length, rel=0.01)


@pytest.mark.parametrize("cut", [20, 1000])
def test_first_pass_is_the_same_however_the_samples_are_split(cut):
    spec = RollSpec(tool="roller", radius_m=0.29, axis_xyz=AXES[1], pass_lengths_m=LENGTHS,
                    peak_speed_mps=0.05, gyro_range_dps=500, rate_hz=200.0, seed=4)
    whole, _ = _passes(spec)
    split, _ = _passes(spec, cut)
    assert [p.length_m for p in split.passes] == [p.length_m for p in whole.passes]
