"""Effective rolling radius from a roll over a known distance: r = d / ∫|ω·axis| dt, the
integral taken over the roll (from where it starts to where it stops), bias removed."""

from __future__ import annotations

import numpy as np

from calibration.axis import MOVING_RAD_S, principal_axis
from calibration.gyro import sample_dt_s
from calibration.store import RadiusCalibration
from firmware.common.errors import CalibrationError
from firmware.common.model import Block
from firmware.common.wire import utc_now_iso

DEADBAND_RAD_S = 0.05  # the roll starts / ends where the rate crosses this
PAD_S = 0.25  # integrate this much before and after, to catch the slow start and stop


def estimate_radius(block: Block, *, distance_m: float, bias_rad_s, axis_xyz=None,
                    tool: str | None = None) -> RadiusCalibration:
    """The effective radius (m) from a Block in which the tool rolled ``distance_m`` along the
    tissue. ``axis_xyz`` None = estimate it from this roll."""
    if not distance_m > 0:
        raise ValueError("distance_m must be positive")
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
    rotation = 0.0
    if moving.size:  # integrate from just before the roll starts to just after it ends
        pad = int(round(PAD_S / float(np.median(dt))))
        i0, i1 = max(0, moving[0] - pad), moving[-1] + pad + 1
        rotation = float((rate[i0:i1] * dt[i0:i1]).sum())
    if rotation < 0.5:
        raise CalibrationError(
            f"radius: only {rotation:.2f} rad of rolling seen; roll the whole {distance_m:.2f} m")
    radius_m = distance_m / rotation
    if not 0.003 <= radius_m <= 0.5:
        raise CalibrationError(
            f"radius: {radius_m * 1000:.1f} mm is not a plausible radius; check the distance and roll again")
    return RadiusCalibration(radius_m, float(distance_m), rotation, tool, utc_now_iso("seconds"))
