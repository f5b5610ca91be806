"""Gyro bias from a still period: the mean rate, refused when the tool moved."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.store import GyroCalibration
from firmware.common.errors import CalibrationError
from firmware.common.model import Block
from firmware.common.wire import utc_now_iso


@dataclass(frozen=True)
class StillSettings:
    """Limits for "kept still" (the MPU-6050's noise is ~0.001 rad/s RMS at 100 Hz)."""

    max_gyro_std_rad_s: float = 0.01  # per-axis standard deviation
    max_gyro_dev_rad_s: float = 0.05  # worst single-sample deviation from the mean
    max_accel_std_m_s2: float = 0.3  # per-axis standard deviation
    min_duration_s: float = 1.0
    window_s: float = 0.5  # for find_still_bias


def estimate_gyro_bias(block: Block, settings: StillSettings = StillSettings()) -> GyroCalibration:
    """The mean gyro rate (rad/s) over a still Block; CalibrationError if it moved or is too short."""
    duration_s = float(block.t_s[-1] - block.t_s[0]) if len(block) > 1 else 0.0
    if duration_s < settings.min_duration_s:
        raise CalibrationError(
            f"gyro: only {duration_s:.2f} s of data (need {settings.min_duration_s:.1f} s); keep still longer")
    gyro = block.gyro_rad_s
    bias = gyro.mean(axis=0)
    std = gyro.std(axis=0)
    dev = float(np.abs(gyro - bias).max())
    accel_std = float(np.nanmax(block.accel_m_s2.std(axis=0)))
    if std.max() > settings.max_gyro_std_rad_s or dev > settings.max_gyro_dev_rad_s:
        raise CalibrationError(
            f"gyro: the tool moved (rate varied by up to {dev:.3f} rad/s); "
            "put it on the floor, keep it still and try again")
    if accel_std > settings.max_accel_std_m_s2:
        raise CalibrationError(
            f"gyro: the tool was shaken (acceleration varied by {accel_std:.2f} m/s^2); "
            "put it on the floor, keep it still and try again")
    noise = float(np.sqrt(((gyro - bias) ** 2).sum(axis=1).mean()))
    return GyroCalibration(tuple(float(x) for x in bias), noise, duration_s, utc_now_iso("seconds"))


def find_still_bias(block: Block, settings: StillSettings = StillSettings()) -> np.ndarray | None:
    """The gyro bias (rad/s, shape (3,)) from the still windows of a Block, or None if it never
    stays still for ``window_s``. Lets axis/radius runs work without a gyro calibration."""
    n = len(block)
    if n < 4:
        return None
    dt = float(np.median(np.diff(block.t_s)))
    w = max(4, int(round(settings.window_s / dt)))
    if n < w:
        return None
    k = n // w
    windows = block.gyro_rad_s[: k * w].reshape(k, w, 3)
    still = windows.std(axis=1).max(axis=1) <= settings.max_gyro_std_rad_s
    if not still.any():
        return None
    return windows[still].reshape(-1, 3).mean(axis=0)


def sample_dt_s(t_s: np.ndarray) -> np.ndarray:
    """Per-sample time step (s) for integrating: forward differences, the last repeated;
    gaps longer than 5 median steps count as one median step."""
    if len(t_s) < 2:
        return np.zeros(len(t_s))
    d = np.diff(t_s)
    med = float(np.median(d))
    d = np.where(d > 5 * med, med, d)
    return np.append(d, med)
