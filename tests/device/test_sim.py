"""The physics simulator: rolling kinematics, gravity in the accelerometer, sensor errors at
datasheet level, scenario realism, ground truth, files (deterministic, never overwritten)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device.sim import (
    ACCEL_LSB_M_S2,
    DEG,
    G_M_S2,
    GYRO_DENSITY_RAD_S,
    GYRO_LSB_RAD_S,
    PROTOCOLS,
    SCENARIOS,
    protocol_sim_for,
    sample_block,
    scenario,
    scenario_for,
    simulate_to_file,
)
from firmware.common.errors import ConfigError
from firmware.core.protocols import ROUTINES_DIR, load_routine
from firmware.edge.recording import read_recording

REQUIRED = ("good", "too-fast", "too-short", "too-hard", "reversed", "moved-hold", "step-off")


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_every_routine_has_every_scenario_with_sane_truth(protocol):
    for name in REQUIRED:
        user = scenario(protocol, name, 1)
        truth = user.truth
        assert 30.0 <= truth["duration_s"] <= 220.0, (name, truth["duration_s"])
        assert truth["distance_m"] == pytest.approx(sum(p["length_m"] for p in truth["passes"]))
        assert truth["contact_mean_force_n"] > 30.0
        assert all(p["length_m"] >= 0.03 for p in truth["passes"])
        if name == "step-off":
            assert user.true_force(np.array([truth["duration_s"] - 1.0]))[0] == 0.0
        assert set(SCENARIOS) >= set(REQUIRED)


def test_good_quads_is_realistic():
    user = scenario("quads-roller", "good", 3)
    passes = user.truth["passes"]
    lengths = np.array([p["length_m"] for p in passes])
    durations = np.array([p["end_s"] - p["start_s"] for p in passes])
    assert 0.15 <= lengths.min() and lengths.max() <= 0.30
    assert 2.0 <= durations.min() and durations.max() <= 4.0
    assert 0.04 <= (lengths / durations).mean() <= 0.15
    assert [p["direction"] for p in passes][:4] == [1, -1, 1, -1]
    assert 0.6 * 220 <= user.truth["contact_mean_force_n"] <= 1.05 * 220
    assert 60.0 <= user.truth["duration_s"] <= 85.0
    assert user.truth["holds"] == []
    # ease-in: the force ramps up over ~10 s after stepping on
    f = user.true_force(np.array([2.0, 6.0, 14.0]))
    assert f[0] < f[1] < f[2] and f[0] < 0.6 * f[2]


def test_scenarios_differ_the_way_their_names_say():
    good = scenario("calf-stick", "good", 4).truth
    fast = scenario("calf-stick", "too-fast", 4).truth
    short = scenario("calf-stick", "too-short", 4).truth
    hard = scenario("calf-stick", "too-hard", 4).truth
    rev = scenario("calf-stick", "reversed", 4).truth

    def speed(t):
        return np.mean([p["length_m"] / (p["end_s"] - p["start_s"]) for p in t["passes"]])

    assert speed(fast) > 1.6 * speed(good)  # capped by the gyro full scale at r = 1.5 cm
    assert np.mean([p["length_m"] for p in short["passes"]]) < 0.09
    assert hard["contact_mean_force_n"] > 1.5 * good["contact_mean_force_n"]
    assert good["force_by_direction_n"]["up"] > 2 * good["force_by_direction_n"]["down"]
    assert rev["force_by_direction_n"]["down"] > 2 * rev["force_by_direction_n"]["up"]
    good_ball = scenario("upper-back-ball", "good", 4).truth
    moved = scenario("upper-back-ball", "moved-hold", 4).truth
    assert len(moved["holds"]) == len(good_ball["holds"]) + 1  # the nudge splits a hold
    assert all(h["duration_s"] >= 10.0 for h in moved["holds"])
    assert all(30.0 <= h["duration_s"] <= 60.0 for h in good_ball["holds"])


def test_roller_gyro_is_along_its_axis_and_matches_tissue_speed():
    user = scenario("quads-roller", "good", 5, bias_rad_s=np.zeros(3))
    t = np.arange(0.0, user.end_s, 0.01)
    omega, accel = user.true_motion(t)
    axis = user.body_axis(0)
    _, vel, _, _ = user.kinematics(t)
    np.testing.assert_allclose(omega @ axis * user.radius_m, vel, atol=1e-9)
    np.testing.assert_allclose(np.cross(omega, axis), 0.0, atol=1e-9)
    # gravity (plus the small rolling acceleration) turns in the sensor frame as it rolls
    g_norm = np.linalg.norm(accel, axis=1)
    assert np.abs(g_norm - G_M_S2).max() < 0.5
    k = int(np.argmax(np.abs(vel)))
    start = int(np.searchsorted(t, user.segments[0].t1))
    angle = np.arccos(np.clip(accel[start] @ accel[k] / (g_norm[start] * g_norm[k]), -1, 1))
    assert angle > 0.1  # the accelerometer sees the roll


def test_roller_is_mounted_at_an_arbitrary_angle():
    axes = [scenario("quads-roller", "good", s).body_axis(0) for s in range(6)]
    assert min(abs(a @ b) for a in axes for b in axes if a is not b) < 0.9
    assert all(np.max(np.abs(a)) < 0.999 for a in axes)


def test_ball_axis_changes_between_spots():
    user = scenario("upper-back-ball", "too-short", 6)  # three spots, two moves
    moves = [k for k, sg in enumerate(user.segments) if sg.ds_m != 0]
    assert len(moves) == 2
    assert abs(user.body_axis(moves[0]) @ user.body_axis(moves[1])) < 0.99


def test_sensor_errors_at_datasheet_level():
    user = scenario("piriformis-ball", "good", 7)
    assert np.abs(user.bias_rad_s).max() <= 2.0 * DEG
    t = np.arange(0.1, 1.4, 0.005)  # still, before stepping on
    gyro, accel, force = user.sample(t)
    sigma = gyro.std(axis=0)
    want = GYRO_DENSITY_RAD_S * np.sqrt(98.0)
    assert np.all((0.8 * want < sigma) & (sigma < 1.2 * want))
    np.testing.assert_allclose(gyro.mean(axis=0), user.bias_rad_s, atol=0.02 * DEG)
    assert abs(np.linalg.norm(accel.mean(axis=0)) - G_M_S2) < 0.6
    assert np.all(force < 2.0)  # off the tool: only ADC noise


def test_deterministic_for_a_seed():
    a = sample_block(
        scenario("it-band-stick", "good", 8), 200, jitter_frac=0.3, drop_frac=0.05, seed=8
    )
    b = sample_block(
        scenario("it-band-stick", "good", 8), 200, jitter_frac=0.3, drop_frac=0.05, seed=8
    )
    c = sample_block(scenario("it-band-stick", "good", 9), 200, seed=9)
    np.testing.assert_array_equal(a.t_s, b.t_s)
    np.testing.assert_array_equal(a.gyro_rad_s, b.gyro_rad_s)
    assert len(a) != len(c) or not np.array_equal(a.gyro_rad_s, c.gyro_rad_s)
    assert np.all(np.diff(a.t_s) > 0)


def test_simulate_to_file_writes_recording_and_truth_and_never_overwrites(tmp_path):
    out = tmp_path / "calf.csv.gz"
    rec_path, truth_path = simulate_to_file("calf-stick", "reversed", 11, out, rate_hz=500)
    assert truth_path == tmp_path / "calf.csv.gz.truth.json"
    rec = read_recording(rec_path)
    truth = json.loads(truth_path.read_text())
    assert rec.meta["tool"] == "stick" and rec.meta["radius_m"] == 0.015
    assert rec.meta["up"] == 1 and len(rec.meta["axis"]) == 3
    assert (rec.meta["seed"], rec.meta["scenario"], rec.meta["protocol"]) == (
        "11",
        "reversed",
        "calf-stick",
    )
    assert truth["scenario"] == "reversed" and truth["pass_count"] == len(truth["passes"])
    assert 1 / np.median(np.diff(rec.block.t_s)) == pytest.approx(500, rel=0.01)
    lsb = rec.block.gyro_rad_s / GYRO_LSB_RAD_S
    assert np.abs(lsb - np.round(lsb)).max() < 0.01  # quantised (to the file's precision)
    acc = rec.block.accel_m_s2 / ACCEL_LSB_M_S2
    assert np.abs(acc - np.round(acc)).max() < 0.01
    before = out.read_bytes()
    with pytest.raises(ConfigError, match="overwrite"):
        simulate_to_file("calf-stick", "good", 12, out)
    assert out.read_bytes() == before
    out.unlink()
    with pytest.raises(ConfigError, match="overwrite"):  # the truth file is protected too
        simulate_to_file("calf-stick", "good", 12, out)


def test_unknown_names_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown protocol"):
        scenario("knees-hammer", "good", 1)
    with pytest.raises(ConfigError, match="unknown scenario"):
        scenario("quads-roller", "sloppy", 1)
    with pytest.raises(ConfigError, match="rate_hz"):
        sample_block(scenario("quads-roller", "good", 1), 0.0)


def test_source_interface_for_fake_chips():
    user = scenario("quads-roller", "good", 13)
    chunks = [np.arange(k, k + 0.5, 0.001) for k in np.arange(0.0, 10.0, 0.5)]
    for t in chunks:
        gyro, accel, force = user.sample(t)
        assert gyro.shape == (len(t), 3) and accel.shape == (len(t), 3) and force.shape == (len(t),)
        assert np.isfinite(gyro).all() and np.isfinite(accel).all() and (force >= 0).all()
    gyro, _, force = user.sample(np.array([user.end_s + 100.0]))  # after the script: at rest
    assert force[0] < 2.0 and np.abs(gyro - user.bias_rad_s).max() < 0.01


def test_scenario_for_a_built_in_routine_is_its_scenario():
    a = sample_block(scenario_for(load_routine("calf-stick"), "reversed", 4), 100.0)
    b = sample_block(scenario("calf-stick", "reversed", 4), 100.0)
    np.testing.assert_array_equal(a.gyro_rad_s, b.gyro_rad_s)
    np.testing.assert_array_equal(a.force_n, b.force_n)


def test_a_user_routine_is_simulated_from_the_same_tool_and_kind_scaled(tmp_path):
    calf = (ROUTINES_DIR / "calf-stick.toml").read_text()
    (tmp_path / "my-calves.toml").write_text(calf.replace("tool = \"stick\"", "tool = \"roller\"")
                                             .replace("radius_m = 0.015", "radius_m = 0.05"))
    routine = load_routine("my-calves", tmp_path)
    p = protocol_sim_for(routine)
    assert (p.tool, p.radius_m, p.mode) == ("roller", 0.05, "roll")
    assert p.force_up_n > p.force_down_n  # direction-dependent force, as the calf-stick one
    lo_up, hi_up = routine.force_band_n(None, +1).lo, routine.force_band_n(None, +1).hi
    assert lo_up <= p.force_up_n <= hi_up
    user = scenario_for(routine, "good", 2)
    assert user.tool == "roller" and user.radius_m == 0.05 and user.meta["protocol"] == "my-calves"
    truth = user.truth
    band = routine.targets.pass_length_m
    assert all(band.lo <= q["length_m"] <= band.hi for q in truth["passes"])
    with pytest.raises(ConfigError, match="unknown scenario"):
        scenario_for(routine, "sloppy", 1)
