"""MPU-6050 driver on the register-level fake: start-up, identity, FIFO draining, sample
times, SI conversion, torn frames, overflow and chip-reset recovery."""

from __future__ import annotations

import errno
import logging

import numpy as np
import pytest

from device.bus import I2CBus
from device.fake import FakeI2CBus, FakeMPU6050
from device.mpu6050 import MPU6050, RATE_MARGIN, dlpf_for_rate
from firmware.common.clock import ManualClock
from firmware.common.errors import SensorError, SetupError

G = 9.80665


class Rotation:
    """Constant rotation and gravity on z."""

    def sample(self, t_s):
        n = len(t_s)
        return np.tile([1.0, -2.0, 0.25], (n, 1)), np.tile([0.5, -1.0, G], (n, 1)), np.zeros(n)


class Ramp:
    """Every channel is a different multiple of the sample's time: a frame mixing two
    samples shows up as channels that disagree about t."""

    def sample(self, t_s):
        t = np.asarray(t_s)
        gyro = np.column_stack([t, -2 * t, 3 * t])
        accel = np.column_stack([t, 2 * t, -t])
        return gyro, accel, np.zeros(len(t))


def rig(source=None, rate_hz=200.0, who_am_i=0x68, rate_error_ppm=0.0, fifo_write_s=0.0, **kw):
    clock = ManualClock()
    fake = FakeI2CBus(clock)
    chip = fake.attach(0x68, FakeMPU6050(source or Rotation(), clock, who_am_i=who_am_i,
                                         rate_error_ppm=rate_error_ppm,
                                         fifo_write_s=fifo_write_s))
    bus = I2CBus(fake, clock=clock, name="i2c-1")
    imu = MPU6050(bus, clock, sample_rate_hz=rate_hz, **kw)
    return clock, fake, chip, bus, imu


def test_start_up_writes_the_datasheet_configuration():
    clock, _, chip, _, imu = rig(rate_hz=200, gyro_range_dps=2000, accel_range_g=4)
    imu.start()
    assert clock.now_s() >= 0.1  # waited for the reset through the clock
    assert chip.reg(0x6B) == 0x01  # PLL on X gyro, awake
    assert chip.reg(0x19) == 4 and chip.reg(0x1A) == 3  # 1 kHz / 5 = 200 Hz, DLPF 42 Hz
    assert chip.reg(0x1B) == 0x18 and chip.reg(0x1C) == 0x08
    assert chip.reg(0x23) == 0x78 and chip.reg(0x6A) == 0x40
    assert imu.sample_rate_hz == 200


@pytest.mark.parametrize("rate, div, dlpf", [(1000, 0, 1), (100, 9, 4), (50, 19, 5)])
def test_sample_rate_divider_and_dlpf(rate, div, dlpf):
    _, _, chip, _, imu = rig(rate_hz=rate)
    imu.start()
    assert (chip.reg(0x19), chip.reg(0x1A)) == (div, dlpf)
    assert dlpf_for_rate(rate) == dlpf


def test_invalid_ranges_are_refused():
    # issue 21: every MPU-6050 gyro range (250, 500, 1000, 2000) is allowed; others are not
    with pytest.raises(ValueError):
        rig(gyro_range_dps=300)
    with pytest.raises(ValueError):
        rig(accel_range_g=16)


@pytest.mark.parametrize("who", [0x70, 0x72, 0x98])
def test_known_clones_warn_and_work(who, caplog):
    clock, _, _, _, imu = rig(who_am_i=who)
    with caplog.at_level(logging.WARNING):
        imu.start()
    assert f"0x{who:02X}" in caplog.text
    clock.advance(0.1)
    assert len(imu.read().t_s) + len(imu.read().t_s) == 20


def test_an_unknown_chip_is_a_setup_error():
    _, _, _, _, imu = rig(who_am_i=0x47)
    with pytest.raises(SetupError, match="0x47"):
        imu.start()


