"""rollsense doctor: one line per check, what to fix, exit code; on the simulated bus and with
the real broker (private Mosquitto)."""

from __future__ import annotations

import io
import socket

from calibration.store import Calibration, GyroCalibration, save_calibration
from firmware.app.doctor import check_broker, run_doctor
from firmware.edge.broker import PrivateBroker
from firmware.edge.config import Config, apply_overrides


def sim_config(tmp_path, broker_url, **more) -> Config:
    (tmp_path / "state").mkdir(exist_ok=True)
    return apply_overrides(Config(), hardware="sim", state_dir=str(tmp_path / "state"),
                           broker_url=broker_url, **more)


def test_sim_all_good(tmp_path, broker):
    cfg = sim_config(tmp_path, broker.url)
    save_calibration(cfg.calibration_file, Calibration(gyro=GyroCalibration((0.0, 0.0, 0.0), 0.001, 5.0)))
    out = io.StringIO()
    assert run_doctor(cfg, out=out) == 0
    text = out.getvalue()
    assert "ok   imu          MPU-6050 at 0x68 (WHO_AM_I 0x68), 200 Hz, FIFO delivering" in text
    assert "ok   force        ads1115 answers" in text
    assert f"ok   broker       mqtt://127.0.0.1:{broker.port} accepts this device" in text
    assert "warn calibration" in text and "not calibrated: axis, radius, force (rollsense calibrate axis --sim)" in text
    assert text.endswith("all checks passed\n")
    assert not any(line.startswith("FAIL") for line in text.splitlines())


def test_sim_without_force_sensor_warns(tmp_path, broker):
    out = io.StringIO()
    assert run_doctor(sim_config(tmp_path, broker.unix_url, **{"force.frontend": "none"}), out=out) == 0
    assert "warn force" in out.getvalue() and "no force sensor" in out.getvalue()
    assert "ok   broker       unix://" in out.getvalue()


def test_pi_without_i2c_says_what_to_fix(tmp_path, broker):
    cfg = apply_overrides(sim_config(tmp_path, broker.url), hardware="pi")
    out = io.StringIO()
    assert run_doctor(cfg, out=out, dev_dir=tmp_path / "dev") == 1
    text = out.getvalue()
    assert f"FAIL i2c bus      {tmp_path}/dev/i2c-1 missing: enable I2C (dtparam=i2c_arm=on" in text
    assert "FAIL imu          not checked: no I2C bus" in text
    assert "FAIL gpio" in text and "not a Raspberry Pi" in text
    assert text.endswith("4 problem(s) found\n")


def test_pi_bus_node_present_but_no_chip(tmp_path, broker):
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "i2c-7").write_bytes(b"")  # the node opens, but the real bus /dev/i2c-7 does not exist
    (dev / "gpiochip0").write_bytes(b"")
    cfg = apply_overrides(sim_config(tmp_path, broker.url), hardware="pi", **{"i2c.bus": 7})
    out = io.StringIO()
    assert run_doctor(cfg, out=out, dev_dir=dev) == 1
    text = out.getvalue()
    assert "ok   i2c bus" in text and "ok   gpio" in text
    assert "FAIL imu          cannot open /dev/i2c-7" in text


def test_bad_calibration_file_is_one_line(tmp_path, broker):
    cfg = sim_config(tmp_path, broker.url)
    cfg.calibration_file.write_text('{"format": "rollsense-calibration/1", "gyro": 3}')
    out = io.StringIO()
    assert run_doctor(cfg, out=out) == 1
    assert f"FAIL calibration  {cfg.calibration_file}: gyro: must be an object (got 3)\n" in out.getvalue()


def test_unknown_routine_fails_config(tmp_path, broker):
    out = io.StringIO()
    assert run_doctor(sim_config(tmp_path, broker.url, protocol="no-such-routine"), out=out) == 1
    assert out.getvalue().startswith("FAIL config")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_broker_down():
    c = check_broker(apply_overrides(Config(), broker_url=f"mqtt://127.0.0.1:{free_port()}"), 2.0)
    assert c.status == "FAIL" and "cannot connect" in c.detail and "systemctl status mosquitto" in c.detail


def test_broker_refuses(tmp_path):
    b = PrivateBroker(tmp_path / "b", anonymous=False)
    b.start()
    try:
        c = check_broker(apply_overrides(Config(), broker_url=b.url), 3.0)
    finally:
        b.close()
    assert c.status == "FAIL" and "refused: Not authorized" in c.detail and "username/password" in c.detail


def test_sim_with_hx711_twice(tmp_path, broker):
    cfg = sim_config(tmp_path, broker.url, **{"force.frontend": "hx711"})
    for _ in range(2):  # pins are released: a second run works too
        out = io.StringIO()
        assert run_doctor(cfg, out=out) == 0, out.getvalue()
        assert "ok   force        hx711 answers" in out.getvalue()


def test_force_calibration_for_another_front_end_warns(tmp_path, broker):
    from calibration.store import ForceCalibration

    cfg = sim_config(tmp_path, broker.url, **{"force.frontend": "hx711"})
    linear_volts = ForceCalibration("linear", "V", 0.0, 0.1, 0.01, ((1.0, 125.0),), scale_n_per_raw=125.0)
    save_calibration(cfg.calibration_file, Calibration(force=linear_volts))
    out = io.StringIO()
    assert run_doctor(cfg, out=out) == 0
    assert "the force curve is a linear fit in V, but force.frontend = hx711 needs linear in counts" in out.getvalue()


def test_routines_and_programmes_are_checked(tmp_path, broker):
    """A user's programme naming a routine that does not exist is a FAIL line naming the file
    and the key; the built-ins alone load."""
    routines = tmp_path / "routines"
    (routines / "programs").mkdir(parents=True)
    out = io.StringIO()
    run_doctor(sim_config(tmp_path, broker.url, routines_dir=str(routines)), out=out)
    assert "ok   routines" in out.getvalue() and "programmes load" in out.getvalue()
    (routines / "programs" / "mine.toml").write_text(
        'title = "Mine"\n[[steps]]\nroutine = "no-such-routine"\n[[steps]]\nroutine = "calf-stick"\nside = "up"\n')
    out = io.StringIO()
    assert run_doctor(sim_config(tmp_path, broker.url, routines_dir=str(routines)), out=out) == 1
    line = next(x for x in out.getvalue().splitlines() if x.startswith("FAIL routines"))
    assert "mine.toml: steps[0].routine: 'no-such-routine' is not a routine" in line
    assert "(and 1 more: run `rollsense programs`)" in line
