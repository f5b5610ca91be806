"""The one calibration file: versioned JSON, validated on load, written atomically, history kept.

    {"format": "rollsense-calibration/1", "revision": 3, "saved_at": "...Z",
     "gyro":   {"bias_rad_s": [x, y, z], "noise_rad_s": s, "duration_s": s, "calibrated_at": "..."},
     "axis":   {"axis_xyz": [x, y, z], "up_sign": 1, "planarity": 0..1, "rotation_rad": r, ...},
     "radius": {"radius_m": r, "distance_m": d, "rotation_rad": r, "tool": "roller" | null,
                "curve": [[force_n, radius_m], ...] | null, ...},
     "force":  {"model": "linear" | "fsr-power", "raw_unit": "V" | "counts", "tare_raw": x,
                "scale_n_per_raw": k | null, "a": a | null, "b": b | null, "supply_v": v | null,
                "divider_ohm": r | null, "fit_rms_n": e, "fit_max_rel": e, "points": [[raw, n], ...], ...}}

Sections are optional (absent = not calibrated). Saving moves the previous file to
``<name>.1`` (and ``.1`` to ``.2`` ... up to ``HISTORY_KEEP``), then renames a fsynced temp
file into place, so a power cut leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firmware.common.errors import ConfigError
from firmware.common.files import write_atomic
from firmware.common.wire import utc_now_iso
from firmware.core.metrics.radius import check_radius_curve

FORMAT = "rollsense-calibration/1"
HISTORY_KEEP = 10
STANDARD_GRAVITY_M_S2 = 9.80665


@dataclass(frozen=True)
class GyroCalibration:
    bias_rad_s: tuple[float, float, float]
    noise_rad_s: float  # RMS of the still gyro after removing the bias (norm over axes)
    duration_s: float
    calibrated_at: str = ""


@dataclass(frozen=True)
class AxisCalibration:
    axis_xyz: tuple[float, float, float]  # unit vector, sensor frame
    up_sign: int  # +1/-1: sign of rotation about axis_xyz that rolls up the limb
    planarity: float  # share of rotation energy about the axis (1 = a clean roll)
    rotation_rad: float  # net rotation about the axis during the calibration roll
    calibrated_at: str = ""


@dataclass(frozen=True)
class RadiusCalibration:
    radius_m: float  # effective rolling radius
    distance_m: float  # the known distance rolled
    rotation_rad: float  # the rotation measured over it
    tool: str | None = None
    calibrated_at: str = ""
    # foam compresses: the rolling radius measured at several forces, (force N, radius m) with
    # force increasing (linear between, flat outside); radius_m is then the radius at no load.
    # None: one radius (a rigid tool, or calibrated at one pressure)
    curve: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class ForceCalibration:
    """raw -> newtons. ``linear``: F = scale·(raw − tare) (load cell + HX711, raw in counts).
    ``fsr-power``: FSR to V+ over a divider resistor to GND, raw = V_out in volts at the ADC:
    R_fsr = R_m·(V+/(V_out − tare) − 1), G = 1/R_fsr (siemens), F = a·G^b."""

    model: str  # "linear" | "fsr-power"
    raw_unit: str  # "counts" | "V"
    tare_raw: float
    fit_rms_n: float
    fit_max_rel: float  # worst |fit − known| / known over the loaded points
    points: tuple[tuple[float, float], ...]  # (raw, known force N) used for the fit
    scale_n_per_raw: float | None = None
    a: float | None = None
    b: float | None = None
    supply_v: float | None = None
    divider_ohm: float | None = None
    calibrated_at: str = ""

    def newtons(self, raw):
        """Force in N for a raw front-end reading (float -> float; arrays vectorised); never
        negative. Fits the drivers' ``calibration.newtons(value)`` hook (device/ads1115.py)."""
        x = np.asarray(raw, dtype=float) - self.tare_raw
        if self.model == "linear":
            f = np.maximum(self.scale_n_per_raw * x, 0.0)
        else:
            g = fsr_conductance_s(x, self.supply_v, self.divider_ohm)
            f = np.where(g > 0, self.a * np.power(np.maximum(g, 1e-30), self.b), 0.0)
        return float(f) if f.ndim == 0 else f


class RawForce:
    """An identity force calibration: drivers then report the raw reading (ADS1115 volts,
    HX711 counts) in ``Block.force_n``, which is what ``calibrate_force`` needs."""

    def newtons(self, value):
        return value


def fsr_conductance_s(v_out: np.ndarray, supply_v: float, divider_ohm: float) -> np.ndarray:
    """FSR conductance (S) from the divider output: G = V_out / (R_m·(V+ − V_out)); 0 at V_out ≤ 0."""
    v = np.clip(np.asarray(v_out, dtype=float), 0.0, supply_v * (1 - 1e-9))
    return v / (divider_ohm * (supply_v - v))