def test_nothing_answering_names_bus_and_address_with_a_wiring_hint():
    clock = ManualClock()
    bus = I2CBus(FakeI2CBus(clock), clock=clock, name="i2c-1")
    with pytest.raises(SetupError) as info:
        MPU6050(bus, clock, address=0x69).start()
    message = str(info.value)
    assert "i2c-1" in message and "0x69" in message and "wiring" in message
    assert isinstance(info.value.__cause__, SensorError)


def test_one_burst_read_per_poll_carries_the_count_and_the_frames_the_clock_promises():
    """Issue 25: one transaction per drain. 0.2 s at 200 Hz is 40 frames; the chip's clock may
    run 3 % slow, so 38 are sure and read, with the count in front of them (2 bytes); the count
    says 2 more wait, and the next read takes them, however soon it comes."""
    clock, _, chip, bus, imu = rig()
    imu.start()
    clock.advance(0.2)
    before = bus.stats.snapshot()
    frames = imu.read()
    assert len(frames.t_s) == 38 == int(40 * (1 - RATE_MARGIN))
    assert bus.stats.transactions - before.transactions == 1
    assert bus.stats.bytes_read - before.bytes_read == 2 + 38 * 12
    assert chip.fifo_len == 2 * 12
    rest = imu.read()  # no time passed: only the two the count vouched for
    assert np.allclose(rest.t_s, [0.19, 0.195]) and chip.fifo_len == 0
    assert bus.stats.transactions - before.transactions == 2


@pytest.mark.parametrize("rate_error_ppm", [-9_000, -6_000, 1_000, 4_000, 9_000])
def test_the_coaching_drain_at_200_hz_is_one_read_and_its_newest_frame_is_fresh(rate_error_ppm):
    """Issue 25: the 40 ms coaching drain at 200 Hz (8 frames) is one transaction, the count
    riding in front of the frames. With the chip's clock off nominal (as a real one is, by up
    to 1 %), its frames drift across the drains and the recent counts pin its phase: once the
    timebase has fitted the chip's rate, the newest frame a drain delivers was taken at most
    two sample periods before it (1.5 at most on average)."""
    clock, _, chip, bus, imu = rig(source=Ramp(), rate_error_ppm=rate_error_ppm)
    imu.start()
    period_s = 1 / chip.sample_rate_hz()
    before, ages_s = bus.stats.transactions, []
    for k in range(1, 501):  # 20 s of drains on the loop's 40 ms cadence
        clock.advance(0.04)
        assert imu.read() is not None
        if k > 75:  # past the timebase's fit (3 s)
            waiting = chip.fifo_len // 12
            ages_s.append(clock.now_s() - chip.last_sample_s + waiting * period_s)
    assert bus.stats.transactions - before == 500 and imu.short_reads == 0  # one read a drain
    assert imu.timebase.fitted
    assert max(ages_s) <= 2 * period_s + 1e-4
    assert np.mean(ages_s) <= 1.5 * period_s


def test_count_first_keeps_the_older_two_transactions_per_poll():
    clock, _, _, bus, imu = rig(count_first=True)
    imu.start()
    clock.advance(0.2)
    before = bus.stats.snapshot()
    frames = imu.read()
    assert len(frames.t_s) == 40
    assert bus.stats.transactions - before.transactions == 2
    assert bus.stats.bytes_read - before.bytes_read == 2 + 40 * 12


def test_no_sure_frame_means_no_transaction_until_a_stall_is_possible():
    clock, _, _, bus, imu = rig()
    imu.start()
    clock.advance(0.001)
    before = bus.stats.transactions
    assert imu.read() is None
    assert bus.stats.transactions == before  # nothing can be there yet: the bus is left alone


