"""Ball moves, holds and slow rolling against an independent motion model
(tests/physics/ball_and_still.py: rolling without slip, a user's rocking of a pressed tool,
MPU6050 noise, bias, bias instability and quantisation at several full scales and rates).

Goals (issue 21): passes exact on ball moves (a stop or a new heading ends a move), holds start
within 0.5 s and last within 1 s of the truth with no split or spurious hold at any radius,
distance within 1 %."""

from __future__ import annotations

import pytest

from firmware.core.metrics import MetricsEngine, MetricsSettings
from tests.physics import ball_and_still as phys


def _run(sess, imu, seed, *, blocks: int | None = None):
    sim = phys.simulate(sess, imu, seed)
    engine = MetricsEngine(MetricsSettings(tool=sess.tool, radius_m=sess.radius_m))
    block = sim["block"]
    live = []
    step = blocks or len(block)
    for i in range(0, len(block), step):
        live.append(engine.update(block.slice(i, i + step)))
    engine.finish()
    return sim, engine.summary(), live


def _assert_holds(summary, sim) -> None:
    got = summary["holds"]
    assert len(got) == len(sim["holds"]), (got, sim["holds"])
    for h, (start, duration) in zip(got, sim["holds"], strict=True):
        assert abs(h["start_s"] - start) <= 0.5, (h, start)
        assert abs(h["duration_s"] - duration) <= 1.0, (h, duration)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("rate_hz", "fs_dps"), [(200, 500), (1000, 2000)])
def test_ball_short_moves_each_a_pass(seed, rate_hz, fs_dps):
    """14 moves of 4-8 cm at 1-3.5 cm/s, stops of 0.3-0.9 s, new headings (reversals too)."""
    sim, summary, _ = _run(phys.ball_short_moves(seed), phys.Imu(rate_hz, fs_dps), seed)
    assert summary["passes"] == len(sim["moves"]) == 14
    assert summary["distance_m"] == pytest.approx(sim["distance_m"], rel=0.01)
    for length, move in zip(summary["pass_list"]["length_m"], sim["moves"], strict=True):
        assert length == pytest.approx(move[2], abs=0.002)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("rate_hz", "fs_dps"), [(200, 500), (1000, 2000)])
def test_ball_rolled_along_an_arc_is_one_pass_of_its_path(seed, rate_hz, fs_dps):
    """Arcs steered without stopping (the heading turning 60-120° evenly along 12-25 cm): one
    pass each, as long as the path (it was cut in two to four wherever the heading had turned
    40° from the move's start, losing up to 6 % in pieces under 3 cm)."""
    sim, summary, _ = _run(phys.ball_arcs(seed), phys.Imu(rate_hz, fs_dps), seed)
    assert summary["passes"] == len(sim["moves"]) == 5
    assert summary["distance_m"] == pytest.approx(sim["distance_m"], rel=0.01)
    for length, move in zip(summary["pass_list"]["length_m"], sim["moves"], strict=True):
        assert length == pytest.approx(move[2], abs=0.002)


