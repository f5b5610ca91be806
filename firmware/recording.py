"""Read and write rollsense recordings (DESIGN §3.1): CSV or CSV.gz, `# key: value` metadata,
header `t,gx,gy,gz,ax,ay,az,force`, SI units. Every bad file is one clear ConfigError line."""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from firmware.errors import ConfigError
from firmware.metrics import parse_up_sign
from firmware.model import Block

FORMAT = "rollsense-recording/1"
COLUMNS = ("t", "gx", "gy", "gz", "ax", "ay", "az", "force")
TOOLS = ("roller", "ball", "stick")
RADIUS_MAX_M = 0.5
# Typical effective radius per tool (m); outside these only a warning.
TYPICAL_RADIUS_M = {"roller": (0.03, 0.12), "ball": (0.015, 0.08), "stick": (0.008, 0.04)}


@dataclass(frozen=True)
class Recording:
    """A recording: typed metadata (tool, radius_m, axis, up, ... plus raw extra keys) and samples."""

    meta: dict
    block: Block
    warnings: tuple[str, ...] = field(default=())


def read_recording(path: str | os.PathLike) -> Recording:
    """Read and validate a `.csv` / `.csv.gz` recording; ConfigError (one line) if it is bad."""
    path = Path(path)
    text = _read_text(path)
    lines = text.splitlines()
    meta_raw, header_idx = _split_meta(lines, path)
    meta, warns = parse_meta(meta_raw, where=path.name)
    cols = _parse_header(lines[header_idx], path, header_idx + 1)
    data = _parse_rows(lines[header_idx + 1 :], path, header_idx + 2, len(cols))
    block = _to_block(data, cols, path, header_idx + 2)
    return Recording(meta=meta, block=block, warnings=tuple(warns))


def write_recording(path: str | os.PathLike, meta: dict, block: Block) -> Path:
    """Write a recording; never overwrites (ConfigError if the file exists). Returns the path."""
    path = Path(path)
    if path.exists():
        raise ConfigError(f"{path}: refusing to overwrite an existing file")
    lines = [f"# format: {FORMAT}"]
    for key, value in meta.items():
        if key == "format":
            continue
        lines.append(f"# {key}: {_format_meta_value(key, value)}")
    lines.append(",".join(COLUMNS))
    body = _format_rows(block)
    payload = "\n".join(lines) + "\n" + body
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "xt", encoding="utf-8", newline="\n") as fh:
            fh.write(payload)
    except FileExistsError as exc:
        raise ConfigError(f"{path}: refusing to overwrite an existing file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write recording: {exc.strerror or exc}") from exc
    return path


def parse_meta(raw: dict[str, str], where: str = "recording") -> tuple[dict, list[str]]:
    """Type the known metadata keys (tool, radius_m, axis, up); returns (meta, warnings)."""
    meta: dict = dict(raw)
    warns: list[str] = []
    fmt = raw.get("format")
    if fmt is None:
        raise ConfigError(f"{where}: not a rollsense recording (no '# format: {FORMAT}' line)")
    if fmt != FORMAT:
        raise ConfigError(f"{where}: unsupported format {fmt!r} (expected {FORMAT})")
    if "tool" in raw:
        meta["tool"] = check_tool(raw["tool"], where)
    if "radius_m" in raw:
        meta["radius_m"] = check_radius(raw["radius_m"], where)
        warn = radius_warning(meta.get("tool"), meta["radius_m"])
        if warn:
            warns.append(f"{where}: {warn}")
    if "axis" in raw:
        meta["axis"] = parse_axis(raw["axis"], where)
    if "up" in raw:
        meta["up"] = parse_up(raw["up"], where)
    return meta, warns


def check_tool(value: str, where: str = "recording") -> str:
    """The tool name, or ConfigError."""
    tool = str(value).strip().lower()
    if tool not in TOOLS:
        raise ConfigError(f"{where}: unknown tool {value!r} (expected one of {', '.join(TOOLS)})")
    return tool


def check_radius(value, where: str = "recording") -> float:
    """A radius in metres, > 0 and <= 0.5, or ConfigError."""
    try:
        radius_m = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: radius_m {value!r} is not a number") from exc
    if not math.isfinite(radius_m) or radius_m <= 0 or radius_m > RADIUS_MAX_M:
        raise ConfigError(f"{where}: radius_m {value!r} must be > 0 and <= {RADIUS_MAX_M} m")
    return radius_m


def radius_warning(tool: str | None, radius_m: float) -> str:
    """A warning text when the radius is unusual for the tool, else ''."""
    if tool not in TYPICAL_RADIUS_M:
        return ""
    lo, hi = TYPICAL_RADIUS_M[tool]
    if lo <= radius_m <= hi:
        return ""
    return f"radius_m {radius_m:g} is unusual for a {tool} (typical {lo:g}..{hi:g} m)"


