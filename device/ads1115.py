"""ADS1115 force front end: continuous conversion of one single-ended input, counts ->
volts -> newtons through a calibration object."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from device.bus import I2CBus
from device.registers import (
    ADS1115Bits,
    ADS1115Reg,
    dr_code,
    pga_code,
)
from firmware.common.clock import Clock
from firmware.common.errors import SensorError, SetupError

log = logging.getLogger(__name__)

CONFIG_CHECK_S = 1.0  # how often (host s) the config register is checked for a chip reset


class ForceCalibration(Protocol):
    def newtons(self, value: float) -> float: ...


@dataclass(frozen=True)
class LinearForce:
    """force_n = (volts - offset_v) * n_per_v."""

    n_per_v: float
    offset_v: float = 0.0

    def newtons(self, value: float) -> float:
        return (value - self.offset_v) * self.n_per_v


def config_word(channel: int, full_scale_v: float, data_rate_sps: int) -> int:
    """Config register: AINn-GND, PGA, continuous mode, data rate, comparator disabled."""
    b = ADS1115Bits
    return (b.MUX.encode(b.MUX_SINGLE_ENDED + channel) | b.PGA.encode(pga_code(full_scale_v))
            | b.MODE.encode(b.MODE_CONTINUOUS) | b.DR.encode(dr_code(data_rate_sps))
            | b.COMP_QUE.encode(b.COMP_QUE_DISABLE))


class ADS1115:
    """An ADS1115 converting continuously; each :meth:`read_n` is one 2-byte bus read."""

    def __init__(self, bus: I2CBus, clock: Clock, *, address: int = 0x48, channel: int = 0,
                 full_scale_v: float = 4.096, data_rate_sps: int = 860,
                 calibration: ForceCalibration | None = None) -> None:
        if channel not in range(4):
            raise ValueError("ADS1115 channel must be 0..3")
        self.bus, self.clock, self.address = bus, clock, address
        self.full_scale_v = full_scale_v
        self.data_rate_sps = data_rate_sps
        self.config = config_word(channel, full_scale_v, data_rate_sps)
        self.calibration = calibration or LinearForce(n_per_v=125.0)
        self.volts_per_count = full_scale_v / 32768
        self.reinits = 0
        self._last_check_s = 0.0

    @property
    def period_s(self) -> float:
        return 1.0 / self.data_rate_sps

    def _where(self) -> str:
        return f"ADS1115 on {self.bus.name} at 0x{self.address:02X}"

    def start(self) -> None:
        """Write and verify the config, point at the conversion register, wait 2 conversions."""
        try:
            self._configure()
        except SensorError as exc:
            raise SetupError(f"no answer from the {self._where()}: check wiring and the ADDR "
                             "pin (GND 0x48, VDD 0x49, SDA 0x4A, SCL 0x4B)") from exc
        self.clock.sleep_s(2 * self.period_s)

    def _configure(self) -> None:
        self.bus.write(self.address, ADS1115Reg.CONFIG, self.config.to_bytes(2, "big"))
        if not self.config_ok():
            raise SetupError(f"{self._where()}: config register did not stick")
        self._last_check_s = self.clock.now_s()

    def config_ok(self) -> bool:
        """Read back the config (ignoring OS) and leave the pointer at the conversion register."""
        word = int.from_bytes(self.bus.read(self.address, ADS1115Reg.CONFIG, 2), "big")
        self.bus.write(self.address, ADS1115Reg.CONVERSION)
        return (word & ~ADS1115Bits.OS.mask) == (self.config & ~ADS1115Bits.OS.mask)

    def read_counts(self) -> int:
        """The latest conversion, two's complement (a bare 2-byte read: the pointer stays at 0)."""
        return int.from_bytes(self.bus.read_current(self.address, 2), "big", signed=True)

    def read_volts(self) -> float:
        return self.read_counts() * self.volts_per_count

    def read_n(self) -> float | None:
        """Force in newtons now. Once a second the config is checked; a chip that reset is
        configured again, and this read returns None (no fresh conversion yet)."""
        now = self.clock.now_s()
        if now - self._last_check_s >= CONFIG_CHECK_S:
            self._last_check_s = now
            if not self.config_ok():
                log.warning("%s: config lost (chip reset?); re-initialising", self._where())
                self.reinits += 1
                self._configure()
                return None
        return self.calibration.newtons(self.read_volts())

    def close(self) -> None:
        pass
