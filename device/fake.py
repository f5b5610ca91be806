"""Register-accurate fake chips on a fake I2C bus, for tests and the simulator.

``FakeI2CBus`` implements the subset of ``smbus2.SMBus`` that ``device.bus.I2CBus`` uses
and routes each transfer to the fake chip at that address. Each transfer first lets the
chip catch up with the injected clock (the MPU-6050 generates samples at its configured
rate, the ADS1115 converts at its data rate), so a burst read always sees one consistent
register snapshot, as the real chips guarantee while the interface is busy.

Faults: NACKs at a given rate, a bus that hangs (ETIMEDOUT) for a while, no chip at an
address, a wrong WHO_AM_I, and a chip that resets to its power-on defaults mid-run. The
MPU-6050 may take a while to write each frame into its FIFO (``fifo_write_s``), so that a
count read meanwhile shows part of the newest frame.
"""

from __future__ import annotations

import ctypes
import errno
import math
import random
from typing import Any, Protocol

import numpy as np
from gpiozero.pins.mock import MockFactory

from device.registers import (
    ADS1115_DR_SPS,
    ADS1115_PGA_V,
    ADS1115_RESET_VALUES,
    MPU6050_FIFO_SIZE_B,
    MPU6050_RESET_TIME_S,
    MPU6050_RESET_VALUES,
    ADS1115Bits,
    ADS1115Reg,
    MPU6050Bits,
    MPU6050Reg,
    accel_m_s2_per_lsb,
    gyro_output_rate_hz,
    gyro_rad_s_per_lsb,
)
from firmware.common.clock import Clock

I2C_M_RD = 0x0001  # smbus2 / linux i2c.h read flag
SMBUS_BLOCK_MAX = 32
GYRO_RANGE_BY_FS = {0: 250, 1: 500, 2: 1000, 3: 2000}
ACCEL_RANGE_BY_AFS = {0: 2, 1: 4, 2: 8, 3: 16}
FAKE_TEMPERATURE_C = 25.0


class Source(Protocol):
    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


class FakeChip(Protocol):
    def begin(self) -> None: ...  # a transfer starts: catch up with the clock

    def acks(self) -> bool: ...

    def write(self, data: bytes) -> None: ...

    def read(self, length: int) -> bytes: ...


def _nack() -> OSError:
    return OSError(errno.EREMOTEIO, "Remote I/O error")


class FakeI2CBus:
    """A bus holding fake chips by address, speaking the smbus2 ``SMBus`` subset."""

    def __init__(self, clock: Clock, *, nack_rate: float = 0.0, seed: int = 0) -> None:
        self.clock = clock
        self.nack_rate = nack_rate
        self.chips: dict[int, FakeChip] = {}
        self.closed = False
        self._rng = random.Random(seed)
        self._hang_until_s = -math.inf
        self._hang_stall_s = 0.0

    def attach(self, address: int, chip: FakeChip) -> FakeChip:
        self.chips[address] = chip
        return chip

    def detach(self, address: int) -> None:
        self.chips.pop(address, None)

    def hang(self, duration_s: float, *, stall_s: float = 0.0) -> None:
        """Every transfer fails with ETIMEDOUT for ``duration_s`` of clock time; each failed
        transfer first lets ``stall_s`` pass on the clock (the kernel's own timeout)."""
        self._hang_until_s = self.clock.now_s() + duration_s
        self._hang_stall_s = stall_s

    # -- the smbus2.SMBus subset ---------------------------------------------------------

    def i2c_rdwr(self, *msgs: Any) -> None:
        chip = self._start(msgs[0].addr)
        for msg in msgs:
            if msg.flags & I2C_M_RD:
                data = chip.read(msg.len)
                ctypes.memmove(msg.buf, data, len(data))
            else:
                chip.write(bytes(msg))

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int,
                            force: bool | None = None) -> list[int]:
        if length > SMBUS_BLOCK_MAX:
            raise ValueError("Desired block length over 32 bytes")
        chip = self._start(i2c_addr)
        chip.write(bytes([register]))
        return list(chip.read(length))

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int],
                             force: bool | None = None) -> None:
        if len(data) > SMBUS_BLOCK_MAX:
            raise ValueError("Data length cannot exceed 32 bytes")
        self._start(i2c_addr).write(bytes([register, *data]))

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        chip = self._start(i2c_addr)
        chip.write(bytes([register]))
        return chip.read(1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int,
                        force: bool | None = None) -> None:
        self._start(i2c_addr).write(bytes([register, value & 0xFF]))

    def close(self) -> None:
        self.closed = True

    # -- internals -------------------------------------------------------------------------

    def _start(self, address: int) -> FakeChip:
        if self.closed:
            raise OSError(errno.EBADF, "Bad file descriptor")
        if self.clock.now_s() < self._hang_until_s:
            self.clock.sleep_s(self._hang_stall_s)
            raise OSError(errno.ETIMEDOUT, "Connection timed out")
        if self.nack_rate and self._rng.random() < self.nack_rate:
            raise _nack()
        chip = self.chips.get(address)
        if chip is None or not chip.acks():
            raise _nack()
        chip.begin()
        return chip


