"""What the person at the terminal sees: a live status line with a progress bar, and
the cues as they come. Plain text when the output is not a terminal."""

from __future__ import annotations

import math
import sys
from typing import TextIO

from firmware.common import units
from firmware.common.cues import cue_meaning


def cue_text(name: str) -> str:
    """What a cue asks of the user: the same words as the cue table (firmware/common/cues.py)."""
    return cue_meaning(name)


def percent(fraction: float | None) -> int:
    """Whole percent done, rounded down: 100 only once the target is met (fraction 1.0)."""
    f = min(1.0, max(0.0, fraction or 0.0))
    return int(math.floor(f * 100 + 1e-9))


def bar(fraction: float | None, width: int = 24) -> str:
    pct = percent(fraction)
    full = pct * width // 100
    return "[" + "#" * full + "-" * (width - full) + f"] {pct:3d}%"


def mmss(seconds: float | None) -> str:
    s = max(0, int(seconds or 0))
    return f"{s // 60:02d}:{s % 60:02d}"


def status_line(t: dict) -> str:
    """One line of live telemetry. The clock is the routine's own progress (``done_s``: time
    rolling, hold time, each way for the calf) against ``target_s``, and the bar is the same
    ratio (``progress`` = done_s / target_s), both rounded down: they always agree."""
    speed_txt = units.speed(t.get("speed_mps")).rjust(10)
    force_txt = units.force(t.get("force_n")).rjust(7)
    hold = f"  hold {t['hold_s']:4.1f} s" if t.get("hold_s") else ""
    spots = ""
    if t.get("spots_target"):
        spots = f"  spot {min((t.get('spots_done') or 0) + 1, t['spots_target'])}/{t['spots_target']}"
    return (
        f"{t.get('protocol') or '-'} {t.get('phase', ''):<9} {mmss(t.get('done_s'))}/"
        f"{mmss(t.get('target_s'))} {bar(t.get('progress'))}  speed {speed_txt}  "
        f"force {force_txt}  passes {int(t.get('passes') or 0):3d}{hold}{spots}"
    )


class TerminalDisplay:
    """Redraws one status line in place on a TTY; prints cues on their own lines."""

    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._last_plain_s = -1e9

    def update(self, telemetry: dict) -> None:
        line = status_line(telemetry)
        if self.interactive:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
        elif (telemetry.get("elapsed_s") or 0) - self._last_plain_s >= 5:
            self._last_plain_s = telemetry.get("elapsed_s") or 0
            self.stream.write(line + "\n")

    def cue(self, name: str, t_s: float) -> None:
        prefix = "\r\x1b[2K" if self.interactive else ""
        self.stream.write(f"{prefix}  >> {cue_text(name)}\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        prefix = "\r\x1b[2K" if self.interactive else ""
        self.stream.write(prefix + text + "\n")
        self.stream.flush()
