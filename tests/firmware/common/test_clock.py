import time

import pytest

from firmware.common.clock import ManualClock, MonotonicClock, PacedClock


def test_manual_clock_moves_only_by_hand():
    c = ManualClock(5.0)
    c.sleep_s(0.5)
    c.advance(1.0)
    assert c.now_s() == pytest.approx(6.5)


def test_monotonic_clock_scales_time():
    c = MonotonicClock(speed=50)
    t0 = c.now_s()
    time.sleep(0.02)  # deliberate: real time passing is what the clock scales
    assert c.now_s() - t0 >= 0.9  # 20 ms real is >= 1 s simulated at 50x


def test_paced_clock_time_stands_still_while_the_loop_works():
    c = PacedClock(speed=20)
    time.sleep(0.05)  # deliberate: a stall: simulated time must not jump
    assert c.now_s() == 0.0
    c.sleep_s(0.02)
    assert c.now_s() == pytest.approx(0.02)


def test_paced_clock_keeps_pace_with_the_wall_clock():
    c = PacedClock(speed=10)
    start = time.monotonic()
    for _ in range(20):
        c.sleep_s(0.02)  # 0.4 s simulated = 40 ms real at 10x
    elapsed = time.monotonic() - start
    assert 0.035 <= elapsed < 0.5
    assert c.now_s() == pytest.approx(0.4)


@pytest.mark.parametrize("cls", [MonotonicClock, PacedClock])
def test_speed_must_be_positive(cls):
    with pytest.raises(ValueError):
        cls(speed=0)
