"""Read and write rollsense recordings (DESIGN §3.1): CSV or CSV.gz, `# key: value` metadata,
header `t,gx,gy,gz,ax,ay,az,force`, SI units. Every bad file is one clear ConfigError line.

Every sample is checked against the physical range of its sensor (``SampleLimits``): a value
no sensor of the device can report (a force of 1e308 N, an angular rate in °/s written as
rad/s) is refused the way a NaN is, naming its line, by the reader and the writer alike."""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Iterator
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
from firmware.edge.textlines import CHUNK_BYTES, TextLines

COLUMNS = ("t", "gx", "gy", "gz", "ax", "ay", "az", "force")
TOOLS = ("roller", "ball", "stick")
RADIUS_MAX_M = 0.5
# Typical effective radius per tool (m); outside these only a warning.
TYPICAL_RADIUS_M = {"roller": (0.03, 0.12), "ball": (0.015, 0.08), "stick": (0.008, 0.04)}
WRITE_ROWS = 16384  # rows formatted at a time
ROW_FORMAT = "%.6f" + ",%.7g" * 7 + "\n"  # t, gx, gy, gz, ax, ay, az, force

# The physical range of each column: generous (a margin of twice the largest full scale),
# so that only a value no sensor could have reported is refused.
GYRO_FULL_SCALE_MAX_DPS = 2000.0  # the MPU-6050's widest gyro range (±250/500/1000/2000 °/s)
ACCEL_FULL_SCALE_MAX_G = 16.0  # the MPU-6050's widest accelerometer range (±2/4/8/16 g)
STANDARD_GRAVITY_M_S2 = 9.80665
FULL_SCALE_MARGIN = 2.0
# Force (N): above a 300 kg person's whole weight (2942 N; the config's largest body mass)
# and above what a front end reports before it is calibrated (an HX711's full scale at the
# driver's default 1/4000 N per count: ±2097 N; an ADS1115 at 125 N/V: ±768 N). Calibrated
# force is never negative; an uncalibrated front end reads down to its negative full scale.
FORCE_MIN_N, FORCE_MAX_N = -2500.0, 5000.0
# Sensor time (s): an uptime or sensor clock, or Unix time in seconds (up to the year 2286).
TIME_MAX_S = 1e10


@dataclass(frozen=True)
class SampleLimits:
    """The range of each column of a recording, from its metadata (``for_meta``)."""

    gyro_rad_s: float
    gyro_full_scale_dps: float
    accel_m_s2: float = FULL_SCALE_MARGIN * ACCEL_FULL_SCALE_MAX_G * STANDARD_GRAVITY_M_S2
    force_n: tuple[float, float] = (FORCE_MIN_N, FORCE_MAX_N)
    t_s: float = TIME_MAX_S

    @classmethod
    def for_meta(cls, meta: dict, where: str = "recording") -> SampleLimits:
        """The limits for a recording's metadata: the gyro's is twice the widest of the
        MPU-6050's ±2000 °/s and the ``gyro_full_scale_dps`` the recording declares."""
        declared = meta.get("gyro_full_scale_dps")
        full_scale = GYRO_FULL_SCALE_MAX_DPS if declared is None else \
            max(GYRO_FULL_SCALE_MAX_DPS, parse_full_scale(declared, where))
        return cls(gyro_rad_s=math.radians(FULL_SCALE_MARGIN * full_scale), gyro_full_scale_dps=full_scale)

    def describe(self, name: str) -> str:
        """The range of a column in words, for the line that refuses a value."""
        if name == "t":
            return f"sensor time is within ±{self.t_s:g} s"
        if name.startswith("g"):
            return (f"±{self.gyro_rad_s:.1f} rad/s: twice the gyro's widest full scale, "
                    f"±{self.gyro_full_scale_dps:g} °/s")
        if name.startswith("a"):
            return (f"±{self.accel_m_s2:.0f} m/s²: twice the accelerometer's widest full scale, "
                    f"±{ACCEL_FULL_SCALE_MAX_G:g} g")
        lo, hi = self.force_n
        return f"{lo:g} to {hi:g} N: a person's whole weight and the force front ends' full scale, with a margin"

    def bounds(self, name: str) -> tuple[float, float]:
        if name == "t":
            return -self.t_s, self.t_s
        if name == "force":
            return self.force_n
        limit = self.gyro_rad_s if name.startswith("g") else self.accel_m_s2
        return -limit, limit


UNITS = {"t": "s", "gx": "rad/s", "gy": "rad/s", "gz": "rad/s", "ax": "m/s²", "ay": "m/s²",
         "az": "m/s²", "force": "N"}


