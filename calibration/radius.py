"""Effective rolling radius from a roll over a known distance: r = d / ∫|ω·axis| dt, the
integral taken over the roll (from where it starts to where it stops), bias removed.

Foam compresses under load, so a foam roller's radius depends on how hard the user presses.
Rolls of the same distance at two or more pressures give a radius against force: each roll's
radius, at the force it was rolled with (the mean force weighted by the rotation rate, the
weight each sample has in the distance), sorted by force; the radius at no load is the line
through the two lightest rolls taken back to 0 N (never below the lightest roll's radius, at
most 25 % above it). The metrics apply the curve sample by sample (linear between points,
flat outside).
"""

from __future__ import annotations

import numpy as np

from calibration.axis import MOVING_RAD_S, principal_axis
from calibration.gyro import sample_dt_s
from calibration.store import RadiusCalibration
from firmware.common.errors import CalibrationError
from firmware.common.model import Block
from firmware.common.wire import utc_now_iso
from firmware.core.metrics.radius import check_radius_curve

DEADBAND_RAD_S = 0.05  # the roll starts / ends where the rate crosses this
PAD_S = 0.25  # integrate this much before and after, to catch the slow start and stop
MIN_FORCE_STEP_N = 15.0  # rolls for a curve must differ in force by at least this
MAX_RADIUS_RISE = 0.02  # a radius may not grow with force by more than this (relative)
NO_LOAD_MAX_RISE = 0.25  # the no-load radius: at most this much above the lightest roll's


def roll_rotation(block: Block, *, bias_rad_s, axis_xyz=None) -> tuple[float, float]:
    """(rotation rad about the roll axis over the roll, mean force N over it weighted by the
    rotation rate; NaN without force readings). ``axis_xyz`` None = estimated from the roll."""
    w = block.gyro_rad_s - np.asarray(bias_rad_s, dtype=float)
    dt = sample_dt_s(block.t_s)
    if axis_xyz is None:
        moving = np.linalg.norm(w, axis=1) > MOVING_RAD_S
        if moving.sum() < 10:
            raise CalibrationError("radius: no rolling seen; roll the measured distance once")
        axis, _ = principal_axis(w[moving], dt[moving])
    else:
        axis = np.asarray(axis_xyz, dtype=float)
    rate = np.abs(w @ axis)
    moving = np.flatnonzero(rate > DEADBAND_RAD_S)
    if not moving.size:
        return 0.0, float("nan")
    pad = int(round(PAD_S / float(np.median(dt))))
    i0, i1 = max(0, moving[0] - pad), moving[-1] + pad + 1
    weight = rate[i0:i1] * dt[i0:i1]
    rotation = float(weight.sum())
    force = block.force_n[i0:i1]
    has = np.isfinite(force)
    force_n = (float((force[has] * weight[has]).sum() / weight[has].sum())
               if has.any() and weight[has].sum() > 0 else float("nan"))
    return rotation, force_n


def estimate_radius(block: Block, *, distance_m: float, bias_rad_s, axis_xyz=None,
                    tool: str | None = None) -> RadiusCalibration:
    """The effective radius (m) from a Block in which the tool rolled ``distance_m`` along the
    tissue. ``axis_xyz`` None = estimate it from this roll."""
    if not distance_m > 0:
        raise ValueError("distance_m must be positive")
    rotation, _ = roll_rotation(block, bias_rad_s=bias_rad_s, axis_xyz=axis_xyz)
    radius_m = _radius(distance_m, rotation)
    return RadiusCalibration(radius_m, float(distance_m), rotation, tool, utc_now_iso("seconds"))


def _radius(distance_m: float, rotation: float) -> float:
    if rotation < 0.5:
        raise CalibrationError(
            f"radius: only {rotation:.2f} rad of rolling seen; roll the whole {distance_m:.2f} m")
    radius_m = distance_m / rotation
    if not 0.003 <= radius_m <= 0.5:
        raise CalibrationError(
            f"radius: {radius_m * 1000:.1f} mm is not a plausible radius; check the distance and roll again")
    return radius_m


def estimate_radius_curve(blocks, *, distance_m: float, bias_rad_s, axis_xyz=None,
                          tool: str | None = None) -> RadiusCalibration:
    """The radius against force from rolls of ``distance_m`` at different pressures (one Block
    each, two or more); radius_m is the radius at no load (see the module docstring)."""
    if not distance_m > 0:
        raise ValueError("distance_m must be positive")
    if len(blocks) < 2:
        raise CalibrationError("radius: a radius curve needs rolls at two or more pressures")
    rolls = []
    for k, block in enumerate(blocks, 1):
        rotation, force_n = roll_rotation(block, bias_rad_s=bias_rad_s, axis_xyz=axis_xyz)
        if force_n != force_n:
            raise CalibrationError(f"radius: roll {k} has no force readings; a radius curve needs "
                                   "the force sensor (check force.frontend), or roll once without --pressures")
        rolls.append((force_n, _radius(distance_m, rotation), rotation))
    rolls.sort()
    for (f0, r0, _), (f1, r1, _) in zip(rolls, rolls[1:], strict=False):
        if f1 - f0 < MIN_FORCE_STEP_N:
            raise CalibrationError(
                f"radius: two rolls were pressed alike ({f0:.0f} N and {f1:.0f} N); press clearly "
                f"harder on each roll (at least {MIN_FORCE_STEP_N:g} N apart) and calibrate again")
        if r1 > r0 * (1 + MAX_RADIUS_RISE):
            raise CalibrationError(
                f"radius: the radius grew with force ({r0 * 1000:.1f} mm at {f0:.0f} N, "
                f"{r1 * 1000:.1f} mm at {f1:.0f} N); a roll was probably not the full "
                f"{distance_m:g} m; calibrate again")
    (f1, r1, _), (f2, r2, _) = rolls[0], rolls[1]
    no_load = r1 + (r1 - r2) / (f2 - f1) * f1 if f1 > 0 else r1
    no_load = min(max(no_load, r1), r1 * (1 + NO_LOAD_MAX_RISE), 0.5)
    points = [(f, r) for f, r, _ in rolls]
    if f1 > 0:
        points.insert(0, (0.0, no_load))
    curve = check_radius_curve(points)
    mean_rotation = float(sum(r[2] for r in rolls) / len(rolls))  # per roll of distance_m
    return RadiusCalibration(no_load, float(distance_m), mean_rotation, tool,
                             utc_now_iso("seconds"), curve=curve)
