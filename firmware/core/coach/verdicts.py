"""The coach's verdicts in the words others show: live, per quantity, for the gauges
(``live_verdicts``: they agree with the cues because they are read off the cues' own nags),
and at the end, per target, for the session summary (``target_rows``, DESIGN §3.2
``targets[]``: ``{"name", "target", "actual", "met"}`` with the target's band in words)."""

from __future__ import annotations

import math
import statistics
from typing import Any

from firmware.core.coach.actions import json_number
from firmware.core.coach.limits import Limits
from firmware.core.coach.monitors import Monitors
from firmware.core.coach.phases import TERMINAL
from firmware.core.coach.state import RunState

# the corrective cue a nag holds -> the verdict it means
_PACE_STATE = {"slow_down": "high", "speed_up": "low"}
_FORCE_STATE = {"press_less": "high", "press_more": "low"}


def live_verdicts(run: RunState, monitors: Monitors) -> dict[str, str | None]:
    """The coach's own verdict per quantity, for gauges that must agree with the cues:
    ``{"speed": ..., "force": ...}``, each "low" / "ok" / "high", or None when the coach
    judges nothing (no target, no contact, no force sensor). A quantity is "high" or
    "low" from its corrective cue until the coach resolves it (the cue's own hysteresis),
    else "ok"."""
    live = run.contact and run.phase not in TERMINAL and run.t0 is not None
    speed = force = None
    if live and run.routine.targets.speed is not None:
        speed = _PACE_STATE.get(monitors.nags["pace"].active or "", "ok")
    if live and monitors.over.active:
        force = "high"
    elif live and run.force_seen:
        active = monitors.nags["force"].active or ""
        force = monitors.dir_state if active == "switch_direction" else _FORCE_STATE.get(active, "ok")
    return {"speed": speed, "force": force}


def target_rows(run: RunState, limits: Limits, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per target ``{"name", "target", "actual", "met"}`` for the session summary.

    ``target`` is ``{"min"?, "max"?, "unit", "text"}``; ``actual`` a number in that unit
    (None when unknown, then ``met`` is False). ``met`` means min <= actual <= max, except
    for ``hold_s`` where the max is the point the coach moves you on, so only min counts.
    ``summary`` holds the DESIGN §3.2 metric fields (MetricsEngine.summary()).
    """
    r = run.routine
    rows: list[dict[str, Any]] = []
    if r.mode == "roll":
        rows += _roll_rows(run, summary)
    else:
        rows += _hold_rows(run, summary)
    force = summary.get("force_n") or {}
    if r.directional:
        by_dir = summary.get("force_by_direction_n") or {}
        for key, d in (("up", 1), ("down", -1)):
            band = limits.band[d]
            rows.append(_row(f"force_{key}_n", band.lo, band.hi, "N", by_dir.get(key)))
    else:
        band = limits.band[0]
        rows.append(_row("force_n", band.lo, band.hi, "N", force.get("mean")))
    rows.append(_row("force_peak_n", None, limits.max_n, "N",
                     force.get("peak")))
    return rows


def _roll_rows(run: RunState, summary: dict[str, Any]) -> list[dict[str, Any]]:
    t = run.routine.targets
    assert t.rolling_min_s is not None and t.speed is not None
    rows = []
    if t.per_direction:
        known = run.dir_s[1] > 0 or run.dir_s[-1] > 0
        for key, d in (("up", 1), ("down", -1)):
            rows.append(_row(f"rolling_{key}_s", t.rolling_min_s, None, "s",
                             run.dir_s[d] if known else None))
    else:
        rows.append(_row("rolling_s", t.rolling_min_s, None, "s", run.active_s))
    durations = run.pass_durations
    rows.append(_row("pass_s", t.speed.pass_s.lo, t.speed.pass_s.hi, "s",
                     statistics.median(durations) if durations else None))
    rows.append(_row("speed_mps", t.speed.speed_mps.lo, t.speed.speed_mps.hi, "m/s",
                     (summary.get("speed_mps") or {}).get("mean")))
    if t.pass_length_m is not None:
        rows.append(_row("pass_length_m", t.pass_length_m.lo, t.pass_length_m.hi, "m",
                         (summary.get("pass_length_m") or {}).get("mean")))
    return rows


def _hold_rows(run: RunState, summary: dict[str, Any]) -> list[dict[str, Any]]:
    hold = run.routine.targets.hold
    assert hold is not None
    holds = [h.get("duration_s") for h in summary.get("holds") or []]
    holds = [h for h in holds if isinstance(h, int | float) and math.isfinite(h)]
    longest = max(holds) if holds else 0.0
    row = _row("hold_s", hold.hold_s.lo, hold.hold_s.hi, "s", longest)
    row["met"] = longest >= hold.hold_s.lo
    spots = sum(1 for h in holds if h >= hold.hold_s.lo)
    return [row, _row("spots", hold.spots, None, "", spots)]


def _row(name: str, lo: float | None, hi: float | None, unit: str, actual: Any) -> dict:
    target: dict[str, Any] = {}
    if lo is not None:
        target["min"] = round(lo, 4)
    if hi is not None:
        target["max"] = round(hi, 4)
    target["unit"] = unit
    target["text"] = _band_text(lo, hi, unit)
    value = json_number(actual)
    met = value is not None and (lo is None or value >= lo - 1e-9) and \
        (hi is None or value <= hi + 1e-9)
    return {"name": name, "target": target, "actual": value, "met": bool(met)}


def _band_text(lo: float | None, hi: float | None, unit: str) -> str:
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        return f"{lo:g}–{hi:g}{u}"
    if lo is not None:
        return f"≥ {lo:g}{u}"
    return f"≤ {hi:g}{u}"
