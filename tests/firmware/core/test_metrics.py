"""MetricsEngine against simulator ground truth: distance, passes, holds and force across radius,
mounting angle, gyro bias, datasheet noise, 100 Hz..1 kHz, jitter and dropped samples; plus the
behaviours around them (bias, axis, sign, step-off, no force sensor, settings)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from device.sim import DEG, Script, SimUser, sample_block
from firmware.app.simulate import scenario
from firmware.common.errors import ConfigError
from firmware.common.model import Block
from firmware.core.metrics import MetricsEngine, MetricsSettings, settings_from_meta
from firmware.core.summary import ADDED_METRIC_FIELDS, METRIC_FIELDS


def _settings(user, *, with_axis: bool, **kw) -> MetricsSettings:
    axis = tuple(user.body_axis(0)) if with_axis else None
    return MetricsSettings(
        tool=user.tool,
        radius_m=user.radius_m,
        axis_xyz=axis,
        up_sign=1 if with_axis else None,
        **kw,
    )


def _run(block: Block, settings: MetricsSettings) -> tuple[dict, MetricsEngine]:
    engine = MetricsEngine(settings)
    engine.update(block)
    engine.finish()
    return engine.summary(), engine


def _assert_matches_truth(summary: dict, truth: dict) -> None:
    assert summary["passes"] == truth["pass_count"]
    if truth["distance_m"] > 0:
        assert summary["distance_m"] == pytest.approx(truth["distance_m"], rel=0.03)
    assert len(summary["holds"]) == len(truth["holds"]), (summary["holds"], truth["holds"])
    for got, want in zip(summary["holds"], truth["holds"], strict=True):
        assert abs(got["start_s"] - want["start_s"]) <= 1.0
        assert abs(got["duration_s"] - want["duration_s"]) <= 1.5
        assert got["force_n"] == pytest.approx(want["force_n"], rel=0.03)
    assert summary["force_n"]["mean"] == pytest.approx(truth["contact_mean_force_n"], rel=0.03)
    assert summary["contact_s"] == pytest.approx(truth["contact_s"], abs=0.3)


# protocol, scenario, seed, radius_m, rate_hz, jitter (fraction of a period), drop fraction,
# bias (deg/s, None = random up to ±2), axis given
ACCURACY_CASES = [
    ("quads-roller", "good", 1, 0.075, 200, 0.0, 0.0, (2.0, -2.0, 2.0), False),
    ("quads-roller", "moved-hold", 2, 0.06, 1000, 0.5, 0.0, None, False),
    ("thoracic-roller", "too-short", 3, 0.05, 100, 0.3, 0.05, (-2.0, 2.0, -2.0), False),
    ("quads-roller", "step-off", 4, 0.04, 500, 0.6, 0.02, None, True),
    ("it-band-stick", "good", 5, 0.015, 1000, 0.3, 0.01, (2.0, 2.0, 2.0), False),
    ("calf-stick", "starts-moving", 6, 0.015, 200, 0.6, 0.1, None, False),
    ("calf-stick", "moved-hold", 7, 0.025, 100, 0.6, 0.0, (-2.0, -2.0, 2.0), True),
    ("it-band-stick", "too-fast", 8, 0.035, 500, 0.0, 0.05, None, False),
    ("thoracic-roller", "reversed", 9, 0.075, 1000, 0.6, 0.1, (0.0, 2.0, -2.0), True),
    ("quads-roller", "starts-moving", 10, 0.03, 200, 0.3, 0.0, (-2.0, -2.0, -2.0), False),
    ("piriformis-ball", "good", 11, 0.03, 200, 0.3, 0.02, (2.0, -2.0, 2.0), False),
    ("upper-back-ball", "moved-hold", 12, 0.035, 500, 0.6, 0.05, None, False),
    ("upper-back-ball", "step-off", 13, 0.035, 100, 0.0, 0.0, (-2.0, 2.0, 2.0), False),
]


@pytest.mark.parametrize(
    ("protocol", "name", "seed", "radius_m", "rate_hz", "jitter", "drop", "bias_dps", "axis"),
    ACCURACY_CASES,
)
def test_accuracy_against_simulator_truth(
    protocol, name, seed, radius_m, rate_hz, jitter, drop, bias_dps, axis
):
    bias = None if bias_dps is None else np.array(bias_dps) * DEG
    user = scenario(protocol, name, seed, radius_m=radius_m, bias_rad_s=bias)
    block = sample_block(user, rate_hz, jitter_frac=jitter, drop_frac=drop, seed=seed)
    summary, _ = _run(block, _settings(user, with_axis=axis))
    _assert_matches_truth(summary, user.truth)


def test_holds_have_no_spurious_extra_on_rolling_routines():
    user = scenario("quads-roller", "good", 21)
    summary, engine = _run(sample_block(user, 200, seed=21), _settings(user, with_axis=False))
    assert summary["holds"] == [] and engine.holds == []
    pauses = [sg for sg in user.segments if sg.kind == "pause"]
    assert len(pauses) >= 10  # turnaround pauses happened, and none became a hold


def test_bias_learned_from_still_period_and_axis_estimated():
    bias = np.array([1.7, -1.2, 0.4]) * DEG
    user = scenario("quads-roller", "good", 22, bias_rad_s=bias)
    _, engine = _run(sample_block(user, 500, seed=22), _settings(user, with_axis=False))
    assert np.abs(engine.bias_rad_s - bias).max() < 0.05 * DEG
    assert abs(float(engine.axis_xyz @ user.body_axis(0))) > 0.999


def test_recording_that_starts_moving_finds_bias_later():
    bias = np.array([-1.9, 1.5, 1.1]) * DEG
    user = scenario("it-band-stick", "starts-moving", 23, bias_rad_s=bias)
    block = sample_block(user, 200, seed=23)
    engine = MetricsEngine(_settings(user, with_axis=False))
    first = engine.update(block.slice(0, 400))
    assert not engine.trace and np.allclose(engine.bias_rad_s, 0.0)  # still unknown at 2 s
    assert first.passes >= 0
    engine.update(block.slice(400, len(block)))
    engine.finish()
    summary = engine.summary()
    assert np.abs(engine.bias_rad_s - bias).max() < 0.1 * DEG  # from the still end
    assert summary["distance_m"] == pytest.approx(user.truth["distance_m"], rel=0.03)


def test_calibration_bias_is_used_until_a_still_period():
    bias = np.array([1.5, 1.5, -1.5]) * DEG
    user = scenario("quads-roller", "starts-moving", 24, bias_rad_s=bias)
    block = sample_block(user, 200, seed=24)
    settings = _settings(user, with_axis=False, gyro_bias_rad_s=tuple(bias))
    engine = MetricsEngine(settings)
    engine.update(block.slice(0, 200))
    assert np.allclose(engine.bias_rad_s, bias)
    engine.update(block.slice(200, len(block)))
    assert engine.summary()["passes"] == user.truth["pass_count"]


def test_direction_relative_without_up_sign_and_force_by_direction_null():
    user = scenario("calf-stick", "good", 25)
    summary, engine = _run(sample_block(user, 200, seed=25), _settings(user, with_axis=False))
    dirs = [p.direction for p in engine.passes]
    assert dirs[0] == 1  # the first pass defines +
    assert all(a == -b for a, b in zip(dirs, dirs[1:], strict=False))
    assert summary["force_by_direction_n"] == {"up": None, "down": None}


@pytest.mark.parametrize("name", ["good", "reversed"])
def test_calf_force_by_direction_with_known_up(name):
    user = scenario("calf-stick", name, 26)
    summary, engine = _run(sample_block(user, 200, seed=26), _settings(user, with_axis=True))
    want = user.truth["force_by_direction_n"]
    got = summary["force_by_direction_n"]
    assert got["up"] == pytest.approx(want["up"], rel=0.05)
    assert got["down"] == pytest.approx(want["down"], rel=0.05)
    assert (got["up"] > got["down"]) == (name == "good")
    truth_dirs = [p["direction"] for p in user.truth["passes"]]
    assert [p.direction for p in engine.passes] == truth_dirs


def test_step_off_stops_counting_passes():
    user = scenario("quads-roller", "step-off", 27)
    summary, engine = _run(sample_block(user, 200, seed=27), _settings(user, with_axis=False))
    last_contact = max(sg.t1 for sg in user.segments if sg.contact)
    assert all(p.end_s <= last_contact + 1.0 for p in engine.passes)
    assert summary["passes"] == user.truth["pass_count"]
    assert summary["duration_s"] > last_contact + 5.0


def test_without_force_sensor_contact_and_force_are_null_but_holds_found():
    user = scenario("piriformis-ball", "good", 28)
    block = sample_block(user, 200, seed=28)
    block = Block(block.t_s, block.gyro_rad_s, block.accel_m_s2, np.full(len(block), np.nan))
    summary, _ = _run(block, _settings(user, with_axis=False))
    assert summary["contact_s"] is None and summary["force_n"] == {"mean": None, "peak": None}
    assert len(summary["holds"]) >= 1 and summary["holds"][0]["force_n"] is None
    # without force the still time off the tool counts too: the hold covers the true one
    longest = max(summary["holds"], key=lambda h: h["duration_s"])
    want = user.truth["holds"][0]
    assert longest["start_s"] <= want["start_s"] + 1.0
    assert longest["start_s"] + longest["duration_s"] >= want["start_s"] + want["duration_s"] - 1.0
    assert longest["duration_s"] <= want["duration_s"] + 5.0


def test_summary_fields_match_design_contract():
    user = scenario("quads-roller", "good", 29)
    summary, _ = _run(sample_block(user, 200, seed=29), _settings(user, with_axis=True))
    # the DESIGN §3.2 metric fields, and the fields added to it since (added, never renamed)
    assert set(summary) == {*METRIC_FIELDS, *ADDED_METRIC_FIELDS, "pass_list"}
    assert len(summary["pass_list"]["length_m"]) == summary["passes"]
    assert 0.15 <= summary["pass_length_m"]["mean"] <= summary["pass_length_m"]["max"] <= 0.31
    assert 0.03 < summary["speed_mps"]["mean"] < summary["speed_mps"]["p95"] < 0.25
    assert summary["force_n"]["peak"] >= summary["force_n"]["mean"]


def test_streamed_metrics_report_new_passes_and_holds_once():
    user = scenario("quads-roller", "moved-hold", 30)
    block = sample_block(user, 200, seed=30)
    engine = MetricsEngine(_settings(user, with_axis=True))
    got_passes, got_holds, holding_seen = [], [], False
    for i in range(0, len(block), 40):
        m = engine.update(block.slice(i, i + 40))
        got_passes += m.new_passes
        got_holds += m.new_holds
        holding_seen |= m.holding
        assert m.t_s == pytest.approx(block.t_s[min(i + 40, len(block)) - 1])
    end = engine.finish()
    got_passes += end.new_passes
    got_holds += end.new_holds
    assert holding_seen
    assert got_passes == engine.passes and got_holds == engine.holds
    assert engine.finish().new_passes == () and engine.finish().new_holds == ()
    with pytest.raises(RuntimeError):
        engine.update(block.slice(0, 5))


def test_bad_samples_are_dropped_not_poisoning_state():
    user = scenario("quads-roller", "good", 31)
    block = sample_block(user, 200, seed=31)
    clean, _ = _run(block, _settings(user, with_axis=True))
    gyro = block.gyro_rad_s.copy()
    gyro[1000] = np.nan
    t = block.t_s.copy()
    t[2000] = t[1999]  # repeated timestamp
    dirty = Block(t, gyro, block.accel_m_s2, block.force_n)
    summary, _ = _run(dirty, _settings(user, with_axis=True))
    assert summary["passes"] == clean["passes"]
    assert summary["distance_m"] == pytest.approx(clean["distance_m"], rel=1e-3)


def test_settings_from_meta_and_validation():
    meta = {
        "format": "rollsense-recording/1",
        "tool": "stick",
        "radius_m": 0.015,
        "axis": (0.0, 0.0, 1.0),
        "up": -1,
        "seed": "3",
    }
    s = settings_from_meta(meta, radius_m=None, hold_min_s=4.0)
    assert (s.tool, s.radius_m, s.axis_xyz, s.up_sign, s.hold_min_s) == (
        "stick",
        0.015,
        (0.0, 0.0, 1.0),
        -1,
        4.0,
    )
    assert s.sign_known
    assert settings_from_meta(meta, radius_m=0.02).radius_m == 0.02
    with pytest.raises(ConfigError, match="radius_m"):
        settings_from_meta({"tool": "roller"})
    raw = settings_from_meta({"tool": "Roller", "radius_m": "0.07", "axis": "0,0,1", "up": "-"})
    assert (raw.tool, raw.radius_m, raw.axis_xyz, raw.up_sign) == ("roller", 0.07, (0, 0, 1), -1)
    with pytest.raises(ConfigError, match="metadata"):
        settings_from_meta({"radius_m": "0.07", "axis": "1,0"})
    with pytest.raises(ConfigError, match="metadata"):
        settings_from_meta({"radius_m": "0.07", "up": "sideways"})
    with pytest.raises(ConfigError, match="unknown tool"):
        MetricsSettings(tool="hammer")
    with pytest.raises(ConfigError, match="radius_m"):
        MetricsSettings(radius_m=0.7)
    with pytest.raises(ConfigError, match="up_sign"):
        MetricsSettings(up_sign=2)
    with pytest.raises(ConfigError, match="contact_off_n"):
        MetricsSettings(contact_on_n=5.0, contact_off_n=10.0)
    assert not MetricsSettings(tool="ball", axis_xyz=(1, 0, 0), up_sign=1).sign_known
    assert math.isclose(MetricsSettings().hold_speed_max_mps, 0.01)


def test_ball_moved_across_its_old_axis_still_makes_a_pass():
    """Ball rolled back and forth along one line, held, then moved sideways to a new spot."""
    sc = Script()
    sc.still(1.5, 0.0, contact=False)
    sc.still(2.0, 150.0)
    for k in range(6):
        sc.move(0.08 * (-1) ** k, 1.5, 150.0)
        sc.still(0.3, 150.0, kind="pause")
    sc.still(8.0, 150.0, kind="hold")
    sc.heading_rad = math.pi / 2  # sideways: across the axis learned so far
    sc.move(0.07, 2.0, 150.0)
    sc.still(8.0, 150.0, kind="hold")
    sc.still(1.0, 0.0, contact=False)
    user = SimUser(sc, tool="ball", radius_m=0.03, seed=32)
    summary, engine = _run(sample_block(user, 200, seed=32), _settings(user, with_axis=False))
    _assert_matches_truth(summary, user.truth)
    assert engine.passes[-1].length_m == pytest.approx(0.07, rel=0.03)


def test_summary_mid_session_does_not_end_it():
    user = scenario("quads-roller", "moved-hold", 33)
    block = sample_block(user, 200, seed=33)
    plain = MetricsEngine(_settings(user, with_axis=True))
    plain.update(block)
    polled = MetricsEngine(_settings(user, with_axis=True))
    for i in range(0, len(block), 500):
        polled.update(block.slice(i, i + 500))
        interim = polled.summary()  # e.g. for a live view or a crash-safe journal
        assert interim["passes"] >= len(polled.passes)
    _assert_same_numbers(polled.summary(), plain.summary())
    assert polled.finish().passes == plain.finish().passes
    assert len(polled.passes) == plain.summary()["passes"]


def _assert_same_numbers(x, y) -> None:
    if isinstance(x, dict):
        assert x.keys() == y.keys()
        for k in x:
            _assert_same_numbers(x[k], y[k])
    elif isinstance(x, list):
        assert len(x) == len(y)
        for u, v in zip(x, y, strict=True):
            _assert_same_numbers(u, v)
    elif isinstance(x, float):
        assert x == pytest.approx(y, rel=1e-9)
    else:
        assert x == y
