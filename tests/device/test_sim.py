"""The physics simulator: rolling kinematics, gravity in the accelerometer, sensor errors at
datasheet level, scenario realism, ground truth (deterministic). Files and users for any
routine: tests/firmware/app/test_simulate.py."""

from __future__ import annotations

import numpy as np
import pytest

from device.sim import DEG, G_M_S2, GYRO_DENSITY_RAD_S, SCENARIOS, sample_block
from firmware.app.simulate import PROTOCOLS, scenario
from firmware.common.errors import ConfigError

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


def test_tender_spots_user_starts_every_pass_in_one_place_and_lingers_over_the_spots():
    """Scenario tender-spots: passes go up from one place and back to it, and over each spot
    (ProtocolSim.spots_m) the user is several times slower than elsewhere in the pass."""
    user = scenario("quads-roller", "tender-spots", 4)
    moves = [sg for sg in user.segments if sg.ds_m != 0]
    starts = [sg.s0 for sg in moves if sg.ds_m > 0 and sg.s0 < 1e-9]
    ups = [p for p in user.truth["passes"] if p["direction"] > 0]
    assert len(starts) == len(ups) >= 4  # every up pass starts at 0
    ends = [sg.s0 + sg.ds_m for sg in moves if sg.ds_m < 0]
    assert min(ends) == pytest.approx(0.0, abs=1e-9)
    over = [abs(sg.ds_m) / (sg.t1 - sg.t0) for sg in moves
            if any(abs(sg.s0 + sg.ds_m / 2 - s) < 1e-6 for s in (0.08, 0.17))]
    elsewhere = [abs(sg.ds_m) / (sg.t1 - sg.t0) for sg in moves
                 if not any(abs(sg.s0 + sg.ds_m / 2 - s) < 1e-6 for s in (0.08, 0.17))]
    assert len(over) >= 8 and max(over) * 3 < float(np.median(elsewhere))
