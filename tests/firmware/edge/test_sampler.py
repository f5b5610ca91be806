"""Sampler on simulated hardware: Blocks on sensor time with force stamped onto it, and a
sampling loop that keeps running through NACKs, a hung bus and a chip reset."""

from __future__ import annotations

import numpy as np
import pytest

from device.hardware import open_hardware
from firmware.common.clock import ManualClock
from firmware.edge.sampler import Sampler

RATE_HZ = 200.0


class HostRamp:
    """gyro x = the sample's own (host) time and force = 100 + 30 t, so each Block row
    says when it was really taken and what force it should carry."""

    def sample(self, t_s):
        t = np.asarray(t_s)
        n = len(t)
        gyro = np.column_stack([t, np.zeros(n), np.zeros(n)])
        return gyro, np.tile([0.0, 0.0, 9.81], (n, 1)), 100.0 + 30.0 * t


def rig(force="ads1115", **kw):
    clock = ManualClock()
    hw = open_hardware("sim", clock=clock, source=HostRamp(), force=force,
                       sample_rate_hz=RATE_HZ)
    sampler = Sampler(hw.imu, hw.force, clock, **kw)
    sampler.start()
    return clock, hw, sampler


def run(clock, sampler, seconds, step_s=0.01):
    blocks, healths = [], []
    end_s = clock.now_s() + seconds - 1e-9
    while clock.now_s() < end_s:
        clock.advance(step_s)
        block = sampler.poll()
        healths.append(sampler.health)
        if block is not None:
            blocks.append(block)
    return blocks, healths


def test_blocks_are_on_one_sensor_time_axis_with_force_interpolated():
    clock, _, sampler = rig()
    blocks, healths = run(clock, sampler, 10.0)
    t = np.concatenate([b.t_s for b in blocks])
    assert np.allclose(np.diff(t), 1 / RATE_HZ)
    assert abs(len(t) - 10.0 * RATE_HZ) <= 45  # all samples but the last drain interval
    host_t = np.concatenate([b.gyro_rad_s[:, 0] for b in blocks])
    force = np.concatenate([b.force_n for b in blocks])
    late = host_t > 1.0
    assert np.max(np.abs(force[late] - (100 + 30 * host_t[late]))) < 0.3  # within 10 ms
    assert not any(b.gap_before for b in blocks)
    assert set(healths) == {""}


def test_the_drain_interval_keeps_bus_traffic_low():
    clock, hw, sampler = rig(force="none")
    assert sampler.drain_interval_s == pytest.approx(hw.imu.suggested_poll_s)
    before = hw.bus.stats.snapshot()
    blocks, _ = run(clock, sampler, 5.0)
    samples = sum(len(b) for b in blocks)
    assert (hw.bus.stats.transactions - before.transactions) / samples <= 0.05


def test_every_poll_drains_with_a_zero_interval():
    clock, _, sampler = rig(drain_interval_s=0.0)
    blocks, _ = run(clock, sampler, 1.0)
    assert len(blocks) == 100


def test_no_force_sensor_gives_nan_force():
    clock, _, sampler = rig(force="none")
    blocks, _ = run(clock, sampler, 1.0)
    assert blocks and all(np.isnan(b.force_n).all() for b in blocks)


def test_keeps_running_through_nacks_and_reports_degraded():
    clock, hw, sampler = rig(drain_interval_s=0.05)
    hw.fakes["bus"].nack_rate = 0.35
    blocks, healths = run(clock, sampler, 10.0)
    assert sampler.stats["imu_errors"] > 0 or sampler.stats["force_errors"] > 0
    assert any(h for h in healths)
    t = np.concatenate([b.t_s for b in blocks])
    assert np.all(np.diff(t) > 0)
    # no silent loss: samples are consecutive except where a block says a gap came before it
    starts = np.cumsum([0] + [len(b) for b in blocks[:-1]])
    gap_at = {int(i) for i, b in zip(starts, blocks, strict=True) if b.gap_before}
    jumps = {int(i) + 1 for i in np.flatnonzero(np.abs(np.diff(t) - 1 / RATE_HZ) > 1e-9)}
    assert jumps <= gap_at
    assert len(t) > 0.8 * 10.0 * RATE_HZ
    hw.fakes["bus"].nack_rate = 0.0
    run(clock, sampler, 2.0)
    assert sampler.health == ""


