"""The shared vocabulary of the data flow: what the sampler hands to metrics, and what
metrics hands to the coach. Plain frozen dataclasses (Pass and Hold with slots: a long session
makes thousands; Metrics: a NamedTuple), SI units in the field names.

    chips -> sampler -> Block -> metrics -> Metrics -> coach -> Cue / Event
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class Block:
    """A run of IMU samples on sensor time, with force sampled at the same instants.

    ``t_s`` is strictly increasing sensor time (seconds, need not be evenly spaced).
    ``gyro_rad_s`` is raw: the gyro bias is NOT removed. ``force_n`` is calibrated
    newtons, NaN where the tool has no force sensor. ``gap_before`` says samples were
    lost just before this block (for example after a FIFO overflow).
    """

    t_s: np.ndarray  # (n,) float64
    gyro_rad_s: np.ndarray  # (n, 3) float64
    accel_m_s2: np.ndarray  # (n, 3) float64
    force_n: np.ndarray  # (n,) float64
    gap_before: bool = False

    def __post_init__(self) -> None:
        n = len(self.t_s)
        if self.gyro_rad_s.shape != (n, 3) or self.accel_m_s2.shape != (n, 3):
            raise ValueError(f"Block: gyro/accel must be ({n}, 3)")
        if self.force_n.shape != (n,):
            raise ValueError(f"Block: force must be ({n},)")

    def __len__(self) -> int:
        return len(self.t_s)

    @classmethod
    def concat(cls, blocks: list[Block]) -> Block:
        return cls(
            t_s=np.concatenate([b.t_s for b in blocks]),
            gyro_rad_s=np.concatenate([b.gyro_rad_s for b in blocks]),
            accel_m_s2=np.concatenate([b.accel_m_s2 for b in blocks]),
            force_n=np.concatenate([b.force_n for b in blocks]),
            gap_before=blocks[0].gap_before if blocks else False,
        )

    def slice(self, start: int, stop: int) -> Block:
        return Block(
            self.t_s[start:stop],
            self.gyro_rad_s[start:stop],
            self.accel_m_s2[start:stop],
            self.force_n[start:stop],
            self.gap_before if start == 0 else False,
        )


@dataclass(frozen=True, slots=True)
class Pass:
    """One one-way pass: turnaround to turnaround, at least the minimum travel."""

    start_s: float
    end_s: float
    length_m: float
    direction: int  # +1 up the limb, -1 down, 0 unknown sign
    mean_speed_mps: float
    mean_force_n: float  # NaN without a force sensor

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Hold:
    """Still (< hold speed) under contact for at least the minimum hold time."""

    start_s: float
    duration_s: float
    force_n: float  # median force over the hold


class Metrics(NamedTuple):
    """What the tool is doing at sensor time ``t_s`` (the end of the last Block).

    A NamedTuple rather than a frozen dataclass: one is built for every Block (25 a second on
    the device), and it is three times cheaper to build; it is just as immutable (use
    ``_replace``)."""

    t_s: float
    speed_mps: float  # current tissue speed, unsigned, smoothed
    velocity_mps: float  # signed: + is up the limb (when the sign is known)
    position_m: float  # along the pass axis since the start
    force_n: float  # current force (NaN without a force sensor)
    contact: bool  # force above the contact threshold (with hysteresis)
    still: bool  # speed below the hold speed
    holding: bool  # a hold is in progress (still under contact >= hold_min_s)
    hold_s: float  # length of the current hold so far, 0 if none
    passes: int  # completed passes so far
    rolling_s: float  # time moving under contact so far
    contact_s: float  # time under contact so far
    distance_m: float  # path rolled so far
    # passes and holds the estimator found during the last Block (each once; they may have
    # ended up to MetricsSettings.estimate_every_s of sensor time before it)
    new_passes: tuple[Pass, ...] = ()
    new_holds: tuple[Hold, ...] = ()
    degraded: str = ""  # non-empty when a sensor is missing or faulty
