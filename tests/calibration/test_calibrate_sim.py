"""``rollsense calibrate STEP --sim`` end to end, in-process through the command line: the
simulator's calibration user (device/sim.py ``CalibrationUser``) does what each instruction
asks, the real drivers read the fake chips, the real procedure saves the calibration file.
Each saved value must be within its tolerance of the simulator's truth:

- gyro bias: within 0.001 rad/s (0.06 deg/s) on every axis;
- roll axis: within 1.1 degrees, "up" the way the user rolled;
- radius: within 2 %;
- force: scale within 2 % of the simulated front end, worst fit error under 2 %.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from calibration.force import FORCE_FIT_MAX_REL
from calibration.procedures import run_step, sampler_source
from calibration.store import (
    Calibration,
    ForceCalibration,
    RadiusCalibration,
    RawForce,
    load_calibration,
    save_calibration,
)
from device.hardware import SIM_VOLTS_PER_N, open_hardware
from device.sim import CalibrationUser
from firmware.app.cli import main
from firmware.app.daemon import metrics_settings
from firmware.app.doctor import check_calibration
from firmware.app.simulate import calibration_user_for
from firmware.common.clock import ManualClock
from firmware.common.errors import CalibrationError
from firmware.core.protocols import load_routine
from firmware.edge.config import Config, apply_overrides, load_config
from firmware.edge.sampler import Sampler

G0 = 9.80665


def _config(tmp_path, protocol: str = "quads-roller", seed: int = 0):
    path = tmp_path / "config.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\nprotocol = "{protocol}"\n'
                    f"[sim]\nspeed = 1000.0\nseed = {seed}\n")
    return path


def _calibrate(config, *argv) -> int:
    return main(["calibrate", *argv, "--sim", "--config", str(config)])


def _truth(protocol: str, seed: int) -> dict:
    return calibration_user_for("gyro", load_routine(protocol), seed).truth


@pytest.mark.parametrize("protocol, seed", [("quads-roller", 0), ("it-band-stick", 5)])
def test_every_step_on_sim_saves_the_simulators_truth(tmp_path, capsys, protocol, seed):
    config = _config(tmp_path, protocol, seed)
    truth = _truth(protocol, seed)
    assert _calibrate(config, "gyro") == 0
    assert _calibrate(config, "axis") == 0
    assert _calibrate(config, "radius", "--distance-m", "0.5") == 0
    assert _calibrate(config, "force", "--weights-kg", "0,5,10,20") == 0
    err = capsys.readouterr().err
    assert "[simulated user: rolls up the limb 0.3 m" in err and "[simulated user: 20 kg on the sensor]" in err
    cal = load_calibration(tmp_path / "state" / "calibration.sim.json")  # the simulator's own file
    assert not (tmp_path / "state" / "calibration.json").exists()  # the device's is never written
    assert cal.revision == 4
    bias = np.array(cal.gyro.bias_rad_s)
    assert np.abs(bias - truth["gyro_bias_rad_s"]).max() < 0.001, (bias, truth["gyro_bias_rad_s"])
    axis = np.array(cal.axis.axis_xyz)
    assert abs(axis @ truth["axis_xyz"]) > 0.9998  # within 1.1 degrees
    assert np.sign(cal.axis.up_sign * (axis @ truth["axis_xyz"])) == truth["up_sign"]
    assert cal.radius.radius_m == pytest.approx(truth["radius_m"], rel=0.02)
    assert cal.radius.tool == truth["tool"]
    assert cal.force.scale_n_per_raw == pytest.approx(1 / SIM_VOLTS_PER_N, rel=0.02)
    assert cal.force.fit_max_rel < 0.02


def test_radius_on_sim_without_a_gyro_calibration(tmp_path):
    # the bias then comes from the still moment before the roll
    config = _config(tmp_path, "piriformis-ball", 3)
    assert _calibrate(config, "radius", "--distance-m", "0.3") == 0
    cal = load_calibration(tmp_path / "state" / "calibration.sim.json")
    assert cal.gyro is None
    assert cal.radius.radius_m == pytest.approx(_truth("piriformis-ball", 3)["radius_m"], rel=0.02)


def _force_stack(user):
    clock = ManualClock()
    hw = open_hardware("sim", clock=clock, source=user, force="ads1115", force_calibration=RawForce())
    sampler = Sampler(hw.imu, hw.force, clock)
    sampler.start()
    return hw, sampler_source(sampler, clock), (lambda message: user.follow(message, clock.now_s()))


def test_force_fit_past_its_tolerance_is_refused_and_nothing_saved(tmp_path):
    # the user put the 10 kg and 20 kg weights on in the other order than typed
    cfg = apply_overrides(Config(), hardware="sim", state_dir=str(tmp_path))
    user = CalibrationUser("force", tool="roller", radius_m=0.075, seed=2, weights_kg=(5, 20, 10))
    hw, source, ask = _force_stack(user)
    out = io.StringIO()
    try:
        assert run_step("gyro", cfg, source, seconds=1.0, out=out, ask=ask) == 0
        before = cfg.calibration_file.read_bytes()
        with pytest.raises(CalibrationError) as err:
            run_step("force", cfg, source, weights_kg=[0, 5, 10, 20], seconds=1.0, out=out, ask=ask)
    finally:
        hw.close()
    msg = str(err.value)
    assert "\n" not in msg and "not saved" in msg and "--save-anyway" in msg
    assert f"tolerance {FORCE_FIT_MAX_REL:.0%}" in msg
    assert cfg.calibration_file.read_bytes() == before
    assert load_calibration(cfg.calibration_file).force is None


def test_save_anyway_keeps_a_bad_force_fit_with_a_warning(tmp_path):
    cfg = apply_overrides(Config(), hardware="sim", state_dir=str(tmp_path))
    user = CalibrationUser("force", tool="roller", radius_m=0.075, seed=2, weights_kg=(5, 20, 10))
    hw, source, ask = _force_stack(user)
    out = io.StringIO()
    try:
        assert run_step("force", cfg, source, weights_kg=[5, 10, 20], seconds=1.0, out=out, ask=ask,
                        save_anyway=True) == 0
    finally:
        hw.close()
    warnings = [line for line in out.getvalue().replace("\r", "\n").splitlines() if "warning" in line]
    assert len(warnings) == 1 and "saved anyway" in warnings[0]
    assert load_calibration(cfg.calibration_file).force.fit_max_rel > FORCE_FIT_MAX_REL
    shown = io.StringIO()
    assert run_step("show", cfg, None, out=shown) == 0
    assert "worse than the 10% tolerance: forces read from it may be off; calibrate force again" in shown.getvalue()


def test_cli_force_with_a_bad_fit_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    # same path as the command: the simulated user mixes up two weights
    real = CalibrationUser.__init__

    def swapped(self, step, **kw):
        real(self, step, **{**kw, "weights_kg": tuple(reversed(kw.get("weights_kg", ())))})

    monkeypatch.setattr(CalibrationUser, "__init__", swapped)
    config = _config(tmp_path)
    assert _calibrate(config, "force", "--weights-kg", "0,5,20") == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("rollsense calibrate: force: the fit is off by up to") and "not saved" in last
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == []


def test_a_simulated_calibration_never_touches_the_devices_own(tmp_path, capsys):
    """The tester's case: `calibrate force --sim --weights-kg 5` in a state dir that holds the
    real device's calibration (an FSR fit). The real file stays as it was, byte for byte; the
    simulator's goes beside it; `run --sim`, `doctor --sim` and `calibrate show --sim` read the
    simulator's, the device and its doctor the real one."""
    state = tmp_path / "state"
    state.mkdir()
    real = state / "calibration.json"
    fsr = ForceCalibration("fsr-power", "V", 0.01, 1.0, 0.02, ((0.5, 49.0), (1.0, 98.0)),
                           a=1e5, b=1.2, supply_v=3.3, divider_ohm=10_000.0)
    save_calibration(real, Calibration(force=fsr, radius=RadiusCalibration(0.071, 0.5, 7.0, "roller")))
    before = real.read_bytes()
    config = _config(tmp_path)
    assert _calibrate(config, "force", "--weights-kg", "5") == 0
    assert _calibrate(config, "radius", "--distance-m", "0.5") == 0
    assert real.read_bytes() == before
    assert f"-> {state / 'calibration.sim.json'} (revision 1)" in capsys.readouterr().err
    sim_cal = load_calibration(state / "calibration.sim.json")
    assert sim_cal.revision == 2 and (sim_cal.force.model, sim_cal.force.raw_unit) == ("linear", "V")
    device, simulated = load_config(config), apply_overrides(load_config(config), hardware="sim")
    assert check_calibration(device).detail == f"{real} revision 1; not calibrated: gyro, axis " \
                                               "(rollsense calibrate gyro)"
    checked = check_calibration(simulated)  # what `doctor --sim` says: no other front end's curve
    assert checked.detail == f"{state / 'calibration.sim.json'} revision 2; not calibrated: gyro, axis " \
                             "(rollsense calibrate gyro --sim)"
    assert metrics_settings(device, "roller").radius_m == 0.071  # `run` reads the real file
    assert metrics_settings(simulated, "roller").radius_m == sim_cal.radius.radius_m != 0.071
    assert main(["calibrate", "show", "--sim", "--config", str(config)]) == 0
    assert f"calibration {state / 'calibration.sim.json'}: revision 2" in capsys.readouterr().out
    assert main(["calibrate", "show", "--config", str(config)]) == 0
    assert f"calibration {real}: revision 1" in capsys.readouterr().out