class ForceTap:
    """Wraps a source so two fake chips can share it: the IMU pulls samples through
    :meth:`sample` (passed on, force recorded); the ADC reads :meth:`force_at`, linearly
    interpolated in the recorded force after letting the IMU catch up."""

    def __init__(self, source: Source, history_s: float = 2.0) -> None:
        self.source = source
        self.history_s = history_s
        self.before_read: Any = None
        self._t = np.empty(0)
        self._f = np.empty(0)

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        gyro, accel, force = self.source.sample(t_s)
        keep = self._t > t_s[-1] - self.history_s
        self._t = np.concatenate([self._t[keep], t_s])
        self._f = np.concatenate([self._f[keep], np.asarray(force, float)])
        return gyro, accel, force

    def force_at(self, t_s: np.ndarray) -> np.ndarray:
        if self.before_read is not None:
            self.before_read()
        if len(self._t) == 0:
            return np.zeros(len(t_s))
        return np.interp(t_s, self._t, self._f)


def _be16(value: int) -> bytes:
    return int(value & 0xFFFF).to_bytes(2, "big")


class FakeMPU6050:
    """MPU-6050 register file with datasheet reset values, burst auto-increment, data
    registers, a 1024-byte FIFO and a sample clock driven by ``clock``.

    ``rate_error_ppm`` makes the chip's sample clock run fast (+) or slow (-).

    ``fifo_write_s``: how long the chip takes to write a sample's frame into the FIFO, byte
    by byte, from the sampling instant (0: at once). A FIFO count read meanwhile includes the
    bytes written so far, and only those are in the FIFO to be read; the rest follow as the
    clock passes. Keep it below a sample period: one frame is written at a time. A FIFO
    reset mid-write drops the rest of the frame."""

    def __init__(self, source: Source, clock: Clock, *, who_am_i: int = 0x68,
                 rate_error_ppm: float = 0.0, fifo_write_s: float = 0.0) -> None:
        if fifo_write_s < 0:
            raise ValueError("fifo_write_s must be >= 0")
        self.source = source
        self.clock = clock
        self.who_am_i = who_am_i
        self.rate_error_ppm = rate_error_ppm
        self.fifo_write_s = fifo_write_s
        self.samples_generated = 0
        self._power_on(busy_s=0.0)

    # -- fault injection -------------------------------------------------------------------

    def power_on_reset(self) -> None:
        """The chip browns out: every register back to its reset value, FIFO empty, asleep."""
        self._power_on(busy_s=0.0)

    @property
    def fifo_len(self) -> int:
        """Bytes in the FIFO (a frame being written counts the bytes written so far)."""
        return len(self._fifo)

    @property
    def frames_writing(self) -> int:
        """Frames sampled but not yet wholly written into the FIFO (``fifo_write_s``)."""
        return len(self._writing)

    @property
    def last_sample_s(self) -> float:
        """When (on the clock) the chip took its newest sample."""
        return self._last_sample_s

    def reg(self, register: int) -> int:
        """A register's stored value (test helper, no side effects)."""
        return self._regs[register]

    # -- FakeChip -------------------------------------------------------------------------

    def acks(self) -> bool:
        return self.clock.now_s() >= self._busy_until_s

    def begin(self) -> None:
        self._advance()

    def write(self, data: bytes) -> None:
        self._pointer = data[0]
        for value in data[1:]:
            self._write_reg(self._pointer, value)
            self._step_pointer()

    def read(self, length: int) -> bytes:
        if self._pointer == MPU6050Reg.FIFO_R_W:
            return self._drain_fifo(length)
        out = bytearray()
        for _ in range(length):
            if self._pointer == MPU6050Reg.FIFO_R_W:  # a burst that runs into FIFO_R_W streams the FIFO
                return bytes(out) + self._drain_fifo(length - len(out))
            out.append(self._read_reg(self._pointer))
            self._step_pointer()
        return bytes(out)

    # -- registers ------------------------------------------------------------------------

    def _power_on(self, busy_s: float) -> None:
        self._regs = bytearray(256)
        for register, value in MPU6050_RESET_VALUES.items():
            self._regs[register] = value
        self._regs[MPU6050Reg.WHO_AM_I] = self.who_am_i
        self._fifo = bytearray()
        self._writing: list[tuple[float, bytes, int]] = []  # (instant, frame, bytes written)
        self._last_fifo_byte = 0
        self._count_latch = 0
        self._pointer = 0
        self._last_sample_s = self.clock.now_s()
        self._busy_until_s = self.clock.now_s() + busy_s

    def _step_pointer(self) -> None:
        if self._pointer != MPU6050Reg.FIFO_R_W:
            self._pointer = (self._pointer + 1) & 0xFF

    def _write_reg(self, register: int, value: int) -> None:
        if register in (MPU6050Reg.WHO_AM_I, MPU6050Reg.INT_STATUS, MPU6050Reg.FIFO_COUNTH,
                        MPU6050Reg.FIFO_COUNTL):
            return
        if register == MPU6050Reg.PWR_MGMT_1:
            self._write_power(value)
        elif register == MPU6050Reg.USER_CTRL:
            if value & MPU6050Bits.FIFO_RESET:
                self._fifo.clear()
                self._writing.clear()
            self._regs[register] = value & ~0x07  # the reset bits clear themselves
        elif register == MPU6050Reg.FIFO_R_W:
            self._push_fifo(bytes([value]))
        else:
            self._regs[register] = value

    def _write_power(self, value: int) -> None:
        if value & MPU6050Bits.DEVICE_RESET:
            self._power_on(busy_s=MPU6050_RESET_TIME_S)
            return
        was_asleep = self._asleep()
        self._regs[MPU6050Reg.PWR_MGMT_1] = value
        if was_asleep and not self._asleep():
            self._last_sample_s = self.clock.now_s()

    def _read_reg(self, register: int) -> int:
        if register == MPU6050Reg.FIFO_COUNTH:
            self._count_latch = len(self._fifo)
            return self._count_latch >> 8
        if register == MPU6050Reg.FIFO_COUNTL:
            return self._count_latch & 0xFF
        value = self._regs[register]
        if register == MPU6050Reg.INT_STATUS:
            self._regs[register] = 0
        return value

    def _drain_fifo(self, length: int) -> bytes:
        taken = bytes(self._fifo[:length])
        del self._fifo[:length]
        if taken:
            self._last_fifo_byte = taken[-1]
        return taken + bytes([self._last_fifo_byte]) * (length - len(taken))

    def _push_fifo(self, data: bytes) -> None:
        self._fifo += data
        excess = len(self._fifo) - MPU6050_FIFO_SIZE_B
        if excess > 0:
            del self._fifo[:excess]
            self._regs[MPU6050Reg.INT_STATUS] |= MPU6050Bits.FIFO_OFLOW

    # -- the sample clock -------------------------------------------------------------------

    def _asleep(self) -> bool:
        return bool(self._regs[MPU6050Reg.PWR_MGMT_1] & MPU6050Bits.SLEEP)

    def sample_rate_hz(self) -> float:
        """The chip's actual sample rate in Hz (including ``rate_error_ppm``)."""
        dlpf = MPU6050Bits.DLPF_CFG.decode(self._regs[MPU6050Reg.CONFIG])
        nominal = gyro_output_rate_hz(dlpf) / (1 + self._regs[MPU6050Reg.SMPLRT_DIV])
        return nominal * (1.0 + self.rate_error_ppm * 1e-6)

    def _advance(self) -> None:
        self._write_due()
        if self._asleep() or not self.acks():
            return
        period_s = 1.0 / self.sample_rate_hz()
        n = math.floor((self.clock.now_s() - self._last_sample_s) / period_s + 1e-9)
        if n <= 0:
            return
        t_s = self._last_sample_s + period_s * np.arange(1, n + 1)
        self._last_sample_s = float(t_s[-1])
        self.samples_generated += n
        self._emit(t_s)

    def _emit(self, t_s: np.ndarray) -> None:
        gyro, accel, _ = self.source.sample(t_s)
        fs = GYRO_RANGE_BY_FS[MPU6050Bits.FS_SEL.decode(self._regs[MPU6050Reg.GYRO_CONFIG])]
        afs = ACCEL_RANGE_BY_AFS[MPU6050Bits.AFS_SEL.decode(self._regs[MPU6050Reg.ACCEL_CONFIG])]
        gyro_lsb = _quantize(np.asarray(gyro, float) / gyro_rad_s_per_lsb(fs))
        accel_lsb = _quantize(np.asarray(accel, float) / accel_m_s2_per_lsb(afs))
        temp_lsb = np.full((len(t_s), 1), round((FAKE_TEMPERATURE_C - 36.53) * 340), np.int16)
        data = np.hstack([accel_lsb, temp_lsb, gyro_lsb])  # register order 0x3B..0x48
        self._regs[MPU6050Reg.ACCEL_XOUT_H:MPU6050Reg.ACCEL_XOUT_H + 14] = data[-1].astype(">i2").tobytes()
        self._regs[MPU6050Reg.INT_STATUS] |= MPU6050Bits.DATA_RDY
        if self._regs[MPU6050Reg.USER_CTRL] & MPU6050Bits.USER_FIFO_EN:
            columns = self._fifo_columns()
            if columns:
                self._write_frames(t_s, data[:, columns].astype(">i2"))

    def _write_frames(self, t_s: np.ndarray, frames: np.ndarray) -> None:
        """Frames into the FIFO: at once, or (``fifo_write_s``) byte by byte from each
        sampling instant, so that the newest may be partly written."""
        if not self.fifo_write_s:
            self._push_fifo(frames.tobytes())
            return
        done = t_s + self.fifo_write_s <= self.clock.now_s() + 1e-9
        if np.all(done) and not self._writing:  # nothing in flight: in one go
            self._push_fifo(frames.tobytes())
            return
        self._writing += [(float(t), frame.tobytes(), 0) for t, frame in zip(t_s, frames, strict=True)]
        self._write_due()

    def _write_due(self) -> None:
        """The bytes of frames in flight whose time has come, in order."""
        now = self.clock.now_s()
        while self._writing:
            t_s, frame, written = self._writing[0]
            due = min(len(frame), math.floor((now - t_s) / self.fifo_write_s * len(frame) + 1e-9))
            if due > written:
                self._push_fifo(frame[written:due])
            if due < len(frame):
                self._writing[0] = (t_s, frame, max(due, written))
                return
            self._writing.pop(0)

    def _fifo_columns(self) -> list[int]:
        mask = self._regs[MPU6050Reg.FIFO_EN]
        columns = [0, 1, 2] if mask & MPU6050Bits.ACCEL_FIFO_EN else []
        columns += [3] if mask & MPU6050Bits.TEMP_FIFO_EN else []
        for column, bit in ((4, MPU6050Bits.XG_FIFO_EN), (5, MPU6050Bits.YG_FIFO_EN),
                            (6, MPU6050Bits.ZG_FIFO_EN)):
            columns += [column] if mask & bit else []
        return columns