@pytest.mark.parametrize("rate_hz, drain_s", [(200, 0.04), (1000, 0.04), (200, 0.21)])
@pytest.mark.parametrize("rate_error_ppm", [-10_000, 0, 10_000])
def test_every_sample_arrives_once_in_order_at_one_transaction_per_drain(rate_hz, drain_s, rate_error_ppm):
    """With the chip's clock 1 % slow or fast and jittery drains, every frame the chip takes
    reaches the caller once, in order, with no junk and no gap, at one transaction a drain
    (the 40 ms coaching drain at 200 Hz, 8 frames, too)."""
    clock, _, chip, bus, imu = rig(source=Ramp(), rate_hz=rate_hz, rate_error_ppm=rate_error_ppm)
    imu.start()
    before, generated = bus.stats.transactions, chip.samples_generated  # the FIFO starts now
    polls, got = 0, []
    for step in np.random.default_rng(7).uniform(0.8 * drain_s, 1.2 * drain_s, 100):
        clock.advance(step)
        polls += 1
        f = imu.read()
        if f is not None:
            assert not f.gap_before
            got.append(f.accel_m_s2[:, 0])  # Ramp: accel x is the sample's time (gyro x clips)
    g = np.concatenate(got)
    assert len(g) == chip.samples_generated - generated - chip.fifo_len // 12  # all, none invented
    assert chip.fifo_len <= 12 * (2 + RATE_MARGIN * 1.2 * drain_s * rate_hz * 2)  # a frame or two wait
    assert np.allclose(np.diff(g), 1 / chip.sample_rate_hz(), atol=2 * G / 4096)
    assert bus.stats.transactions - before == polls and imu.short_reads == 0


def test_a_fifo_emptied_behind_the_drivers_back_is_never_read_as_samples():
    """The chip's FIFO is reset by someone else between two reads: the frames the clock
    promised are not there, and the bytes past the count (an empty FIFO reads as junk) are
    thrown away; the FIFO is flushed and the gap reported."""
    clock, _, chip, bus, imu = rig(source=Ramp())
    imu.start()
    clock.advance(0.1)
    first = imu.read()
    clock.advance(0.05)
    bus.write_byte(0x68, 0x6A, 0x44)  # FIFO_RESET from elsewhere: the FIFO is empty
    clock.advance(0.005)  # one new frame only
    short = imu.read()
    assert imu.short_reads == 1
    # the one frame the count vouches for: the chip's newest (Ramp: gyro x is its time)
    assert len(short.t_s) == 1 and short.gyro_rad_s[0, 0] == pytest.approx(clock.now_s(), abs=0.003)
    # placed on the time axis where it was taken, after a gap
    assert short.gap_before and short.t_s[0] == pytest.approx(first.t_s[-1] + 0.06, abs=0.006)
    clock.advance(0.1)
    after = imu.read()
    assert after.gap_before and after.t_s[0] > short.t_s[-1]
    assert np.allclose(np.diff(after.gyro_rad_s[:, 0]), 0.005, atol=2 * np.radians(1 / 32.8))


def test_output_is_in_si_units_within_one_lsb():
    clock, _, _, _, imu = rig()
    imu.start()
    clock.advance(0.1)
    f = imu.read()
    lsb_gyro = np.radians(1 / 32.8)
    assert np.allclose(f.gyro_rad_s, [1.0, -2.0, 0.25], atol=lsb_gyro)
    assert np.allclose(f.accel_m_s2, [0.5, -1.0, G], atol=G / 4096)


def test_sample_times_come_from_the_sample_rate_not_the_host_clock():
    clock, _, _, _, imu = rig(rate_error_ppm=20_000)  # the chip runs 2 % fast
    imu.start()
    times = []
    for step in (0.05, 0.2, 0.013, 0.3, 0.1):
        clock.advance(step)
        f = imu.read()
        if f is not None:
            times.append(f.t_s)
    times.append(imu.read().t_s)  # the frames the last count said were waiting
    t = np.concatenate(times)
    assert np.allclose(t, np.arange(len(t)) / 200.0)
    assert len(t) > 0.663 * 200 * 1.015  # more samples than host time says: 2 % fast


