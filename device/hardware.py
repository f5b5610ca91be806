"""The one place that chooses real or simulated hardware, explicitly. "pi" opens the real
I2C bus; "sim" puts the same drivers on fake chips fed by a signal source. Anything else
is a ConfigError; there is never a silent fallback to fake data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from device.ads1115 import ADS1115, ForceCalibration, LinearForce
from device.bus import I2CBus
from device.fake import FakeADS1115, FakeI2CBus, FakeMPU6050, ForceTap
from device.mpu6050 import MPU6050
from firmware.common.clock import Clock
from firmware.common.errors import ConfigError

KINDS = ("pi", "sim")
FORCE_KINDS = ("ads1115", "hx711", "none")
ADS1115_ADDRESS = 0x48
SIM_VOLTS_PER_N = 0.008
HX711_DOUT_PIN = 5
HX711_SCK_PIN = 6


@dataclass
class Hardware:
    """The opened hardware: ``imu`` (MPU6050), ``force`` (ADS1115/HX711 or None), ``bus``."""

    kind: str
    imu: MPU6050
    force: Any
    bus: I2CBus
    fakes: dict[str, Any] = field(default_factory=dict)  # sim only: the fake chips and bus

    def close(self) -> None:
        self.imu.close()
        if self.force is not None:
            self.force.close()
        self.bus.close()


def open_hardware(kind: str, *, clock: Clock, source: Any = None, i2c_bus: int = 1,
                  imu_address: int = 0x68, force: str = "ads1115",
                  sample_rate_hz: float = 200, force_calibration: ForceCalibration | None = None,
                  pin_factory: Any = None, gyro_range_dps: int = 1000, accel_range_g: int = 8,
                  force_address: int = ADS1115_ADDRESS, force_data_rate_sps: int = 860,
                  hx711_dout_pin: int = HX711_DOUT_PIN, hx711_sck_pin: int = HX711_SCK_PIN,
                  ) -> Hardware:
    """Build the drivers on the real bus ("pi") or on fake chips fed by ``source`` ("sim").
    Nothing is opened until the drivers are started. ``force_address``/``force_data_rate_sps``
    are the ADS1115's; ``hx711_*_pin`` are BCM numbers."""
    if kind not in KINDS:
        raise ConfigError(f"unknown hardware kind {kind!r}: use one of {', '.join(KINDS)}")
    if force not in FORCE_KINDS:
        raise ConfigError(f"unknown force sensor {force!r}: use one of {', '.join(FORCE_KINDS)}")
    fakes: dict[str, Any] = {}
    if kind == "pi":
        bus = I2CBus.open(i2c_bus, clock=clock)
    else:
        if source is None:
            raise ConfigError("simulated hardware needs a signal source")
        bus, fakes = _sim_bus(clock, source, imu_address, force, force_address)
    imu = MPU6050(bus, clock, address=imu_address, sample_rate_hz=sample_rate_hz,
                  gyro_range_dps=gyro_range_dps, accel_range_g=accel_range_g)
    if force == "none":
        force_dev = None
    elif force == "ads1115":
        if force_calibration is None and kind == "sim":
            force_calibration = LinearForce(n_per_v=1.0 / SIM_VOLTS_PER_N)
        force_dev = ADS1115(bus, clock, address=force_address, data_rate_sps=force_data_rate_sps,
                            calibration=force_calibration)
    else:
        force_dev = _hx711(clock, force_calibration, pin_factory, kind, fakes,
                           hx711_dout_pin, hx711_sck_pin)
    return Hardware(kind, imu, force_dev, bus, fakes)


def _sim_bus(clock: Clock, source: Any, imu_address: int, force: str,
             force_address: int) -> tuple[I2CBus, dict]:
    fake_bus = FakeI2CBus(clock)
    tap = ForceTap(source)
    mpu = fake_bus.attach(imu_address, FakeMPU6050(tap, clock))
    fakes: dict[str, Any] = {"bus": fake_bus, "mpu6050": mpu, "tap": tap}
    if force == "ads1115":
        fakes["ads1115"] = fake_bus.attach(
            force_address, FakeADS1115(tap, clock, volts_per_n=SIM_VOLTS_PER_N))
        tap.before_read = mpu.begin
    return I2CBus(fake_bus, clock=clock, name="sim-i2c"), fakes


def _hx711(clock: Clock, calibration: Any, pin_factory: Any, kind: str, fakes: dict,
           dout_pin: int, sck_pin: int) -> Any:
    from device.hx711 import HX711

    if kind == "sim":
        from device.fake import attach_fake_hx711

        pin_factory, fakes["hx711"] = attach_fake_hx711(
            fakes["tap"], clock, pin_factory, dout_pin=dout_pin, sck_pin=sck_pin)
        fakes["tap"].before_read = fakes["mpu6050"].begin
    return HX711(dout_pin, sck_pin, clock, pin_factory=pin_factory, calibration=calibration)