@dataclass(frozen=True)
class Calibration:
    gyro: GyroCalibration | None = None
    axis: AxisCalibration | None = None
    radius: RadiusCalibration | None = None
    force: ForceCalibration | None = None
    revision: int = 0  # +1 on every save
    saved_at: str = ""

    @property
    def complete(self) -> bool:
        return None not in (self.gyro, self.axis, self.radius, self.force)


SECTIONS = {"gyro": GyroCalibration, "axis": AxisCalibration, "radius": RadiusCalibration,
            "force": ForceCalibration}


def metrics_overrides(cal: Calibration) -> dict:
    """The MetricsSettings fields this calibration knows: gyro_bias_rad_s, axis_xyz, up_sign,
    radius_m, radius_curve."""
    out: dict[str, Any] = {}
    if cal.gyro:
        out["gyro_bias_rad_s"] = cal.gyro.bias_rad_s
    if cal.axis:
        out["axis_xyz"] = cal.axis.axis_xyz
        out["up_sign"] = cal.axis.up_sign
    if cal.radius:
        out["radius_m"] = cal.radius.radius_m
        if cal.radius.curve is not None:
            out["radius_curve"] = cal.radius.curve
    return out


# ----------------------------------------------------------------------------- writing


def to_json(cal: Calibration) -> str:
    doc: dict[str, Any] = {"format": FORMAT, "revision": cal.revision, "saved_at": cal.saved_at}
    for name in SECTIONS:
        section = getattr(cal, name)
        if section is not None:
            doc[name] = _jsonable(dataclasses.asdict(section))
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def save_calibration(path: str | os.PathLike, cal: Calibration) -> Calibration:
    """Write ``cal`` atomically as the next revision; the previous file becomes ``<path>.1``.
    Returns what was written (revision and saved_at filled in)."""
    path = Path(path)
    previous = load_calibration(path) if path.exists() else None
    revision = max(cal.revision, previous.revision if previous else 0) + 1
    cal = dataclasses.replace(cal, revision=revision, saved_at=utc_now_iso("seconds"))
    # the daemon user must read what `sudo rollsense calibrate` wrote: keep the file's mode
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    write_atomic(path, to_json(cal), mode=mode,
                 before_replace=(lambda: _rotate_history(path)) if path.exists() else None)
    return cal


def history_paths(path: str | os.PathLike) -> list[Path]:
    """Previous versions, newest first (``<path>.1``, ``<path>.2`` ...)."""
    path = Path(path)
    return [p for i in range(1, HISTORY_KEEP + 1) if (p := path.with_name(f"{path.name}.{i}")).exists()]


def _rotate_history(path: Path) -> None:
    """<path>.N-1 -> .N ... .1 -> .2, then a hard link <path> -> .1 (the live file stays in place
    until the new one replaces it)."""
    def hist(i: int) -> Path:
        return path.with_name(f"{path.name}.{i}")

    hist(HISTORY_KEEP).unlink(missing_ok=True)
    for i in range(HISTORY_KEEP - 1, 0, -1):
        if hist(i).exists():
            os.replace(hist(i), hist(i + 1))
    try:
        os.link(path, hist(1))
    except OSError:  # file systems without hard links: a copy is just as good here
        hist(1).write_bytes(path.read_bytes())


# ----------------------------------------------------------------------------- loading