def test_no_frame_is_torn_across_two_samples():
    clock, _, _, _, imu = rig(source=Ramp(), rate_hz=1000)
    imu.start()
    gyros, accels = [], []
    for step in np.random.default_rng(1).uniform(0.0005, 0.02, 200):
        clock.advance(step)
        f = imu.read()
        if f is not None:
            gyros.append(f.gyro_rad_s)
            accels.append(f.accel_m_s2)
    g, a = np.concatenate(gyros), np.concatenate(accels)
    t_from = [g[:, 0], -g[:, 1] / 2, g[:, 2] / 3, a[:, 0], a[:, 1] / 2, -a[:, 2]]
    lsb = max(np.radians(1 / 32.8), G / 4096)
    for column in t_from[1:]:
        assert np.max(np.abs(column - t_from[0])) <= 3 * lsb
    assert np.all(np.diff(t_from[0]) > 0)  # consecutive, each sample once
    assert np.allclose(np.diff(g[:, 0]), 0.001, atol=2 * np.radians(1 / 32.8))


def test_overflow_resets_the_fifo_and_reports_the_gap():
    clock, _, chip, _, imu = rig()
    imu.start()
    clock.advance(0.1)
    first = imu.read()
    clock.advance(1.0)  # 200 frames = 2400 B > 1024
    assert imu.read() is None
    assert imu.overflows == 1 and chip.fifo_len == 0
    clock.advance(0.1)
    after = imu.read()
    assert after.gap_before and not first.gap_before
    jump = after.t_s[0] - first.t_s[-1]
    assert 1.0 <= jump <= 1.0 + 2 / 200  # the time axis continues across the gap
    clock.advance(0.1)
    assert not imu.read().gap_before


def test_a_fifo_near_full_is_reset_before_it_can_misalign():
    clock, _, _, _, imu = rig()
    imu.start()
    clock.advance(83 / 200 + 1e-6)  # 83 frames = 996 B >= 1024 - 3 frames
    assert imu.read() is None and imu.overflows == 1


def test_a_chip_that_reset_is_reinitialised_and_the_gap_reported():
    clock, _, chip, _, imu = rig()
    imu.start()
    clock.advance(0.1)
    before = imu.read()
    chip.power_on_reset()
    results = []
    for _ in range(30):
        clock.advance(0.02)
        results.append(imu.read())
    assert imu.reinits == 1
    assert chip.reg(0x6B) == 0x01 and chip.reg(0x19) == 4
    frames = [f for f in results if f is not None]
    assert frames[0].gap_before and frames[0].t_s[0] > before.t_s[-1] + 0.1
    assert not any(f.gap_before for f in frames[1:])


def test_a_failed_fifo_read_resets_the_fifo_on_the_next_poll():
    clock, fake, _, _, imu = rig()
    imu.start()
    clock.advance(0.1)
    imu.read()
    clock.advance(0.2)  # 40 frames: the burst goes through i2c_rdwr
    real_rdwr = fake.i2c_rdwr

    def clock_stretch_error(*msgs):
        fake.i2c_rdwr = real_rdwr
        raise OSError(errno.EIO, "Input/output error")  # CLKT: maybe partly read

    fake.i2c_rdwr = clock_stretch_error
    with pytest.raises(SensorError):
        imu.read()
    clock.advance(0.1)
    imu.read()  # resets the FIFO first
    clock.advance(0.1)
    f = imu.read()
    assert f.gap_before and len(f.t_s) == 19  # 20 taken, 19 sure (RATE_MARGIN); one waits


def test_silence_without_a_reset_is_a_timeout():
    clock, _, chip, bus, imu = rig()
    imu.start()
    bus.write_byte(0x68, 0x6A, 0x00)  # someone turned the FIFO off but left the config
    bus.write_byte(0x68, 0x6A, 0x40)
    bus.write_byte(0x68, 0x23, 0x00)
    with pytest.raises(SensorError, match="no samples"):
        for _ in range(100):
            clock.advance(0.02)
            imu.read()


