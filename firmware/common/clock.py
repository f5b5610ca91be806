"""The one injectable clock. Everything that needs "now" at the edge takes a Clock."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_s(self) -> float: ...

    def sleep_s(self, seconds: float) -> None: ...


class MonotonicClock:
    """Wall-clock-paced monotonic time, optionally running ``speed`` times faster."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._t0 = time.monotonic()

    def now_s(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def sleep_s(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)


class ManualClock:
    """A clock tests move by hand; ``sleep_s`` advances it instead of waiting."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s
        self._lock = threading.Lock()

    def now_s(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep_s(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))


class PacedClock:
    """Simulated time that advances only when the loop sleeps, paced to run ``speed``
    times faster than the wall clock.

    For simulated hardware: a stall in processing (a slow disk, a busy CPU) delays the
    simulation instead of letting simulated chips overflow their FIFOs, so a simulated
    run is the same however loaded the machine is. When behind, it catches up by not
    sleeping until the wall clock is back on pace.
    """

    def __init__(self, speed: float = 1.0, start_s: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._now = start_s
        self._wall0 = time.monotonic() - start_s / speed
        self._lock = threading.Lock()

    def now_s(self) -> float:
        with self._lock:
            return self._now

    def sleep_s(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)
            due = self._wall0 + self._now / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