def out_of_range(columns: dict[str, np.ndarray], limits: SampleLimits) -> tuple[int, str] | None:
    """The first row (index) with a value outside its column's physical range, and the words
    that refuse it (``force 1e+308 N is out of range (...)``), or None. A NaN is not judged
    here (the reader refuses it as non-finite; a NaN force throughout is a tool without a
    force sensor). The one check of every recording read (``RecordingReader``) or written
    (``RecordingWriter``)."""
    first: tuple[int, str] | None = None
    for name in COLUMNS:
        values = columns[name]
        lo, hi = limits.bounds(name)
        bad = (values < lo) | (values > hi)
        if not bad.any():
            continue
        row = int(np.argmax(bad))
        if first is None or row < first[0]:
            first = (row, f"{name} {float(values[row]):g} {UNITS[name]} is out of range "
                          f"({limits.describe(name)})")
    return first


@dataclass(frozen=True)
class Recording:
    """A recording: typed metadata (tool, radius_m, axis, up, ... plus raw extra keys) and samples."""

    meta: dict
    block: Block
    warnings: tuple[str, ...] = field(default=())


def read_recording(path: str | os.PathLike) -> Recording:
    """Read and validate a whole `.csv` / `.csv.gz` recording; ConfigError (one line) if it is
    bad. Holds every sample: for long recordings stream them with ``RecordingReader``."""
    with RecordingReader(path) as reader:
        blocks = list(reader.blocks())
        return Recording(meta=reader.meta, block=Block.concat(blocks), warnings=tuple(reader.warnings))