@pytest.mark.parametrize("range_dps, fs_sel", [(250, 0), (500, 1), (1000, 2), (2000, 3)])
def test_every_gyro_range_is_written(range_dps, fs_sel):
    # issue 21: the range is picked per tool (a roller +-500, a stick +-2000)
    _, _, chip, _, imu = rig(gyro_range_dps=range_dps)
    imu.start()
    assert chip.reg(0x1B) == fs_sel << 3 and imu.gyro_range_dps == range_dps


def test_the_near_full_threshold_is_exact_with_the_count_in_front():
    """The count that rides in front of the frames decides: 82 frames (984 B) are data,
    83 (996 B >= 1024 - 3 frames) are an overflow; nothing past the count is taken."""
    clock, _, chip, bus, imu = rig(source=Ramp())
    imu.start()
    clock.advance(82 / 200 + 1e-6)
    before = bus.stats.transactions
    got = imu.read()
    assert imu.overflows == 0 and bus.stats.transactions - before == 1
    assert len(got.t_s) + chip.fifo_len // 12 == 82 and not got.gap_before
    clock, _, chip, bus, imu = rig(source=Ramp())
    imu.start()
    clock.advance(83 / 200 + 1e-6)
    assert imu.read() is None and imu.overflows == 1 and chip.fifo_len == 0


def test_an_overflow_between_coaching_drains_is_seen_by_the_one_read():
    """Drains every 40 ms at 200 Hz (one read each), then the loop stalls for 0.6 s (120
    frames > the FIFO): the next read's count says overflow, the FIFO is reset, the next
    Block reports the gap and carries only real frames, on one time axis; drains go on at
    one read each."""
    clock, _, chip, bus, imu = rig(source=Ramp(), rate_error_ppm=3_000)
    imu.start()
    got = []
    for _ in range(100):
        clock.advance(0.04)
        got.append(imu.read())
    clock.advance(0.6)
    assert imu.read() is None and imu.overflows == 1 and chip.fifo_len == 0
    after, before = [], bus.stats.transactions
    for _ in range(50):
        clock.advance(0.04)
        after.append(imu.read())
    assert bus.stats.transactions - before == 50
    assert after[0].gap_before and not any(f.gap_before for f in after[1:])
    assert not any(f.gap_before for f in got)
    host_t = np.concatenate([f.accel_m_s2[:, 0] for f in after])  # Ramp: accel x is host time
    assert np.allclose(np.diff(host_t), 1 / chip.sample_rate_hz(), atol=2 * G / 4096)
    jump_s = after[0].t_s[0] - got[-1].t_s[-1]
    assert jump_s == pytest.approx(after[0].accel_m_s2[0, 0] - got[-1].accel_m_s2[-1, 0], abs=0.012)


@pytest.mark.parametrize("count_first", [False, True])
def test_a_fifo_holding_part_of_a_frame_is_reset_never_read_as_samples(count_first):
    """Six bytes written to FIFO_R_W put the FIFO off its frame boundaries: every later
    count is whole frames plus six bytes. The first such count could be a frame being
    written, so it resets nothing, but the frames read with it are held back, never
    delivered (each would mix two samples); the next count is off again, so the FIFO is
    misaligned: the held frames are dropped, the FIFO is reset and the gap reported, and
    what follows is whole, real frames again. No junk frame ever reaches the caller."""
    clock, _, chip, bus, imu = rig(source=Ramp(), count_first=count_first)
    imu.start()
    for _ in range(10):
        clock.advance(0.04)
        assert not imu.read().gap_before
    bus.write(0x68, 0x74, [1, 2, 3, 4, 5, 6])  # FIFO_R_W: six bytes in front of the next frames
    clock.advance(0.04)
    assert imu.read() is None  # held back: junk, as the next count shows
    assert imu.partial_frames == 0 and chip.fifo_len % 12 == 6  # nothing reset yet
    clock.advance(0.04)
    assert imu.read() is None and imu.partial_frames == 1 and chip.fifo_len == 0
    assert imu.partial_counts_tolerated == 0
    after = []
    for _ in range(10):
        clock.advance(0.04)
        after.append(imu.read())
    assert after[0].gap_before and imu.partial_frames == 1
    a = np.concatenate([f.accel_m_s2 for f in after])  # Ramp: accel = (t, 2t, -t)
    assert np.allclose(a[:, 1], 2 * a[:, 0], atol=3 * G / 4096)
    assert np.allclose(a[:, 2], -a[:, 0], atol=3 * G / 4096)
    assert np.allclose(np.diff(a[:, 0]), 0.005, atol=2 * G / 4096)