def test_keeps_running_through_a_hang_and_recovers_with_a_gap():
    clock, hw, sampler = rig()
    before, _ = run(clock, sampler, 2.0)
    hw.fakes["bus"].hang(1.5, stall_s=0.01)
    during, healths = run(clock, sampler, 1.4)
    assert during == [] and all(h.startswith(("imu", "force")) for h in healths[10:])
    after, _ = run(clock, sampler, 2.0)
    assert after[0].gap_before
    jump = after[0].t_s[0] - before[-1].t_s[-1]
    assert jump > 1.0
    real_jump = after[0].gyro_rad_s[0, 0] - before[-1].gyro_rad_s[-1, 0]
    assert jump == pytest.approx(real_jump, abs=0.02)  # the axis stays true across the gap
    run(clock, sampler, 1.5)
    assert sampler.health == ""
    assert sampler.stats["gaps"] == 1


def test_reinitialises_a_chip_that_reset():
    clock, hw, sampler = rig()
    before, _ = run(clock, sampler, 1.0)
    hw.fakes["mpu6050"].power_on_reset()
    after, healths = run(clock, sampler, 2.0)
    assert hw.imu.reinits == 1
    assert after and after[0].gap_before
    assert any("lost" in h for h in healths)
    t = np.concatenate([b.t_s for b in before + after])
    assert np.all(np.diff(t) > 0)
    real = np.concatenate([b.gyro_rad_s[:, 0] for b in after])
    est = np.concatenate([b.t_s for b in after])
    assert np.ptp(real - est) < 0.02  # the re-anchored axis still tracks the real instants


def test_load_cell_force_is_stamped_on_sensor_time(mock_factory):
    clock = ManualClock()
    hw = open_hardware("sim", clock=clock, source=HostRamp(), force="hx711",
                       sample_rate_hz=RATE_HZ, pin_factory=mock_factory)
    sampler = Sampler(hw.imu, hw.force, clock)
    sampler.start()
    blocks, healths = run(clock, sampler, 3.0)
    host_t = np.concatenate([b.gyro_rad_s[:, 0] for b in blocks])
    force = np.concatenate([b.force_n for b in blocks])
    late = host_t > 1.0
    # an 80 SPS conversion is up to one poll (10 ms) old when read: 30 N/s * 10 ms
    assert np.max(np.abs(force[late] - (100 + 30 * host_t[late]))) < 0.5
    assert set(healths) == {""}
    hw.close()


def test_force_stays_aligned_when_the_chip_clock_drifts():
    clock = ManualClock()
    hw = open_hardware("sim", clock=clock, source=HostRamp(), sample_rate_hz=RATE_HZ)
    hw.fakes["mpu6050"].rate_error_ppm = 20_000  # 2 % fast: sensor time runs 2 % fast
    sampler = Sampler(hw.imu, hw.force, clock)
    sampler.start()
    blocks, _ = run(clock, sampler, 12.0)
    t = np.concatenate([b.t_s for b in blocks])
    host_t = np.concatenate([b.gyro_rad_s[:, 0] for b in blocks])
    force = np.concatenate([b.force_n for b in blocks])
    assert t[-1] - t[0] > 1.015 * (host_t[-1] - host_t[0])  # index / nominal rate, not host time
    late = host_t > 4.0
    assert np.max(np.abs(force[late] - (100 + 30 * host_t[late]))) < 0.3  # within 10 ms


def test_a_failed_force_sensor_gives_nan_force_not_stale_values():
    clock, hw, sampler = rig()
    run(clock, sampler, 1.0)
    ads = hw.fakes["bus"].chips[0x48]
    hw.fakes["bus"].detach(0x48)  # the ADC drops off the bus
    during, healths = run(clock, sampler, 2.0)
    assert all(h.startswith("force") for h in healths)
    force = np.concatenate([b.force_n for b in during])
    assert np.isnan(force[-200:]).all()  # the last second: no reading within 0.5 s
    assert not np.isnan(force[:40]).any()  # just after the failure the last reading holds
    hw.fakes["bus"].attach(0x48, ads)
    after, _ = run(clock, sampler, 2.0)
    assert not np.isnan(after[-1].force_n).any()
    assert sampler.stats["imu_errors"] == 0


