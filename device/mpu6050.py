"""MPU-6050 driver: datasheet start-up, accel+gyro FIFO drained by one burst read per poll,
sample times from the configured sample rate (never the host clock), overflow and chip-reset
recovery. Output in SI units (rad/s, m/s²).

One transaction per drain: the burst starts at FIFO_COUNTH, so the register pointer runs
FIFO_COUNTH -> FIFO_COUNTL -> FIFO_R_W and stays there (FIFO_R_W does not auto-increment):
one read returns the FIFO count, latched as the read begins, then the FIFO's bytes. It asks
for as many whole frames as the FIFO is sure to hold: the frames the last read's count left
behind, plus those the chip must have taken since that read ended at its slowest clock
(``RATE_MARGIN`` below nominal; its gyro oscillator varies by about 1 % over temperature).
The count that comes with the data checks it, every read: an overflow or a FIFO near full is
seen exactly as before, and should the FIFO hold fewer frames than asked (a chip that reset,
a FIFO reset behind our back), the bytes past the count are thrown away, never taken as
samples (an empty FIFO reads as junk), and the FIFO is reset with the gap reported. PX4's
InvenSense drivers read the FIFO the same way (count and data in one transfer, the number of
samples from the time since the last read).

A frame the chip cannot promise waits for the next drain: the newest one when it was taken at
about the moment of the read (within the chip's phase as the recent counts pin it, plus
``RATE_MARGIN_FITTED`` of the time since). A real chip's clock is off nominal (±1 % with the
gyro PLL), so its frames drift across the reads and the counts pin its phase closely; what
waits is at most about one sample period, and the newest frame a drain delivers is at most
about two periods old. That costs the 50 ms cue budget nothing since the Sampler gives each
IMU instant the force reading nearest it (firmware/edge/sampler.py): the drain's own force
reading reaches the coach with the Block it drains, its newest frame being well within half
a poll of it (bench/latency.py, the chip's clock off nominal: over_pressure at 200 Hz within
39 ms, where the older two-transaction drain with force interpolated linearly reached 56 ms).
So every drain is one transaction, the 40 ms coaching drain at 200 Hz too (0.125 per sample;
the count rides in every read, so overflow and a short FIFO are seen on every read).
``count_first=True`` keeps the older drain (a count read, then a burst of every whole frame:
two transactions, nothing held back); bench/bus.py shows both.

A count that is not whole frames has two causes. The chip may let the count be read while it
writes a frame (the count goes up byte by byte): the frames at the FIFO's head are whole and
the one being written is the newest, so the count is off once and whole on the next read.
Or the FIFO is off its frame boundaries (bytes lost from it, or written to FIFO_R_W): then
every count is off, and every frame read from it mixes two samples. One count cannot tell
them apart, so a count off the boundaries for the first time resets nothing (the drain takes
whole frames only, never more than the count holds) and its frames are held back, not
delivered: the next read's count decides. Whole, and the held frames are delivered ahead of
that read's (``partial_counts_tolerated``; they reach the caller one drain late, and no
sample is lost); off again, and the FIFO is misaligned: the held frames are dropped, the
FIFO reset and the gap reported (``partial_frames``). So a misaligned FIFO delivers no frame,
short of the deciding count landing mid-write just so many bytes into a frame as make it
whole (two rare events at once), and a count read mid-write costs no gap, only when two land
in a row (Linux's inv_mpu_ring.c now takes whole frames and leaves the rest; it used to
flush the FIFO on an odd count)."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from device.bus import I2CBus
from device.registers import (
    ACCEL_RANGES_G,
    DLPF_GYRO_BW_HZ,
    GYRO_RANGES_DPS,
    MPU6050_CLONE_IDS,
    MPU6050_FIFO_SIZE_B,
    MPU6050_RESET_TIME_S,
    MPU6050_WHO_AM_I,
    MPU6050Bits,
    MPU6050Reg,
    accel_m_s2_per_lsb,
    gyro_output_rate_hz,
    gyro_rad_s_per_lsb,
)
from firmware.common.clock import Clock
from firmware.common.errors import SensorError, SensorTimeout, SetupError

log = logging.getLogger(__name__)

FRAME_B = 12  # ax ay az gx gy gz, big-endian int16
FIFO_MASK = (MPU6050Bits.ACCEL_FIFO_EN | MPU6050Bits.XG_FIFO_EN | MPU6050Bits.YG_FIFO_EN
             | MPU6050Bits.ZG_FIFO_EN)
OVERFLOW_MARGIN_B = 3 * FRAME_B  # Linux resets at >= fifo_size - 3 frames
RATE_MARGIN = 0.03  # how much slower than nominal the chip's sample clock may run
RATE_MARGIN_FITTED = 0.002  # the same once the timebase has fitted the chip's rate
SEEN_READS = 16  # the recent reads whose counts bound when the next frames are taken
COUNT_B = 2  # FIFO_COUNTH, FIFO_COUNTL ahead of the data in one burst
TIMEBASE_WINDOW = 64  # FIFO reads in the host/sensor time fit
TIMEBASE_MIN_FIT = 8
TIMEBASE_MIN_SPAN_S = 2.0  # sensor seconds spanned before the drift (scale) is fitted
# FIFO reads between two fits of the line once it is fitted (1 s at the 40 ms coaching drain):
# the drift follows temperature, over minutes; a fit on every read cost more than the rest of
# the driver together
TIMEBASE_REFIT_READS = 25


@dataclass(frozen=True)
class ImuFrames:
    """Samples drained from the FIFO: sensor time (s), gyro (rad/s), accel (m/s²)."""

    t_s: np.ndarray
    gyro_rad_s: np.ndarray
    accel_m_s2: np.ndarray
    gap_before: bool
    host_time_s: float  # host clock when the FIFO count was read


class Timebase:
    """Maps host clock time to sensor time, ``host ≈ offset_s + scale * sensor``. Each FIFO
    read bounds when its newest frame was taken (within one period before the count read);
    a least-squares line through the recent reads follows the chip's clock drift (its
    oscillator varies by about 1 % over temperature), refitted every ``TIMEBASE_REFIT_READS``
    reads once it spans ``TIMEBASE_MIN_SPAN_S``; before that, the offset follows every read."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.offset_s: float | None = None
        self.scale = 1.0
        self._host: deque[float] = deque(maxlen=TIMEBASE_WINDOW)
        self._sensor: deque[float] = deque(maxlen=TIMEBASE_WINDOW)
        self._fitted = False
        self._since_fit = 0

    def start(self, host_s: float) -> None:
        """Sensor time 0 is the first sample after ``host_s`` (one period later)."""
        self.offset_s, self.scale = host_s + self.period_s, 1.0
        self._host.clear()
        self._sensor.clear()
        self._fitted, self._since_fit = False, 0

    @property
    def fitted(self) -> bool:
        """The chip's rate (``scale``) is fitted, not assumed nominal."""
        return self._fitted

    def observe(self, host_s: float, newest_sensor_s: float) -> None:
        self._host.append(host_s - 0.5 * self.period_s)
        self._sensor.append(newest_sensor_s)
        self._since_fit += 1
        if self._fitted and self._since_fit < TIMEBASE_REFIT_READS:
            return
        sensor, host = np.asarray(self._sensor), np.asarray(self._host)
        if len(sensor) >= TIMEBASE_MIN_FIT and np.ptp(sensor) >= TIMEBASE_MIN_SPAN_S:
            self.scale, self.offset_s = (float(v) for v in np.polyfit(sensor, host, 1))
            self._fitted, self._since_fit = True, 0
        else:
            self.offset_s = float(np.mean(host - self.scale * sensor))

    def to_sensor(self, host_s: np.ndarray | float) -> np.ndarray | float:
        return (host_s - (self.offset_s or 0.0)) / self.scale


