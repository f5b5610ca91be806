"""How far the run is: the routine's target in seconds (time rolling, or hold time over the
spots) and how much of it is done. One quantity, so the coach's "rolled enough", a clock and
a progress bar made from it always agree."""

from __future__ import annotations

import math
from typing import Any

from firmware.core.coach.phases import HOLD
from firmware.core.coach.state import RunState
from firmware.core.protocols import Routine


def spots_target(routine: Routine) -> int:
    hold = routine.targets.hold
    return hold.spots if hold else 0


def target_s(routine: Routine) -> float:
    """Seconds to do: hold minimum x spots, or time rolling (each way for the calf)."""
    t = routine.targets
    if t.hold is not None and routine.mode == "hold":
        return t.hold.spots * t.hold.hold_s.lo
    assert t.rolling_min_s is not None
    return t.rolling_min_s * (2 if t.per_direction else 1)


def done_s(run: RunState) -> float:
    """Seconds done toward ``target_s`` (each way counted up to its target; a hold up to the
    hold minimum)."""
    t = run.routine.targets
    if run.routine.mode == "hold":
        assert t.hold is not None
        current = min(run.hold_peak_s, t.hold.hold_s.lo) if run.phase == HOLD else 0.0
        return run.spots_done * t.hold.hold_s.lo + current
    assert t.rolling_min_s is not None
    if t.per_direction and (run.dir_s[1] > 0 or run.dir_s[-1] > 0):
        return min(run.dir_s[1], t.rolling_min_s) + min(run.dir_s[-1], t.rolling_min_s)
    return run.active_s


def progress(run: RunState) -> dict[str, Any]:
    """Elapsed, target and remaining seconds, fraction done (0..1), spots done/target.

    ``done_s`` is the routine's own progress (time rolling, each way counted up to its
    target for the calf; hold time up to the hold minimum per spot), ``fraction`` is
    ``done_s / target_s``: one quantity, so a clock and a bar made from them agree. Both
    are rounded down, so neither reaches the target (1.0) before it is met.
    """
    total_s = target_s(run.routine)
    done = min(done_s(run), total_s)
    hold = run.routine.targets.hold
    return {
        "elapsed_s": round(run.t_last - (run.t0 if run.t0 is not None else 0.0), 3),
        "target_s": total_s,
        "done_s": math.floor(done * 1000) / 1000,
        "remaining_s": math.ceil((total_s - done) * 1000) / 1000,
        "fraction": math.floor(done / total_s * 10000) / 10000 if total_s > 0 else 1.0,
        "spots_done": run.spots_done if hold else None,
        "spots_target": hold.spots if hold else None,
    }
