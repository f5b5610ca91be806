"""What the coach knows of one run so far: the phase, the sensor-time timers, contact, the
passes, the time rolled and held. ``RunState.observe`` books each Metrics update before
anyone judges it; the machine, the monitors and the verdicts read (and the machine moves)
this one record, so they cannot disagree about what happened."""

from __future__ import annotations

import math
from array import array
from typing import Any

from firmware.common.model import Metrics, Pass
from firmware.core.coach.actions import Event, json_number
from firmware.core.coach.phases import ACTIVE, COMPLETE, EASE_IN, HOLD, READY
from firmware.core.coach.settings import CoachSettings
from firmware.core.protocols import Routine

_isfinite = math.isfinite


class RunState:
    """The mutable record of one routine run (times are sensor seconds, ``Metrics.t_s``)."""

    def __init__(self, routine: Routine, settings: CoachSettings) -> None:
        self.routine = routine
        self.settings = settings
        self.phase = READY
        self.resume_phase = ACTIVE
        self.ended_reason: str | None = None
        self.t0: float | None = None  # first Metrics time
        self.t_contact0: float | None = None  # first contact (ease-in starts)
        self.t_last = self.t_prev = 0.0  # sensor time of the last / previous update
        self.since: dict[str, float] = {}  # timer name -> when its condition became true
        self.pass_durations = array("d")  # of each pass, s (a long session rolls thousands)
        self.dir_s = {1: 0.0, -1: 0.0}
        self.last_dir_force: dict[int, float] = {}
        self.active_s = 0.0  # the coach's: rolling phases under contact, short turns included
        self.hold_ok = False
        self.hold_peak_s = 0.0
        self.hold_forces: list[float] = []
        self.spots_done = 0
        self.spot_end_t = -math.inf
        self.last_velocity = 0.0
        self.moved = False  # rolled since ease-in / the last pause (idle pauses only then)
        self.contact = False  # in contact now (see contact_of)
        self.stop_end_t = -math.inf  # end of the last stop of >= 1 s
        self.force_seen = False  # a finite force under contact was seen (verdicts)

    def contact_of(self, m: Metrics) -> bool:
        """Contact from the force sensor. Without one (NaN force) a roll routine is in contact
        while rolling and until it has been still for ``idle_pause_s``; a hold routine always
        (stepping off a ball cannot be told from holding still without force)."""
        if m.contact or _isfinite(m.force_n):
            return m.contact
        if self.routine.mode == "hold":
            return True
        if self.phase == READY:
            return not m.still
        return not m.still or self.held("still", m.t_s) < self.settings.idle_pause_s

    def observe(self, m: Metrics, out: list) -> None:
        """Book one update: contact, timers, time rolling, passes (a ``pass_completed`` event
        each, unless the settings say not), the current hold."""
        # the timers "off", "still" and "idle" are timer() written out: this runs every step
        t, still, since = m.t_s, m.still, self.since
        contact = self.contact = m.contact if _isfinite(m.force_n) else self.contact_of(m)
        t_prev = self.t_last
        if contact and self.moved and (self.phase in (EASE_IN, ACTIVE) or (
                self.phase == COMPLETE and self.held("idle", t_prev) < self.settings.idle_pause_s)):
            self.active_s += max(0.0, t - t_prev)
        self.t_prev, self.t_last = t_prev, t
        if contact and self.t_contact0 is None:
            self.t_contact0 = t
        if _isfinite(m.velocity_mps):
            self.last_velocity = m.velocity_mps
        self.force_seen = contact and _isfinite(m.force_n)
        if contact:
            since.pop("off", None)
        else:
            since.setdefault("off", t_prev)
        if contact and not still:
            self.moved = True
        if still:
            since.setdefault("still", t_prev)
        else:
            still0 = since.pop("still", None)
            if still0 is not None and t - still0 >= 1.0:
                self.stop_end_t = t  # a real stop (not a turnaround) just ended
        if contact and still:
            since.setdefault("idle", t_prev)
        else:
            since.pop("idle", None)
        for p in m.new_passes:
            self.pass_durations.append(p.duration_s)
            if p.direction in self.dir_s:
                self.dir_s[p.direction] += p.duration_s
                if math.isfinite(p.mean_force_n):
                    self.last_dir_force[p.direction] = p.mean_force_n
            if self.settings.pass_events:
                out.append(Event("pass_completed", m.t_s, pass_data(p)))
        if self.phase == HOLD and m.holding:
            self.hold_peak_s = max(self.hold_peak_s, m.hold_s)
            if math.isfinite(m.force_n):
                self.hold_forces.append(m.force_n)

    def timer(self, key: str, cond: bool, t_s: float) -> float:
        """How long ``cond`` has been true (s, on sensor time); 0 when false.

        A condition first seen in this update began somewhere after the previous update, so
        it is timed from there: a timed cue fires at most one update early, never late.
        (The per-step checks write this out inline, for speed; this is its definition.)
        """
        if not cond:
            self.since.pop(key, None)
            return 0.0
        return t_s - self.since.setdefault(key, self.t_prev)

    def held(self, key: str, t_s: float) -> float:
        """How long the timer ``key`` has been running at ``t_s`` (0 when it is not)."""
        start = self.since.get(key)
        return 0.0 if start is None else t_s - start


def pass_data(p: Pass) -> dict[str, Any]:
    """The data of a ``pass_completed`` event."""
    return {"length_m": round(p.length_m, 4), "duration_s": round(p.duration_s, 3),
            "direction": p.direction, "mean_speed_mps": round(p.mean_speed_mps, 4),
            "mean_force_n": json_number(p.mean_force_n)}
