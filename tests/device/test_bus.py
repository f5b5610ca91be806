"""I2CBus: block reads/writes, long reads through i2c_rdwr, errors wrapped with bounded
retries, counters, lazy opening of a real bus."""

from __future__ import annotations

import errno
import threading

import numpy as np
import pytest

from device.bus import I2CBus, wire_bits
from device.fake import FakeI2CBus, FakeMPU6050
from firmware.common.clock import ManualClock
from firmware.common.errors import SensorError, SensorTimeout, SetupError


class Still:
    def sample(self, t_s):
        n = len(t_s)
        return np.zeros((n, 3)), np.tile([0.0, 0.0, 9.81], (n, 1)), np.zeros(n)


@pytest.fixture
def rig():
    clock = ManualClock()
    fake = FakeI2CBus(clock)
    chip = fake.attach(0x68, FakeMPU6050(Still(), clock))
    return clock, fake, chip, I2CBus(fake, clock=clock, retries=2, retry_delay_s=0.002)


def test_block_write_then_read_back_counts_transactions_and_bytes(rig):
    _, _, chip, bus = rig
    bus.write(0x68, 0x19, [4, 3, 0x10, 0x08])
    assert bus.read(0x68, 0x19, 4) == bytes([4, 3, 0x10, 0x08])
    assert chip.reg(0x1B) == 0x10
    assert bus.stats.transactions == 2
    assert bus.stats.bytes_written == 5 + 1  # pointer + 4 data, then the read's pointer
    assert bus.stats.bytes_read == 4
    assert bus.stats.wire_bits == wire_bits([5]) + wire_bits([1, 4])


def test_wire_bits_of_a_14_byte_burst_match_the_reference_arithmetic():
    # S + addr+W + reg + Sr + addr+R + 14 data + P = 156 bit times (hardware.md §3)
    assert wire_bits([1, 14]) == 156


def test_reads_over_32_bytes_use_one_i2c_rdwr_transfer(rig):
    clock, _, chip, bus = rig
    bus.write_byte(0x68, 0x6B, 0x01)
    bus.write_byte(0x68, 0x6A, 0x40)
    bus.write_byte(0x68, 0x23, 0x78)
    clock.advance(0.1)  # DLPF off, SMPLRT_DIV 0: 8 kHz, the FIFO fills up
    count = int.from_bytes(bus.read(0x68, 0x72, 2), "big")
    assert count > 32
    before = bus.stats.transactions
    data = bus.read(0x68, 0x74, count, stream=True)
    assert len(data) == count and bus.stats.transactions == before + 1
    assert chip.fifo_len == 0


def test_missing_chip_is_a_sensor_error_from_the_oserror_after_bounded_retries(rig):
    clock, _, _, bus = rig
    with pytest.raises(SensorError) as info:
        bus.read(0x50, 0x00, 2)
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.errno == errno.EREMOTEIO
    assert "0x50" in str(info.value) and "3 attempt" in str(info.value)
    assert bus.stats.errors == 3 and bus.stats.retries == 2
    assert clock.now_s() == pytest.approx(2 * 0.002)  # retry delay through the clock


def test_transient_nacks_are_retried_and_succeed(rig):
    clock, fake, _, _ = rig
    bus = I2CBus(fake, clock=clock, retries=6, retry_delay_s=0.001)
    fake.nack_rate = 0.3
    values = [bus.read_byte(0x68, 0x75) for _ in range(200)]
    assert set(values) == {0x68}
    assert bus.stats.retries > 20


def test_a_hung_bus_raises_sensor_timeout(rig):
    clock, fake, _, bus = rig
    fake.hang(1.0)
    with pytest.raises(SensorTimeout) as info:
        bus.read_byte(0x68, 0x75)
    assert info.value.__cause__.errno == errno.ETIMEDOUT
    clock.advance(1.0)
    assert bus.read_byte(0x68, 0x75) == 0x68


def test_stream_reads_are_not_retried_after_a_timeout(rig):
    _, fake, _, bus = rig
    fake.hang(1.0)
    with pytest.raises(SensorTimeout):
        bus.read(0x68, 0x74, 12, stream=True)
    assert bus.stats.errors == 1


@pytest.mark.parametrize("code, wrapped", [(errno.EREMOTEIO, SensorError), (errno.EIO, SensorError),
                                           (errno.ETIMEDOUT, SensorTimeout),
                                           (errno.ENXIO, SensorError)])
def test_transient_errnos_are_retried_then_wrapped(code, wrapped):
    attempts = []

    class Flaky:
        def read_i2c_block_data(self, *a):
            attempts.append(1)
            if len(attempts) < 3:
                raise OSError(code, "flaky")
            return [0x68]

        def write_i2c_block_data(self, *a):
            raise OSError(code, "always")

    bus = I2CBus(Flaky(), clock=ManualClock(), retries=2)
    assert bus.read_byte(0x68, 0x75) == 0x68 and bus.stats.retries == 2
    with pytest.raises(wrapped) as info:
        bus.write_byte(0x68, 0x6B, 0)
    assert type(info.value) is wrapped and info.value.__cause__.errno == code


def test_other_errors_are_not_retried():
    class Broken:
        def read_i2c_block_data(self, *a):
            raise OSError(errno.EINVAL, "Invalid argument")

    bus = I2CBus(Broken(), clock=ManualClock())
    with pytest.raises(SensorError):
        bus.read(0x68, 0x75, 1)
    assert bus.stats.errors == 1 and bus.stats.retries == 0


def test_open_is_lazy_and_a_missing_device_file_is_a_setup_error():
    bus = I2CBus.open(97, clock=ManualClock())  # nothing opened yet
    assert bus.name == "i2c-97"
    with pytest.raises(SetupError, match="/dev/i2c-97"):
        bus.read_byte(0x68, 0x75)


def test_one_lock_serialises_threads(rig):
    _, fake, _, bus = rig
    inside = []

    original = fake.read_i2c_block_data

    def watched(*args, **kwargs):
        inside.append(1)
        assert len(inside) == 1, "two transfers overlapped"
        try:
            return original(*args, **kwargs)
        finally:
            inside.pop()

    fake.read_i2c_block_data = watched
    threads = [threading.Thread(target=lambda: [bus.read_byte(0x68, 0x75) for _ in range(300)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bus.stats.transactions == 1200
