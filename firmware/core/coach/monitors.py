"""The checks that may cue without changing phase (the ``MONITORS`` table): over-pressure,
force against the band and the ease-in cap, pace (per pass and on the smoothed speed), force
per direction (the calf), the metronome and the hold timer.

Every corrective cue goes through a ``Nag``: rate limited and with hysteresis, so a user on
the edge of a band hears one cue, not a stream. The nags' state is also what the live
verdicts report (``verdicts.py``), so a gauge and the cue agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from firmware.common.model import Metrics, Pass
from firmware.core.coach.actions import Cue, Event
from firmware.core.coach.limits import Limits
from firmware.core.coach.phases import ACTIVE, HOLD
from firmware.core.coach.settings import CoachSettings
from firmware.core.coach.state import RunState
from firmware.core.protocols import Routine

_isfinite = math.isfinite


@dataclass
class Nag:
    """Rate limit + hysteresis for one family of corrective cues."""

    repeat_s: float
    gap_s: float
    active: str | None = None
    last_t: float = -math.inf

    def fire(self, name: str, t_s: float) -> bool:
        wait_s = self.repeat_s if self.active == name else self.gap_s
        if t_s - self.last_t < wait_s:
            return False
        self.active, self.last_t = name, t_s
        return True

    def resolve(self) -> bool:
        was = self.active is not None
        self.active = None
        return was


class Monitors:
    """One method per ``MONITORS`` name: ``monitor(metrics, out)`` appends the cues (and
    events) it causes to ``out``."""

    def __init__(self, routine: Routine, settings: CoachSettings, run: RunState,
                 limits: Limits) -> None:
        self.routine = routine
        self.settings = settings
        self.run = run
        self.limits = limits
        self.nags = {k: Nag(settings.repeat_s, settings.gap_s) for k in ("pace", "force", "over")}
        self.over = self.nags["over"]
        self.streak: tuple[str, int] = ("", 0)  # last pass verdict and how many in a row
        self.dir_state: str | None = None  # the pass force verdict of a switch_direction cue
        self.next_tick: float | None = None
        self.ticks = 0

    def start_tick(self, t_s: float) -> None:
        """(Re)start the metronome: its first click one period after ``t_s``."""
        self.next_tick = t_s + self.limits.tick_period_s()

    # ---------------------------------------------------------------- pressure

    def over_pressure(self, m: Metrics, out: list) -> None:
        f = m.force_n
        if not _isfinite(f):
            return
        limit = self.limits.max_n
        nag, since = self.over, self.run.since
        if f < limit * self.settings.over_pressure_release:  # timer() written out
            below = m.t_s - since.setdefault("over_release", self.run.t_prev)
        else:
            since.pop("over_release", None)
            below = 0.0
        if f > limit and nag.fire("over_pressure", m.t_s):
            data = {"force_n": round(f, 1), "max_n": round(limit, 1)}
            out.append(Cue("over_pressure", m.t_s, data))
            out.append(Event("over_pressure", m.t_s, data))
        elif below >= self.settings.over_pressure_release_s:
            nag.resolve()

    def force(self, m: Metrics, out: list) -> None:
        run = self.run
        f, t, s = m.force_n, m.t_s, self.settings
        ok = run.contact and _isfinite(f)
        band = self.limits.band[0]
        cap = self.limits.ease_cap_n(t)
        limit = min(band.hi, cap)
        if not ok:  # no force to judge: the three timers stop
            pop = run.since.pop
            pop("high", None), pop("low", None), pop("force_ok", None)
            return
        # the timers "high", "low" and "force_ok": timer() written out (this runs every step)
        since, t_prev = run.since, run.t_prev
        high = low = in_band = 0.0
        if f > limit * (1 + s.margin):
            high = t - since.setdefault("high", t_prev)
        else:
            since.pop("high", None)
        if (f < band.lo * (1 - s.margin) and run.phase in (ACTIVE, HOLD)
                and not self.routine.directional and (self.routine.mode == "hold" or not m.still)):
            low = t - since.setdefault("low", t_prev)
        else:
            since.pop("low", None)
        if band.lo <= f <= limit:
            in_band = t - since.setdefault("force_ok", t_prev)
        else:
            since.pop("force_ok", None)
        nag = self.nags["force"]
        if self.over.active:
            return
        if self.routine.directional:
            in_band = 0.0  # per-direction force is judged (and resolved) per pass
        if high >= s.force_persist_s and nag.fire("press_less", t):
            reason = "ease_in" if cap < band.hi else "band"
            out.append(Cue("press_less", t, {"force_n": round(f, 1), "limit_n": round(limit, 1),
                                             "reason": reason}))
        elif low >= s.light_persist_s and nag.fire("press_more", t):
            out.append(Cue("press_more", t, {"force_n": round(f, 1),
                                             "min_n": round(band.lo, 1)}))
        elif in_band >= s.resolve_s:
            nag.resolve()

    def pass_force(self, m: Metrics, out: list) -> None:
        """Direction-dependent force (calf): judged per completed pass, both ways seen."""
        if not self.routine.directional:
            return
        for p in m.new_passes:
            if p.direction in (1, -1) and math.isfinite(p.mean_force_n):
                self._judge_direction(p, m.t_s, out)

    def _judge_direction(self, p: Pass, t_s: float, out: list) -> None:
        last = self.run.last_dir_force
        if len(last) < 2:
            return
        up_f, down_f = last[1], last[-1]
        up_band, down_band = self.limits.band[1], self.limits.band[-1]
        nag, k = self.nags["force"], self.settings.margin
        if self.over.active:
            return
        band = up_band if p.direction == 1 else down_band
        f = p.mean_force_n
        detail = {"direction": "up" if p.direction == 1 else "down", "force_n": round(f, 1),
                  "band_n": [round(band.lo, 1), round(band.hi, 1)]}
        reversed_ = up_f < down_f and (up_f < up_band.lo or down_f > down_band.hi)
        if reversed_:
            if nag.fire("switch_direction", t_s):
                self.dir_state = "high" if f > band.hi else "low" if f < band.lo else "ok"
                detail.update(reason="pressure_reversed", up_n=round(up_f, 1),
                              down_n=round(down_f, 1))
                out.append(Cue("switch_direction", t_s, detail))
        elif f > band.hi * (1 + k):
            if nag.fire("press_less", t_s):
                out.append(Cue("press_less", t_s, detail))
        elif f < band.lo * (1 - k):
            if nag.fire("press_more", t_s):
                out.append(Cue("press_more", t_s, detail))
        elif up_band.contains(up_f) and down_band.contains(down_f):
            nag.resolve()

    # ---------------------------------------------------------------- pace

    def pace(self, m: Metrics, out: list) -> None:
        speed = self.routine.targets.speed
        if speed is None:
            return
        run = self.run
        s, t, band = self.settings, m.t_s, speed.speed_mps
        nag = self.nags["pace"]
        for p in m.new_passes:
            verdict = self._pass_verdict(p)
            streak = self.streak[1] + 1 if verdict == self.streak[0] else 1
            self.streak = (verdict, streak)
            detail = {"pass_s": round(p.duration_s, 3), "speed_mps": round(p.mean_speed_mps, 4),
                      "length_m": round(p.length_m, 3)}
            if verdict == "fast" and nag.fire("slow_down", t):
                out.append(Cue("slow_down", t, detail))
            elif verdict == "slow" and nag.fire("speed_up", t):
                out.append(Cue("speed_up", t, detail))
            elif (verdict == "short" and streak >= s.short_passes_to_cue
                  and nag.fire("longer_passes", t)):
                out.append(Cue("longer_passes", t, detail))
            elif verdict == "ok" and streak >= s.passes_to_resolve and nag.resolve():
                out.append(Cue("on_pace", t, detail))
        # the timers "fast" and "slow": timer() written out (this runs every step)
        since, v = run.since, m.speed_mps
        fast = slow = 0.0
        if run.contact and not m.still and v > band.hi * (1 + s.margin):
            fast = t - since.setdefault("fast", run.t_prev)
        else:
            since.pop("fast", None)
        if run.contact and not m.still and v < band.lo * (1 - s.margin):
            slow = t - since.setdefault("slow", run.t_prev)
        else:
            since.pop("slow", None)
        if fast >= s.speed_persist_s and nag.fire("slow_down", t):
            out.append(Cue("slow_down", t, {"speed_mps": round(m.speed_mps, 4)}))
        elif slow >= s.slow_persist_s and nag.fire("speed_up", t):
            out.append(Cue("speed_up", t, {"speed_mps": round(m.speed_mps, 4)}))

    def _pass_verdict(self, p: Pass) -> str:
        """'fast' / 'short' / 'slow' / 'ok' / '' (near a band edge: no change) for one pass."""
        t, s = self.routine.targets, self.settings
        assert t.speed is not None
        k, per, sp = s.margin, t.speed.pass_s, t.speed.speed_mps
        v = p.mean_speed_mps
        # a pass that began during a real stop is timed from the end of the stop
        d = p.end_s - max(p.start_s, min(self.run.stop_end_t, p.end_s))
        full = t.pass_length_m is None or p.length_m >= t.pass_length_m.lo * (1 - k)
        if (full and p.duration_s < per.lo * (1 - k)) or v > sp.hi * (1 + k):
            return "fast"  # a whole pass too quick, or any pass at too high a speed
        if not full:
            return "short"
        if d > per.hi * (1 + s.pass_slack) or v < sp.lo * (1 - k):
            return "slow"
        if per.lo <= d <= per.hi * (1 + s.pass_slack) and sp.contains(v):
            return "ok"
        return ""

    # ---------------------------------------------------------------- time

    def tick(self, m: Metrics, out: list) -> None:
        if self.routine.mode != "roll" or self.next_tick is None:
            return
        if m.t_s >= self.next_tick:
            period = self.limits.tick_period_s()
            self.ticks += 1
            out.append(Cue("tick", m.t_s, {"n": self.ticks, "period_s": period}))
            self.next_tick += period
            if self.next_tick <= m.t_s:
                self.next_tick = m.t_s + period

    def hold_time(self, m: Metrics, out: list) -> None:
        run = self.run
        hold = self.routine.targets.hold
        if hold is None or run.hold_ok or not (m.holding and run.contact):
            return
        if m.hold_s >= hold.hold_s.lo:
            run.hold_ok = True
            out.append(Cue("hold_done", m.t_s, {"hold_s": round(m.hold_s, 3),
                                                "spot": run.spots_done + 1}))
