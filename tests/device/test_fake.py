"""The fake chips follow the register maps: reset values, auto-increment, FIFO (drain,
latched count, overflow), sample clock, quantisation, and the injected faults."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from smbus2 import i2c_msg

from device.fake import FakeADS1115, FakeI2CBus, FakeMPU6050
from firmware.common.clock import ManualClock


class Ramp:
    """Every sample differs: gyro x = k-th instant's t in rad/s, so frames identify samples."""

    def __init__(self):
        self.calls = []

    def sample(self, t_s):
        self.calls.append(np.array(t_s))
        n = len(t_s)
        gyro = np.column_stack([t_s, -t_s, 2 * t_s])
        accel = np.tile([0.0, 0.0, 9.80665], (n, 1))
        return gyro, accel, 100.0 * t_s


def make(rate_error_ppm=0.0, who_am_i=0x68, fifo_write_s=0.0):
    clock = ManualClock()
    bus = FakeI2CBus(clock)
    src = Ramp()
    chip = bus.attach(0x68, FakeMPU6050(src, clock, who_am_i=who_am_i,
                                        rate_error_ppm=rate_error_ppm,
                                        fifo_write_s=fifo_write_s))
    return clock, bus, chip, src


def start_fifo(bus, div=0, dlpf=1):
    bus.write_byte_data(0x68, 0x6B, 0x01)
    bus.write_i2c_block_data(0x68, 0x19, [div, dlpf, 0x10, 0x10])
    bus.write_byte_data(0x68, 0x6A, 0x40)
    bus.write_byte_data(0x68, 0x23, 0x78)


def fifo_count(bus):
    return int.from_bytes(bytes(bus.read_i2c_block_data(0x68, 0x72, 2)), "big")


def test_reset_values_are_the_datasheet_ones():
    _, bus, chip, _ = make()
    values = {reg: bus.read_byte_data(0x68, reg) for reg in range(0x0D, 0x76)}
    assert values.pop(0x6B) == 0x40 and values.pop(0x75) == 0x68
    assert set(values.values()) == {0}


def test_burst_reads_auto_increment_and_writes_too():
    _, bus, _, _ = make()
    bus.write_i2c_block_data(0x68, 0x19, [1, 2, 0x18, 0x08])
    assert bus.read_i2c_block_data(0x68, 0x19, 4) == [1, 2, 0x18, 0x08]


def test_no_samples_while_asleep_then_the_configured_rate():
    clock, bus, chip, _ = make()
    clock.advance(1.0)
    bus.read_byte_data(0x68, 0x75)
    assert chip.samples_generated == 0
    start_fifo(bus, div=4, dlpf=3)  # 1 kHz / 5 = 200 Hz
    clock.advance(0.5)
    bus.read_byte_data(0x68, 0x75)
    assert chip.samples_generated == 100


def test_rate_error_makes_the_chip_clock_fast():
    clock, bus, chip, _ = make(rate_error_ppm=10_000)
    start_fifo(bus, div=4, dlpf=3)
    clock.advance(10.0)
    bus.read_byte_data(0x68, 0x75)
    assert chip.samples_generated == 2020


def test_source_is_called_with_increasing_non_overlapping_instants():
    clock, bus, _, src = make()
    start_fifo(bus)
    for _ in range(20):
        clock.advance(0.0137)
        bus.read_byte_data(0x68, 0x75)
    t = np.concatenate(src.calls)
    assert np.all(np.diff(t) > 0)


def test_data_registers_hold_the_latest_sample_quantised_and_clipped():
    clock, bus, _, _ = make()
    start_fifo(bus)  # gyro +-1000 dps: 32.8 LSB per deg/s
    clock.advance(0.5)
    raw = bytes(bus.read_i2c_block_data(0x68, 0x3B, 14))
    ax, ay, az, temp, gx, gy, gz = np.frombuffer(raw, ">i2")
    assert az == round(4096)  # 1 g at +-8 g
    assert gx == round(np.degrees(0.5) * 32.8)
    assert gz == round(np.degrees(1.0) * 32.8)
    clock.advance(30.0)  # 60 rad/s on z exceeds +-1000 dps
    raw = bytes(bus.read_i2c_block_data(0x68, 0x3B, 14))
    assert np.frombuffer(raw, ">i2")[6] == 32767


