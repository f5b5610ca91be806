"""An independent motion model of a person who lingers over tender spots (issue 23): they roll
back and forth from one place (the start of every pass, say just above the knee) up to a
turnaround that varies, and slow down over each spot. Written from the motion, not from the
project's simulator, and sensed by the roller model's sensors (tests/physics/roller.py).

The motion is set by speed as a function of position along the muscle: cruising at
``cruise_mps``, down to ``cruise_mps * (1 - depth)`` at the centre of each spot (a Gaussian dip
of ``spot_sd_m``), and easing in and out of each turnaround at ``accel_m_s2``. Time follows from
position (dt = dx / v), so the user really spends longer over each spot, whichever way they go.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from firmware.common.model import Block
from tests.physics.roller import RollSpec, sample_times, sense

GRID_M = 0.0005


@dataclass(frozen=True)
class Linger:
    spots_m: tuple[float, ...] = (0.08, 0.17)  # from the start of the passes, up the muscle
    tops_m: tuple[float, ...] = (0.24, 0.27, 0.30, 0.25, 0.28, 0.26, 0.29, 0.24)  # turnarounds
    cruise_mps: float = 0.09
    depth: float = 0.8  # speed drops by this fraction at a spot's centre
    spot_sd_m: float = 0.012
    accel_m_s2: float = 0.15
    turn_stop_s: float = 0.3


def _speed_at(x: np.ndarray, lo: float, hi: float, lg: Linger) -> np.ndarray:
    dip = np.zeros_like(x)
    for s in lg.spots_m:
        dip = np.maximum(dip, np.exp(-0.5 * ((x - s) / lg.spot_sd_m) ** 2))
    v = lg.cruise_mps * (1.0 - lg.depth * dip)
    ends = np.sqrt(2 * lg.accel_m_s2 * np.minimum(x - lo, hi - x).clip(0.0)) + 0.004
    return np.minimum(v, ends)


def linger_session(spec: RollSpec, lg: Linger) -> tuple[Block, dict]:
    """Samples and truth (passes, distance_m, spots_m) of one session."""
    rng = np.random.default_rng(spec.seed)
    # the path: 0 -> top -> 0 -> top ..., as (time, position) knots on a fine grid
    times, xs = [np.array([0.0])], [np.array([0.0])]
    t = spec.still_s + 0.6
    times.append(np.array([t]))
    xs.append(np.array([0.0]))
    distance = 0.0
    for top in lg.tops_m:
        grid = np.arange(0.0, top + GRID_M / 2, GRID_M)
        v = _speed_at(0.5 * (grid[1:] + grid[:-1]), 0.0, top, lg)
        dts = np.diff(grid) / v
        for way in (grid, grid[::-1]):
            steps = dts if way[0] == 0.0 else dts[::-1]
            times.append(t + np.cumsum(steps))
            xs.append(way[1:])
            t = times[-1][-1] + lg.turn_stop_s
            times.append(np.array([t]))
            xs.append(np.array([way[-1]]))
            distance += top
    end_s = t + 0.4 + spec.still_s
    times.append(np.array([end_s]))
    xs.append(np.array([0.0]))
    kt, kx = np.concatenate(times), np.concatenate(xs)
    ts = sample_times(spec, end_s, rng)
    x = np.interp(ts, kt, kx)
    v = np.gradient(x, ts)
    dvdt = np.gradient(v, ts)
    block, truth = sense(spec, ts, v, dvdt, np.zeros(len(ts)), end_s, rng)
    truth.update(distance_m=distance, passes=2 * len(lg.tops_m), spots_m=list(lg.spots_m))
    return block, truth


def dwell_truth(lg: Linger, bin_m: float) -> dict[float, float]:
    """Time per bin of bin_m from the pass start (keyed by bin centre), from the motion."""
    out: dict[float, float] = {}
    for top in lg.tops_m:
        grid = np.arange(0.0, top + GRID_M / 2, GRID_M)
        mid = 0.5 * (grid[1:] + grid[:-1])
        dts = 2 * np.diff(grid) / _speed_at(mid, 0.0, top, lg)
        for m, d in zip(mid, dts, strict=True):
            key = round((math.floor(m / bin_m) + 0.5) * bin_m, 3)
            out[key] = out.get(key, 0.0) + float(d)
    return out
