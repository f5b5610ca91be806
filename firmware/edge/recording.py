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

from firmware.common.errors import ConfigError
from firmware.common.model import Block
from firmware.common.wire import RECORDING_FORMAT as FORMAT
from firmware.core.metrics import (
    format_radius_curve,
    parse_full_scale_dps,
    parse_radius_curve,
    parse_up_sign,
)

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
    text, gzip_cut = _read_text(path)
    lines = text.splitlines()
    meta_raw, header_idx = _split_meta(lines, path, gzip_cut)
    meta, warns = parse_meta(meta_raw, where=path.name)
    cols = _parse_header(lines[header_idx], path, header_idx + 1)
    data, linenos, cut_note = _parse_rows(lines[header_idx + 1 :], path, header_idx + 2, cols,
                                          ends_with_newline=text.endswith("\n"), gzip_cut=gzip_cut)
    if gzip_cut:
        warns.append(f"{path}: truncated gzip file (ends before its last row); "
                     f"replaying up to line {int(linenos[-1])}, its last whole row")
    elif cut_note:
        warns.append(cut_note)
    block = _to_block(data, cols, path, linenos)
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
    """Type the known metadata keys (tool, radius_m, axis, up, radius_m_at_force_n,
    gyro_full_scale_dps); returns (meta, warnings)."""
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
    if "radius_m_at_force_n" in raw:
        meta["radius_m_at_force_n"] = parse_curve(raw["radius_m_at_force_n"], where)
    if "gyro_full_scale_dps" in raw:
        meta["gyro_full_scale_dps"] = parse_full_scale(raw["gyro_full_scale_dps"], where)
    return meta, warns