def parse_axis(value, where: str = "recording") -> tuple[float, float, float]:
    """'x,y,z' (or a sequence) -> a unit 3-vector, or ConfigError."""
    parts = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    try:
        vec = np.array([float(p) for p in parts], dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: axis {value!r} must be three numbers 'x,y,z'") from exc
    norm = float(np.linalg.norm(vec)) if vec.shape == (3,) else 0.0
    if vec.shape != (3,) or not math.isfinite(norm) or norm < 1e-6:
        raise ConfigError(f"{where}: axis {value!r} must be three numbers 'x,y,z', not all zero")
    return tuple(float(v) for v in vec / norm)


def parse_up(value, where: str = "recording") -> int:
    """'+'/'-' (or +1/-1) -> +1/-1, or ConfigError."""
    try:
        return parse_up_sign(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such recording") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recording: {exc.strerror or exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ConfigError(f"{path}: corrupt gzip data") from exc
    elif path.name.endswith(".gz"):
        raise ConfigError(f"{path}: not gzip data although the name ends in .gz")
    if not raw.strip():
        raise ConfigError(f"{path}: empty file, not a recording")
    if b"\x00" in raw[:4096]:
        raise ConfigError(f"{path}: not a rollsense recording (binary data)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a rollsense recording (not UTF-8 text)") from exc


def _split_meta(lines: list[str], path: Path) -> tuple[dict[str, str], int]:
    meta: dict[str, str] = {}
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            if "format" not in meta:
                raise ConfigError(
                    f"{path}: not a rollsense recording (no '# format: {FORMAT}' line)"
                )
            return meta, i
        body = stripped[1:].strip()
        if ":" not in body:
            if not body:
                continue
            raise ConfigError(f"{path}: line {i + 1}: metadata must be '# key: value'")
        key, value = body.split(":", 1)
        key = key.strip()
        value = value.split("  (", 1)[0].strip()
        meta[key] = value
    if "format" not in meta:
        raise ConfigError(f"{path}: not a rollsense recording (no '# format: {FORMAT}' line)")
    raise ConfigError(f"{path}: no header row '{','.join(COLUMNS)}'")


def _parse_header(line: str, path: Path, lineno: int) -> list[str]:
    cols = [c.strip().lower() for c in line.split(",")]
    missing = [c for c in COLUMNS if c not in cols]
    if missing:
        raise ConfigError(f"{path}: line {lineno}: missing columns: {', '.join(missing)}")
    if len(set(cols)) != len(cols):
        raise ConfigError(f"{path}: line {lineno}: duplicate column names")
    return cols


def _parse_rows(rows: list[str], path: Path, first_lineno: int, ncols: int) -> np.ndarray:
    body = "\n".join(r for r in rows if r.strip() and not r.lstrip().startswith("#"))
    if not body:
        raise ConfigError(f"{path}: no samples after the header")
    try:
        data = np.loadtxt(io.StringIO(body), delimiter=",", dtype=float, ndmin=2)
    except ValueError as exc:
        raise ConfigError(f"{path}: bad data row: {str(exc).splitlines()[-1]}") from exc
    if data.shape[1] != ncols:
        raise ConfigError(f"{path}: rows have {data.shape[1]} fields, header has {ncols}")
    return data


def _to_block(data: np.ndarray, cols: list[str], path: Path, first_lineno: int) -> Block:
    by_name = {name: data[:, cols.index(name)] for name in COLUMNS}
    for name in COLUMNS:
        values = by_name[name]
        bad = ~np.isfinite(values)
        if name == "force" and np.isnan(values).all():
            continue  # a tool without a force sensor: NaN throughout
        if bad.any():
            row = int(np.argmax(bad))
            raise ConfigError(f"{path}: non-finite value in column {name!r} at data row {row + 1}")
    t_s = by_name["t"]
    steps = np.diff(t_s)
    if (steps <= 0).any():
        row = int(np.argmax(steps <= 0)) + 2
        raise ConfigError(
            f"{path}: time is not increasing at data row {row} (t={t_s[row - 1]:g} s)"
        )
    return Block(
        t_s=np.ascontiguousarray(t_s),
        gyro_rad_s=np.column_stack([by_name["gx"], by_name["gy"], by_name["gz"]]),
        accel_m_s2=np.column_stack([by_name["ax"], by_name["ay"], by_name["az"]]),
        force_n=np.ascontiguousarray(by_name["force"]),
    )


def _format_meta_value(key: str, value) -> str:
    if key == "axis" and not isinstance(value, str):
        return ",".join(f"{float(v):.6g}" for v in value)
    if key == "up" and not isinstance(value, str):
        return "+" if int(value) > 0 else "-"
    text = str(value)
    if "\n" in text:
        raise ConfigError(f"metadata {key!r} must be one line")
    return text


def _format_rows(block: Block) -> str:
    data = np.column_stack([block.t_s, block.gyro_rad_s, block.accel_m_s2, block.force_n])
    buf = io.StringIO()
    np.savetxt(buf, data, delimiter=",", fmt=["%.6f"] + ["%.7g"] * 7)
    return buf.getvalue()
