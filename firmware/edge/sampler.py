"""Drains the sensors into Blocks on sensor time: IMU frames from the FIFO, force read on
every poll, stamped onto the IMU's time axis, each IMU instant carrying the force reading
nearest it. Keeps running through bus faults (reports them in ``health``) and recovers chips
that reset.

Why the nearest reading and not a line between the two around each instant: between two
polls the force is unknown, and a line spreads a step in force over the whole poll interval.
The drain reads force first, then the FIFO, whose newest frame was taken up to a sample
period or two before (at 200 Hz: the chip's phase, and a frame it cannot yet promise,
device/mpu6050.py); on a line that frame carried only part of a step the drain's own reading
had seen, so the coach saw an over-pressure one drain late (bench/latency.py: 56 ms at
200 Hz). The nearest reading gives the Block's newest frames the drain's own reading (they
are well within half a poll of it), so a step reaches the coach with the drain that read it;
each instant's force is off by at most half a poll of the force's change, as a line's
would be for a step."""

from __future__ import annotations

import logging

import numpy as np

from firmware.common.clock import Clock
from firmware.common.errors import SensorError, SetupError
from firmware.common.hardware import ForceSensor, ImuDriver, ImuFrames
from firmware.common.model import Block

log = logging.getLogger(__name__)

FAULTS = (SensorError, SetupError)  # a failed re-init mid-run is a fault, not a crash

HEALTHY_AFTER_S = 1.0  # host seconds without a fault before health reads "" again
FORCE_KEEP = 4096  # force readings kept at most between two IMU drains
FORCE_STALE_S = 0.5  # IMU instants farther than this from any force reading get NaN


DRAIN_SLACK_S = 0.01  # how early a poll may come and still drain the FIFO


class Sampler:
    """``imu``: an IMU driver (``firmware.common.hardware.ImuDriver``: ``start``, ``read``,
    ``timebase``, ``suggested_poll_s``); ``force``: a force sensor (``ForceSensor``:
    ``start``, ``read_n``) or None.

    Call :meth:`poll` as often as you like (e.g. every 10-20 ms): force is read on every
    call, the IMU FIFO only every ``drain_interval_s`` (default: the driver's suggestion,
    the FIFO about half full: 0.21 s at 200 Hz, 0.04 s at 1 kHz), so Blocks arrive at that
    cadence and the bus carries < 0.05 transactions per sample."""

    def __init__(self, imu: ImuDriver, force: ForceSensor | None, clock: Clock, *,
                 drain_interval_s: float | None = None) -> None:
        self.imu, self.force, self.clock = imu, force, clock
        self.drain_interval_s = (imu.suggested_poll_s if drain_interval_s is None
                                 else drain_interval_s)
        self.stats = {"polls": 0, "blocks": 0, "samples": 0, "gaps": 0, "imu_errors": 0,
                      "force_errors": 0}
        self._force_host_s: list[float] = []
        self._force_n: list[float] = []
        self._last_drain_s = -np.inf
        # A poll that comes a hair early (float rounding, scheduler jitter) still drains:
        # otherwise the cadence slips by a whole poll (40 ms becomes 60 ms).
        self._drain_slack_s = min(DRAIN_SLACK_S, 0.25 * self.drain_interval_s)
        self._fault = ""
        self._fault_host_s = -np.inf

    @property
    def health(self) -> str:
        """"" when healthy, else a one-line reason for the degraded state."""
        if self._fault and self.clock.now_s() - self._fault_host_s < HEALTHY_AFTER_S:
            return self._fault
        return ""

    def start(self) -> None:
        """Start the sensors (raises SetupError when one is missing)."""
        self.imu.start()
        if self.force is not None:
            self.force.start()
        self._last_drain_s = -np.inf

    def poll(self) -> Block | None:
        """Read force; drain the IMU when the drain interval has passed. Never raises on
        sensor faults: returns None and reports them in ``health``."""
        self.stats["polls"] += 1
        now = self.clock.now_s()
        self._read_force(now)
        if now - self._last_drain_s < self.drain_interval_s - self._drain_slack_s:
            return None
        self._last_drain_s = now
        try:
            frames = self.imu.read()
        except FAULTS as exc:
            self.stats["imu_errors"] += 1
            self._degrade(f"imu: {exc}")
            return None
        if frames is None:
            return None
        return self._block(frames)

    def _read_force(self, now: float) -> None:
        if self.force is None:
            return
        try:
            value = self.force.read_n()
        except FAULTS as exc:
            self.stats["force_errors"] += 1
            self._degrade(f"force: {exc}")
            return
        if value is None:
            return
        self._force_host_s.append(now)
        self._force_n.append(value)
        if len(self._force_n) > FORCE_KEEP:
            del self._force_host_s[:-FORCE_KEEP], self._force_n[:-FORCE_KEEP]

    def _block(self, frames: ImuFrames) -> Block:
        gap = frames.gap_before
        if gap:
            self.stats["gaps"] += 1
            self._degrade("imu: samples lost (FIFO overflow, bus fault or chip reset)")
        block = Block(frames.t_s, frames.gyro_rad_s, frames.accel_m_s2,
                      self._force_at(frames.t_s), gap_before=gap)
        self.stats["blocks"] += 1
        self.stats["samples"] += len(block)
        return block

    def _force_at(self, t_s: np.ndarray) -> np.ndarray:
        """The force reading nearest each IMU instant (the later one on a tie); NaN without a
        force sensor or where no reading is within FORCE_STALE_S (the sensor failed). The
        reading before the block's end and those newer are kept for the next one."""
        if not self._force_n:
            return np.full(len(t_s), np.nan)
        force_t = np.asarray(self.imu.timebase.to_sensor(np.asarray(self._force_host_s)))
        force_n = np.asarray(self._force_n)
        right = np.clip(np.searchsorted(force_t, t_s), 0, len(force_t) - 1)
        left = np.clip(right - 1, 0, len(force_t) - 1)
        to_right_s, to_left_s = np.abs(force_t[right] - t_s), np.abs(t_s - force_t[left])
        nearest = np.where(to_right_s <= to_left_s, right, left)
        force = force_n[nearest]
        force[np.minimum(to_right_s, to_left_s) > FORCE_STALE_S] = np.nan
        keep = max(0, int(np.searchsorted(force_t, t_s[-1])) - 1)
        del self._force_host_s[:keep], self._force_n[:keep]
        return force

    def _degrade(self, reason: str) -> None:
        reason = reason.splitlines()[0]
        if not self.health:
            log.warning("sampler degraded: %s", reason)
        self._fault = reason
        self._fault_host_s = self.clock.now_s()
