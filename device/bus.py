"""The I2C bus: smbus2 (or anything with the same method subset) behind a small interface
with one lock, our own error types, bounded retries and counters of bus traffic."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smbus2 import SMBus, i2c_msg

from firmware.common.clock import Clock, MonotonicClock
from firmware.common.errors import SensorError, SensorTimeout, SetupError

SMBUS_BLOCK_MAX = 32  # smbus2 I2C_SMBUS_BLOCK_MAX
NACK_ERRNOS = frozenset({errno.EREMOTEIO, errno.ENXIO})  # 121, 6: the address was not acked
TRANSIENT_ERRNOS = NACK_ERRNOS | {errno.EIO, errno.ETIMEDOUT}  # + 5, 110


@dataclass
class BusStats:
    """Traffic counters: transactions (one per ioctl), data bytes, and wire bit times
    (9 clocks per byte incl. the address byte, +1 per start/repeated start/stop)."""

    transactions: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    wire_bits: int = 0
    errors: int = 0
    retries: int = 0

    def snapshot(self) -> BusStats:
        return BusStats(**vars(self))


def wire_bits(message_lengths: Sequence[int]) -> int:
    """Bit times of one combined transfer: each message is a (repeated) start, the address
    byte and its data bytes at 9 clocks each; one stop at the end."""
    return sum(1 + 9 * (1 + n) for n in message_lengths) + 1


class I2CBus:
    """One I2C bus. Wrap an ``smbus2.SMBus``-like object, or use :meth:`open` for a real
    bus opened lazily on first use. All access is serialised by one lock."""

    def __init__(
        self,
        smbus: Any = None,
        *,
        clock: Clock | None = None,
        retries: int = 2,
        retry_delay_s: float = 0.002,
        name: str = "i2c",
        opener: Callable[[], Any] | None = None,
    ) -> None:
        if smbus is None and opener is None:
            raise ValueError("I2CBus needs an smbus-like object or an opener")
        self._smbus = smbus
        self._opener = opener
        self.clock = clock or MonotonicClock()
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.name = name
        self.stats = BusStats()
        self._lock = threading.RLock()

    @classmethod
    def open(cls, bus_number: int, *, clock: Clock | None = None, **kwargs: Any) -> I2CBus:
        """A real bus ``/dev/i2c-<bus_number>``; the device file is opened on first use."""

        def opener() -> Any:
            try:
                return SMBus(bus_number)
            except OSError as exc:
                raise SetupError(
                    f"cannot open /dev/i2c-{bus_number}: {exc.strerror or exc}; enable I2C "
                    "(dtparam=i2c_arm=on) and add the user to the 'i2c' group"
                ) from exc

        return cls(opener=opener, clock=clock, name=f"i2c-{bus_number}", **kwargs)

    # -- public operations ------------------------------------------------------------

    def read(self, address: int, register: int, length: int, *, stream: bool = False) -> bytes:
        """Read ``length`` bytes starting at ``register`` in one combined transfer.
        ``stream=True`` marks a read that consumes data (a FIFO): it is retried only
        after a NACK, when nothing was transferred."""
        what = f"read {length} B from 0x{register:02X}"
        return self._run(address, what, lambda bus: self._read(bus, address, register, length),
                         [1, length], read=length, written=1, stream=stream)

    def read_current(self, address: int, length: int) -> bytes:
        """Read ``length`` bytes from the chip's current register pointer (no pointer write)."""

        def op(bus: Any) -> bytes:
            msg = i2c_msg.read(address, length)
            bus.i2c_rdwr(msg)
            return bytes(msg)

        return self._run(address, f"read {length} B", op, [length], read=length, written=0)

    def write(self, address: int, register: int, data: Sequence[int] | bytes = b"") -> None:
        """Write ``data`` starting at ``register`` (a bare pointer write when empty)."""
        payload = list(data)

        def op(bus: Any) -> None:
            if 0 < len(payload) <= SMBUS_BLOCK_MAX:
                bus.write_i2c_block_data(address, register, payload)
            else:
                bus.i2c_rdwr(i2c_msg.write(address, [register, *payload]))

        self._run(address, f"write {len(payload)} B to 0x{register:02X}", op,
                  [1 + len(payload)], read=0, written=1 + len(payload))

    def read_byte(self, address: int, register: int) -> int:
        return self.read(address, register, 1)[0]

    def write_byte(self, address: int, register: int, value: int) -> None:
        self.write(address, register, [value])

    def close(self) -> None:
        with self._lock:
            if self._smbus is not None:
                self._smbus.close()
            if self._opener is not None:
                self._smbus = None

    # -- internals ---------------------------------------------------------------------

    @staticmethod
    def _read(bus: Any, address: int, register: int, length: int) -> bytes:
        if length <= SMBUS_BLOCK_MAX:
            return bytes(bus.read_i2c_block_data(address, register, length))
        write, read = i2c_msg.write(address, [register]), i2c_msg.read(address, length)
        bus.i2c_rdwr(write, read)
        return bytes(read)

    def _device(self) -> Any:
        if self._smbus is None:
            self._smbus = self._opener()
        return self._smbus

    def _run(self, address: int, what: str, op: Callable[[Any], Any], lengths: list[int], *,
             read: int, written: int, stream: bool = False) -> Any:
        with self._lock:
            bus = self._device()
            for attempt in range(self.retries + 1):
                self.stats.transactions += 1
                try:
                    result = op(bus)
                except OSError as exc:
                    self.stats.errors += 1
                    retryable = NACK_ERRNOS if stream else TRANSIENT_ERRNOS
                    if exc.errno not in retryable or attempt == self.retries:
                        raise self._wrap(exc, address, what, attempt + 1) from exc
                    self.stats.retries += 1
                    self.clock.sleep_s(self.retry_delay_s)
                    continue
                self.stats.bytes_read += read
                self.stats.bytes_written += written
                self.stats.wire_bits += wire_bits(lengths)
                return result
        raise AssertionError("unreachable")

    def _wrap(self, exc: OSError, address: int, what: str, attempts: int) -> SensorError:
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        message = (f"{self.name} address 0x{address:02X}: {what} failed after {attempts} "
                   f"attempt(s): [{name}] {exc.strerror or exc}")
        err = (SensorTimeout if exc.errno == errno.ETIMEDOUT else SensorError)(message)
        err.errno = exc.errno  # type: ignore[attr-defined]
        return err