def test_drain_cadence_does_not_slip_a_poll_on_float_rounding():
    """Polls every 20 ms with a 40 ms drain interval drain on every second poll, even
    when the accumulated clock lands a hair short of 40 ms (0.1 + 0.02 + ... rounding)."""
    from device.hardware import open_hardware
    from firmware.common.clock import ManualClock
    from firmware.edge.sampler import Sampler

    class Still:
        def sample(self, t_s):
            n = len(t_s)
            return np.zeros((n, 3)), np.tile([0.0, 0.0, 9.81], (n, 1)), np.zeros(n)

    clock = ManualClock(0.1)
    hw = open_hardware("sim", clock=clock, source=Still())
    sampler = Sampler(hw.imu, hw.force, clock, drain_interval_s=0.04)
    sampler.start()
    drains = []
    for _ in range(200):
        clock.advance(0.02)
        if sampler.poll() is not None:
            drains.append(clock.now_s())
    gaps = np.diff(drains)
    assert len(drains) >= 95
    assert gaps.max() < 0.045  # never 60 ms


class Steps:
    """Force steps between 100 and 300 N every 0.237 s (out of step with the polls)."""

    def sample(self, t_s):
        t = np.asarray(t_s)
        n = len(t)
        force = np.where(np.floor(t / 0.237) % 2 == 0, 100.0, 300.0)
        return np.zeros((n, 3)), np.tile([0.0, 0.0, 9.81], (n, 1)), force


class Recorded:
    """The force sensor, remembering what each read returned."""

    def __init__(self, force):
        self.force, self.readings = force, []

    def start(self):
        self.force.start()

    def read_n(self):
        value = self.force.read_n()
        if value is not None:
            self.readings.append(value)
        return value


@pytest.mark.parametrize("rate_error_ppm", [-7_000, 0, 3_000])
def test_a_drains_own_force_reading_reaches_the_block_it_drains(rate_error_ppm):
    """Issue 25: polls every 20 ms, a drain every 40 ms at 200 Hz (one FIFO read), the chip's
    clock off nominal. The Block's newest frame carries the force the drain itself read (the
    reading nearest it), so a step in force reaches the coach with the drain whose poll saw
    it, not one drain later; and every frame carries a reading within half a poll of it."""
    clock = ManualClock()
    hw = open_hardware("sim", clock=clock, source=Steps(), sample_rate_hz=200)
    hw.fakes["mpu6050"].rate_error_ppm = rate_error_ppm
    force = Recorded(hw.force)
    sampler = Sampler(hw.imu, force, clock, drain_interval_s=0.04)
    sampler.start()
    drains = steps_seen = 0
    for k in range(1000):  # 20 s
        clock.advance(0.02)
        block = sampler.poll()
        if block is None or k < 150:  # past the timebase's fit
            continue
        drains += 1
        assert block.force_n[-1] == force.readings[-1]
        steps_seen += force.readings[-1] != force.readings[-2]
    assert drains > 400 and steps_seen > 20
    hw.close()


def test_counts_read_mid_write_cost_no_gap_and_held_frames_carry_their_own_force():
    """The chip takes 0.2 ms to write each frame into its FIFO and runs 1 % fast, so now and
    then the coaching drain's count lands mid-write: the driver holds that drain's frames
    back and hands them over with the next drain's. The Sampler's Blocks stay gap-free and
    healthy, every sample arrives once, and the held frames carry the force read nearest
    them, not the later drain's."""
    clock = ManualClock()
    hw = open_hardware("sim", clock=clock, source=HostRamp(), sample_rate_hz=RATE_HZ)
    hw.fakes["mpu6050"].rate_error_ppm = 10_000
    hw.fakes["mpu6050"].fifo_write_s = 0.0002
    sampler = Sampler(hw.imu, hw.force, clock, drain_interval_s=0.04)
    sampler.start()
    blocks, healths = run(clock, sampler, 12.0)  # force clips at 512 N past 13.7 s
    assert hw.imu.partial_counts_tolerated >= 5 and hw.imu.partial_frames == 0
    assert sampler.stats["gaps"] == 0 and set(healths) == {""}
    assert not any(b.gap_before for b in blocks)
    host_t = np.concatenate([b.gyro_rad_s[:, 0] for b in blocks])
    assert np.allclose(np.diff(host_t), 1 / hw.fakes["mpu6050"].sample_rate_hz(), atol=0.001)
    force = np.concatenate([b.force_n for b in blocks])
    late = host_t > 4.0
    assert np.max(np.abs(force[late] - (100 + 30 * host_t[late]))) < 0.3  # within 10 ms
