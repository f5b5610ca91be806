"""HX711 driver against a fake that speaks the bit protocol on gpiozero MockFactory pins."""

from __future__ import annotations

import numpy as np
import pytest

from device.fake import attach_fake_hx711
from device.hx711 import HX711, CountsForce
from firmware.common.clock import ManualClock
from firmware.common.errors import SensorError, SensorTimeout, SetupError


class Load:
    def __init__(self, force_n):
        self.force_n = force_n

    def sample(self, t_s):
        n = len(t_s)
        return np.zeros((n, 3)), np.zeros((n, 3)), np.full(n, float(self.force_n))


def rig(mock_factory, force_n=50.0, gain=128, offset_counts=1234):
    clock = ManualClock()
    src = Load(force_n)
    _, chip = attach_fake_hx711(src, clock, mock_factory, dout_pin=5, sck_pin=6,
                                counts_per_n=4000, offset_counts=offset_counts)
    hx = HX711(5, 6, clock, gain=gain, pin_factory=mock_factory,
               calibration=CountsForce(n_per_count=1 / 4000, offset_counts=offset_counts))
    return clock, src, chip, hx


def test_reads_counts_and_newtons_after_waiting_for_dout(mock_factory):
    clock, _, chip, hx = rig(mock_factory, force_n=50.0)
    hx.start()
    assert clock.now_s() >= chip.settle_s  # waited on the clock for DOUT low
    assert hx.read_raw() == 1234 + 50 * 4000
    assert hx.read_n() is None  # next conversion not ready: never waits
    clock.advance(1 / 80)
    assert hx.read_n() == pytest.approx(50.0)
    assert chip.protocol_errors == 0


def test_negative_loads_are_twos_complement(mock_factory):
    _, _, _, hx = rig(mock_factory, force_n=-10.0, offset_counts=0)
    hx.start()
    assert hx.read_raw() == -40000


@pytest.mark.parametrize("gain, pulses, expected", [(128, 25, 200000), (64, 27, 100000),
                                                    (32, 26, 0)])
def test_pulse_count_selects_channel_and_gain_of_the_next_conversion(mock_factory, gain,
                                                                     pulses, expected):
    clock, _, chip, hx = rig(mock_factory, force_n=50.0, gain=gain, offset_counts=0)
    assert hx.pulses == pulses
    hx.start()  # the first conversion is always channel A, gain 128
    assert chip.reads == 1
    assert hx.read_raw() == expected


def test_timeout_when_dout_never_goes_low(mock_factory):
    clock = ManualClock()
    stuck_high = type("StuckHigh", (mock_factory.pin_class,), {"_get_state": lambda self: True})
    mock_factory.pin(5, pin_class=stuck_high)  # no chip: DOUT never goes low
    hx = HX711(5, 6, clock, pin_factory=mock_factory)
    with pytest.raises(SetupError, match="GPIO5"):
        hx.start()
    assert clock.now_s() == pytest.approx(hx.timeout_s, abs=0.002)
    with pytest.raises(SensorTimeout):
        hx.read_raw(timeout_s=0.05)


def test_a_long_high_pulse_is_discarded_and_the_read_retried(mock_factory):
    clock, _, chip, hx = rig(mock_factory, force_n=20.0)
    hx.start()
    clock.advance(1 / 80)
    chip.stall_on_pulse(7, 100e-6)  # pre-empted for 100 µs with PD_SCK high
    assert hx.read_n() is None
    assert hx.discarded == 1 and chip.power_downs == 1
    assert hx.read_raw() == 1234 + 20 * 4000  # after the chip settles again
    chip.stall_on_pulse(3, 40e-6)  # under 60 µs is fine
    clock.advance(1 / 80)
    assert hx.read_raw() == 1234 + 20 * 4000 and hx.discarded == 1


def test_saturated_readings_are_rejected(mock_factory):
    clock, src, _, hx = rig(mock_factory, force_n=10.0)
    hx.start()
    src.force_n = 5000.0  # beyond the 24-bit range
    clock.advance(1 / 80)
    with pytest.raises(SensorError, match="saturated"):
        hx.read_n()
    assert hx.saturated == 1


def test_bad_gain_is_refused():
    with pytest.raises(ValueError):
        HX711(5, 6, ManualClock(), gain=100)


def test_close_releases_the_pins(mock_factory):
    clock, _, _, hx = rig(mock_factory)
    hx.start()
    rival = HX711(5, 6, clock, pin_factory=mock_factory)
    with pytest.raises(SetupError, match="cannot claim the pins"):
        rival.start()  # held: gpiozero refuses a second claim
    hx.close()
    rival.start()  # released: another driver claims them and reads the chip
    assert rival.read_raw() == 1234 + 50 * 4000
    rival.close()
    hx.start()  # and the pins can be claimed again by the first
    assert hx.read_raw() == 1234 + 50 * 4000
