"""HX711 load-cell front end on two GPIO pins through gpiozero: waits for DOUT low with a
clock-based timeout, clocks 25/26/27 pulses (channel and gain of the NEXT conversion),
discards a reading when a PD_SCK high pulse may have exceeded 60 µs (the chip powers
down), and rejects saturated readings.

    PD_SCK  _|‾|_|‾|_ ... _|‾|_|‾|_      24 data pulses + 1..3 gain pulses
    DOUT    ‾|_ b23  b22  ...  b0 |‾‾     low = ready; bits MSB first after each rise
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpiozero import DigitalInputDevice, DigitalOutputDevice

from firmware.common.clock import Clock
from firmware.common.errors import SensorError, SensorTimeout, SetupError

PULSES_FOR_GAIN = {128: 25, 32: 26, 64: 27}  # 128 and 64: channel A; 32: channel B
MAX_HIGH_S = 60e-6  # PD_SCK high longer than this powers the HX711 down
SATURATED = (0x7FFFFF, -0x800000)
READY_POLL_S = 0.001


@dataclass(frozen=True)
class CountsForce:
    """force_n = (counts - offset_counts) * n_per_count."""

    n_per_count: float
    offset_counts: float = 0.0

    def newtons(self, value: float) -> float:
        return (value - self.offset_counts) * self.n_per_count


class HX711:
    """An HX711 on ``dout_pin``/``sck_pin`` (BCM numbers) from ``pin_factory``."""

    def __init__(self, dout_pin: int, sck_pin: int, clock: Clock, *, gain: int = 128,
                 data_rate_sps: int = 80, pin_factory: Any = None,
                 calibration: Any = None, timeout_s: float | None = None) -> None:
        if gain not in PULSES_FOR_GAIN:
            raise ValueError("HX711 gain must be 128, 64 (channel A) or 32 (channel B)")
        self.dout_pin, self.sck_pin, self.clock = dout_pin, sck_pin, clock
        self.pulses = PULSES_FOR_GAIN[gain]
        self.data_rate_sps = data_rate_sps
        self.pin_factory = pin_factory
        self.calibration = calibration or CountsForce(n_per_count=1 / 4000)
        settle_s = 0.05 if data_rate_sps == 80 else 0.4
        self.timeout_s = timeout_s or settle_s + 3.0 / data_rate_sps
        self.discarded = 0
        self.saturated = 0
        self._dout: DigitalInputDevice | None = None
        self._sck: DigitalOutputDevice | None = None

    def _where(self) -> str:
        return f"HX711 on GPIO{self.dout_pin} (DOUT) / GPIO{self.sck_pin} (PD_SCK)"

    def start(self) -> None:
        """Claim the pins and take one reading, which sets channel and gain."""
        try:
            self._dout = DigitalInputDevice(self.dout_pin, pull_up=False,
                                            pin_factory=self.pin_factory)
            self._sck = DigitalOutputDevice(self.sck_pin, initial_value=False,
                                            pin_factory=self.pin_factory)
        except Exception as exc:  # gpiozero raises a family of its own errors
            raise SetupError(f"cannot claim the pins of the {self._where()}: {exc}") from exc
        try:
            self.read_raw()
        except SensorTimeout as exc:
            raise SetupError(f"no answer from the {self._where()}: check wiring and power"
                             ) from exc

    def ready(self) -> bool:
        return not self._dout.pin.state

    def read_raw(self, timeout_s: float | None = None, attempts: int = 3) -> int:
        """Wait for a conversion (clock-based timeout) and read it; a reading disturbed by
        a long pulse is discarded and the next conversion read instead."""
        for _ in range(attempts):
            self._wait_ready(timeout_s or self.timeout_s)
            value = self._shift_in()
            if value is not None:
                return self._checked(value)
        raise SensorError(f"{self._where()}: {attempts} readings in a row disturbed by "
                          "PD_SCK pulses over 60 µs")

    def _wait_ready(self, timeout_s: float) -> None:
        deadline_s = self.clock.now_s() + timeout_s
        while not self.ready():
            if self.clock.now_s() >= deadline_s:
                raise SensorTimeout(f"{self._where()}: DOUT stayed high for {timeout_s:.3f} s")
            self.clock.sleep_s(READY_POLL_S)

    def read_n(self) -> float | None:
        """Force in newtons if a conversion is ready now, else None (never waits)."""
        if not self.ready():
            return None
        value = self._shift_in()
        return None if value is None else self.calibration.newtons(self._checked(value))

    def _checked(self, value: int) -> int:
        if value in SATURATED:
            self.saturated += 1
            raise SensorError(f"{self._where()}: reading saturated ({value:#x}); "
                              "load out of range or a broken bridge wire")
        return value

    def _shift_in(self) -> int | None:
        """Clock out 24 bits plus the gain pulses. None when a high pulse may have lasted
        more than 60 µs: the bits are then unreliable."""
        sck, dout, now = self._sck.pin, self._dout.pin, self.clock.now_s
        value, longest_s = 0, 0.0
        for _ in range(24):
            t0 = now()
            sck.state = True
            sck.state = False
            longest_s = max(longest_s, now() - t0)
            value = (value << 1) | bool(dout.state)
        for _ in range(self.pulses - 24):
            t0 = now()
            sck.state = True
            sck.state = False
            longest_s = max(longest_s, now() - t0)
        if longest_s > MAX_HIGH_S:
            self.discarded += 1
            return None
        return value - (1 << 24) if value & 0x800000 else value

    def close(self) -> None:
        for device in (self._sck, self._dout):
            if device is not None:
                device.close()
        self._sck = self._dout = None
