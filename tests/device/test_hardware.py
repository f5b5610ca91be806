"""open_hardware: explicit choice of real or simulated hardware, never a silent fallback."""

from __future__ import annotations

import numpy as np
import pytest

from device.ads1115 import ADS1115
from device.hardware import open_hardware
from device.mpu6050 import MPU6050
from firmware.common.clock import ManualClock
from firmware.common.errors import ConfigError, SetupError


class Lean:
    def sample(self, t_s):
        n = len(t_s)
        return (np.tile([0.0, 0.0, 1.0], (n, 1)), np.tile([0.0, 0.0, 9.8], (n, 1)),
                np.full(n, 250.0))


@pytest.mark.parametrize("kind", ["fake", "", "PI", None])
def test_unknown_kind_is_a_config_error(kind):
    with pytest.raises(ConfigError, match="hardware kind"):
        open_hardware(kind, clock=ManualClock(), source=Lean())


def test_unknown_force_sensor_is_a_config_error():
    with pytest.raises(ConfigError, match="force sensor"):
        open_hardware("sim", clock=ManualClock(), source=Lean(), force="fsr")


def test_sim_needs_a_source():
    with pytest.raises(ConfigError, match="source"):
        open_hardware("sim", clock=ManualClock())


def test_pi_opens_nothing_until_started_and_then_fails_loudly_without_a_bus():
    hw = open_hardware("pi", clock=ManualClock(), i2c_bus=97)
    assert isinstance(hw.imu, MPU6050) and isinstance(hw.force, ADS1115)
    assert hw.fakes == {}
    with pytest.raises(SetupError, match="/dev/i2c-97"):
        hw.imu.start()


def test_sim_puts_the_real_drivers_on_fake_chips():
    clock = ManualClock()
    hw = open_hardware("sim", clock=clock, source=Lean(), sample_rate_hz=100)
    hw.imu.start()
    hw.force.start()
    clock.advance(0.2)
    frames = hw.imu.read()
    assert len(frames.t_s) == 19 and np.allclose(frames.gyro_rad_s[:, 2], 1.0, atol=1e-3)  # 20 taken, 19 sure
    assert hw.force.read_n() == pytest.approx(250.0, abs=0.1)
    assert hw.bus.stats.transactions > 0
    hw.close()
    assert hw.fakes["bus"].closed


def test_sim_without_force_sensor():
    hw = open_hardware("sim", clock=ManualClock(), source=Lean(), force="none")
    assert hw.force is None and "ads1115" not in hw.fakes


def test_sim_with_a_load_cell_uses_the_hx711_driver_on_mock_pins(mock_factory):
    from device.hx711 import HX711

    clock = ManualClock()
    hw = open_hardware("sim", clock=clock, source=Lean(), force="hx711",
                       pin_factory=mock_factory)
    assert isinstance(hw.force, HX711) and "hx711" in hw.fakes
    hw.imu.start()
    hw.force.start()
    clock.advance(1 / 80)
    assert hw.force.read_n() == pytest.approx(250.0, abs=0.01)
    hw.close()