def load_calibration(path: str | os.PathLike, *, missing_ok: bool = False) -> Calibration:
    """Read and validate the calibration file; ConfigError (one line) if it is bad.
    With ``missing_ok`` a missing file is an empty Calibration."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        if missing_ok:
            return Calibration()
        raise ConfigError(f"{path}: no calibration file; run `rollsense calibrate gyro` (and axis, radius, force)") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the calibration file: {e}") from e
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from e
    try:
        return calibration_from_dict(doc)
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from e


def calibration_from_dict(doc: Any) -> Calibration:
    """Validate a parsed calibration document; ValueError with 'key: problem (got x)'."""
    if not isinstance(doc, dict):
        raise ValueError("must be a JSON object")
    if doc.get("format") != FORMAT:
        raise ValueError(f"format: must be {FORMAT!r} (got {doc.get('format')!r})")
    unknown = set(doc) - {"format", "revision", "saved_at", *SECTIONS}
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown key")
    revision = doc.get("revision", 0)
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ValueError(f"revision: must be a non-negative integer (got {revision!r})")
    kwargs: dict[str, Any] = {"revision": revision, "saved_at": str(doc.get("saved_at", ""))}
    for name, cls in SECTIONS.items():
        if doc.get(name) is not None:
            kwargs[name] = _section(name, cls, doc[name])
    return Calibration(**kwargs)


def _section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ValueError(f"{name}: must be an object (got {raw!r})")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ValueError(f"{name}.{key}: unknown key")
    values = {}
    for key, f in fields.items():
        if key not in raw:
            if f.default is dataclasses.MISSING:
                raise ValueError(f"{name}.{key}: missing")
            continue
        values[key] = _CHECKS[(name, key)](f"{name}.{key}", raw[key])
    section = cls(**values)
    _section_rules(name, section)
    return section


def _num(where: str, v: Any, lo: float = -math.inf, hi: float = math.inf, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"{where}: must be a finite number (got {v!r})")
    if positive and v <= 0:
        raise ValueError(f"{where}: must be positive (got {v!r})")
    if not lo <= v <= hi:
        raise ValueError(f"{where}: must be between {lo} and {hi} (got {v!r})")
    return float(v)


def _vec3(where: str, v: Any) -> tuple[float, float, float]:
    if not isinstance(v, list) or len(v) != 3:
        raise ValueError(f"{where}: must be 3 numbers [x, y, z] (got {v!r})")
    return tuple(_num(where, x) for x in v)  # type: ignore[return-value]


def _opt_num(where: str, v: Any) -> float | None:
    return None if v is None else _num(where, v)


def _text(where: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{where}: must be a string (got {v!r})")
    return v


def _choice(*choices: Any):
    def check(where: str, v: Any) -> Any:
        if v not in choices or isinstance(v, bool):
            raise ValueError(f"{where}: must be one of {', '.join(map(str, choices))} (got {v!r})")
        return v
    return check


def _points(where: str, v: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(v, list) or not all(isinstance(p, list) and len(p) == 2 for p in v):
        raise ValueError(f"{where}: must be a list of [raw, force_n] pairs (got {v!r})")
    return tuple((_num(where, p[0]), _num(where, p[1], 0.0)) for p in v)


_CHECKS = {
    ("gyro", "bias_rad_s"): lambda w, v: _bias(w, v),
    ("gyro", "noise_rad_s"): lambda w, v: _num(w, v, 0.0, 1.0),
    ("gyro", "duration_s"): lambda w, v: _num(w, v, positive=True),
    ("axis", "axis_xyz"): _vec3,
    ("axis", "up_sign"): _choice(1, -1),
    ("axis", "planarity"): lambda w, v: _num(w, v, 0.0, 1.0),
    ("axis", "rotation_rad"): _num,
    ("radius", "radius_m"): lambda w, v: _num(w, v, 0.0, 0.5, positive=True),
    ("radius", "distance_m"): lambda w, v: _num(w, v, positive=True),
    ("radius", "rotation_rad"): lambda w, v: _num(w, v, positive=True),
    ("radius", "tool"): lambda w, v: None if v is None else _choice("roller", "ball", "stick")(w, v),
    ("radius", "curve"): lambda w, v: None if v is None else _curve(w, v),
    ("force", "model"): _choice("linear", "fsr-power"),
    ("force", "raw_unit"): _choice("counts", "V"),
    ("force", "tare_raw"): _num,
    ("force", "fit_rms_n"): lambda w, v: _num(w, v, 0.0),
    ("force", "fit_max_rel"): lambda w, v: _num(w, v, 0.0),
    ("force", "points"): _points,
    ("force", "scale_n_per_raw"): _opt_num,
    ("force", "a"): _opt_num,
    ("force", "b"): _opt_num,
    ("force", "supply_v"): _opt_num,
    ("force", "divider_ohm"): _opt_num,
}
for _name in SECTIONS:
    _CHECKS[(_name, "calibrated_at")] = _text


def _bias(where: str, v: Any) -> tuple[float, float, float]:
    bias = _vec3(where, v)
    if max(abs(x) for x in bias) > 1.0:  # the MPU-6050's ZRO tolerance is +-20 deg/s = 0.35 rad/s
        raise ValueError(f"{where}: over 1 rad/s is not a gyro bias (got {v!r})")
    return bias


def _curve(where: str, v: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(v, list) or not all(isinstance(p, list) and len(p) == 2 for p in v):
        raise ValueError(f"{where}: must be a list of [force_n, radius_m] pairs (got {v!r})")
    pairs = [(_num(where, p[0]), _num(where, p[1])) for p in v]
    try:
        return check_radius_curve(pairs)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _section_rules(name: str, s: Any) -> None:
    """Rules across the keys of one section."""
    if name == "axis" and abs(math.hypot(*s.axis_xyz) - 1.0) > 1e-3:
        raise ValueError(f"axis.axis_xyz: must be a unit vector (got length {math.hypot(*s.axis_xyz):.4f})")
    if name == "force":
        need = ("scale_n_per_raw",) if s.model == "linear" else ("a", "b", "supply_v", "divider_ohm")
        for key in need:
            if getattr(s, key) is None:
                raise ValueError(f"force.{key}: required for model {s.model!r}")
        if s.model == "linear" and s.scale_n_per_raw == 0:
            raise ValueError("force.scale_n_per_raw: must not be 0")
        if s.model == "fsr-power" and (s.a <= 0 or s.supply_v <= 0 or s.divider_ohm <= 0):
            raise ValueError("force: a, supply_v and divider_ohm must be positive for model 'fsr-power'")