def test_fifo_is_drained_through_fifo_r_w_without_auto_increment():
    clock, bus, chip, _ = make()
    start_fifo(bus)
    clock.advance(0.010)  # 10 frames at 1 kHz
    assert fifo_count(bus) == 120
    write, read = i2c_msg.write(0x68, [0x74]), i2c_msg.read(0x68, 120)
    bus.i2c_rdwr(write, read)
    frames = np.frombuffer(bytes(read), ">i2").reshape(-1, 6)
    assert np.all(np.diff(frames[:, 3]) > 0)  # gyro x ramps: ten distinct samples in order
    assert chip.fifo_len == 0
    last = bytes(read)[-1]
    assert bus.read_i2c_block_data(0x68, 0x74, 3) == [last] * 3  # empty: the last byte again


def test_fifo_count_is_latched_when_the_high_byte_is_read():
    clock, bus, _, _ = make()
    start_fifo(bus)
    clock.advance(0.020)
    high = bus.read_byte_data(0x68, 0x72)
    clock.advance(0.005)  # more frames arrive
    low = bus.read_byte_data(0x68, 0x73)
    assert (high << 8) | low == 240
    assert fifo_count(bus) == 300


def test_a_frame_being_written_shows_in_the_count_byte_by_byte_and_is_read_whole_once_written():
    """``fifo_write_s``: the chip writes each frame into the FIFO over 0.6 ms from its sampling
    instant (1 kHz: frames at 1, 2, ... ms), 50 us a byte. Half-way through the second frame
    the count shows one frame and six bytes, and only those six bytes are in the FIFO; once
    written, the frame reads whole and is the sample it should be."""
    clock, bus, chip, _ = make(fifo_write_s=0.0006)
    start_fifo(bus)
    clock.advance(0.0023)  # frame 1 written at 1.6 ms; frame 2 (2 ms) 0.3 ms into its write
    assert fifo_count(bus) == 12 + 6 and chip.frames_writing == 1
    write, read = i2c_msg.write(0x68, [0x74]), i2c_msg.read(0x68, 12)
    bus.i2c_rdwr(write, read)  # the whole frame at the head
    assert np.frombuffer(bytes(read), ">i2")[3] == round(np.degrees(0.001) * 32.8)
    assert fifo_count(bus) == 6  # the frame being written: its first six bytes
    clock.advance(0.0003)
    assert fifo_count(bus) == 12 and chip.frames_writing == 0
    write, read = i2c_msg.write(0x68, [0x74]), i2c_msg.read(0x68, 12)
    bus.i2c_rdwr(write, read)
    assert np.frombuffer(bytes(read), ">i2")[3] == round(np.degrees(0.002) * 32.8)
    clock.advance(0.00048)  # 3.08 ms: frame 3 has 0.08 ms of its write, one byte
    assert fifo_count(bus) == 1
    bus.write_byte_data(0x68, 0x6A, 0x44)  # FIFO_RESET mid-write: the rest of the frame is dropped
    clock.advance(0.0005)  # 3.58 ms
    assert fifo_count(bus) == 0 and chip.frames_writing == 0
    clock.advance(0.00112)  # 4.7 ms: frame 4 (4 ms) is written from its start, whole
    assert fifo_count(bus) == 12


