"""``rollsense calibrate show``: the calibration file in words."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TextIO

from calibration.force import FORCE_FIT_MAX_REL
from calibration.store import Calibration, history_paths, load_calibration
from firmware.common.units import plural


def render_calibration(cal: Calibration, path: str | os.PathLike) -> str:
    """A short human-readable report of every section (or what is missing and how to add it)."""
    lines = [f"calibration {path}: revision {cal.revision}, saved {cal.saved_at or 'never'}"]
    g = cal.gyro
    lines.append(
        f"  gyro    bias [{', '.join(f'{x:+.5f}' for x in g.bias_rad_s)}] rad/s "
        f"(max {max(abs(math.degrees(x)) for x in g.bias_rad_s):.2f} deg/s), noise {g.noise_rad_s:.5f} rad/s, "
        f"{g.calibrated_at}" if g else "  gyro    not calibrated: rollsense calibrate gyro")
    a = cal.axis
    lines.append(
        f"  axis    [{', '.join(f'{x:+.3f}' for x in a.axis_xyz)}], up = {'+' if a.up_sign > 0 else '-'} "
        f"rotation, planarity {a.planarity:.1%}, {a.calibrated_at}" if a
        else "  axis    not calibrated: rollsense calibrate axis")
    r = cal.radius
    lines.append(
        f"  radius  {r.radius_m * 1000:.1f} mm{f' ({r.tool})' if r.tool else ''} from {r.distance_m:g} m, "
        f"{r.calibrated_at}" if r else "  radius  not calibrated: rollsense calibrate radius --distance-m 0.5")
    if r and r.curve:
        lines.append("          under load (foam): " + ", ".join(
            f"{radius_m * 1000:.1f} mm at {force_n:.0f} N" for force_n, radius_m in r.curve))
    f = cal.force
    if f is None:
        lines.append("  force   not calibrated: rollsense calibrate force --weights-kg 0,2,5,10")
    else:
        curve = (f"F = {f.scale_n_per_raw:.6g} N/{f.raw_unit} x (raw - {f.tare_raw:.6g})" if f.model == "linear"
                 else f"F = {f.a:.4g} x G^{f.b:.3f} (G in S; divider {f.divider_ohm:g} ohm at {f.supply_v:g} V)")
        lines.append(f"  force   {f.model}: {curve}; fit RMS {f.fit_rms_n:.2f} N, worst {f.fit_max_rel:.1%} "
                     f"over {plural(len(f.points), 'weight', 'weights')}, {f.calibrated_at}")
        if f.fit_max_rel > FORCE_FIT_MAX_REL:
            lines.append(f"          worse than the {FORCE_FIT_MAX_REL:.0%} tolerance: forces read from it may be off; "
                         "calibrate force again")
    history = history_paths(path)
    if history:
        lines.append(f"  history {plural(len(history), 'previous version', 'previous versions')}: "
                     f"{', '.join(p.name for p in history)}")
    return "\n".join(lines) + "\n"


def show_calibration(path: str | os.PathLike, out: TextIO) -> int:
    """Print the report; exit code 0 (a missing file is reported, not an error). A bad file
    raises ConfigError (one line)."""
    path = Path(path)
    if not path.exists():
        out.write(f"calibration {path}: none yet; start with: rollsense calibrate gyro\n")
        return 0
    out.write(render_calibration(load_calibration(path), path))
    return 0
