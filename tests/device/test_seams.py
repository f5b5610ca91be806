"""The drivers, run on their fake chips, and the outputs on gpiozero's MockFactory satisfy the
typed seams of ``firmware/common/hardware.py``: what the sampler and the coaching loop call."""

from __future__ import annotations

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from device.ads1115 import ADS1115
from device.hardware import open_hardware
from device.hx711 import HX711
from device.mpu6050 import MPU6050
from device.outputs import Outputs
from firmware.common.clock import ManualClock
from firmware.common.hardware import BlockSource, CueOutputs, ForceSensor, ImuDriver, ImuFrames
from firmware.edge.sampler import Sampler


class Lean:
    def sample(self, t_s):
        n = len(t_s)
        return (np.tile([0.0, 0.0, 1.0], (n, 1)), np.tile([0.0, 0.0, 9.8], (n, 1)),
                np.full(n, 250.0))


@pytest.mark.parametrize("force, driver", [("ads1115", ADS1115), ("hx711", HX711)])
def test_drivers_on_fake_chips_are_the_seams(force, driver):
    clock = ManualClock()
    hw = open_hardware("sim", clock=clock, source=Lean(), force=force,
                       pin_factory=MockFactory(pin_class=MockPWMPin))
    try:
        assert isinstance(hw.imu, MPU6050) and isinstance(hw.imu, ImuDriver)
        assert isinstance(hw.force, driver) and isinstance(hw.force, ForceSensor)
        sampler = Sampler(hw.imu, hw.force, clock)
        assert isinstance(sampler, BlockSource)
        sampler.start()
        clock.advance(0.3)
        frames = hw.imu.read()
        assert frames is not None and isinstance(frames, ImuFrames)
    finally:
        hw.close()


def test_outputs_on_mock_pins_are_the_seam():
    outputs = Outputs(pin_factory=MockFactory(pin_class=MockPWMPin))
    try:
        assert isinstance(outputs, CueOutputs)
    finally:
        outputs.close()


def test_a_part_missing_a_method_is_not_a_seam():
    class NoRead:
        def start(self) -> None: ...

        def close(self) -> None: ...

    assert not isinstance(NoRead(), ForceSensor)
    assert not isinstance(NoRead(), ImuDriver)