@pytest.mark.parametrize("seed", range(4))
def test_ball_corners_without_a_stop_are_each_a_pass(seed):
    """Moves straight on from the last one's end in a new heading (50-180°), no stop between:
    the heading turning within millimetres of path ends a move."""
    sess = phys.ball_short_moves(seed, stop_s=(0.0, 0.0), turn_deg=(50.0, 180.0))
    sim, summary, _ = _run(sess, phys.Imu(200, 500), seed)
    assert summary["passes"] == len(sim["moves"]) == 14
    assert summary["distance_m"] == pytest.approx(sim["distance_m"], rel=0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ball_stop_then_new_heading_is_two_passes(seed):
    """The issue's case: 10 cm, a 1.4 s stop, 7 cm at 78° from it (was one 17 cm pass)."""
    sim, summary, _ = _run(phys.ball_stop_and_turn(seed), phys.Imu(200, 250), seed)
    assert summary["pass_list"]["length_m"] == pytest.approx([0.10, 0.07], abs=0.002)
    assert summary["holds"] == []


@pytest.mark.parametrize("radius_m", [0.015, 0.03, 0.075, 0.15, 0.29])
@pytest.mark.parametrize("tool", ["roller", "stick", "ball"])
def test_long_hold_is_one_hold_at_any_radius(radius_m, tool):
    """35 s still under force, rocked ~1 °/s by the user: one hold, on time, whatever the radius
    (at 0.29 m it was split in two and started 10 s late)."""
    seed = int(radius_m * 1000) + len(tool)
    sim, summary, _ = _run(phys.still_hold(seed, radius_m, tool), phys.Imu(200, 2000), seed)
    _assert_holds(summary, sim)
    # the passes around the hold (was up to -1.3 % at 0.29 m: the rocking under the first
    # press, taken for rest, gave the bias for the first passes)
    assert summary["distance_m"] == pytest.approx(sim["distance_m"], rel=0.01)


@pytest.mark.parametrize("seed", [0, 1])
def test_live_still_and_hold_timer_hold_up_at_large_radius(seed):
    """The coach's live values (per Block) follow the same stillness rule: the hold timer runs
    through the rocked hold in one piece."""
    sim, summary, live = _run(phys.still_hold(seed, 0.29, "roller"), phys.Imu(1000, 2000), seed,
                              blocks=40)
    (start, duration), = sim["holds"]
    inside = [m for m in live if start + 2.0 <= m.t_s <= start + duration - 0.5]
    assert all(m.still for m in inside)
    assert max(m.hold_s for m in live) >= duration - 1.5
    _assert_holds(summary, sim)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_piriformis_holds(seed):
    sim, summary, _ = _run(phys.piriformis_hold(seed), phys.Imu(1000, 250), seed)
    _assert_holds(summary, sim)
    assert summary["passes"] == 1


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("fast", [False, True])
def test_free_ball_rotation_distance(seed, fast):
    """A ball turned in the hand, bouts with breaks: slow (was -0.6..-2.2 % over these seeds,
    -5 % in the issue) and fast (was up to -4 %); fast within 0.1 %, slow within 1 %. The slow
    ends of a bout, under a few °/s about an axis near the vertical, passed the rest tests and
    their rotation became the bias for the whole next bout: rest now also needs a steady rate
    (its window's last third within 0.5 °/s of its first), and a rest run's bias is the mean
    of its frames a full rest window inside it."""
    imu = phys.Imu(200, 2000 if fast else 500)
    sim, summary, _ = _run(phys.slow_free_rotation(seed, fast=fast), imu, seed)
    assert summary["distance_m"] == pytest.approx(sim["distance_m"], rel=0.001 if fast else 0.01)
    assert summary["passes"] == len(sim["moves"])


@pytest.mark.parametrize("seed", range(4))
def test_a_short_rest_before_a_slow_turn_gives_the_bias(seed):
    """1.6 s at rest, then a slow turn fading in (a few °/s for its first second): the rest's
    data gives the bias (it spans rest_min_s with the first rest window), and the turn's slow
    start does not enter it. (Before: up to 0.45 °/s off, the slow start taken for rest, or no
    bias at all; counting only the frames a full window inside the run: no bias, too short.)"""
    sess = phys.Session(0.05, has_force=False)
    sess.add(phys.Seg(1.6)).add(phys.Seg(12.0, 0.25, rate_axis=(0.2, 0.3, 1.0), kind="move"))
    imu = phys.Imu(200, 500)
    sim = phys.simulate(sess, imu, seed)
    engine = MetricsEngine(MetricsSettings(tool="ball", radius_m=sess.radius_m))
    engine.update(sim["block"].slice(0, 200 * 4))  # 4 s: the rest and the turn's start
    engine.summary()
    err_dps = engine.bias_rad_s / phys.DEG - imu.bias_dps
    assert abs(err_dps).max() < 0.05, err_dps