class RecordingReader:
    """A recording read as it goes, in bounded memory (an hour at 1 kHz is 250 MB of text):
    the metadata and header at once, then ``blocks()`` yields the samples as validated Blocks
    of one read chunk each (about ``chunk_bytes`` of text), in order. Concatenated they are
    exactly what ``read_recording`` returns, whatever the chunk size.

    ``warnings``: the metadata's at once; a note on a last row cut short, or a gzip file cut
    short, is added when ``blocks()`` reaches the end. Every bad file is one ConfigError line
    naming the file's own line; with several faults, the first one met in the file."""

    def __init__(self, path: str | os.PathLike, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = path = Path(path)
        self._text = TextLines(path, chunk_bytes=chunk_bytes, what="recording")
        self._chunks = iter(self._text)
        try:
            meta_raw, self.columns, self._first_rows = self._read_head()
            self.meta, warns = parse_meta(meta_raw, where=path.name)
        except BaseException:
            self.close()
            raise
        self.warnings: list[str] = list(warns)

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def blocks(self) -> Iterator[Block]:
        """The samples as Blocks, one per read chunk (a chunk without a sample row gives none).
        The file's last row is held back until the end: cut short (power lost while
        recording), it is left out with a note in ``warnings``; damaged, it is an error."""
        rows = _Rows(self.path, self.columns, SampleLimits.for_meta(self.meta, str(self.path)))
        pending: list[tuple[int, str]] = []  # the last numbered row seen, held back
        for first, lines in self._numbered_lines():
            pending += [(first + i, r) for i, r in enumerate(lines)
                        if r.strip() and not r.lstrip().startswith("#")]
            if len(pending) > 1:
                yield rows.block(pending[:-1])
                pending = pending[-1:]
        text = self._text
        last = rows.last(pending, ends_with_newline=text.ends_with_newline, gzip_cut=text.cut)
        if last is not None:
            yield last
        if text.cut:
            self.warnings.append(f"{self.path}: truncated gzip file (ends before its last row); "
                                 f"replaying up to line {rows.last_lineno}, its last whole row")
        elif rows.cut_note:
            self.warnings.append(rows.cut_note)
        self.close()

    def _numbered_lines(self) -> Iterator[tuple[int, list[str]]]:
        if self._first_rows[1]:
            yield self._first_rows
        self._first_rows = (0, [])
        yield from self._chunks

    def _read_head(self) -> tuple[dict[str, str], list[str], tuple[int, list[str]]]:
        """(metadata, columns, (line number, lines) of the rest of the chunk of the header)."""
        meta: dict[str, str] = {}
        path = self.path
        for first, lines in self._chunks:
            for i, line in enumerate(lines):
                stripped = line.strip()
                if not stripped:
                    continue
                if not stripped.startswith("#"):
                    if "format" not in meta:
                        raise ConfigError(
                            f"{path}: not a rollsense recording (no '# format: {FORMAT}' line)"
                        )
                    cols = _parse_header(line, path, first + i)
                    return meta, cols, (first + i + 1, lines[i + 1 :])
                body = stripped[1:].strip()
                if ":" not in body:
                    if not body:
                        continue
                    raise ConfigError(f"{path}: line {first + i}: metadata must be '# key: value'")
                key, value = body.split(":", 1)
                key = key.strip()
                value = value.split("  (", 1)[0].strip()
                meta[key] = value
        if self._text.empty:
            if self._text.cut:
                raise ConfigError(f"{path}: truncated gzip file (ends before its first line)")
            raise ConfigError(f"{path}: empty file, not a recording")
        if self._text.cut:
            raise ConfigError(f"{path}: truncated gzip file (ends before the header row)")
        if "format" not in meta:
            raise ConfigError(f"{path}: not a rollsense recording (no '# format: {FORMAT}' line)")
        raise ConfigError(f"{path}: no header row '{','.join(COLUMNS)}'")


def write_recording(path: str | os.PathLike, meta: dict, block: Block) -> Path:
    """Write a recording; never overwrites (ConfigError if the file exists). Returns the path."""
    with RecordingWriter(path, meta) as writer:
        writer.write(block)
    return writer.path


class RecordingWriter:
    """A recording written as it goes (``write(block)`` per Block, then ``close()``), so a long
    one never sits whole in memory and a recording interrupted keeps what it has (a gzip file
    cut short reads back up to its last whole row). Never overwrites: ConfigError if the file
    exists. The rows are the same text ``write_recording`` writes, whatever the blocks."""

    def __init__(self, path: str | os.PathLike, meta: dict) -> None:
        self.path = path = Path(path)
        if path.exists():
            raise ConfigError(f"{path}: refusing to overwrite an existing file")
        self._limits = SampleLimits.for_meta(meta, f"metadata of {path}")
        lines = [f"# format: {FORMAT}"]
        for key, value in meta.items():
            if key == "format":
                continue
            lines.append(f"# {key}: {_format_meta_value(key, value)}")
        lines.append(",".join(COLUMNS))
        opener = gzip.open if path.name.endswith(".gz") else open
        try:
            self._fh = opener(path, "xt", encoding="utf-8", newline="\n")
        except FileExistsError as exc:
            raise ConfigError(f"{path}: refusing to overwrite an existing file") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write recording: {exc.strerror or exc}") from exc
        self.samples = 0
        self.skipped = 0  # samples out of their sensor's range, left out
        self.first_skipped: str | None = None
        self._write("\n".join(lines) + "\n")

    def write(self, block: Block) -> None:
        """Append the Block's samples (formatted WRITE_ROWS at a time). A sample out of its
        sensor's range (``out_of_range``: a glitch, or a force curve far past its weights) is
        left out, so the file stays one the reader takes, and counted: ``skipped`` and
        ``first_skipped`` (its sensor time and why) say so; the samples after it are kept."""
        start = 0
        while start < len(block):
            rest = block.slice(start, len(block)) if start else block
            columns = {"t": rest.t_s, "force": rest.force_n,
                       **{name: rest.gyro_rad_s[:, i] for i, name in enumerate(("gx", "gy", "gz"))},
                       **{name: rest.accel_m_s2[:, i] for i, name in enumerate(("ax", "ay", "az"))}}
            wrong = out_of_range(columns, self._limits)
            good = len(rest) if wrong is None else wrong[0]
            for k in range(0, good, WRITE_ROWS):
                self._write(_format_rows(rest.slice(k, min(k + WRITE_ROWS, good))))
            self.samples += good
            if wrong is None:
                return
            self.skipped += 1
            if self.first_skipped is None:
                self.first_skipped = f"at t = {float(rest.t_s[good]):.3f} s: {wrong[1]}"
            start += good + 1

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write recording: {exc.strerror or exc}") from exc

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self, text: str) -> None:
        try:
            self._fh.write(text)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write recording: {exc.strerror or exc}") from exc


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


def _parse_header(line: str, path: Path, lineno: int) -> list[str]:
    cols = [c.strip().lower() for c in line.split(",")]
    missing = [c for c in COLUMNS if c not in cols]
    if missing:
        raise ConfigError(f"{path}: line {lineno}: missing columns: {', '.join(missing)}")
    if len(set(cols)) != len(cols):
        raise ConfigError(f"{path}: line {lineno}: duplicate column names")
    return cols