def parse_curve(value, where: str = "recording") -> tuple[tuple[float, float], ...]:
    """``radius_m_at_force_n`` (``0:0.075,100:0.069``: force N : radius m, force increasing,
    0 < radius <= 0.5) -> ((force, radius), ...), or ConfigError."""
    try:
        return parse_radius_curve(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: radius_m_at_force_n: {exc}") from None


def parse_full_scale(value, where: str = "recording") -> float:
    """``gyro_full_scale_dps`` (the gyro range the recorder used, e.g. 2000) -> °/s, or
    ConfigError."""
    try:
        return parse_full_scale_dps(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


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


def _read_text(path: Path) -> tuple[str, bool]:
    """The file's text and whether it is a gzip file cut short (then only its whole lines)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such recording") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recording: {exc.strerror or exc}") from exc
    gzip_cut = False
    if raw[:2] == b"\x1f\x8b":
        raw, gzip_cut = _gunzip(raw, path)
        if gzip_cut:  # the last line may be cut anywhere, even inside a number: drop it
            raw = raw[: raw.rfind(b"\n") + 1]
    elif path.name.endswith(".gz"):
        raise ConfigError(f"{path}: not gzip data although the name ends in .gz")
    if not raw.strip():
        if gzip_cut:
            raise ConfigError(f"{path}: truncated gzip file (ends before its first line)")
        raise ConfigError(f"{path}: empty file, not a recording")
    if b"\x00" in raw[:4096]:
        raise ConfigError(f"{path}: not a rollsense recording (binary data)")
    try:
        return raw.decode("utf-8"), gzip_cut
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a rollsense recording (not UTF-8 text)") from exc


def _gunzip(raw: bytes, path: Path) -> tuple[bytes, bool]:
    """Decompress every gzip member; (data, True) when the file ends inside a member (power
    lost while recording): the data up to there. Damaged data is a ConfigError."""
    parts: list[bytes] = []
    rest = raw
    while rest:
        d = zlib.decompressobj(wbits=31)
        try:
            parts.append(d.decompress(rest))
        except zlib.error as exc:
            raise ConfigError(f"{path}: corrupt gzip data") from exc
        if not d.eof:
            return b"".join(parts), True
        rest = d.unused_data.lstrip(b"\x00")  # gzip allows zero padding after a member
    return b"".join(parts), False


def _split_meta(lines: list[str], path: Path, gzip_cut: bool = False) -> tuple[dict[str, str], int]:
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
    if gzip_cut:
        raise ConfigError(f"{path}: truncated gzip file (ends before the header row)")
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


def _parse_rows(rows: list[str], path: Path, first_lineno: int, cols: list[str], *,
                ends_with_newline: bool, gzip_cut: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """(samples, each sample's line number in the file, note): a last row cut short (power
    lost while recording) is left out with a note; damage anywhere else is a ConfigError
    naming the line."""
    numbered = [(first_lineno + i, r) for i, r in enumerate(rows)
                if r.strip() and not r.lstrip().startswith("#")]
    if not numbered:
        if gzip_cut:
            raise ConfigError(f"{path}: truncated gzip file (ends before its first sample)")
        raise ConfigError(f"{path}: no samples after the header")
    linenos = np.array([n for n, _ in numbered])
    body = [r for _, r in numbered]
    data = _loadtxt(body, len(cols))
    if data is not None:
        return data, linenos, ""
    problem = _row_problem(body[-1], cols)
    if problem and (problem.startswith("short") or not ends_with_newline):
        data = _loadtxt(body[:-1], len(cols)) if len(body) > 1 else None
        if data is not None:
            note = (f"{path}: line {linenos[-1]}: the last row is cut short ({_row_text(problem)}); "
                    f"replaying up to line {linenos[-2]}, the last whole row")
            return data, linenos[:-1], note
    for i, row in enumerate(body):
        problem = _row_problem(row, cols)
        if problem:
            raise ConfigError(f"{path}: line {linenos[i]}: {_row_text(problem)}")
    raise ConfigError(f"{path}: unreadable data rows")  # loadtxt refused what float() takes


def _loadtxt(body: list[str], ncols: int) -> np.ndarray | None:
    """The rows as an (n, ncols) array, or None if any row is not ncols numbers."""
    try:
        data = np.loadtxt(body, delimiter=",", dtype=float, ndmin=2)
    except ValueError:
        return None
    return data if data.shape[1] == ncols else None


def _row_problem(row: str, cols: list[str]) -> str:
    """'' for a row of len(cols) numbers, else what is wrong with it (prefix "short"/"long"/"cell")."""
    cells = row.split(",")
    if len(cells) != len(cols):
        return f"{'short' if len(cells) < len(cols) else 'long'}:{len(cells)} columns, expected {len(cols)}"
    for name, cell in zip(cols, cells, strict=True):
        try:
            float(cell)
        except ValueError:
            return f"cell:column {name!r}: {cell.strip()[:20]!r} is not a number"
    return ""


def _row_text(problem: str) -> str:
    kind, text = problem.split(":", 1)
    return text + " (truncated?)" if kind == "short" else text


def _to_block(data: np.ndarray, cols: list[str], path: Path, linenos: np.ndarray) -> Block:
    by_name = {name: data[:, cols.index(name)] for name in COLUMNS}
    for name in COLUMNS:
        values = by_name[name]
        bad = ~np.isfinite(values)
        if name == "force" and np.isnan(values).all():
            continue  # a tool without a force sensor: NaN throughout
        if bad.any():
            row = int(np.argmax(bad))
            raise ConfigError(f"{path}: line {linenos[row]}: non-finite value in column {name!r}")
    t_s = by_name["t"]
    steps = np.diff(t_s)
    if (steps <= 0).any():
        row = int(np.argmax(steps <= 0)) + 1
        raise ConfigError(
            f"{path}: line {linenos[row]}: time is not increasing (t={t_s[row]:g} s after {t_s[row - 1]:g} s)"
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
    if key == "radius_m_at_force_n" and not isinstance(value, str):
        try:
            return format_radius_curve(value)
        except ValueError as exc:
            raise ConfigError(f"metadata radius_m_at_force_n: {exc}") from None
    if key == "gyro_full_scale_dps" and not isinstance(value, str):
        return f"{float(value):g}"
    text = str(value)
    if "\n" in text:
        raise ConfigError(f"metadata {key!r} must be one line")
    return text


def _format_rows(block: Block) -> str:
    data = np.column_stack([block.t_s, block.gyro_rad_s, block.accel_m_s2, block.force_n])
    buf = io.StringIO()
    np.savetxt(buf, data, delimiter=",", fmt=["%.6f"] + ["%.7g"] * 7)
    return buf.getvalue()