def test_frames_sampled_while_nobody_read_are_written_whole_and_in_order():
    """Many frames sampled between two transfers: all but the newest are long written; with
    the newest in flight, the FIFO holds every older frame whole, in order."""
    clock, bus, chip, _ = make(fifo_write_s=0.0006)
    start_fifo(bus)
    clock.advance(0.0203)  # 20 frames, the 20th 0.3 ms into its write
    assert fifo_count(bus) == 19 * 12 + 6 and chip.frames_writing == 1
    write, read = i2c_msg.write(0x68, [0x74]), i2c_msg.read(0x68, 19 * 12)
    bus.i2c_rdwr(write, read)
    gx = np.frombuffer(bytes(read), ">i2").reshape(-1, 6)[:, 3]
    assert np.array_equal(gx, np.round(np.degrees(np.arange(1, 20) * 0.001) * 32.8))


def test_fifo_overflow_drops_the_oldest_and_sets_fifo_oflow_until_read():
    clock, bus, chip, _ = make()
    start_fifo(bus)
    clock.advance(0.100)  # 100 frames = 1200 B > 1024
    assert fifo_count(bus) == 1024
    status = bus.read_byte_data(0x68, 0x3A)
    assert status & 0x10
    assert not bus.read_byte_data(0x68, 0x3A) & 0x10  # cleared by the read
    write, read = i2c_msg.write(0x68, [0x74]), i2c_msg.read(0x68, 1024)
    bus.i2c_rdwr(write, read)
    tail = bytes(read)[-(1024 % 12 or 12):]
    newest_gx = int.from_bytes(bytes(read)[-6:-4], "big", signed=True)
    assert newest_gx == round(np.degrees(0.100) * 32.8)
    assert len(tail) == 4  # 1024 is not a multiple of 12: the first frame is cut


def test_fifo_reset_bit_empties_the_fifo_and_clears_itself():
    clock, bus, chip, _ = make()
    start_fifo(bus)
    clock.advance(0.01)
    bus.write_byte_data(0x68, 0x6A, 0x44)
    assert chip.fifo_len == 0 and chip.reg(0x6A) == 0x40


def test_device_reset_restores_defaults_and_nacks_for_100_ms():
    clock, bus, chip, _ = make()
    start_fifo(bus)
    bus.write_byte_data(0x68, 0x6B, 0x80)
    with pytest.raises(OSError) as info:
        bus.read_byte_data(0x68, 0x75)
    assert info.value.errno == errno.EREMOTEIO
    clock.advance(0.1)
    assert bus.read_byte_data(0x68, 0x6B) == 0x40
    assert bus.read_byte_data(0x68, 0x19) == 0


def test_power_on_reset_mid_run_puts_the_chip_to_sleep_with_defaults():
    clock, bus, chip, _ = make()
    start_fifo(bus, div=4, dlpf=3)
    clock.advance(0.1)
    chip.power_on_reset()
    clock.advance(0.1)
    assert fifo_count(bus) == 0
    assert bus.read_byte_data(0x68, 0x6B) == 0x40
    assert bus.read_i2c_block_data(0x68, 0x19, 4) == [0, 0, 0, 0]


def test_wrong_who_am_i():
    _, bus, _, _ = make(who_am_i=0x98)
    assert bus.read_byte_data(0x68, 0x75) == 0x98


def test_no_chip_at_an_address_nacks():
    _, bus, _, _ = make()
    with pytest.raises(OSError) as info:
        bus.read_byte_data(0x69, 0x75)
    assert info.value.errno == errno.EREMOTEIO


def test_nack_rate_fails_about_that_fraction_of_transfers():
    clock = ManualClock()
    bus = FakeI2CBus(clock, nack_rate=0.25, seed=3)
    bus.attach(0x68, FakeMPU6050(Ramp(), clock))
    failures = 0
    for _ in range(2000):
        try:
            bus.read_byte_data(0x68, 0x75)
        except OSError as exc:
            assert exc.errno == errno.EREMOTEIO
            failures += 1
    assert 400 < failures < 600


