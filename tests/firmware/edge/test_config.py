"""The device config: defaults, round trip of the rendered default file, one clear line per error."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from firmware.edge.config import (
    Config,
    ConfigError,
    apply_overrides,
    default_config_text,
    default_device_id,
    load_config,
    routines_dir_for,
    sim_calibration_file,
)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    lines = str(e.value).splitlines()
    assert lines == e.value.errors
    assert all(line.startswith(f"{tmp_path / 'config.toml'}: ") for line in lines)
    return [line.split(": ", 1)[1] for line in lines]


def test_defaults():
    c = load_config(None)
    assert c.hardware == "pi"
    assert c.protocol == "quads-roller"
    assert c.imu.address == 0x68 and c.imu.sample_rate_hz == 200
    assert c.imu.gyro_range_dps is None  # issue 21: picked per tool and radius (wiring.gyro_range_for)
    assert c.force.frontend == "ads1115" and c.force.address == 0x48
    assert c.force.fsr_divider_ohm == 10_000.0 and c.force.fsr_supply_v == 3.3
    assert c.outputs.led_pins == (17, 27, 22) and c.outputs.buzzer_pin == 18
    assert c.telemetry_hz == 10.0
    assert c.calibration_file == c.state_dir / "calibration.json"


def test_simulated_hardware_has_its_own_calibration_file(tmp_path):
    """A simulated calibration never lands where the real device reads its own."""
    real = apply_overrides(Config(), state_dir=str(tmp_path))
    sim = apply_overrides(real, hardware="sim")
    assert real.calibration_file == tmp_path / "calibration.json"
    assert sim.calibration_file == tmp_path / "calibration.sim.json"
    assert apply_overrides(sim, calibration_path="/etc/rollsense/cal").calibration_file == \
        Path("/etc/rollsense/cal.sim")
    assert apply_overrides(real, calibration_path="/etc/rollsense/cal").calibration_file == \
        Path("/etc/rollsense/cal")
    assert sim_calibration_file("/x/roller.json") == Path("/x/roller.sim.json")


def test_state_dir_from_systemd(monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/rollsense-test:/other")
    assert Config().state_dir == Path("/var/lib/rollsense-test")
    monkeypatch.delenv("STATE_DIRECTORY")
    assert Config().state_dir == Path("/var/lib/rollsense")


def test_device_id_is_sanitised_hostname(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "My_Pi.local")
    assert default_device_id() == "my-pi-local"
    monkeypatch.setattr("socket.gethostname", lambda: "___")
    assert default_device_id() == "rollsense"


def test_default_text_is_valid_toml_and_round_trips(tmp_path):
    text = default_config_text()
    doc = tomllib.loads(text)
    assert doc["imu"]["sample_rate_hz"] == 200
    assert "body_mass_kg" not in doc["profile"]  # optional keys are shown commented out
    assert "# body_mass_kg = " in text
    for line in text.splitlines():  # every setting has a comment line above it
        if line and not line.startswith(("#", "[")):
            assert text.splitlines()[text.splitlines().index(line) - 1].startswith("# ")
    assert load_config(write(tmp_path, text)) == Config()


def test_values_are_read(tmp_path):
    c = load_config(write(tmp_path, """
