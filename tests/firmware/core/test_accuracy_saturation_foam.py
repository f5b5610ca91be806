"""Accuracy on the physics of a saturating gyro and of a compressing foam, measured on an
independent motion model (tests/physics/roller.py), not on the project's simulator:

- a stick rolled fast enough to clip the gyro at ±2000 °/s (several speeds, axes not aligned
  with the sensor's): distance within 1 % and the clipped samples counted right, with the axis
  given and with the axis estimated;
- a foam roller pressed with 90-220 N: distance within 1 % with a radius curve calibrated on
  the same model at three pressures (and 10 % or more off without it);
- the recording key radius_m_at_force_n and gyro_full_scale_dps round trip, bad curves are one
  clear line each; calibrate radius --pressures on the simulator saves a curve.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from calibration.radius import estimate_radius_curve
from calibration.store import Calibration, RadiusCalibration, load_calibration, metrics_overrides
from firmware.app.cli import main
from firmware.app.simulate import calibration_user_for
from firmware.app.wiring import gyro_range_for
from firmware.common.errors import ConfigError
from firmware.core.metrics import DEG, MetricsEngine, MetricsSettings, settings_from_meta
from firmware.core.protocols import load_routine
from firmware.edge.recording import FORMAT, read_recording, write_recording
from tests.physics.roller import Foam, RollSpec, calibration_roll, roll_session

FS_2000 = 2000.0 * DEG


def _summary(block, **settings) -> dict:
    engine = MetricsEngine(MetricsSettings(**settings))
    engine.update(block)
    engine.finish()
    return engine.summary()


def _streamed(block, cut: int, **settings) -> dict:
    engine = MetricsEngine(MetricsSettings(**settings))
    for lo in range(0, len(block), cut):
        engine.update(block.slice(lo, min(lo + cut, len(block))))
    engine.finish()
    return engine.summary()


AXES = [(0.36, 0.80, 0.48), (0.10, 0.20, 0.97), (-0.60, 0.30, 0.74)]


@pytest.mark.parametrize("peak_mps", [0.6, 0.8, 1.0])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("given_axis", [True, False])
def test_clipped_stick_distance_within_1_percent(peak_mps, axis, given_axis):
    spec = RollSpec(tool="stick", radius_m=0.015, axis_xyz=axis, peak_speed_mps=peak_mps,
                    pass_lengths_m=(0.30, 0.35, 0.28, 0.33) * 3, seed=int(peak_mps * 10))
    block, truth = roll_session(spec)
    s = _summary(block, tool="stick", radius_m=0.015, gyro_full_scale_rad_s=FS_2000,
                 axis_xyz=axis if given_axis else None)
    assert s["passes"] == truth["passes"]
    assert s["distance_m"] == pytest.approx(truth["distance_m"], rel=0.01)
    # a sample within 0.15 % of the top (3 °/s at ±2000) counts as clipped: a few more
    assert abs(s["gyro_clipped_samples"] - truth["clipped_samples"]) <= max(
        3, 0.01 * truth["clipped_samples"])


def test_clipping_is_real_in_the_model_and_costs_distance_unrebuilt():
    spec = RollSpec(tool="stick", radius_m=0.015, axis_xyz=AXES[0], peak_speed_mps=1.0, seed=4)
    block, truth = roll_session(spec)
    assert truth["clipped_samples"] / len(block) > 0.15
    blind = _summary(block, tool="stick", radius_m=0.015, gyro_full_scale_rad_s=None)
    assert blind["gyro_clipped_samples"] is None
    assert blind["distance_m"] < 0.95 * truth["distance_m"]  # what clipping costs untreated


def test_clipped_stick_streaming_equals_whole():
    spec = RollSpec(tool="stick", radius_m=0.015, axis_xyz=AXES[1], peak_speed_mps=0.9, seed=9,
                    rate_hz=500.0)
    block, _ = roll_session(spec)
    whole = _summary(block, tool="stick", radius_m=0.015)
    for cut in (1, 37, 1000):
        assert _streamed(block, cut, tool="stick", radius_m=0.015) == whole


def _calibrated_curve(foam: Foam, forces=(50.0, 135.0, 220.0)):
    blocks = [calibration_roll(foam, force_n=f, seed=k) for k, f in enumerate(forces)]
    bias = np.array(RollSpec().gyro_bias_dps) * DEG
    return estimate_radius_curve(blocks, distance_m=0.5, bias_rad_s=bias, tool="roller")


@pytest.mark.parametrize("force_mean_n, swing_n", [(155.0, 65.0), (120.0, 30.0), (200.0, 20.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_foam_roller_distance_within_1_percent_with_a_calibrated_curve(force_mean_n, swing_n, seed):
    foam = Foam()
    cal = _calibrated_curve(foam)
    # the no-load radius is the two lightest rolls' line taken back to 0 N: this foam is softest
    # there, so it comes out a little small (it matters only below the lightest roll's force)
    assert cal.radius_m == pytest.approx(foam.radius_m, rel=0.05)
    spec = RollSpec(tool="roller", foam=foam, axis_xyz=(0.3, -0.2, 0.93),
                    pass_lengths_m=(0.25, 0.2, 0.28, 0.22) * 4, peak_speed_mps=0.15,
                    force_mean_n=force_mean_n, force_swing_n=swing_n, gyro_range_dps=500, seed=seed)
    block, truth = roll_session(spec)
    rigid = _summary(block, tool="roller", radius_m=foam.radius_m)
    assert rigid["distance_m"] > 1.10 * truth["distance_m"]  # the foam's compression, unseen
    s = _summary(block, tool="roller", radius_m=cal.radius_m, radius_curve=cal.curve)
    assert s["passes"] == truth["passes"]
    assert s["distance_m"] == pytest.approx(truth["distance_m"], rel=0.01)


def test_foam_curve_streaming_equals_whole():
    foam = Foam()
    spec = RollSpec(tool="roller", foam=foam, pass_lengths_m=(0.25, 0.2) * 3, peak_speed_mps=0.15,
                    force_mean_n=150.0, force_swing_n=60.0, gyro_range_dps=500, rate_hz=200.0, seed=5)
    block, _ = roll_session(spec)
    settings = {"tool": "roller", "radius_m": 0.075,
                "radius_curve": ((0.0, 0.075), (100.0, 0.069), (200.0, 0.066))}
    whole = _summary(block, **settings)
    for cut in (1, 13, 400):
        assert _streamed(block, cut, **settings) == whole


def test_curve_and_full_scale_round_trip_through_a_recording(tmp_path):
    spec = RollSpec(tool="roller", foam=Foam(), pass_lengths_m=(0.2,) * 2, peak_speed_mps=0.15,
                    rate_hz=200.0)
    block, _ = roll_session(spec)
    text = "0:0.075,100:0.069,200:0.066"
    path = write_recording(tmp_path / "r.csv", {"format": FORMAT, "tool": "roller",
                                                 "radius_m": "0.075", "radius_m_at_force_n": text,
                                                 "gyro_full_scale_dps": 500}, block)
    raw = path.read_text().splitlines()
    assert f"# radius_m_at_force_n: {text}" in raw and "# gyro_full_scale_dps: 500" in raw
    rec = read_recording(path)
    assert rec.meta["radius_m_at_force_n"] == ((0.0, 0.075), (100.0, 0.069), (200.0, 0.066))
    assert rec.meta["gyro_full_scale_dps"] == 500.0
    settings = settings_from_meta(rec.meta)
    assert settings.radius_curve == rec.meta["radius_m_at_force_n"]
    assert settings.gyro_full_scale_rad_s == pytest.approx(500 * DEG)
    # written back from the typed values: the same text
    again = write_recording(tmp_path / "s.csv", rec.meta, block)
    assert f"# radius_m_at_force_n: {text}" in again.read_text().splitlines()
    # without radius_m the curve's radius at 0 N stands in
    assert settings_from_meta({"tool": "roller", "radius_m_at_force_n": text}).radius_m == 0.075


@pytest.mark.parametrize("value, says", [
    ("0:0.075,200:0.069,100:0.066", "force must increase"),
    ("0:0.075,100:0.069,100:0.066", "force must increase"),
    ("0:0.075,100:0,200:0.066", "must be > 0 and <= 0.5"),
    ("0:0.075,100:-0.01", "must be > 0 and <= 0.5"),
    ("0:0.6", "must be > 0 and <= 0.5"),
    ("0:0.075;100:0.069", "is not 'force_n:radius_m'"),
    ("0:0.075,abc:0.069", "is not 'force_n:radius_m'"),
    ("", "is not 'force_n:radius_m'"),
])
def test_bad_curve_in_a_recording_is_one_clear_line(tmp_path, value, says):
    path = tmp_path / "bad.csv"
    path.write_text(f"# format: {FORMAT}\n# tool: roller\n# radius_m: 0.075\n"
                    f"# radius_m_at_force_n: {value}\nt,gx,gy,gz,ax,ay,az,force\n"
                    "0.0,0,0,0,0,0,9.8,0\n0.01,0,0,0,0,0,9.8,0\n")
    with pytest.raises(ConfigError) as info:
        read_recording(path)
    message = str(info.value)
    assert "\n" not in message and "radius_m_at_force_n" in message and says in message


@pytest.mark.parametrize("value", ["0", "-500", "fast", "nan"])
def test_bad_full_scale_is_one_clear_line(tmp_path, value):
    path = tmp_path / "bad.csv"
    path.write_text(f"# format: {FORMAT}\n# tool: stick\n# radius_m: 0.015\n"
                    f"# gyro_full_scale_dps: {value}\nt,gx,gy,gz,ax,ay,az,force\n"
                    "0.0,0,0,0,0,0,9.8,0\n")
    with pytest.raises(ConfigError, match="gyro_full_scale_dps") as info:
        read_recording(path)
    assert "\n" not in str(info.value)


def test_bad_curve_in_settings_is_a_config_error():
    with pytest.raises(ConfigError, match="force must increase"):
        MetricsSettings(radius_curve=((100.0, 0.07), (50.0, 0.072)))


def test_calibrate_radius_at_three_pressures_on_the_simulator(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\nprotocol = "quads-roller"\n'
                      "[sim]\nspeed = 1000.0\nseed = 3\n")
    assert main(["calibrate", "gyro", "--sim", "--config", str(config)]) == 0
    assert main(["calibrate", "radius", "--distance-m", "0.5", "--pressures", "3", "--sim",
                 "--config", str(config)]) == 0
    cal = load_calibration(tmp_path / "state" / "calibration.sim.json")  # --sim: the simulator's own
    user = calibration_user_for("radius", load_routine("quads-roller"), 3, distance_m=0.5,
                                pressures=3)
    curve = cal.radius.curve
    assert curve[0][0] == 0.0 and len(curve) == 4  # the no-load point, then the three rolls
    for (force_n, radius_m), (true_f, true_r) in zip(curve[1:], user.truth["radius_curve"],
                                                    strict=True):
        assert force_n == pytest.approx(true_f, abs=3.0)
        assert radius_m == pytest.approx(true_r, rel=0.01)
    assert cal.radius.radius_m == curve[0][1]
    assert 0 < curve[-1][1] < curve[1][1] < cal.radius.radius_m * 1.001


def test_calibrate_radius_pressures_need_the_force_sensor(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[force]\nfrontend = "none"\n'
                      "[sim]\nspeed = 1000.0\n")
    code = main(["calibrate", "radius", "--distance-m", "0.5", "--pressures", "2", "--sim",
                 "--config", str(config)])
    assert code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert "force sensor" in err[-1]


def test_radius_curve_rolls_pressed_alike_are_refused():
    foam = Foam()
    blocks = [calibration_roll(foam, force_n=f, seed=k) for k, f in enumerate((100.0, 105.0))]
    with pytest.raises(Exception, match="pressed alike"):
        estimate_radius_curve(blocks, distance_m=0.5,
                              bias_rad_s=np.array(RollSpec().gyro_bias_dps) * DEG)


def test_no_force_reading_uses_the_no_load_radius():
    # a curve with NaN force (no sensor) falls back to radius_m, sample by sample
    spec = RollSpec(tool="roller", radius_m=0.075, pass_lengths_m=(0.2,) * 4, peak_speed_mps=0.15,
                    gyro_range_dps=500, rate_hz=200.0)
    block, truth = roll_session(spec)
    block = type(block)(block.t_s, block.gyro_rad_s, block.accel_m_s2,
                        np.full(len(block), math.nan))
    s = _summary(block, tool="roller", radius_m=0.075,
                 radius_curve=((0.0, 0.06), (100.0, 0.05)))
    assert s["distance_m"] == pytest.approx(truth["distance_m"], rel=0.01)


def test_gyro_range_per_tool_makes_clipping_rare():
    assert gyro_range_for("roller", 0.075) == 500  # 1.3 x 0.5 m/s / 7.5 cm = 497 deg/s
    assert gyro_range_for("roller", 0.03) == 2000
    assert gyro_range_for("ball", 0.03) == 2000
    assert gyro_range_for("stick", 0.015) == 2000  # beyond every range: rebuilt where it clips
    # the roller's range holds its fastest plausible pass on the motion model: nothing clips
    spec = RollSpec(tool="roller", foam=Foam(), peak_speed_mps=0.5, pass_lengths_m=(0.3,) * 4,
                    gyro_range_dps=gyro_range_for("roller", 0.075), rate_hz=200.0)
    assert roll_session(spec)[1]["clipped_samples"] == 0


def test_calibration_curve_reaches_the_metrics_settings():
    curve = ((0.0, 0.075), (100.0, 0.069))
    cal = Calibration(radius=RadiusCalibration(0.075, 0.5, 7.0, "roller", curve=curve))
    settings = MetricsSettings(**metrics_overrides(cal))
    assert settings.radius_curve == curve and settings.radius_m == 0.075


@pytest.mark.parametrize("peak_mps", [0.8, 1.0])
@pytest.mark.parametrize("axis", AXES)
def test_live_speed_of_a_clipped_stick_is_rebuilt_like_the_summary(peak_mps, axis):
    """The coach's speed (per 40 ms Block, the mean of the Blocks' last samples over 0.3 s)
    rebuilds a clipped sample along the roll axis as the summary does: while the gyro clips it
    is within 3 % of the true tissue speed at those samples (0.1-0.3 % in fact) and agrees with
    the estimator's speeds (what the summary's speed statistics are made of); unrebuilt it read
    12-37 % low. Before the estimator knows the axis, the live path takes it from the strong
    unclipped samples it has seen."""
    spec = RollSpec(tool="stick", radius_m=0.015, axis_xyz=axis, peak_speed_mps=peak_mps,
                    pass_lengths_m=(0.30, 0.35, 0.28, 0.33) * 3, seed=int(peak_mps * 10))
    block, truth = roll_session(spec)
    engine = MetricsEngine(MetricsSettings(tool="stick", radius_m=0.015,
                                           gyro_full_scale_rad_s=FS_2000), trace=True)
    size = 40
    ends, live = [], []
    for lo in range(0, len(block), size):
        ends.append(min(lo + size, len(block)) - 1)
        live.append(engine.update(block.slice(lo, lo + size)).speed_mps)
    engine.finish()
    t, v = block.t_s, truth["speed_mps"]
    est_speed = np.concatenate(engine.trace["speed_mps"])
    clip = (np.abs(block.gyro_rad_s) >= 0.9985 * FS_2000).any(axis=1)
    ends = np.array(ends)
    pairs = []
    for k, end in enumerate(ends):
        window = ends[(t[ends] > t[end] - 0.3) & (ends <= end)]  # the Blocks the live mean holds
        if not clip[window].any() or v[window].min() < 0.1 or t[end] < spec.still_s + 1.0:
            continue  # not clipping, or a turnaround inside the window
        assert live[k] == pytest.approx(v[window].mean(), rel=0.03)
        # each estimator frame is the 20 ms up to the sample: 10 ms behind it, a few % on
        # these steep passes (6 m/s²), either way, so the windows agree within 6 % and on
        # average within 1 %
        assert live[k] == pytest.approx(est_speed[window].mean(), rel=0.06)
        pairs.append((live[k], est_speed[window].mean()))
    assert len(pairs) >= 20
    assert np.mean(pairs, axis=0)[0] == pytest.approx(np.mean(pairs, axis=0)[1], rel=0.01)
