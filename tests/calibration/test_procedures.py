"""The guided runs end to end on scripted sensor data: prompts, progress bar, the saved file."""

from __future__ import annotations

import io

import numpy as np
import pytest

from calibration.procedures import (
    ProgressBar,
    calibrate_axis,
    calibrate_force,
    calibrate_gyro,
    calibrate_radius,
    press_enter,
)
from calibration.show import show_calibration
from calibration.store import load_calibration
from firmware.common.errors import CalibrationError
from tests.calibration.synth import ScriptedSource, roll, still, unit

BIAS = np.array([0.031, -0.074, 0.012])
AXIS = unit([0.1, -0.95, 0.3])


class Prompts(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def test_full_calibration_sequence(tmp_path):
    path = tmp_path / "calibration.json"
    out, ask = io.StringIO(), Prompts()

    calibrate_gyro(ScriptedSource([still(5.0, bias=BIAS)]), path, seconds=5.0, out=out, ask=ask)
    cal = load_calibration(path)
    assert np.allclose(cal.gyro.bias_rad_s, BIAS, rtol=0.02)
    assert "keep still [" in out.getvalue() and "100%" in out.getvalue()
    assert "keep it still" in ask[0]

    up = roll(axis=AXIS, bias=BIAS, radius_m=0.075, distance_m=0.3, direction=-1, seed=1)
    calibrate_axis(ScriptedSource([up]), path, seconds=4.5, out=out, ask=ask)
    cal = load_calibration(path)
    assert abs(np.dot(cal.axis.axis_xyz, AXIS)) > 0.9998
    assert np.sign(cal.axis.up_sign * np.dot(cal.axis.axis_xyz, AXIS)) == -1
    assert cal.gyro is not None and cal.revision == 2  # other sections kept

    measured = roll(axis=AXIS, bias=BIAS, radius_m=0.075, distance_m=0.5, roll_s=4.0, seed=2)
    calibrate_radius(ScriptedSource([measured]), path, distance_m=0.5, tool="roller", out=out, ask=ask)
    cal = load_calibration(path)
    assert cal.radius.radius_m == pytest.approx(0.075, rel=0.02)

    counts_per_n = 150.0
    levels = [still(1.0, bias=BIAS, force=50_000 + counts_per_n * kg * 9.80665, seed=i)
              for i, kg in enumerate([0, 2, 5, 10])]
    calibrate_force(ScriptedSource(levels), path, weights_kg=[0, 2, 5, 10], model="linear",
                    seconds=1.0, out=out, ask=ask)
    cal = load_calibration(path)
    assert cal.force.scale_n_per_raw == pytest.approx(1 / counts_per_n, rel=0.02)
    assert cal.complete and cal.revision == 4
    assert [m.split(":")[0] for m in ask] == ["Gyro bias", "Roll axis", "Radius", "Force", "Force",
                                              "Force", "Force"]
    assert "put 10 kg on the sensor" in ask[-1]
    report = out.getvalue()
    assert "effective radius 75." in report and "force linear fit over 3 weights: RMS error" in report
    assert f"-> {path} (revision 4)" in report


def test_one_known_weight_is_one_weight(tmp_path):
    path = tmp_path / "calibration.json"
    out = io.StringIO()
    levels = [still(1.0, bias=BIAS, force=50_000 + 150.0 * kg * 9.80665, seed=i) for i, kg in enumerate([0, 5])]
    calibrate_force(ScriptedSource(levels), path, weights_kg=[5], model="linear", seconds=1.0, out=out,
                    ask=Prompts())
    assert "force linear fit over 1 weight: RMS error" in out.getvalue()
    shown = io.StringIO()
    show_calibration(path, shown)
    assert "over 1 weight, " in shown.getvalue()


def test_axis_and_radius_without_gyro_calibration_use_the_still_start(tmp_path):
    path = tmp_path / "calibration.json"
    b = roll(axis=[0, 0, 1], bias=BIAS, radius_m=0.03, distance_m=0.3, still_s=1.0)
    calibrate_radius(ScriptedSource([b]), path, distance_m=0.3, out=io.StringIO(), ask=Prompts())
    assert load_calibration(path).radius.radius_m == pytest.approx(0.03, rel=0.02)


def test_refusal_writes_nothing(tmp_path):
    path = tmp_path / "calibration.json"
    moving = roll(axis=AXIS, bias=BIAS, radius_m=0.075, distance_m=0.3, still_s=0.5)
    with pytest.raises(CalibrationError, match="moved"):
        calibrate_gyro(ScriptedSource([moving]), path, out=io.StringIO(), ask=Prompts())
    assert not path.exists()


def test_no_samples_is_a_clear_error(tmp_path):
    with pytest.raises(CalibrationError, match=r"keep still: no samples from the sensors in 5 s; run `rollsense doctor`"):
        calibrate_gyro(lambda s: iter(()), tmp_path / "c.json", out=io.StringIO(), ask=Prompts())


def test_force_needs_a_weight(tmp_path):
    with pytest.raises(CalibrationError, match="at least one known weight above 0 kg"):
        calibrate_force(ScriptedSource([]), tmp_path / "c.json", weights_kg=[0], ask=Prompts())


def test_progress_bar_draws_in_place():
    out = io.StringIO()
    bar = ProgressBar("tare", 2.0, out, width=10)
    for t in np.linspace(0, 2.0, 41):
        bar.update(t)
    bar.finish()
    frames = out.getvalue().split("\r")[1:]
    assert frames[0] == "tare [..........]   0%  0.0/2.0 s"
    assert frames[-1] == "tare [##########] 100%  2.0/2.0 s\n"
    assert len(frames) <= 22  # redrawn every 5 %, not every sample


def test_press_enter_waits_for_a_line():
    out = io.StringIO()
    press_enter("Put 5 kg on it.", out=out, inp=io.StringIO("\n"))
    assert out.getvalue() == "Put 5 kg on it. [Enter] "


def test_parse_weights():
    from calibration.procedures import parse_weights_kg

    assert parse_weights_kg("0, 2,5,10") == [0.0, 2.0, 5.0, 10.0]
    for bad in ["", "a,b", "-1,2", "nan"]:
        with pytest.raises(CalibrationError, match="--weights-kg .*comma-separated kilograms"):
            parse_weights_kg(bad)


def test_run_step_errors(tmp_path):
    from calibration.procedures import force_model_for, run_step
    from firmware.edge.config import Config, apply_overrides

    cfg = apply_overrides(Config(), state_dir=str(tmp_path))
    src = ScriptedSource([])
    with pytest.raises(CalibrationError, match="--distance-m 0.5"):
        run_step("radius", cfg, src)
    with pytest.raises(CalibrationError, match="--weights-kg 0,2,5,10"):
        run_step("force", cfg, src)
    with pytest.raises(CalibrationError, match="no force sensor configured"):
        run_step("force", apply_overrides(cfg, **{"force.frontend": "none"}), src, weights_kg=[1])
    with pytest.raises(CalibrationError, match="unknown step 'tilt'"):
        run_step("tilt", cfg, src)
    assert force_model_for(cfg) == ("fsr-power", "V")
    assert force_model_for(apply_overrides(cfg, **{"force.frontend": "hx711"})) == ("linear", "counts")
