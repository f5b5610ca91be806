"""Roll axis and "up": PCA of the rotation while the user rolls up the limb once."""

from __future__ import annotations

import numpy as np

from calibration.gyro import sample_dt_s
from calibration.store import AxisCalibration
from firmware.common.errors import CalibrationError
from firmware.common.model import Block
from firmware.common.wire import utc_now_iso

MOVING_RAD_S = 0.2  # samples slower than this are not rolling
MIN_ROTATION_RAD = 1.5  # about 11 cm on a 7.5 cm roller
MIN_PLANARITY = 0.9  # share of the rotation energy about one axis


def principal_axis(gyro_rad_s: np.ndarray, dt_s: np.ndarray) -> tuple[np.ndarray, float]:
    """(unit axis, planarity): the dominant rotation axis of bias-free gyro samples (time-weighted
    second moment, largest eigenvector) and its share of the energy. The sign is canonical:
    the component with the largest magnitude is positive."""
    m = (gyro_rad_s * dt_s[:, None]).T @ gyro_rad_s
    evals, evecs = np.linalg.eigh(m)
    axis = evecs[:, -1]
    axis = axis * np.sign(axis[np.argmax(np.abs(axis))])
    total = float(evals.sum())
    return axis / np.linalg.norm(axis), float(evals[-1] / total) if total > 0 else 0.0


def estimate_axis(block: Block, bias_rad_s, *, direction: str = "up") -> AxisCalibration:
    """The roller axis (sensor frame) and the sign of rotation that means "up the limb", from a
    Block in which the user rolled once in ``direction`` ("up" or "down") as told."""
    if direction not in ("up", "down"):
        raise ValueError("direction must be 'up' or 'down'")
    w = block.gyro_rad_s - np.asarray(bias_rad_s, dtype=float)
    dt = sample_dt_s(block.t_s)
    moving = np.linalg.norm(w, axis=1) > MOVING_RAD_S
    if moving.sum() < 10:
        raise CalibrationError("axis: no rolling seen; roll the tool along the limb once, slowly and steadily")
    axis, planarity = principal_axis(w[moving], dt[moving])
    rotation = float(((w @ axis) * dt).sum())
    if planarity < MIN_PLANARITY:
        raise CalibrationError(
            f"axis: the rotation was not about one axis ({planarity:.0%} of it); roll straight, without twisting")
    if abs(rotation) < MIN_ROTATION_RAD:
        raise CalibrationError(
            f"axis: rolled only {abs(rotation):.2f} rad (need {MIN_ROTATION_RAD} rad); roll further in one direction")
    up_sign = int(np.sign(rotation)) * (1 if direction == "up" else -1)
    return AxisCalibration(tuple(float(x) for x in axis), up_sign, planarity, rotation, utc_now_iso("seconds"))