def dlpf_for_rate(sample_rate_hz: float) -> int:
    """The widest DLPF whose gyro bandwidth is at most a quarter of the sample rate."""
    for cfg in sorted(DLPF_GYRO_BW_HZ):
        if cfg and DLPF_GYRO_BW_HZ[cfg] <= sample_rate_hz / 4:
            return cfg
    return max(DLPF_GYRO_BW_HZ)


class MPU6050:
    """The IMU on an :class:`I2CBus`. Call :meth:`start`, then :meth:`read` regularly."""

    def __init__(self, bus: I2CBus, clock: Clock, *, address: int = 0x68,
                 sample_rate_hz: float = 200.0, gyro_range_dps: int = 1000,
                 accel_range_g: int = 8, dlpf_cfg: int | None = None,
                 count_first: bool = False) -> None:
        if gyro_range_dps not in GYRO_RANGES_DPS:
            raise ValueError(f"gyro_range_dps must be one of {', '.join(map(str, GYRO_RANGES_DPS))}")
        if accel_range_g not in (4, 8):
            raise ValueError("accel_range_g must be 4 or 8")
        self.bus, self.clock, self.address = bus, clock, address
        self.gyro_range_dps, self.accel_range_g = gyro_range_dps, accel_range_g
        self.dlpf_cfg = dlpf_for_rate(sample_rate_hz) if dlpf_cfg is None else dlpf_cfg
        base_hz = gyro_output_rate_hz(self.dlpf_cfg)
        self.smplrt_div = int(min(255, max(0, round(base_hz / sample_rate_hz) - 1)))
        self.sample_rate_hz = base_hz / (1 + self.smplrt_div)
        self.timebase = Timebase(1.0 / self.sample_rate_hz)
        self.who_am_i: int | None = None
        self.overflows = 0
        self.reinits = 0
        self._next_index = 0
        self._gap_pending = False
        self._fifo_suspect = False
        self.count_first = count_first
        self.short_reads = 0  # reads that found fewer frames than the clock promised
        self.partial_frames = 0  # misaligned FIFOs: counts off frame boundaries twice in a row (reset)
        self.partial_counts_tolerated = 0  # counts off frame boundaries once (mid-write): no reset
        self._count_off = False  # the last count was off frame boundaries (the next one decides)
        # frames read with that count, and the timebase observation they make, held back until
        # a whole count vouches for them (dropped, with a gap, should the FIFO be reset first)
        self._held: tuple[ImuFrames, tuple[float, float]] | None = None
        self._left_frames = 0  # whole frames the last read's count left in the FIFO
        self._read_end_host_s = 0.0  # host time after the last FIFO read (or reset)
        # (host time after a read, the newest frame index its count vouched for): each bounds
        # when later frames are taken (since the last FIFO reset, whose indices they share)
        self._seen: deque[tuple[float, int]] = deque(maxlen=SEEN_READS)
        self._last_data_host_s = 0.0
        self._last_check_host_s = 0.0
        self._gyro_scale = gyro_rad_s_per_lsb(gyro_range_dps)
        self._accel_scale = accel_m_s2_per_lsb(accel_range_g)

    # -- set-up ------------------------------------------------------------------------------

    @property
    def stall_s(self) -> float:
        """Host time without any new frame after which the chip is checked for a reset."""
        return max(0.05, 20.0 / self.sample_rate_hz)

    @property
    def suggested_poll_s(self) -> float:
        """A drain interval that lets the FIFO fill about halfway (few bus transactions)."""
        return 0.5 * MPU6050_FIFO_SIZE_B / FRAME_B / self.sample_rate_hz

    def start(self) -> None:
        """Identify, reset and configure the chip, then start the FIFO (sensor time 0)."""
        self.who_am_i = self._identify()
        self._configure()
        self._reset_fifo()
        self.timebase.start(self.clock.now_s())
        self._next_index = 0

    def _where(self) -> str:
        return f"MPU-6050 on {self.bus.name} at 0x{self.address:02X}"

    def _identify(self) -> int:
        try:
            who = self.bus.read_byte(self.address, MPU6050Reg.WHO_AM_I)
        except SensorError as exc:
            raise SetupError(
                f"no answer from the {self._where()}: check wiring (SDA/SCL/3V3/GND), "
                "the AD0 pin (0x68 low, 0x69 high) and `i2cdetect -y <bus>`") from exc
        if who in MPU6050_CLONE_IDS:
            log.warning("%s: WHO_AM_I 0x%02X (%s); continuing", self._where(), who,
                        MPU6050_CLONE_IDS[who])
        elif who != MPU6050_WHO_AM_I:
            raise SetupError(f"{self._where()}: WHO_AM_I is 0x{who:02X}, not an MPU-6050 (0x68)")
        return who

    def _config_bytes(self) -> list[int]:
        """SMPLRT_DIV, CONFIG, GYRO_CONFIG, ACCEL_CONFIG (consecutive registers 0x19..0x1C)."""
        return [self.smplrt_div,
                MPU6050Bits.DLPF_CFG.encode(self.dlpf_cfg),
                MPU6050Bits.FS_SEL.encode(GYRO_RANGES_DPS[self.gyro_range_dps][0]),
                MPU6050Bits.AFS_SEL.encode(ACCEL_RANGES_G[self.accel_range_g][0])]

    def _configure(self) -> None:
        write = self.bus.write_byte
        write(self.address, MPU6050Reg.PWR_MGMT_1, MPU6050Bits.DEVICE_RESET)
        self.clock.sleep_s(MPU6050_RESET_TIME_S)
        write(self.address, MPU6050Reg.PWR_MGMT_1, MPU6050Bits.CLKSEL_PLL_XGYRO)
        write(self.address, MPU6050Reg.PWR_MGMT_2, 0x00)
        self.bus.write(self.address, MPU6050Reg.SMPLRT_DIV, self._config_bytes())
        write(self.address, MPU6050Reg.INT_ENABLE, MPU6050Bits.FIFO_OFLOW)
        readback = list(self.bus.read(self.address, MPU6050Reg.SMPLRT_DIV, 4))
        if readback != self._config_bytes():
            raise SetupError(f"{self._where()}: configuration did not stick "
                             f"(wrote {self._config_bytes()}, read {readback})")

    def _reset_fifo(self) -> None:
        """Linux order: FIFO off, reset, then FIFO on with the accel+gyro mask."""
        write = self.bus.write_byte
        write(self.address, MPU6050Reg.FIFO_EN, 0x00)
        write(self.address, MPU6050Reg.USER_CTRL, 0x00)
        write(self.address, MPU6050Reg.USER_CTRL, MPU6050Bits.FIFO_RESET)
        write(self.address, MPU6050Reg.USER_CTRL, MPU6050Bits.USER_FIFO_EN)
        write(self.address, MPU6050Reg.FIFO_EN, FIFO_MASK)
        self._fifo_suspect = False
        self._forget_count_off()
        self._last_data_host_s = self._read_end_host_s = self.clock.now_s()
        self._left_frames = 0
        self._seen.clear()
        self._reanchor(self._last_data_host_s)

    def _flush_fifo(self) -> None:
        """Empty the FIFO as it stands (one write; FIFO_EN left as the chip has it, so a FIFO
        someone switched off stays a stall, seen as one) and continue the time axis at now."""
        self.bus.write_byte(self.address, MPU6050Reg.USER_CTRL,
                            MPU6050Bits.USER_FIFO_EN | MPU6050Bits.FIFO_RESET)
        self._forget_count_off()
        self._left_frames = 0
        self._seen.clear()
        self._read_end_host_s = self.clock.now_s()
        self._reanchor(self._read_end_host_s)

    def _forget_count_off(self) -> None:
        """The FIFO was reset: its bytes start at a frame again. Frames held back on an
        off-boundary count were never vouched for: they are dropped, and that is a gap."""
        self._count_off = False
        if self._held is not None:
            self._held = None
            self._gap_pending = True

    def _reanchor(self, host_s: float) -> None:
        """After lost data, continue the sample index at the host time of the restart."""
        if self.timebase.offset_s is None:
            return
        lost_to = int(np.floor(self.timebase.to_sensor(host_s) * self.sample_rate_hz)) + 1
        self._next_index = max(self._next_index, lost_to)

    # -- running -------------------------------------------------------------------------------

    def read(self) -> ImuFrames | None:
        """Drain the whole frames the FIFO is sure to hold, in one burst read that starts
        with the FIFO count (``count_first``: a count read, then a burst of all it says).
        None when no whole frame is waiting. Raises SensorError/SensorTimeout on bus faults."""
        if self._fifo_suspect:
            self._recover("FIFO read failed")
        host_s = self.clock.now_s()
        if self.count_first:
            return self._read_count_first()
        want = self._sure_frames(host_s)
        if want == 0 and host_s - self._last_data_host_s < self.stall_s:
            return None  # nothing can be there yet: no transaction (after a while, a count read)
        try:
            raw = self.bus.read(self.address, MPU6050Reg.FIFO_COUNTH, COUNT_B + want * FRAME_B,
                                stream=True)
        except SensorError:
            self._fifo_suspect = True
            raise
        self._read_end_host_s = self.clock.now_s()
        count = int.from_bytes(raw[:COUNT_B], "big")
        if self._bad_count(count):
            return None
        there, part = divmod(count, FRAME_B)
        if there < want:  # fewer than the clock promised: what we took past them is not data
            if part:  # and off the frame boundaries: nothing read can be vouched for
                self._misaligned(f"FIFO holds part of a frame ({count} B) and fewer than due")
                return None
            return self._short_read(raw[COUNT_B:COUNT_B + there * FRAME_B], there, want, host_s)
        self._left_frames = there - want
        self._seen.append((self._read_end_host_s, self._next_index + there - 1))
        if want == 0:
            frames = self._vouch(None, part, host_s)
            if not there:
                self._check_stall(host_s)
            return frames
        self._last_data_host_s = host_s
        return self._vouch(raw[COUNT_B:], part, host_s)

    def _vouch(self, raw: bytes | None, part: int, host_s: float) -> ImuFrames | None:
        """The frames of ``raw`` (None: none read) as the count that came with them allows.
        A count ``part`` bytes past whole frames, the first in a row (``_bad_count`` resets on
        the second): the frames are held back, not delivered, since a misaligned FIFO's
        frames are junk and a frame being written looks the same on one count. A whole count
        vouches for the FIFO's alignment: the held frames are delivered ahead of this read's
        (their timebase observation first)."""
        if part:
            self._count_off = True
            if raw:
                frames = self._frames(raw, host_s, self._left_frames, observe=False)
                newest_s = float(frames.t_s[-1]) + self._left_frames / self.sample_rate_hz
                self._held = (frames, (host_s, newest_s))
            return None
        if self._count_off:
            self._count_off = False
            self.partial_counts_tolerated += 1
        held, self._held = self._held, None
        if held is not None:
            self.timebase.observe(*held[1])
        frames = None if raw is None else self._frames(raw, host_s, self._left_frames)
        if held is None or frames is None:
            return frames if held is None else held[0]
        first = held[0]
        return ImuFrames(np.concatenate([first.t_s, frames.t_s]),
                         np.concatenate([first.gyro_rad_s, frames.gyro_rad_s]),
                         np.concatenate([first.accel_m_s2, frames.accel_m_s2]),
                         first.gap_before or frames.gap_before, frames.host_time_s)

    def _sure_frames(self, host_s: float) -> int:
        """Whole frames the FIFO is sure to hold at ``host_s``, capped at what fits in it.
        Each recent read's count vouched for frame ``n`` by the time the read ended, so frame
        ``n + k`` is taken by then plus k periods of the chip's clock at its slowest (the
        timebase's fitted rate less ``RATE_MARGIN_FITTED``, else nominal less ``RATE_MARGIN``);
        the best of these bounds is the newest frame sure to be there. Knowing the chip's
        phase from many reads leaves about half a period behind on average, where the last
        read alone leaves about one."""
        cap = (MPU6050_FIFO_SIZE_B - OVERFLOW_MARGIN_B) // FRAME_B
        if not self._seen:  # just started or reset: only the time since then
            n = int((host_s - self._read_end_host_s) * self.sample_rate_hz * (1.0 - RATE_MARGIN))
            return max(0, min(n, cap))
        margin = RATE_MARGIN_FITTED if self.timebase.fitted else RATE_MARGIN
        period_s = self.timebase.scale * (1.0 + margin) / self.sample_rate_hz
        newest = max(n + int((host_s - end_s) / period_s) for end_s, n in self._seen)
        return max(0, min(newest - self._next_index + 1, cap))

    def _short_read(self, raw: bytes, there: int, want: int, host_s: float) -> ImuFrames | None:
        """The count says ``there`` whole frames where ``want`` were sure: the chip lost its
        FIFO (reset, power) or stopped. Keep the frames the count vouches for, reset the
        FIFO (what came past them may be junk or part of a frame we cannot place) and report
        the gap; a FIFO that stays empty is a stall (a chip that reset is re-initialised, one
        silent for long a SensorTimeout)."""
        self.short_reads += 1
        if there:
            log.warning("%s: FIFO held %d frame(s) where %d were due; resetting it",
                        self._where(), there, want)
            self._last_data_host_s = host_s
            # they are the chip's newest: place them at now on the time axis, after a gap
            newest = int(np.floor(self.timebase.to_sensor(host_s) * self.sample_rate_hz))
            self._next_index = max(self._next_index, newest - there + 1)
            self._gap_pending = True
            frames = self._frames(raw, host_s, 0, observe=False)
        else:
            frames = None
            self._check_stall(host_s)
        self._flush_fifo()
        self._gap_pending = True
        return frames

    def _read_count_first(self) -> ImuFrames | None:
        """The older drain: one FIFO count read, then one burst of every whole frame."""
        host_s = self.clock.now_s()
        count = int.from_bytes(self.bus.read(self.address, MPU6050Reg.FIFO_COUNTH, COUNT_B), "big")
        if self._bad_count(count):
            return None
        there, part = divmod(count, FRAME_B)
        self._left_frames = 0
        if there == 0:
            self._read_end_host_s = self.clock.now_s()
            frames = self._vouch(None, part, host_s)
            self._check_stall(host_s)
            return frames
        try:  # whole frames only: a frame being written stays for the next drain
            raw = self.bus.read(self.address, MPU6050Reg.FIFO_R_W, there * FRAME_B, stream=True)
        except SensorError:
            self._fifo_suspect = True
            raise
        self._read_end_host_s = self.clock.now_s()
        self._last_data_host_s = host_s
        frames = self._vouch(raw, part, host_s)
        self._seen.append((self._read_end_host_s, self._next_index - 1))  # for a one-read drain after
        return frames

    def _frames(self, raw: bytes, host_s: float, left_frames: int, *, observe: bool = True) -> ImuFrames:
        """The frames of ``raw``, next on the time axis; ``left_frames`` more stayed in the
        FIFO (so the newest frame at ``host_s`` is that many periods later). ``observe``:
        feed the timebase (not for frames placed by it)."""
        counts = np.frombuffer(raw, ">i2").reshape(-1, 6).astype(np.float64)
        index = self._next_index + np.arange(len(counts))
        self._next_index += len(counts)
        t_s = index / self.sample_rate_hz
        if observe:
            self.timebase.observe(host_s, float(t_s[-1]) + left_frames / self.sample_rate_hz)
        gap, self._gap_pending = self._gap_pending, False
        return ImuFrames(t_s, counts[:, 3:] * self._gyro_scale, counts[:, :3] * self._accel_scale,
                         gap, host_s)

    def _bad_count(self, count: int) -> bool:
        """True (and the FIFO reset, the gap reported) when the FIFO count says the FIFO
        overflowed or is near full, or holds part of a frame for the second read in a row:
        a frame being written shows on one count only, so the FIFO's bytes no longer start
        at a frame (bytes lost, or written to FIFO_R_W), and every frame read from it, the
        ones held back on the first such count too, would be junk."""
        if count >= MPU6050_FIFO_SIZE_B - OVERFLOW_MARGIN_B:
            self._overflow()
            return True
        if count % FRAME_B and self._count_off:
            self._misaligned(f"FIFO holds part of a frame ({count} B) on two reads in a row")
            return True
        return False

    def _misaligned(self, why: str) -> None:
        self.partial_frames += 1
        self._recover(why)

    def _overflow(self) -> None:
        status = self.bus.read_byte(self.address, MPU6050Reg.INT_STATUS)
        self.overflows += 1
        log.warning("%s: FIFO %s; resetting it", self._where(),
                    "overflowed" if status & MPU6050Bits.FIFO_OFLOW else "nearly full")
        self._reset_fifo()
        self._gap_pending = True

    def _recover(self, why: str) -> None:
        log.warning("%s: %s; resetting the FIFO", self._where(), why)
        self._reset_fifo()
        self._gap_pending = True

    def _check_stall(self, host_s: float) -> None:
        """No frames for a while: a chip that reset (asleep, defaults) is re-initialised."""
        if host_s - max(self._last_data_host_s, self._last_check_host_s) < self.stall_s:
            return
        self._last_check_host_s = host_s
        if self.chip_was_reset():
            self.reinitialise()
            return
        if host_s - self._last_data_host_s > 10 * self.stall_s:
            raise SensorTimeout(f"{self._where()}: no samples for "
                                f"{host_s - self._last_data_host_s:.2f} s")

    def chip_was_reset(self) -> bool:
        """True when the power or sample configuration is not what :meth:`start` wrote."""
        user_ctrl, power = self.bus.read(self.address, MPU6050Reg.USER_CTRL, 2)
        config = list(self.bus.read(self.address, MPU6050Reg.SMPLRT_DIV, 4))
        return (power != MPU6050Bits.CLKSEL_PLL_XGYRO
                or not user_ctrl & MPU6050Bits.USER_FIFO_EN
                or config != self._config_bytes())

    def reinitialise(self) -> None:
        """Configure the chip again after a reset and continue on the same time axis."""
        log.warning("%s: chip reset detected; re-initialising", self._where())
        self.reinits += 1
        self._configure()
        self._reset_fifo()
        self._gap_pending = True

    def close(self) -> None:
        """Put the chip to sleep (best effort)."""
        try:
            self.bus.write_byte(self.address, MPU6050Reg.PWR_MGMT_1, MPU6050Bits.SLEEP)
        except SensorError:
            pass
