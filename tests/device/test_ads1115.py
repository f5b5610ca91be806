"""ADS1115 driver on the fake chip: config word, continuous reads, volts and newtons,
two's complement, reset recovery."""

from __future__ import annotations

import numpy as np
import pytest

from device.ads1115 import ADS1115, LinearForce, config_word
from device.bus import I2CBus
from device.fake import FakeADS1115, FakeI2CBus
from firmware.common.clock import ManualClock
from firmware.common.errors import SetupError


class Press:
    def __init__(self, force_n):
        self.force_n = force_n

    def sample(self, t_s):
        n = len(t_s)
        return np.zeros((n, 3)), np.zeros((n, 3)), np.full(n, float(self.force_n))


def rig(force_n=200.0, offset_v=0.0, **kw):
    clock = ManualClock()
    fake = FakeI2CBus(clock)
    src = Press(force_n)
    chip = fake.attach(0x48, FakeADS1115(src, clock, volts_per_n=0.01, offset_v=offset_v))
    bus = I2CBus(fake, clock=clock, name="i2c-1")
    ads = ADS1115(bus, clock, calibration=LinearForce(n_per_v=100.0, offset_v=offset_v), **kw)
    return clock, chip, bus, ads, src


def test_config_word_matches_the_datasheet_example():
    assert config_word(0, 4.096, 860) == 0x42E3
    assert config_word(1, 2.048, 128) == 0x5483


def test_start_writes_and_verifies_the_config():
    clock, chip, _, ads, _ = rig()
    ads.start()
    assert chip.reg(0x01) == 0x42E3
    assert clock.now_s() == pytest.approx(2 / 860)


def test_reads_volts_and_newtons_with_one_bare_two_byte_read():
    _, _, bus, ads, _ = rig(force_n=200.0)
    ads.start()
    before = bus.stats.snapshot()
    force = ads.read_n()
    assert force == pytest.approx(200.0, abs=100 * 125e-6)
    assert bus.stats.transactions - before.transactions == 1
    assert bus.stats.bytes_read - before.bytes_read == 2
    assert bus.stats.bytes_written == before.bytes_written


def test_negative_inputs_are_twos_complement():
    _, _, _, ads, _ = rig(force_n=0.0, offset_v=-0.5)
    ads.start()
    assert ads.read_counts() == -4000
    assert ads.read_volts() == pytest.approx(-0.5)
    assert ads.read_n() == pytest.approx(0.0)


def test_value_follows_the_input_at_the_data_rate():
    clock, _, _, ads, src = rig(force_n=100.0, data_rate_sps=128)
    ads.start()
    assert ads.read_n() == pytest.approx(100.0, abs=0.02)
    src.force_n = 300.0
    assert ads.read_n() == pytest.approx(100.0, abs=0.02)  # no new conversion yet
    clock.advance(1 / 128)
    assert ads.read_n() == pytest.approx(300.0, abs=0.02)


def test_full_scale_clips():
    _, _, _, ads, _ = rig(force_n=1000.0)  # 10 V on a 4.096 V range
    ads.start()
    assert ads.read_counts() == 32767


def test_a_chip_that_reset_is_configured_again():
    clock, chip, _, ads, _ = rig(force_n=150.0)
    ads.start()
    chip.power_on_reset()
    clock.advance(1.0)
    assert ads.read_n() is None  # re-configured; no fresh conversion yet
    clock.advance(1 / 860)
    assert ads.read_n() == pytest.approx(150.0, abs=0.02)
    assert ads.reinits == 1 and chip.reg(0x01) == 0x42E3


def test_missing_chip_is_a_setup_error_with_the_address():
    clock = ManualClock()
    bus = I2CBus(FakeI2CBus(clock), clock=clock, name="i2c-1")
    with pytest.raises(SetupError, match="0x49"):
        ADS1115(bus, clock, address=0x49).start()


def test_bad_settings_are_refused():
    clock = ManualClock()
    bus = I2CBus(FakeI2CBus(clock), clock=clock)
    with pytest.raises(ValueError):
        ADS1115(bus, clock, data_rate_sps=1000)
    with pytest.raises(ValueError):
        ADS1115(bus, clock, full_scale_v=5.0)
    with pytest.raises(ValueError):
        ADS1115(bus, clock, channel=4)
