"""``rollsense record`` and ``rollsense calibrate`` (firmware.app.tools)."""

from __future__ import annotations

from firmware.app import tools


def record(a) -> int:
    return tools.record(a)


def calibrate(a) -> int:
    return tools.calibrate(a)