def drain_at(clock, imu, times_s):
    """Read the IMU at each of ``times_s`` (clock time); the results in order."""
    out = []
    for t_s in times_s:
        clock.advance(t_s - clock.now_s())
        out.append(imu.read())
    return out


def waiting(chip):
    """Frames the chip has taken that no read has had: whole in the FIFO, or being written."""
    return chip.fifo_len // 12 + chip.frames_writing


@pytest.mark.parametrize("count_first", [False, True])
def test_a_count_read_while_a_frame_is_written_costs_no_reset_no_gap_and_no_sample(count_first):
    """The chip writes each frame into its FIFO over 0.6 ms (50 us a byte). Drains every
    40 ms land on the chip's sampling instants, so their counts are whole, but one comes
    0.3 ms late: its count shows six bytes of the newest frame. The drain takes whole frames
    only, holds them back until the next count is whole, and then delivers them ahead of
    that drain's: no reset, no gap, every sample once and in order, one transaction a drain
    (two with ``count_first``)."""
    clock, _, chip, bus, imu = rig(source=Ramp(), count_first=count_first, fifo_write_s=0.0006)
    imu.start()
    start_s, generated, before = clock.now_s(), chip.samples_generated, bus.stats.transactions
    times = start_s + 0.04 * np.arange(1, 51)
    times[20] += 0.0003  # 0.3 ms into a frame's write
    got = drain_at(clock, imu, times)
    assert got[20] is None and imu.partial_counts_tolerated == 1  # held, then vouched for
    assert len(got[21].t_s) >= 15  # the held frames came with the next drain's
    assert imu.partial_frames == 0 and imu.short_reads == 0 and imu.overflows == 0
    assert not any(f.gap_before for f in got if f is not None)
    assert bus.stats.transactions - before == (2 if count_first else 1) * len(times)
    t = np.concatenate([f.t_s for f in got if f is not None])
    a = np.concatenate([f.accel_m_s2 for f in got if f is not None])  # Ramp: accel x = the instant
    assert len(a) == chip.samples_generated - generated - waiting(chip)  # none lost or invented
    assert np.allclose(np.diff(a[:, 0]), 0.005, atol=2 * G / 4096)  # each once, in order
    assert np.allclose(np.diff(t), 0.005) and t[0] == 0.0
    assert np.allclose(a[:, 1], 2 * a[:, 0], atol=3 * G / 4096)  # whole frames, not torn


def test_counts_read_mid_write_now_and_then_as_the_chip_drifts_cost_nothing():
    """The chip's clock 1 % fast drifts its frames 0.4 ms across each 40 ms drain; each frame
    takes 0.2 ms to write, so now and then a count lands mid-write, never twice in a row:
    every such count is tolerated, and every sample arrives once, in order, with no gap, at
    one transaction a drain."""
    clock, _, chip, bus, imu = rig(source=Ramp(), rate_error_ppm=10_000, fifo_write_s=0.0002)
    imu.start()
    generated, before = chip.samples_generated, bus.stats.transactions
    got = drain_at(clock, imu, clock.now_s() + 0.04 * np.arange(1, 501))
    assert imu.partial_counts_tolerated >= 10 and sum(f is None for f in got) >= 10
    assert imu.partial_frames == 0 and imu.short_reads == 0 and imu.overflows == 0
    assert not any(f.gap_before for f in got if f is not None)
    assert bus.stats.transactions - before == 500
    a = np.concatenate([f.accel_m_s2 for f in got if f is not None])
    assert len(a) == chip.samples_generated - generated - waiting(chip)
    assert np.allclose(np.diff(a[:, 0]), 1 / chip.sample_rate_hz(), atol=2 * G / 4096)
    assert np.allclose(a[:, 2], -a[:, 0], atol=3 * G / 4096)


