"""What the person at the terminal sees: a live status line with a progress bar, and
the cues as they come. Plain text when the output is not a terminal."""

from __future__ import annotations

import sys
from typing import TextIO


def cue_text(name: str) -> str:
    """What a cue asks of the user: the same words as the cue table (device/outputs.py)."""
    from device.outputs import CUE_PATTERNS

    pattern = CUE_PATTERNS.get(name)
    return pattern.meaning if pattern else name.replace("_", " ").capitalize()


def bar(fraction: float | None, width: int = 24) -> str:
    f = min(1.0, max(0.0, fraction or 0.0))
    full = int(round(f * width))
    return "[" + "#" * full + "-" * (width - full) + f"] {f * 100:3.0f}%"


def mmss(seconds: float | None) -> str:
    s = max(0, int(seconds or 0))
    return f"{s // 60:02d}:{s % 60:02d}"


def status_line(t: dict) -> str:
    speed_cm = (t.get("speed_mps") or 0.0) * 100
    force = t.get("force_n")
    force_txt = "  -- N" if force is None else f"{force:5.0f} N"
    hold = f"  hold {t['hold_s']:4.1f} s" if t.get("hold_s") else ""
    spots = ""
    if t.get("spots_target"):
        spots = f"  spot {min(t.get('spots_done', 0) + 1, t['spots_target'])}/{t['spots_target']}"
    return (
        f"{t.get('protocol') or '-'} {t.get('phase', ''):<9} {mmss(t.get('elapsed_s'))}/"
        f"{mmss(t.get('target_s'))} {bar(t.get('progress'))}  speed {speed_cm:5.1f} cm/s  "
        f"force {force_txt}  passes {t.get('passes', 0):3d}{hold}{spots}"
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