def _quantize(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), -32768, 32767).astype(np.int16)


class FakeADS1115:
    """ADS1115 with its four pointer registers, continuous and single-shot conversions
    timed by the data rate. AIN0 carries ``force * volts_per_n + offset_v``; the other
    inputs read 0 V."""

    def __init__(self, source: Source, clock: Clock, *, volts_per_n: float = 0.008,
                 offset_v: float = 0.0) -> None:
        self.source = source
        self.clock = clock
        self.volts_per_n = volts_per_n
        self.offset_v = offset_v
        self.conversions = 0
        self.power_on_reset()

    def power_on_reset(self) -> None:
        self._regs = dict(ADS1115_RESET_VALUES)
        self._pointer = ADS1115Reg.CONVERSION
        self._started_s = self.clock.now_s()
        self._last_k = 0
        self._single_done_s: float | None = None

    def reg(self, register: int) -> int:
        return self._regs[register]

    # -- FakeChip -------------------------------------------------------------------------

    def acks(self) -> bool:
        return True

    def begin(self) -> None:
        self._advance()

    def write(self, data: bytes) -> None:
        self._pointer = data[0] & 0x03
        if len(data) >= 3:
            self._write_reg(self._pointer, (data[1] << 8) | data[2])

    def read(self, length: int) -> bytes:
        word = _be16(self._read_reg(self._pointer))
        return (word * (length // 2 + 1))[:length]

    # -- behaviour --------------------------------------------------------------------------

    def _config(self, field: Any) -> int:
        return field.decode(self._regs[ADS1115Reg.CONFIG])

    def _data_rate_sps(self) -> int:
        return ADS1115_DR_SPS[self._config(ADS1115Bits.DR)]

    def _write_reg(self, register: int, value: int) -> None:
        if register == ADS1115Reg.CONVERSION:
            return
        if register != ADS1115Reg.CONFIG:
            self._regs[register] = value
            return
        self._regs[register] = value & 0x7FFF
        self._started_s = self.clock.now_s()
        self._last_k = 0
        single = ADS1115Bits.MODE.decode(value) == ADS1115Bits.MODE_SINGLE
        starts = single and ADS1115Bits.OS.decode(value)
        self._single_done_s = self._started_s + 1.0 / self._data_rate_sps() if starts else None

    def _read_reg(self, register: int) -> int:
        value = self._regs[register]
        if register == ADS1115Reg.CONFIG and self._single_done_s is None and self._single():
            value |= ADS1115Bits.OS.mask  # idle
        return value

    def _single(self) -> bool:
        return self._config(ADS1115Bits.MODE) == ADS1115Bits.MODE_SINGLE

    def _advance(self) -> None:
        now = self.clock.now_s()
        if self._single():
            if self._single_done_s is not None and now >= self._single_done_s:
                self._convert(self._single_done_s)
                self._single_done_s = None
            return
        k = math.floor((now - self._started_s) * self._data_rate_sps() + 1e-9)
        if k >= 1 and k != self._last_k:
            self._last_k = k
            self._convert(self._started_s + k / self._data_rate_sps())

    def _convert(self, t_s: float) -> None:
        self.conversions += 1
        volts = 0.0
        if self._config(ADS1115Bits.MUX) == ADS1115Bits.MUX_SINGLE_ENDED:
            volts = self._force_n(t_s) * self.volts_per_n + self.offset_v
        full_scale_v = ADS1115_PGA_V[self._config(ADS1115Bits.PGA)]
        code = int(np.clip(round(volts / full_scale_v * 32768), -32768, 32767))
        self._regs[ADS1115Reg.CONVERSION] = code & 0xFFFF

    def _force_n(self, t_s: float) -> float:
        t = np.array([t_s])
        if hasattr(self.source, "force_at"):
            return float(self.source.force_at(t)[0])
        return float(np.asarray(self.source.sample(t)[2])[0])


# -- HX711 on gpiozero MockFactory pins ----------------------------------------------------

HX711_PULSES_GAIN = {25: ("A", 128), 26: ("B", 32), 27: ("A", 64)}
HX711_POWER_DOWN_HIGH_S = 60e-6
HX711_MAX, HX711_MIN = 0x7FFFFF, -0x800000


class FakeHX711:
    """The HX711 bit protocol: DOUT low when a conversion is ready, 24 bits MSB first on
    the rising edges of PD_SCK, 25/26/27 pulses choose channel and gain for the NEXT
    conversion, PD_SCK high for more than 60 µs powers the chip down (reset to A/128 and
    a settling time when it comes back). Channel A at gain 128 reads
    ``offset_counts + force * counts_per_n``; gain 64 half that; channel B reads 0."""

    def __init__(self, source: Source, clock: Clock, *, counts_per_n: float = 4000.0,
                 offset_counts: int = 0, data_rate_sps: int = 80) -> None:
        self.source, self.clock = source, clock
        self.counts_per_n, self.offset_counts = counts_per_n, offset_counts
        self.data_rate_sps = data_rate_sps
        self.settle_s = 0.05 if data_rate_sps == 80 else 0.4
        self.power_downs = 0
        self.protocol_errors = 0
        self.reads = 0
        self.stall: tuple[int, float] | None = None  # (pulse number, seconds) one-shot fault
        self._power_up(pulses_for_next=25)

    def _power_up(self, pulses_for_next: int) -> None:
        self._up_s = self.clock.now_s()
        self._gain_pulses = pulses_for_next
        self._conv_k = -1
        self._data = 0
        self._ready = False
        self._pulses = 0
        self._bit = 1
        self._high_s: float | None = None

    def stall_on_pulse(self, pulse: int, seconds: float) -> None:
        """On the given rising edge, ``seconds`` pass on the clock before the pin goes low
        (the reading thread was pre-empted with PD_SCK high)."""
        self.stall = (pulse, seconds)

    # -- pin side ---------------------------------------------------------------------------

    def dout(self) -> bool:
        self._update()
        if 1 <= self._pulses <= 24:
            return bool(self._bit)
        if self._pulses >= 25:
            return True
        return not self._ready

    def sck(self, high: bool) -> None:
        self._update()
        now = self.clock.now_s()
        if high:
            self._high_s = now
            self._rising()
            if self.stall and self.stall[0] == self._pulses:
                self.clock.sleep_s(self.stall[1])
                self.stall = None
        elif self._high_s is not None:
            if now - self._high_s > HX711_POWER_DOWN_HIGH_S:
                self.power_downs += 1
                self._power_up(pulses_for_next=25)  # back low: reset to channel A, gain 128
            self._high_s = None

    def _rising(self) -> None:
        if not (self._ready or self._pulses):
            return
        self._pulses += 1
        if self._pulses <= 24:
            self._bit = (self._data >> (24 - self._pulses)) & 1
        if self._pulses == 25:
            self._ready = False
            self.reads += 1
        if self._pulses > 27:
            self.protocol_errors += 1

    # -- conversions ----------------------------------------------------------------------------

    def _update(self) -> None:
        now = self.clock.now_s()
        first_s = self._up_s + self.settle_s
        if now < first_s or 1 <= self._pulses <= 24:
            return
        k = math.floor((now - first_s) * self.data_rate_sps + 1e-9)
        if k == self._conv_k:
            return
        self._conv_k = k
        if self._pulses >= 25:
            self._gain_pulses = min(self._pulses, 27)
        self._pulses = 0
        self._data = self._convert(first_s + k / self.data_rate_sps) & 0xFFFFFF
        self._ready = True

    def _convert(self, t_s: float) -> int:
        channel, gain = HX711_PULSES_GAIN[self._gain_pulses]
        if channel == "B":
            return 0
        t = np.array([t_s])
        if hasattr(self.source, "force_at"):
            force = float(self.source.force_at(t)[0])
        else:
            force = float(np.asarray(self.source.sample(t)[2])[0])
        counts = (self.offset_counts + force * self.counts_per_n) * gain / 128
        return int(np.clip(round(counts), HX711_MIN, HX711_MAX))


class _DoutPinMixin:
    def __init__(self, factory: Any, info: Any, chip: FakeHX711) -> None:
        super().__init__(factory, info)
        self.chip = chip

    def _get_state(self) -> bool:
        return self.chip.dout()


class _SckPinMixin:
    def __init__(self, factory: Any, info: Any, chip: FakeHX711) -> None:
        super().__init__(factory, info)
        self.chip = chip

    def _change_state(self, value: Any) -> bool:
        # Not recorded in ``states``: a load cell read toggles this pin ~50 times.
        if bool(self._state) == bool(value):
            return False
        self._state = value
        self.chip.sck(bool(value))
        return True


def attach_fake_hx711(source: Source, clock: Clock, factory: Any = None, *, dout_pin: int = 5,
                      sck_pin: int = 6, **kwargs: Any) -> tuple[Any, FakeHX711]:
    """Wire a FakeHX711 to two pins of a gpiozero ``MockFactory`` (a new one if None):
    DOUT reads the chip, PD_SCK edges drive it. Returns (factory, chip)."""
    factory = factory or MockFactory()
    chip = FakeHX711(source, clock, **kwargs)
    base = factory.pin_class
    dout_class = type("FakeHX711DoutPin", (_DoutPinMixin, base), {})
    sck_class = type("FakeHX711SckPin", (_SckPinMixin, base), {})
    factory.pin(dout_pin, pin_class=dout_class, chip=chip)
    factory.pin(sck_pin, pin_class=sck_class, chip=chip)
    return factory, chip