@pytest.mark.parametrize("count_first", [False, True])
def test_counts_off_frame_boundaries_on_two_reads_in_a_row_reset_the_fifo(count_first):
    """Two drains in a row land mid-write: one count cannot tell a frame being written from a
    misaligned FIFO, two in a row are taken for misalignment. The frames held back on the
    first are dropped, never delivered, the FIFO is reset and the gap reported; the time axis
    goes on, and only whole, real frames follow."""
    clock, _, chip, _, imu = rig(source=Ramp(), count_first=count_first, fifo_write_s=0.0006)
    imu.start()
    start_s = clock.now_s()
    times = start_s + 0.04 * np.arange(1, 41)
    times[20:22] += 0.0003
    got = drain_at(clock, imu, times)
    assert got[20] is None and got[21] is None
    assert imu.partial_frames == 1 and imu.partial_counts_tolerated == 0
    assert not any(f.gap_before for f in got[:20]) and got[22].gap_before
    assert not any(f.gap_before for f in got[23:])
    jump_s = got[22].t_s[0] - got[19].t_s[-1]  # the frames of two drains, lost
    assert jump_s == pytest.approx(got[22].accel_m_s2[0, 0] - got[19].accel_m_s2[-1, 0], abs=0.006)
    after = np.concatenate([f.accel_m_s2 for f in got[22:]])
    assert np.allclose(np.diff(after[:, 0]), 0.005, atol=2 * G / 4096)
    assert np.allclose(after[:, 1], 2 * after[:, 0], atol=3 * G / 4096)


def test_frames_held_on_a_partial_count_are_dropped_if_the_fifo_is_reset_before_a_whole_count():
    """A count lands mid-write (frames held back), then someone resets the FIFO: the next
    count is whole but short, so it vouches for nothing read before the reset. The held
    frames are dropped with the gap reported, never delivered; the newest frame is placed
    where it was taken, as for any short read."""
    clock, _, _, bus, imu = rig(source=Ramp(), fifo_write_s=0.0006)
    imu.start()
    start_s = clock.now_s()
    got = drain_at(clock, imu, start_s + 0.04 * np.arange(1, 11) + ([0] * 9 + [0.0003]))
    assert got[-1] is None and all(f is not None for f in got[:-1])
    clock.advance(0.05)
    bus.write_byte(0x68, 0x6A, 0x44)  # FIFO_RESET from elsewhere
    later = drain_at(clock, imu, start_s + np.array([0.4558, 0.5, 0.54]))
    short = later[0]  # one whole frame since the reset (taken at start_s + 0.455)
    assert imu.short_reads == 1 and imu.partial_counts_tolerated == 0
    assert short.gap_before and len(short.t_s) == 1
    assert short.accel_m_s2[0, 0] == pytest.approx(start_s + 0.455, abs=2 * G / 4096)
    assert short.t_s[0] == pytest.approx(0.45, abs=0.006)
    t = np.concatenate([f.t_s for f in got[:-1] + later])
    assert np.all(np.diff(t) > 0)  # each once, in order
    held_window = (t > got[-2].t_s[-1]) & (t < short.t_s[0])
    assert not held_window.any() and short.t_s[0] - got[-2].t_s[-1] >= 0.09  # a gap, not junk
