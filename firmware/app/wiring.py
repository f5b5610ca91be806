"""The device's parts put together, once, for ``rollsense run`` (``daemon``) and ``rollsense
demo`` (``demo``): sensors -> sampler -> coaching loop -> outputs, journal -> link.

Both commands open their hardware their own way (the config's pins and bus, or one simulated
user on fake chips) and then call :func:`build_device`; what the loop talks to, the order
things are opened in and the cadence the sensors are drained at are decided here only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.hardware import Hardware, open_outputs
from firmware.app.loop import CoachingLoop, DeviceParts
from firmware.common.clock import Clock, MonotonicClock
from firmware.common.hardware import BlockSource, CueOutputs
from firmware.core.metrics import MetricsSettings
from firmware.core.programs import program_ids
from firmware.core.protocols import Profile, routine_ids
from firmware.edge.journal import Journal
from firmware.edge.link import Link
from firmware.edge.sampler import Sampler

# How often the coaching loop drains the IMU FIFO. Draining when the FIFO is half full
# (0.21 s at 200 Hz) costs the fewest bus transactions; 40 ms keeps every cue within
# 50 ms of the sensor data that triggered it. Coaching wants the latter.
COACHING_DRAIN_S = 0.04


@dataclass
class OutputPins:
    """Where the LED, buzzer and button are (BCM numbers), and on which gpiozero pins:
    ``pin_factory`` None means the one ``device.hardware`` picks for ``kind``."""

    kind: str = "sim"
    led_pins: tuple[int, int, int] = (17, 27, 22)
    buzzer_pin: int = 18
    button_pin: int | None = 23
    pin_factory: Any = None


@dataclass
class BuiltDevice:
    """The parts :func:`build_device` opened; the caller starts and closes them."""

    loop: CoachingLoop
    hardware: Hardware
    sampler: BlockSource
    outputs: CueOutputs
    journal: Journal
    link: Link


def coaching_sampler(hardware: Hardware, clock: Clock) -> Sampler:
    """The sampler on ``hardware``, drained at the coaching cadence (``COACHING_DRAIN_S``)."""
    return Sampler(hardware.imu, hardware.force, clock, drain_interval_s=COACHING_DRAIN_S)


def known_ids(routines_dir: str | Path | None) -> Callable[[str], list[str]]:
    """The device's choices a refused command lists (``Link.choices``): the ids of its
    routines ("routine") or programmes ("programme"), built-in and ``routines_dir``'s, read
    when a refusal needs them (a file added later is listed too)."""
    lists = {"routine": routine_ids, "programme": program_ids}
    return lambda kind: lists[kind](routines_dir) if kind in lists else []


# Gyro range per tool: the smallest MPU-6050 range above GYRO_MARGIN times the fastest
# plausible roll rate, v_max / r. Fastest plausible tissue speeds (well above the routines'
# 4-12 cm/s targets; self-selected fast rolling reaches about 0.3 m/s): roller and ball
# 0.5 m/s, a hand-held stick 1.0 m/s. Roller r = 7.5 cm: 1.3 x 0.5 / 0.075 = 8.7 rad/s =
# 497 deg/s -> ±500 (twice the resolution of ±1000, and the quantisation step 0.015 deg/s).
# Ball r = 3 cm: 1241 deg/s -> ±2000. Stick r = 1.5 cm: 4970 deg/s, beyond any MPU-6050 range
# -> ±2000, and the metrics rebuild what still clips from the unclipped axes.
GYRO_RANGES_DPS = (250, 500, 1000, 2000)
GYRO_MARGIN = 1.3
TOOL_MAX_SPEED_MPS = {"roller": 0.5, "ball": 0.5, "stick": 1.0}


def gyro_range_for(tool: str, radius_m: float) -> int:
    """The gyro full scale (deg/s) for ``tool`` of ``radius_m`` (see TOOL_MAX_SPEED_MPS)."""
    need_dps = GYRO_MARGIN * TOOL_MAX_SPEED_MPS.get(tool, 1.0) / radius_m * 180.0 / math.pi
    return next((r for r in GYRO_RANGES_DPS if r >= need_dps), GYRO_RANGES_DPS[-1])


def sim_calibration(user) -> dict:
    """What calibrating the simulated tool would find: its radius, and for a roller or
    stick its roll axis in the sensor frame with "up the limb" as positive rotation."""
    values = {"radius_m": user.radius_m}
    if user.tool != "ball":
        values.update(axis_xyz=tuple(float(v) for v in user.body_axis(0)), up_sign=1)
    return values


def build_device(*, device_id: str, hardware: Hardware, clock: Clock, pins: OutputPins,
                 state_dir: Path, broker_url: str, info: dict, settings: MetricsSettings,
                 sampler: BlockSource | None = None, display=None, notifier=None,
                 routines_dir: str | Path | None = None, telemetry_hz: float = 10.0,
                 source_end_s: float | None = None, sim_tool=None,
                 profile: Profile | None = None) -> BuiltDevice:
    """Sampler (``sampler``, else :func:`coaching_sampler` on ``hardware``), outputs, journal
    (``state_dir/journal.db``), link (``info`` is its retained info) and the coaching loop,
    opened in that order: no GPIO means no journal is opened. Nothing is started.
    ``profile``: the device-wide body mass (the config's); the loop's people are kept in
    ``state_dir/people.json``."""
    sampler = sampler if sampler is not None else coaching_sampler(hardware, clock)
    outputs = open_outputs(pins.kind, led_pins=pins.led_pins, buzzer_pin=pins.buzzer_pin,
                           button_pin=pins.button_pin, pin_factory=pins.pin_factory)
    journal = Journal(Path(state_dir) / "journal.db")
    link = Link(device_id, broker_url, journal, MonotonicClock(), info=info)
    link.choices = known_ids(routines_dir)
    loop = CoachingLoop(
        device_id=device_id,
        parts=DeviceParts(sampler=sampler, clock=clock, journal=journal, outputs=outputs,
                          link=link, display=display, notifier=notifier),
        settings=settings,
        routines_dir=routines_dir,
        profile=profile,
        state_dir=state_dir,
        telemetry_hz=telemetry_hz,
        source_end_s=source_end_s,
        sim_tool=sim_tool,
    )
    return BuiltDevice(loop, hardware, sampler, outputs, journal, link)
