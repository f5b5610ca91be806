"""Force curve from a tare and known weights: linear for a load cell (HX711 counts), a
conductance power law F = a·G^b for an FSR in a voltage divider (ADS1115 volts)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calibration.store import ForceCalibration, fsr_conductance_s
from firmware.common.errors import CalibrationError
from firmware.common.model import Block
from firmware.common.wire import utc_now_iso

MODELS = ("linear", "fsr-power")
# A fit worse than this at any known weight (|fit - known| / known) is not saved unless the
# user insists (--save-anyway): a weight off the sensor, a wrong weight typed in, or the
# wrong model for the front end.
FORCE_FIT_MAX_REL = 0.10


def raw_level(block: Block) -> float:
    """The front end's steady reading during a Block (median of the force channel, raw units)."""
    x = block.force_n[np.isfinite(block.force_n)]
    if x.size == 0:
        raise CalibrationError("force: no readings from the force sensor; check force.frontend and the wiring")
    return float(np.median(x))


def fit_force(points: Sequence[tuple[float, float]], *, tare_raw: float, model: str,
              supply_v: float = 3.3, divider_ohm: float = 10_000.0,
              raw_unit: str = "counts") -> ForceCalibration:
    """Fit (raw reading, known force N) points taken after a tare at ``tare_raw``.
    ``raw_unit`` ("counts" | "V") only matters for "linear"; an FSR reading is always volts."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}")
    loaded = [(float(r), float(f)) for r, f in points if f > 0]
    if model == "linear":
        return _fit_linear(loaded, tare_raw, raw_unit)
    return _fit_fsr(loaded, tare_raw, supply_v, divider_ohm)


def _fit_linear(loaded: list[tuple[float, float]], tare_raw: float, raw_unit: str) -> ForceCalibration:
    if not loaded:
        raise CalibrationError("force: need at least one known weight above zero")
    x = np.array([r for r, _ in loaded]) - tare_raw
    f = np.array([f for _, f in loaded])
    if not np.any(np.abs(x) > 0):
        raise CalibrationError("force: the reading did not change under load; check the load cell wiring")
    scale = float((x * f).sum() / (x * x).sum())  # least squares through the tare point
    pred = scale * x
    return _result("linear", raw_unit, tare_raw, loaded, pred, scale_n_per_raw=scale)


def _fit_fsr(loaded, tare_raw, supply_v, divider_ohm) -> ForceCalibration:
    if len({f for _, f in loaded}) < 2:
        raise CalibrationError("force: an FSR needs at least two different known weights above zero")
    v = np.array([r for r, _ in loaded]) - tare_raw
    f = np.array([f for _, f in loaded])
    g = fsr_conductance_s(v, supply_v, divider_ohm)
    if np.any(g <= 0):
        bad = f[g <= 0][0]
        raise CalibrationError(f"force: no FSR reading under {bad:.1f} N; check the divider and that the load sits on the sensor")
    b, log_a = np.polyfit(np.log(g), np.log(f), 1)
    a = float(np.exp(log_a))
    pred = a * g ** b
    return _result("fsr-power", "V", tare_raw, loaded, pred, a=a, b=float(b),
                   supply_v=float(supply_v), divider_ohm=float(divider_ohm))


def _result(model, unit, tare_raw, loaded, pred, **params) -> ForceCalibration:
    f = np.array([f for _, f in loaded])
    err = pred - f
    return ForceCalibration(
        model=model, raw_unit=unit, tare_raw=float(tare_raw),
        fit_rms_n=float(np.sqrt((err ** 2).mean())),
        fit_max_rel=float(np.max(np.abs(err) / f)),
        points=tuple((r, fn) for r, fn in loaded),
        calibrated_at=utc_now_iso("seconds"), **params)
