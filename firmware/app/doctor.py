"""``rollsense doctor``: check the config, the routine and programme files, state dir, I2C bus, each chip, GPIO, calibration and
broker, one line per check (``ok`` / ``warn`` / ``FAIL``) with what to fix. Exit code 1 if
anything failed. Works for hardware "sim" too (the same drivers on fake chips)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from calibration.procedures import force_model_for
from calibration.store import load_calibration
from device.hardware import open_hardware
from firmware.common.clock import MonotonicClock
from firmware.common.errors import ConfigError, RollsenseError
from firmware.common.mqtt_url import make_client, parse_broker_url
from firmware.core.programs import list_programs
from firmware.core.protocols import list_routines, load_routine
from firmware.edge.config import Config
from firmware.edge.link import LinkSettings, link_client_id

BROKER_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    status: str  # "ok" | "warn" | "FAIL"
    name: str
    detail: str


def run_doctor(config: Config, *, out: TextIO, broker_timeout_s: float = BROKER_TIMEOUT_S,
               dev_dir: Path = Path("/dev")) -> int:
    """Run every check, print one line each, return the exit code (0 = nothing failed)."""
    checks = [check_config(config), check_routines(config), check_state_dir(config)]
    bus = check_i2c_bus(config, dev_dir)
    checks.append(bus)
    checks.extend(check_chips(config) if bus.status == "ok" else _skipped_chips(config))
    checks.append(check_gpio(config, dev_dir))
    checks.append(check_calibration(config))
    checks.append(check_broker(config, broker_timeout_s))
    width = max(len(c.name) for c in checks)
    for c in checks:
        out.write(f"{c.status:<4} {c.name:<{width}}  {c.detail}\n")
    failed = sum(c.status == "FAIL" for c in checks)
    out.write(f"{failed} problem(s) found\n" if failed else "all checks passed\n")
    out.flush()
    return 1 if failed else 0


def _guard(name: str, fn: Callable[[], Check]) -> Check:
    """Run one check; errors become a FAIL line (the doctor itself never crashes)."""
    try:
        return fn()
    except RollsenseError as e:
        return Check("FAIL", name, str(e).splitlines()[0])
    except Exception as e:  # noqa: BLE001 - a diagnosis tool reports, never crashes
        return Check("FAIL", name, f"unexpected {type(e).__name__}: {e}")


def check_config(config: Config) -> Check:
    def run() -> Check:
        routine = load_routine(config.protocol, config.routines_dir)
        return Check("ok", "config", f"device {config.device_id}, hardware {config.hardware}, "
                     f"routine {routine.id}, force {config.force.frontend}")
    return _guard("config", run)


def check_routines(config: Config) -> Check:
    """Every routine and programme file (built-in and the user's own) loads: a FAIL names the
    first problem (file and key) and how many more there are."""
    def run() -> Check:
        problems = []
        routines = programs = []
        try:
            routines = list_routines(config.routines_dir)
        except ConfigError as e:
            problems += getattr(e, "problems", [str(e)])
        if not problems:  # the programmes are checked against the routines: only when those load
            try:
                programs = list_programs(config.routines_dir)
            except ConfigError as e:
                problems += getattr(e, "problems", [str(e)])
        if problems:
            more = f" (and {len(problems) - 1} more: run `rollsense programs`)" if len(problems) > 1 else ""
            return Check("FAIL", "routines", problems[0] + more)
        return Check("ok", "routines", f"{len(routines)} routines and {len(programs)} programmes load")
    return _guard("routines", run)


def check_state_dir(config: Config) -> Check:
    d = config.state_dir
    if not d.exists():
        return Check("warn", "state dir", f"{d} does not exist yet (created on the first run; under "
                     "systemd StateDirectory=rollsense makes it)")
    if not os.access(d, os.W_OK | os.X_OK):
        return Check("FAIL", "state dir", f"{d} is not writable by this user; run as the rollsense user "
                     f"or fix: sudo chown -R rollsense: {d}")
    return Check("ok", "state dir", f"{d} writable")


def check_i2c_bus(config: Config, dev_dir: Path = Path("/dev")) -> Check:
    if config.hardware == "sim":
        return Check("ok", "i2c bus", "simulated bus (hardware = \"sim\")")
    dev = dev_dir / f"i2c-{config.i2c.bus}"
    if not dev.exists():
        return Check("FAIL", "i2c bus", f"{dev} missing: enable I2C (dtparam=i2c_arm=on in "
                     "/boot/firmware/config.txt, or raspi-config) and reboot; check i2c.bus")
    try:
        os.close(os.open(dev, os.O_RDWR))
    except PermissionError:
        return Check("FAIL", "i2c bus", f"{dev}: permission denied; add the user to the i2c group "
                     "(sudo usermod -aG i2c $USER, then log in again)")
    except OSError as e:
        return Check("FAIL", "i2c bus", f"{dev}: cannot open ({e.strerror or e})")
    return Check("ok", "i2c bus", f"{dev} opens")


class _StillSource:
    """A tool lying still, for checking the drivers on the simulated bus."""

    def sample(self, t_s: np.ndarray):
        n = len(t_s)
        return np.zeros((n, 3)), np.tile([0.0, 0.0, 9.80665], (n, 1)), np.zeros(n)


def check_chips(config: Config) -> list[Check]:
    """Open the drivers (real or fake, as configured) and talk to each chip."""
    clock = MonotonicClock()
    try:
        hw = open_hardware(config.hardware, clock=clock,
                           source=_StillSource() if config.hardware == "sim" else None,
                           i2c_bus=config.i2c.bus, imu_address=config.imu.address,
                           force=config.force.frontend, sample_rate_hz=config.imu.sample_rate_hz)
    except RollsenseError as e:
        return [Check("FAIL", "imu", str(e).splitlines()[0])]
    try:
        return [_guard("imu", lambda: _check_imu(hw, clock)), _check_force(config, hw, clock)]
    finally:
        try:
            hw.close()
        except (RollsenseError, OSError):
            pass  # closing a bus that never opened; the failure is already reported


def _check_imu(hw, clock) -> Check:
    imu = hw.imu
    imu.start()
    deadline = clock.now_s() + 0.5
    frames = None
    while frames is None and clock.now_s() < deadline:
        clock.sleep_s(0.02)
        frames = imu.read()
    if frames is None:
        return Check("FAIL", "imu", f"MPU-6050 at 0x{imu.address:02X} answers but its FIFO stays empty; "
                     "power-cycle the sensor")
    return Check("ok", "imu", f"MPU-6050 at 0x{imu.address:02X} (WHO_AM_I 0x{imu.who_am_i:02X}), "
                 f"{imu.sample_rate_hz:g} Hz, FIFO delivering")


def _check_force(config: Config, hw, clock) -> Check:
    if hw.force is None:
        return Check("warn", "force", "no force sensor (force.frontend = \"none\"): no contact, "
                     "pressure or hold detection")

    def run() -> Check:
        hw.force.start()
        deadline = clock.now_s() + 1.0  # an HX711 at 10 samples/s needs a while
        value = hw.force.read_n()
        while value is None and clock.now_s() < deadline:
            clock.sleep_s(0.02)
            value = hw.force.read_n()
        if value is None:
            return Check("FAIL", "force", f"{config.force.frontend} never had a reading ready; check "
                         "DOUT/SCK wiring and power")
        return Check("ok", "force", f"{config.force.frontend} answers ({float(value):.1f} N now)")
    return _guard("force", run)


def _skipped_chips(config: Config) -> list[Check]:
    checks = [Check("FAIL", "imu", "not checked: no I2C bus")]
    if config.force.frontend == "ads1115":
        checks.append(Check("FAIL", "force", "not checked: no I2C bus"))
    return checks


def check_gpio(config: Config, dev_dir: Path = Path("/dev")) -> Check:
    pins = f"LED {'/'.join(map(str, config.outputs.led_pins))}, buzzer {config.outputs.buzzer_pin}, " \
           f"button {config.outputs.button_pin}"
    if config.hardware == "sim":
        return Check("ok", "gpio", f"mock pins ({pins})")
    chips = sorted(dev_dir.glob("gpiochip*"))
    if not chips:
        return Check("FAIL", "gpio", f"no {dev_dir}/gpiochip*: not a Raspberry Pi, or the GPIO driver is missing")
    if not any(os.access(c, os.R_OK | os.W_OK) for c in chips):
        return Check("FAIL", "gpio", f"{chips[0]}: permission denied; add the user to the gpio group "
                     "(sudo usermod -aG gpio $USER)")
    return Check("ok", "gpio", f"{chips[0]} accessible ({pins})")


def check_calibration(config: Config) -> Check:
    """The calibration file the device (or, on simulated hardware, the simulator) reads."""
    path = config.calibration_file
    sim = " --sim" if config.hardware == "sim" else ""  # the simulator's file is made with --sim
    if not path.exists():
        return Check("warn", "calibration", f"{path} missing: bias/axis are estimated while rolling and the "
                     f"routine's radius is used; run `rollsense calibrate gyro{sim}` (then axis, radius, force)")

    def run() -> Check:
        cal = load_calibration(path)
        want = force_model_for(config)
        if cal.force and config.force.frontend != "none" and (cal.force.model, cal.force.raw_unit) != want:
            return Check("warn", "calibration", f"{path}: the force curve is a {cal.force.model} fit in "
                         f"{cal.force.raw_unit}, but force.frontend = {config.force.frontend} needs "
                         f"{want[0]} in {want[1]}; run `rollsense calibrate force{sim}`")
        missing = [n for n in ("gyro", "axis", "radius", "force") if getattr(cal, n) is None]
        if missing:
            return Check("warn", "calibration", f"{path} revision {cal.revision}; not calibrated: "
                         f"{', '.join(missing)} (rollsense calibrate {missing[0]}{sim})")
        return Check("ok", "calibration", f"{path} revision {cal.revision}, saved {cal.saved_at}")
    return _guard("calibration", run)


def check_broker(config: Config, timeout_s: float = BROKER_TIMEOUT_S) -> Check:
    """Connect once (MQTT v5) and report the broker's answer.

    It connects as the device's link does: its client id, no clean start, the same session
    expiry, and never acknowledges what the broker hands over. On the shipped broker a device's
    client id is its login (``use_username_as_clientid``), so any connection with the device's
    password resumes the device's own session: a clean start would throw away the commands and
    acks queued there, and an automatic PUBACK would take them from the device."""
    try:
        address = parse_broker_url(config.broker_url)
    except RollsenseError as e:
        return Check("FAIL", "broker", str(e))
    client = make_client(address, client_id=link_client_id(config.device_id))
    client.manual_ack_set(True)  # what the device's session holds stays for the device
    done = threading.Event()
    result: dict = {}

    def on_connect(_c, _u, _f, reason_code, _p=None):
        result["rc"] = reason_code
        done.set()

    client.on_connect = on_connect
    client.connect_timeout = timeout_s
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = LinkSettings().session_expiry_s
    try:
        client.connect(address.host, address.port, keepalive=10, clean_start=False,
                       properties=props)
    except (OSError, ValueError) as e:
        return Check("FAIL", "broker", f"{address}: cannot connect ({getattr(e, 'strerror', None) or e}); "
                     "is mosquitto running? (systemctl status mosquitto) and is broker_url right?")
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return Check("FAIL", "broker", f"{address}: no CONNACK within {timeout_s:g} s; check the "
                         "network, the port and TLS settings")
        rc = result["rc"]
        if rc.is_failure:
            hint = "check the username/password in broker_url and the ACL" if rc.value in (134, 135) \
                else "see the broker log"
            return Check("FAIL", "broker", f"{address}: refused: {rc} ({hint})")
        return Check("ok", "broker", f"{address} accepts this device")
    finally:
        client.disconnect()
        client.loop_stop()
