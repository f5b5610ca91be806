"""The typed seams between the program and the hardware: what a backend must provide.

Like gpiozero's ``Factory`` (the one class a pin library implements to drive every device),
these are the few methods and attributes the sampler (``firmware/edge/sampler.py``) and the
coaching loop and daemon (``firmware/app``) actually call; nothing more. A backend for a new
chip (another IMU, another load-cell amplifier, another LED) implements the matching
protocol and the rest of the program runs on it unchanged. ``device/`` holds the real
drivers (``MPU6050``, ``ADS1115``, ``HX711``, ``Outputs``); run on the fake chips of
``device/fake.py`` they are the simulated backends, and they satisfy the same protocols
(``tests/device/test_seams.py`` checks it).

The protocols are ``runtime_checkable`` so a test can ask ``isinstance(driver, ImuDriver)``;
that checks the names exist, the annotations say what they must return.

What a backend must provide:

- :class:`ImuDriver`: ``start()`` configures the chip (``SetupError`` when it does not
  answer), ``read()`` drains whatever frames arrived since the last call (``ImuFrames`` on
  the sensor's own time axis, or None; ``SensorError`` on a bus fault),
  ``suggested_poll_s`` says how often to drain, ``timebase.to_sensor`` maps host clock
  seconds onto the sensor's time axis (force readings are stamped with it), ``close()``.
- :class:`ForceSensor`: ``start()``, ``read_n()`` (the latest force in newtons, or None
  when no new conversion is ready; ``SensorError``/``SensorTimeout`` on a fault), ``close()``.
- :class:`CueOutputs`: ``perform(cue_name)`` shows/sounds a cue at once and returns whether
  it played (never blocks the loop); ``on_press``/``on_hold`` are the button's callbacks
  (None: nothing); ``close()`` releases the pins.
- :class:`BlockSource`: what the loop reads sensor data from (the ``Sampler``): ``start()``,
  ``poll()`` (a ``Block`` or None, never raising on sensor faults), ``health`` ("" or why
  it is degraded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from firmware.common.model import Block


@runtime_checkable
class ImuFrames(Protocol):
    """Frames drained from an IMU: sample times on sensor time (s), gyro (rad/s) and accel
    (m/s²) as (n, 3) arrays; ``gap_before`` when samples were lost before the first."""

    t_s: np.ndarray
    gyro_rad_s: np.ndarray
    accel_m_s2: np.ndarray
    gap_before: bool


@runtime_checkable
class Timebase(Protocol):
    """Maps host clock seconds onto the sensor's time axis."""

    def to_sensor(self, host_s: np.ndarray | float) -> np.ndarray | float: ...


@runtime_checkable
class ImuDriver(Protocol):
    """A gyro + accelerometer with a FIFO, read on its own clock (``device.mpu6050.MPU6050``)."""

    timebase: Timebase

    @property
    def suggested_poll_s(self) -> float: ...

    def start(self) -> None: ...

    def read(self) -> ImuFrames | None: ...

    def close(self) -> None: ...


@runtime_checkable
class ForceSensor(Protocol):
    """A calibrated force front end (``device.ads1115.ADS1115``, ``device.hx711.HX711``)."""

    def start(self) -> None: ...

    def read_n(self) -> float | None: ...

    def close(self) -> None: ...


@runtime_checkable
class CueOutputs(Protocol):
    """LED, buzzer and button (``device.outputs.Outputs``)."""

    on_press: Callable[[], object] | None
    on_hold: Callable[[], object] | None

    def perform(self, cue_name: str) -> bool: ...

    def close(self) -> None: ...


@runtime_checkable
class BlockSource(Protocol):
    """Sensor data as Blocks on sensor time (``firmware.edge.sampler.Sampler``)."""

    @property
    def health(self) -> str: ...

    def start(self) -> None: ...

    def poll(self) -> Block | None: ...