def test_a_hang_times_out_for_its_duration_and_may_eat_clock_time():
    clock, bus, _, _ = make()
    bus.hang(0.5, stall_s=0.1)
    for expected_now in (0.1, 0.2, 0.3, 0.4, 0.5):
        with pytest.raises(OSError) as info:
            bus.read_byte_data(0x68, 0x75)
        assert info.value.errno == errno.ETIMEDOUT
        assert clock.now_s() == pytest.approx(expected_now)
    assert bus.read_byte_data(0x68, 0x75) == 0x68


def test_block_transfers_over_32_bytes_are_refused_like_smbus2():
    _, bus, _, _ = make()
    with pytest.raises(ValueError):
        bus.read_i2c_block_data(0x68, 0x74, 33)
    with pytest.raises(ValueError):
        bus.write_i2c_block_data(0x68, 0x00, [0] * 33)


# -- ADS1115 -------------------------------------------------------------------------------

class Force:
    def __init__(self):
        self.calls = []

    def sample(self, t_s):
        self.calls.append(np.array(t_s))
        n = len(t_s)
        return np.zeros((n, 3)), np.zeros((n, 3)), 100.0 + 100.0 * np.asarray(t_s)


def make_ads():
    clock = ManualClock()
    bus = FakeI2CBus(clock)
    src = Force()
    chip = bus.attach(0x48, FakeADS1115(src, clock, volts_per_n=0.01))
    return clock, bus, chip, src


def word(bus, pointer):
    return int.from_bytes(bytes(bus.read_i2c_block_data(0x48, pointer, 2)), "big")


def test_ads_reset_values_and_big_endian_registers():
    _, bus, _, _ = make_ads()
    assert word(bus, 0x01) == 0x8583
    assert word(bus, 0x02) == 0x8000 and word(bus, 0x03) == 0x7FFF


def test_ads_continuous_conversions_follow_the_data_rate():
    clock, bus, chip, src = make_ads()
    bus.write_i2c_block_data(0x48, 0x01, [0x42, 0xE3])  # AIN0, 4.096 V, continuous, 860 SPS
    clock.advance(0.5 / 860)
    assert word(bus, 0x00) == 0  # first conversion not done yet
    clock.advance(1.0 / 860)
    code = int.from_bytes(bytes(bus.read_i2c_block_data(0x48, 0x00, 2)), "big", signed=True)
    t_conv = 1.0 / 860
    assert code == round((100 + 100 * t_conv) * 0.01 / 4.096 * 32768)
    clock.advance(0.1)
    word(bus, 0x00)
    assert chip.conversions == 2  # only the latest conversion is computed on access
    assert src.calls[-1][0] == pytest.approx(np.floor((0.1 + 1.5 / 860) * 860) / 860)


def test_ads_bare_reads_return_the_pointed_register():
    clock, bus, _, _ = make_ads()
    bus.write_i2c_block_data(0x48, 0x01, [0x42, 0xE3])
    clock.advance(0.01)
    bus.i2c_rdwr(i2c_msg.write(0x48, [0x00]))
    msg = i2c_msg.read(0x48, 2)
    bus.i2c_rdwr(msg)
    assert int.from_bytes(bytes(msg), "big") == word(bus, 0x00) != 0


def test_ads_single_shot_clears_os_while_converting():
    clock, bus, _, _ = make_ads()
    bus.write_i2c_block_data(0x48, 0x01, [0xC3, 0xE3])  # OS=1, AIN0, single-shot, 860 SPS
    assert not word(bus, 0x01) & 0x8000
    clock.advance(1.0 / 860)
    assert word(bus, 0x01) & 0x8000
    assert word(bus, 0x00) != 0


def test_ads_other_channels_read_zero():
    clock, bus, _, _ = make_ads()
    bus.write_i2c_block_data(0x48, 0x01, [0x52, 0xE3])  # AIN1
    clock.advance(0.01)
    assert word(bus, 0x00) == 0