device_id = "roller-1"
hardware = "sim"
state_dir = "state"
broker_url = "unix:///run/mosquitto/mqtt.sock"
calibration_path = "/tmp/cal.json"
[profile]
body_mass_kg = 72
[imu]
address = 0x69
sample_rate_hz = 500
[force]
frontend = "hx711"
[sim]
speed = 20
seed = 7
"""))
    assert c.device_id == "roller-1" and c.hardware == "sim"
    assert c.state_dir == tmp_path / "state"  # relative to the config file
    assert c.profile.body_mass_kg == 72.0 and isinstance(c.profile.body_mass_kg, float)
    assert c.imu.address == 0x69 and c.imu.sample_rate_hz == 500
    assert c.force.frontend == "hx711"
    assert c.sim.speed == 20.0 and c.sim.seed == 7
    assert c.calibration_path == Path("/tmp/cal.json")
    assert c.calibration_file == Path("/tmp/cal.sim.json")  # simulated hardware: its own beside it


@pytest.mark.parametrize("text, expected", [
    ("[imu]\nsample_rate_hz = 300\n",
     "imu.sample_rate_hz: must be one of 100, 200, 500, 1000 (got 300)"),
    ("hardwre = 'sim'\n", "hardwre: unknown key; did you mean hardware?"),
    ("[imu]\nsample_rate = 200\n", "imu.sample_rate: unknown key; did you mean imu.sample_rate_hz?"),
    ("[imu]\naddress = 0x70\n", "imu.address: must be one of 0x68, 0x69 (got 0x70)"),
    ("hardware = 'arduino'\n", "hardware: must be one of pi, sim (got 'arduino')"),
    ("device_id = 'My Pi'\n", "device_id: must be 1-64 characters of a-z, 0-9 and '-' (got 'My Pi')"),
    ("telemetry_hz = '10'\n", "telemetry_hz: must be a number (got '10')"),
    ("[i2c]\nbus = true\n", "i2c.bus: must be an integer (got true)"),
    ("[i2c]\nbus = 1.5\n", "i2c.bus: must be an integer (got 1.5)"),
    ("telemetry_hz = 0\n", "telemetry_hz: must be between 0.1 and 50.0 (got 0)"),
    ("broker_url = 'http://x'\n",
     "broker_url: scheme must be mqtt://, mqtts:// or unix:// (got 'http://x')"),
    ("[outputs]\nled_pins = [17, 27]\n",
     "outputs.led_pins: must be three BCM GPIO numbers 0..27 [red, green, blue] (got [17, 27])"),
    ("[outputs]\nbuzzer_pin = 17\n",
     "outputs.buzzer_pin: GPIO 17 is already used by outputs.led_pins (got 17)"),
    ("[outputs]\nbutton_pin = 3\n",
     "outputs.button_pin: GPIO 3 is an I2C pin (SDA/SCL of bus 1); pick another (got 3)"),
    ("[force]\nfrontend = 'hx711'\nhx711_sck_pin = 23\n",
     "force.hx711_sck_pin: GPIO 23 is already used by outputs.button_pin (got 23)"),
    ("imu = 5\n", "imu: must be a table [imu] (got 5)"),
    ("[profile]\nbody_mass_kg = 5\n", "profile.body_mass_kg: must be between 20.0 and 300.0 (got 5)"),
    ("[sim]\ndevice_id = 'x'\n",
     "sim.device_id: unknown key; top-level keys such as device_id must come before the first [table]"),
])
def test_bad_config_gives_one_clear_line(tmp_path, text, expected):
    assert errors_of(tmp_path, text) == [expected]


def test_every_error_is_reported(tmp_path):
    got = errors_of(tmp_path, "hardware = 1\n[imu]\ngyro_range_dps = 300\nfoo = 1\n")
    assert len(got) == 3
    assert got[0] == "hardware: must be a string (got 1)"
    assert got[1].startswith("imu.foo: unknown key; known keys in [imu]: ")
    assert got[2] == "imu.gyro_range_dps: must be one of 250, 500, 1000, 2000 (got 300)"


def test_unreadable_and_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read the config file") as e:
        load_config(tmp_path / "missing.toml")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=r"config.toml: not valid TOML: .*line 1") as e:
        load_config(write(tmp_path, "hardware = \n"))
    assert "\n" not in str(e.value)


def test_overrides_are_validated():
    c = apply_overrides(Config(), hardware="sim", state_dir=Path("/tmp/x"), broker_url=None,
                        **{"imu.sample_rate_hz": 500})
    assert c.hardware == "sim" and c.state_dir == Path("/tmp/x") and c.imu.sample_rate_hz == 500
    assert c.broker_url == Config().broker_url
    with pytest.raises(ConfigError, match=r"^command line: sim.speed: must be between"):
        apply_overrides(Config(), **{"sim.speed": -1})


def test_routines_dir_for_flag_then_config_then_none(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'routines_dir = "{tmp_path / "from-config"}"\n')
    assert routines_dir_for(tmp_path / "flag", config) == tmp_path / "flag"
    assert routines_dir_for(None, config) == tmp_path / "from-config"
    assert routines_dir_for(None, None) is None