class _Rows:
    """Sample rows to Blocks, batch by batch, checked as a whole file would be: the file's
    own line numbers, the time increasing across batches, and a force column that may be NaN
    throughout (a tool without a force sensor) but nowhere else."""

    def __init__(self, path: Path, cols: list[str], limits: SampleLimits) -> None:
        self.path = path
        self.cols = cols
        self.limits = limits
        self.count = 0  # rows so far
        self.first_lineno = 0
        self.last_lineno = 0
        self.cut_note = ""
        self._t_last = -math.inf
        self._force_nan = True  # every force so far is NaN

    def block(self, numbered: list[tuple[int, str]]) -> Block:
        """The rows (line number, text) as a Block; ConfigError at the first bad one."""
        body = [r for _, r in numbered]
        data = _loadtxt(body, len(self.cols))
        if data is None:
            for lineno, row in numbered:
                problem = _row_problem(row, self.cols)
                if problem:
                    raise ConfigError(f"{self.path}: line {lineno}: {_row_text(problem)}")
            raise ConfigError(f"{self.path}: unreadable data rows")  # loadtxt refused what float() takes
        return self._to_block(data, [n for n, _ in numbered])

    def last(self, pending: list[tuple[int, str]], *, ends_with_newline: bool,
             gzip_cut: bool) -> Block | None:
        """The file's last row (``pending``: it, or nothing): a Block, or None when there is
        none or it is cut short (then ``cut_note`` says so)."""
        if not pending:
            if self.count == 0:
                if gzip_cut:
                    raise ConfigError(f"{self.path}: truncated gzip file (ends before its first sample)")
                raise ConfigError(f"{self.path}: no samples after the header")
            return None
        (lineno, row), = pending
        problem = _row_problem(row, self.cols) if _loadtxt([row], len(self.cols)) is None else ""
        if problem and self.count and (problem.startswith("short") or not ends_with_newline):
            self.cut_note = (f"{self.path}: line {lineno}: the last row is cut short ({_row_text(problem)}); "
                             f"replaying up to line {self.last_lineno}, the last whole row")
            return None
        return self.block(pending)

    def _to_block(self, data: np.ndarray, linenos: list[int]) -> Block:
        by_name = {name: data[:, self.cols.index(name)] for name in COLUMNS}
        first = self.count == 0
        if first:
            self.first_lineno = linenos[0]
        problems: list[tuple[int, str]] = []  # (row, what): the first row's is said
        for name in COLUMNS:
            values = by_name[name]
            if name == "force" and self._force_nan:
                if np.isnan(values).all():
                    continue  # a tool without a force sensor: NaN throughout (so far)
                self._force_nan = False
                if not first:  # NaN in every row before: the first row was the first bad one
                    raise ConfigError(
                        f"{self.path}: line {self.first_lineno}: non-finite value in column {name!r}")
            bad = ~np.isfinite(values)
            if bad.any():
                problems.append((int(np.argmax(bad)), f"non-finite value in column {name!r}"))
        wrong = out_of_range(by_name, self.limits)
        if wrong is not None:
            problems.append(wrong)
        t_s = by_name["t"]
        t_prev = np.concatenate(([self._t_last], t_s[:-1]))
        steps = t_s - t_prev
        if (steps <= 0).any():
            row = int(np.argmax(steps <= 0))
            problems.append((row, f"time is not increasing (t={t_s[row]:g} s after {t_prev[row]:g} s)"))
        if problems:
            row, what = min(problems, key=lambda p: p[0])  # stable: column order within a row
            raise ConfigError(f"{self.path}: line {linenos[row]}: {what}")
        self._t_last = float(t_s[-1])
        self.count += len(t_s)
        self.last_lineno = linenos[-1]
        return Block(
            t_s=np.ascontiguousarray(t_s),
            gyro_rad_s=np.column_stack([by_name["gx"], by_name["gy"], by_name["gz"]]),
            accel_m_s2=np.column_stack([by_name["ax"], by_name["ay"], by_name["az"]]),
            force_n=np.ascontiguousarray(by_name["force"]),
        )


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
    """The rows as text, ``np.savetxt``'s very text for its ``fmt`` (``ROW_FORMAT``), formatted
    from Python floats: savetxt into a StringIO leaves the heap growing by megabytes a call
    (measured: 5 MB per 65536 rows, never given back), which a writer called for an hour
    cannot afford."""
    data = np.column_stack([block.t_s, block.gyro_rad_s, block.accel_m_s2, block.force_n])
    return "".join([ROW_FORMAT % tuple(row) for row in data.tolist()])
