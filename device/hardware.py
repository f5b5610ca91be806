"""The one place that chooses real or simulated hardware, explicitly, and the one table of
backends. "pi" opens the real I2C bus and gpiozero's default pin library; "sim" puts the same
drivers on fake chips fed by a signal source, and on gpiozero's ``MockFactory``. Anything
else is a ConfigError; there is never a silent fallback to fake data.

``BACKENDS`` names every driver the config can ask for (python-can's
``can/interfaces/__init__.py`` style: name -> (module, class)); a new chip is one row here
and a class that satisfies its seam in ``firmware/common/hardware.py``. A driver's module is
imported only when the config names it (the HX711's pins need gpiozero, the ADS1115 not)."""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field
from typing import Any

from gpiozero.exc import GPIOZeroError, PinFactoryFallback

from device.ads1115 import ForceCalibration, LinearForce
from device.bus import I2CBus
from firmware.common.clock import Clock
from firmware.common.errors import ConfigError, SetupError
from firmware.common.hardware import CueOutputs, ForceSensor, ImuDriver

KINDS = ("pi", "sim")
# name -> (module, class): every driver the config can name, in one place
BACKENDS: dict[str, tuple[str, str]] = {
    "mpu6050": ("device.mpu6050", "MPU6050"),
    "ads1115": ("device.ads1115", "ADS1115"),
    "hx711": ("device.hx711", "HX711"),
    "outputs": ("device.outputs", "Outputs"),
}
IMU = "mpu6050"
FORCE_KINDS = ("ads1115", "hx711", "none")
ADS1115_ADDRESS = 0x48
SIM_VOLTS_PER_N = 0.008
HX711_DOUT_PIN = 5
HX711_SCK_PIN = 6
# Imported by name, and only for kind "sim": a Pi never loads the fake chips or the mock pins
# (1.5 MB of its start-up memory; bench/device_cpu.py)
FAKE_CHIPS = "device.fake"
MOCK_PINS = "gpiozero.pins.mock"


def backend(name: str) -> type:
    """The driver class ``BACKENDS`` names ``name``; ConfigError for a name it does not know."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown hardware backend {name!r}: use one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)


def pin_factory_for(kind: str) -> Any:
    """gpiozero's pin factory for ``kind``: the mock pins (PWM-capable, so the LED dims and the
    buzzer plays tones) for "sim", None for "pi" (gpiozero's default: lgpio on a Pi 5,
    RPi.GPIO / lgpio elsewhere). The one place that chooses ``MockFactory``."""
    if kind not in KINDS:
        raise ConfigError(f"unknown hardware kind {kind!r}: use one of {', '.join(KINDS)}")
    if kind == "pi":
        return None
    mock = importlib.import_module(MOCK_PINS)
    return mock.MockFactory(pin_class=mock.MockPWMPin)


@dataclass
class Hardware:
    """The opened hardware: ``imu`` (MPU6050), ``force`` (ADS1115/HX711 or None), ``bus``."""

    kind: str
    imu: ImuDriver
    force: ForceSensor | None
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
    imu = backend(IMU)(bus, clock, address=imu_address, sample_rate_hz=sample_rate_hz,
                       gyro_range_dps=gyro_range_dps, accel_range_g=accel_range_g)
    if force == "none":
        force_dev = None
    elif force == "ads1115":
        if force_calibration is None and kind == "sim":
            force_calibration = LinearForce(n_per_v=1.0 / SIM_VOLTS_PER_N)
        force_dev = backend("ads1115")(bus, clock, address=force_address,
                                       data_rate_sps=force_data_rate_sps, calibration=force_calibration)
    else:
        force_dev = _hx711(clock, force_calibration, pin_factory, kind, fakes,
                           hx711_dout_pin, hx711_sck_pin)
    return Hardware(kind, imu, force_dev, bus, fakes)


def _sim_bus(clock: Clock, source: Any, imu_address: int, force: str,
             force_address: int) -> tuple[I2CBus, dict]:
    fake = importlib.import_module(FAKE_CHIPS)
    fake_bus = fake.FakeI2CBus(clock)
    tap = fake.ForceTap(source)
    mpu = fake_bus.attach(imu_address, fake.FakeMPU6050(tap, clock))
    fakes: dict[str, Any] = {"bus": fake_bus, "mpu6050": mpu, "tap": tap}
    if force == "ads1115":
        fakes["ads1115"] = fake_bus.attach(
            force_address, fake.FakeADS1115(tap, clock, volts_per_n=SIM_VOLTS_PER_N))
        tap.before_read = mpu.begin
    return I2CBus(fake_bus, clock=clock, name="sim-i2c"), fakes


def _hx711(clock: Clock, calibration: Any, pin_factory: Any, kind: str, fakes: dict,
           dout_pin: int, sck_pin: int) -> Any:
    if kind == "sim":
        pin_factory, fakes["hx711"] = importlib.import_module(FAKE_CHIPS).attach_fake_hx711(
            fakes["tap"], clock, pin_factory, dout_pin=dout_pin, sck_pin=sck_pin)
        fakes["tap"].before_read = fakes["mpu6050"].begin
    return backend("hx711")(dout_pin, sck_pin, clock, pin_factory=pin_factory, calibration=calibration)


def open_outputs(kind: str, *, led_pins: tuple[int, int, int] = (17, 27, 22), buzzer_pin: int = 18,
                 button_pin: int | None = 23, pin_factory: Any = None) -> CueOutputs:
    """The LED, buzzer and button on these BCM pins: on ``pin_factory`` when one is given,
    else on ``pin_factory_for(kind)``. SetupError (one line) when there is no GPIO."""
    factory = pin_factory if pin_factory is not None else pin_factory_for(kind)
    try:
        with warnings.catch_warnings():  # gpiozero warns per pin library it tries; one line below says it all
            warnings.simplefilter("ignore", PinFactoryFallback)
            return backend("outputs")(
                red_pin=led_pins[0], green_pin=led_pins[1], blue_pin=led_pins[2],
                buzzer_pin=buzzer_pin, button_pin=button_pin, pin_factory=factory)
    except GPIOZeroError as e:
        raise SetupError(f"cannot open the LED, buzzer and button pins ({e}); on a Raspberry Pi "
                         "install python3-lgpio (scripts/install-pi.sh does), elsewhere use --sim") from e
