"""The coach: turns ``Metrics`` and a ``Routine`` into cues for the user and events for the
journal. A table-driven state machine in the h11 manner: pure, no I/O, no clock (time comes
only from ``Metrics.t_s``); it returns actions (``Cue``/``Event``) for others to perform.

Phases::

    ready -> ease_in -> active -> complete                      (roll routines)
    ready -> ease_in -> hold -> next_spot -> hold ... -> complete (hold routines; active
                                                                   = waiting for a still hold)
    any running phase -> paused (contact lost briefly / stopped rolling) -> back
    any running phase -> stepped_off (contact lost longer than the grace period; ends it)

``TRANSITIONS`` is the whole phase logic: per phase an ordered list of (signal, next phase,
cues); the first signal that is true wins. ``MONITORS`` names the checks that may cue
without changing phase (pace, pressure, metronome, hold timer). Every cue is rate limited
and has hysteresis, so a borderline user hears one cue, not a stream.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from firmware.common.model import Metrics, Pass
from firmware.core.protocols import Band, Profile, Routine

_isfinite = math.isfinite

READY, EASE_IN, ACTIVE, HOLD, NEXT_SPOT = "ready", "ease_in", "active", "hold", "next_spot"
PAUSED, COMPLETE, STEPPED_OFF, STOPPED = "paused", "complete", "stepped_off", "stopped"
TERMINAL = (COMPLETE, STEPPED_OFF, STOPPED)

# Every cue name the coach can emit (device/outputs.py has a pattern for each).
CUE_NAMES = (
    "start", "ease_in", "tick", "slow_down", "speed_up", "on_pace", "press_less", "press_more",
    "longer_passes", "over_pressure", "hold", "hold_done", "keep_still", "next_spot",
    "switch_direction",
    "paused", "stepped_off", "done",
)

# the corrective cue a nag holds -> the verdict it means (Coach.verdicts)
_PACE_STATE = {"slow_down": "high", "speed_up": "low"}
_FORCE_STATE = {"press_less": "high", "press_more": "low"}

_OFF_LONG = ("off_long", STEPPED_OFF, ("stepped_off",))
_OFF = ("off", PAUSED, ("paused",))
_IDLE = ("idle", PAUSED, ("paused",))

# phase -> ordered (signal, next phase, cues emitted on the transition)
TRANSITIONS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    READY: (("contact", EASE_IN, ("ease_in",)),),
    EASE_IN: (_OFF_LONG, _OFF, _IDLE,
              ("holding", HOLD, ("hold",)),
              ("rolled_enough", COMPLETE, ("done",)),
              ("eased", ACTIVE, ())),
    ACTIVE: (_OFF_LONG, _OFF, _IDLE,
             ("rolled_enough", COMPLETE, ("done",)),
             ("holding", HOLD, ("hold",))),
    HOLD: (("spot_end_last", COMPLETE, ("done",)),
           ("spot_end_more", NEXT_SPOT, ("next_spot",)),
           _OFF,
           ("hold_broken", ACTIVE, ("keep_still",))),
    NEXT_SPOT: (_OFF_LONG,
                ("new_hold", HOLD, ("hold",))),
    PAUSED: (_OFF_LONG,
             ("resumed", "<resume>", ())),
}

# phase -> checks that may cue without a phase change (run before the transitions)
MONITORS: dict[str, tuple[str, ...]] = {
    READY: ("over_pressure",),
    EASE_IN: ("over_pressure", "force", "pace", "tick"),
    ACTIVE: ("over_pressure", "force", "pace", "pass_force", "tick"),
    HOLD: ("over_pressure", "force", "hold_time"),
    NEXT_SPOT: ("over_pressure",),
    PAUSED: ("over_pressure",),
}


@dataclass(frozen=True)
class Cue:
    """Something the user should hear/see now (``device/outputs.py`` performs it)."""

    name: str
    t_s: float  # sensor time of the Metrics update that caused it
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """Something the journal records (phase changes, holds, over-pressure, the end)."""

    event_type: str
    t_s: float
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CoachSettings:
    """Timing of the coach's judgement, seconds of sensor time unless named otherwise."""

    contact_grace_s: float = 0.3  # contact lost this long -> paused
    stepped_off_s: float = 6.0  # contact lost this long -> stepped off (the routine ends)
    idle_pause_s: float = 2.0  # roll routines: still under contact this long -> paused
    speed_persist_s: float = 1.0  # smoothed speed above the band this long -> slow_down
    slow_persist_s: float = 4.0  # moving below the band this long (a slowest pass) -> speed_up
    force_persist_s: float = 1.0  # force above the band / ease-in cap this long -> press_less
    light_persist_s: float = 2.0  # force below the band this long -> press_more
    resolve_s: float = 0.5  # force back in band this long -> resolved
    repeat_s: float = 10.0  # the same unresolved cue repeats at most this often
    gap_s: float = 3.0  # a cue of the same family after a resolution waits at least this
    margin: float = 0.1  # hysteresis: "out of band" means beyond the band by this fraction
    pass_slack: float = 0.25  # a pass counts as too slow only this far past the pass time band
    # (turnaround to turnaround includes the pause at the turn)
    short_passes_to_cue: int = 2  # consecutive short passes before "longer_passes"
    passes_to_resolve: int = 2  # consecutive passes in band before "on_pace"
    over_pressure_release: float = 0.9  # over-pressure resolved below this x the limit ...
    over_pressure_release_s: float = 5.0  # ... for this long (else it repeats every repeat_s)
    pass_events: bool = True  # emit a pass_completed event per pass


@dataclass
class _Nag:
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


def _never_for(routine: Routine) -> frozenset[str]:
    """The monitors and transition signals that can never act for ``routine``."""
    t = routine.targets
    return frozenset(
        (("tick", "idle", "rolled_enough") if routine.mode != "roll" else ())
        + (("holding",) if routine.mode != "hold" else ())
        + (("pace",) if t.speed is None else ())
        + (("hold_time",) if t.hold is None else ())
        + (("pass_force",) if not routine.directional else ()))


class Coach:
    """One routine run: ``step(metrics)`` per Metrics update returns the cues/events it caused."""

    def __init__(self, routine: Routine, profile: Profile | None = None,
                 settings: CoachSettings | None = None) -> None:
        self.routine = routine
        self.profile = profile or Profile()
        self.settings = settings or CoachSettings()
        s = self.settings
        self._nags = {k: _Nag(s.repeat_s, s.gap_s) for k in ("pace", "force", "over")}
        self._over = self._nags["over"]
        self._phase = READY
        self._resume_phase = ACTIVE
        self._ended_reason: str | None = None
        self._t0: float | None = None  # first Metrics time
        self._t_contact0: float | None = None  # first contact (ease-in starts)
        self._t_last = self._t_prev = 0.0  # sensor time of the last / previous update
        self._since: dict[str, float] = {}
        self._passes: list[Pass] = []
        self._dir_s = {1: 0.0, -1: 0.0}
        self._last_dir_force: dict[int, float] = {}
        self._active_s = 0.0  # the coach's: rolling phases under contact, short turns included
        self._next_tick: float | None = None
        self._ticks = 0
        self._hold_ok = False
        self._hold_peak_s = 0.0
        self._hold_forces: list[float] = []
        self._spots_done = 0
        self._spot_end_t = -math.inf
        self._last_velocity = 0.0
        self._moved = False  # rolled since ease-in / the last pause (idle pauses only then)
        self._contact = False  # in contact now (see _contact_of)
        self._stop_end_t = -math.inf  # end of the last stop of >= 1 s
        self._streak: tuple[str, int] = ("", 0)  # last pass verdict and how many in a row
        self._force_seen = False  # a finite force under contact was seen (verdicts())
        self._dir_state: str | None = None  # the pass force verdict of a switch_direction cue
        # a step runs every 40 ms: resolve the tables, the profile's force limits and the
        # targets once, leaving out the checks that can never act for this routine
        idle = _never_for(routine)
        self._monitors = {ph: tuple(getattr(self, "_mon_" + n) for n in names if n not in idle)
                          for ph, names in MONITORS.items()}
        self._transitions = {ph: tuple((getattr(self, "_sig_" + sig), nxt, cues)
                                       for sig, nxt, cues in rows if sig not in idle)
                             for ph, rows in TRANSITIONS.items()}
        self._band = {d: routine.force_band_n(self.profile, d) for d in (0, 1, -1)}
        self._max_n = routine.force_max_n(self.profile)
        self._total_s = self._target_s()

    # ---------------------------------------------------------------- public state

    @property
    def phase(self) -> str:
        return self._phase

    @property
    def finished(self) -> bool:
        return self._phase in TERMINAL

    @property
    def completed(self) -> bool:
        return self._phase == COMPLETE

    @property
    def ended_reason(self) -> str | None:
        """Why the routine ended: "completed", "stepped_off", a stop reason, or None."""
        return self._ended_reason

    @property
    def passes(self) -> list[Pass]:
        return list(self._passes)

    @property
    def rolling_s(self) -> float | None:
        """Time rolling (s) of a roll routine: under contact in its rolling phases, and on
        after it completed while the user keeps rolling; None for a hold routine."""
        return round(self._active_s, 3) if self.routine.mode == "roll" else None

    def progress(self) -> dict[str, Any]:
        """Elapsed, target and remaining seconds, fraction done (0..1), spots done/target.

        ``done_s`` is the routine's own progress (time rolling, each way counted up to its
        target for the calf; hold time up to the hold minimum per spot), ``fraction`` is
        ``done_s / target_s``: one quantity, so a clock and a bar made from them agree. Both
        are rounded down, so neither reaches the target (1.0) before it is met.
        """
        target_s = self._target_s()
        done_s = min(self._done_s(), target_s)
        hold = self.routine.targets.hold
        return {
            "elapsed_s": round(self._t_last - (self._t0 if self._t0 is not None else 0.0), 3),
            "target_s": target_s,
            "done_s": math.floor(done_s * 1000) / 1000,
            "remaining_s": math.ceil((target_s - done_s) * 1000) / 1000,
            "fraction": math.floor(done_s / target_s * 10000) / 10000 if target_s > 0 else 1.0,
            "spots_done": self._spots_done if hold else None,
            "spots_target": hold.spots if hold else None,
        }

    def bands(self) -> dict[str, Any]:
        """Current display bands: speed m/s, force N (ease-in cap and direction applied)."""
        speed = self.routine.targets.speed
        direction = 0
        if self.routine.directional and abs(self._last_velocity) > 1e-3:
            direction = 1 if self._last_velocity > 0 else -1
        band = self._band[direction]
        hi = min(band.hi, self._ease_cap_n(self._t_last))
        return {
            "speed_mps": speed.speed_mps.as_list() if speed else None,
            "force_n": [round(min(band.lo, hi), 1), round(hi, 1)],
            "force_max_n": round(self._max_n, 1),
            "direction": {1: "up", -1: "down"}.get(direction),
        }

    def direction_bands(self) -> tuple[list[float], list[float]]:
        """The up and down force bands [lo, hi] N of a direction-dependent routine."""
        return tuple([round(self._band[d].lo, 1), round(self._band[d].hi, 1)]  # type: ignore[return-value]
                     for d in (1, -1))

    def verdicts(self) -> dict[str, str | None]:
        """The coach's own verdict per quantity, for gauges that must agree with the cues:
        ``{"speed": ..., "force": ...}``, each "low" / "ok" / "high", or None when the coach
        judges nothing (no target, no contact, no force sensor). A quantity is "high" or
        "low" from its corrective cue until the coach resolves it (the cue's own hysteresis),
        else "ok"."""
        live = self._contact and self._phase not in TERMINAL and self._t0 is not None
        speed = force = None
        if live and self.routine.targets.speed is not None:
            speed = _PACE_STATE.get(self._nags["pace"].active or "", "ok")
        if live and self._over.active:
            force = "high"
        elif live and self._force_seen:
            active = self._nags["force"].active or ""
            force = self._dir_state if active == "switch_direction" else _FORCE_STATE.get(active, "ok")
        return {"speed": speed, "force": force}

    # ---------------------------------------------------------------- stepping

    def step(self, m: Metrics) -> list[Cue | Event]:
        """Feed one Metrics update; returns the cues and events it causes, in order."""
        if self._phase in TERMINAL:
            if self._phase == COMPLETE:  # the user rolls on: count it, cue nothing
                self._observe(m, [])
            return []
        out: list[Cue | Event] = []
        if self._t0 is None:
            self._t0 = self._t_last = m.t_s
            out.append(Cue("start", m.t_s, {"routine": self.routine.id}))
            out.append(Event("phase_changed", m.t_s, {"from": None, "to": READY}))
        self._observe(m, out)
        for monitor in self._monitors[self._phase]:
            monitor(m, out)
        # allow a short chain (e.g. ready -> ease_in -> hold)
        if self._transition(m, out) and self._transition(m, out):
            self._transition(m, out)
        return out

    def stop(self, reason: str = "stopped") -> list[Cue | Event]:
        """End the routine early (user or remote stop); no-op once it has ended."""
        if self.finished:
            return []
        out: list[Cue | Event] = []
        self._enter(STOPPED, self._t_last, (), out, reason=reason)
        return out

    # ---------------------------------------------------------------- bookkeeping

    def _contact_of(self, m: Metrics) -> bool:
        """Contact from the force sensor. Without one (NaN force) a roll routine is in contact
        while rolling and until it has been still for ``idle_pause_s``; a hold routine always
        (stepping off a ball cannot be told from holding still without force)."""
        if m.contact or _isfinite(m.force_n):
            return m.contact
        if self.routine.mode == "hold":
            return True
        if self._phase == READY:
            return not m.still
        return not m.still or self._held("still", m.t_s) < self.settings.idle_pause_s

    def _observe(self, m: Metrics, out: list) -> None:
        # the timers "off", "still" and "idle" are _timer written out: this runs every step
        t, still, since = m.t_s, m.still, self._since
        contact = self._contact = m.contact if _isfinite(m.force_n) else self._contact_of(m)
        t_prev = self._t_last
        if contact and self._moved and (self._phase in (EASE_IN, ACTIVE) or (
                self._phase == COMPLETE and self._held("idle", t_prev) < self.settings.idle_pause_s)):
            self._active_s += max(0.0, t - t_prev)
        self._t_prev, self._t_last = t_prev, t
        if contact and self._t_contact0 is None:
            self._t_contact0 = t
        if _isfinite(m.velocity_mps):
            self._last_velocity = m.velocity_mps
        self._force_seen = contact and _isfinite(m.force_n)
        if contact:
            since.pop("off", None)
        else:
            since.setdefault("off", t_prev)
        if contact and not still:
            self._moved = True
        if still:
            since.setdefault("still", t_prev)
        else:
            still0 = since.pop("still", None)
            if still0 is not None and t - still0 >= 1.0:
                self._stop_end_t = t  # a real stop (not a turnaround) just ended
        if contact and still:
            since.setdefault("idle", t_prev)
        else:
            since.pop("idle", None)
        for p in m.new_passes:
            self._passes.append(p)
            if p.direction in self._dir_s:
                self._dir_s[p.direction] += p.duration_s
                if math.isfinite(p.mean_force_n):
                    self._last_dir_force[p.direction] = p.mean_force_n
            if self.settings.pass_events:
                out.append(Event("pass_completed", m.t_s, _pass_data(p)))
        if self._phase == HOLD and m.holding:
            self._hold_peak_s = max(self._hold_peak_s, m.hold_s)
            if math.isfinite(m.force_n):
                self._hold_forces.append(m.force_n)

    def _timer(self, key: str, cond: bool, t_s: float) -> float:
        """How long ``cond`` has been true (s, on sensor time); 0 when false.

        A condition first seen in this update began somewhere after the previous update, so
        it is timed from there: a timed cue fires at most one update early, never late.
        """
        if not cond:
            self._since.pop(key, None)
            return 0.0
        return t_s - self._since.setdefault(key, self._t_prev)

    def _held(self, key: str, t_s: float) -> float:
        start = self._since.get(key)
        return 0.0 if start is None else t_s - start

    # ---------------------------------------------------------------- transitions

    def _transition(self, m: Metrics, out: list) -> bool:
        for signal, nxt, cues in self._transitions.get(self._phase, ()):
            if signal(m):
                if nxt == "<resume>":
                    nxt = self._resume_phase
                self._exit(self._phase, nxt, m, out)
                self._enter(nxt, m.t_s, cues, out)
                return True
        return False

    def _exit(self, phase: str, nxt: str, m: Metrics, out: list) -> None:
        if phase == HOLD and nxt in (NEXT_SPOT, COMPLETE):
            self._spots_done += 1
            self._spot_end_t = m.t_s
            force = statistics.median(self._hold_forces) if self._hold_forces else math.nan
            hold = {"spot": self._spots_done, "duration_s": round(self._hold_peak_s, 3),
                    "force_n": _num(force)}
            out.append(Event("hold_completed", m.t_s, hold))
        if nxt == PAUSED:
            self._resume_phase = ACTIVE if phase in (HOLD, NEXT_SPOT) else phase

    def _enter(self, phase: str, t_s: float, cues: tuple[str, ...], out: list,
               reason: str | None = None) -> None:
        prev, self._phase = self._phase, phase
        if phase in (EASE_IN, PAUSED):
            self._moved = False
        for name in cues:
            if name == "paused" and not self._pause_cue_ok(t_s):
                continue
            out.append(Cue(name, t_s, self._cue_detail(name, prev)))
        out.append(Event("phase_changed", t_s, {"from": prev, "to": phase}))
        if phase == HOLD:
            self._hold_ok, self._hold_peak_s, self._hold_forces = False, 0.0, []
        if phase in (EASE_IN, ACTIVE) and prev in (READY, PAUSED):
            self._next_tick = t_s + self._tick_period_s()
        if phase == STEPPED_OFF:
            out.append(Event("stepped_off", t_s, {"phase": prev,
                                                  "off_s": round(self._held("off", t_s), 3)}))
        if phase == COMPLETE:
            out.append(Event("routine_completed", t_s, {"routine": self.routine.id,
                                                        **self.progress()}))
        if phase in TERMINAL:
            self._ended_reason = reason or ("completed" if phase == COMPLETE else phase)
            out.append(Event("session_ended", t_s, {"reason": self._ended_reason,
                                                    "completed": phase == COMPLETE}))

    def _pause_cue_ok(self, t_s: float) -> bool:
        last = self._since.get("paused_cue")
        if last is not None and t_s - last < self.settings.repeat_s:
            return False
        self._since["paused_cue"] = t_s
        return True

    def _cue_detail(self, name: str, prev: str) -> dict[str, Any]:
        if name == "ease_in":
            return {"ease_in_s": self.routine.targets.ease_in.s}
        if name == "next_spot":
            return {"spots_done": self._spots_done, "spots_target": self._spots_target()}
        if name in ("done", "stepped_off", "paused"):
            return {"from": prev}
        if name == "hold":
            return {"spot": self._spots_done + 1}
        return {}

    # ---------------------------------------------------------------- signals (table inputs)

    def _sig_contact(self, m: Metrics) -> bool:
        return self._contact

    # (signals that only one mode can raise are left out of the other's tables: _never_for)

    def _sig_off(self, m: Metrics) -> bool:
        off0 = self._since.get("off")  # _held written out: a signal is read every step
        return (0.0 if off0 is None else m.t_s - off0) >= self.settings.contact_grace_s

    def _sig_off_long(self, m: Metrics) -> bool:
        off0 = self._since.get("off")
        return (0.0 if off0 is None else m.t_s - off0) >= self.settings.stepped_off_s

    def _sig_idle(self, m: Metrics) -> bool:
        """Roll routines: stopped rolling (still under contact) after having rolled."""
        return self._moved and self._held("idle", m.t_s) >= self.settings.idle_pause_s

    def _sig_holding(self, m: Metrics) -> bool:
        """Hold routines: a still hold under contact."""
        return m.holding and self._contact

    def _sig_eased(self, m: Metrics) -> bool:
        return self._ease_elapsed_s(m.t_s) >= self.routine.targets.ease_in.s

    def _sig_rolled_enough(self, m: Metrics) -> bool:
        """Roll routines: the rolling target is done."""
        return self._done_s() >= self._total_s

    def _spot_end(self, m: Metrics) -> bool:
        hold = self.routine.targets.hold
        assert hold is not None
        return self._hold_ok and (not m.holding or not self._contact or m.hold_s >= hold.hold_s.hi)

    def _sig_spot_end_last(self, m: Metrics) -> bool:
        return self._spot_end(m) and self._spots_done + 1 >= self._spots_target()

    def _sig_spot_end_more(self, m: Metrics) -> bool:
        return self._spot_end(m) and self._spots_done + 1 < self._spots_target()

    def _sig_hold_broken(self, m: Metrics) -> bool:
        return not self._hold_ok and self._contact and not m.holding

    def _sig_new_hold(self, m: Metrics) -> bool:
        return m.holding and self._contact and (m.t_s - m.hold_s) > self._spot_end_t

    def _sig_resumed(self, m: Metrics) -> bool:
        return self._contact and (self.routine.mode == "hold" or not m.still)

    # ---------------------------------------------------------------- monitors

    def _mon_over_pressure(self, m: Metrics, out: list) -> None:
        f = m.force_n
        if not _isfinite(f):
            return
        limit = self._max_n
        nag = self._over
        if f < limit * self.settings.over_pressure_release:  # _timer written out
            below = m.t_s - self._since.setdefault("over_release", self._t_prev)
        else:
            self._since.pop("over_release", None)
            below = 0.0
        if f > limit and nag.fire("over_pressure", m.t_s):
            data = {"force_n": round(f, 1), "max_n": round(limit, 1)}
            out.append(Cue("over_pressure", m.t_s, data))
            out.append(Event("over_pressure", m.t_s, data))
        elif below >= self.settings.over_pressure_release_s:
            nag.resolve()

    def _mon_force(self, m: Metrics, out: list) -> None:
        f, t, s = m.force_n, m.t_s, self.settings
        ok = self._contact and _isfinite(f)
        band = self._band[0]
        cap = self._ease_cap_n(t)
        limit = min(band.hi, cap)
        if not ok:  # no force to judge: the three timers stop
            pop = self._since.pop
            pop("high", None), pop("low", None), pop("force_ok", None)
            return
        # the timers "high", "low" and "force_ok": _timer written out (this runs every step)
        since, t_prev = self._since, self._t_prev
        high = low = in_band = 0.0
        if f > limit * (1 + s.margin):
            high = t - since.setdefault("high", t_prev)
        else:
            since.pop("high", None)
        if (f < band.lo * (1 - s.margin) and self._phase in (ACTIVE, HOLD)
                and not self.routine.directional and (self.routine.mode == "hold" or not m.still)):
            low = t - since.setdefault("low", t_prev)
        else:
            since.pop("low", None)
        if band.lo <= f <= limit:
            in_band = t - since.setdefault("force_ok", t_prev)
        else:
            since.pop("force_ok", None)
        nag = self._nags["force"]
        if self._over.active:
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

    def _mon_pace(self, m: Metrics, out: list) -> None:
        speed = self.routine.targets.speed
        if speed is None:
            return
        s, t, band = self.settings, m.t_s, speed.speed_mps
        nag = self._nags["pace"]
        for p in m.new_passes:
            verdict = self._verdict(p)
            streak = self._streak[1] + 1 if verdict == self._streak[0] else 1
            self._streak = (verdict, streak)
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
        # the timers "fast" and "slow": _timer written out (this runs every step)
        since, v = self._since, m.speed_mps
        fast = slow = 0.0
        if self._contact and not m.still and v > band.hi * (1 + s.margin):
            fast = t - since.setdefault("fast", self._t_prev)
        else:
            since.pop("fast", None)
        if self._contact and not m.still and v < band.lo * (1 - s.margin):
            slow = t - since.setdefault("slow", self._t_prev)
        else:
            since.pop("slow", None)
        if fast >= s.speed_persist_s and nag.fire("slow_down", t):
            out.append(Cue("slow_down", t, {"speed_mps": round(m.speed_mps, 4)}))
        elif slow >= s.slow_persist_s and nag.fire("speed_up", t):
            out.append(Cue("speed_up", t, {"speed_mps": round(m.speed_mps, 4)}))

    def _verdict(self, p: Pass) -> str:
        """'fast' / 'short' / 'slow' / 'ok' / '' (near a band edge: no change) for one pass."""
        t, s = self.routine.targets, self.settings
        assert t.speed is not None
        k, per, sp = s.margin, t.speed.pass_s, t.speed.speed_mps
        v = p.mean_speed_mps
        # a pass that began during a real stop is timed from the end of the stop
        d = p.end_s - max(p.start_s, min(self._stop_end_t, p.end_s))
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

    def _mon_pass_force(self, m: Metrics, out: list) -> None:
        """Direction-dependent force (calf): judged per completed pass, both ways seen."""
        if not self.routine.directional:
            return
        for p in m.new_passes:
            if p.direction in (1, -1) and math.isfinite(p.mean_force_n):
                self._judge_direction(p, m.t_s, out)

    def _judge_direction(self, p: Pass, t_s: float, out: list) -> None:
        if len(self._last_dir_force) < 2:
            return
        up_f, down_f = self._last_dir_force[1], self._last_dir_force[-1]
        up_band, down_band = self._band[1], self._band[-1]
        nag, k = self._nags["force"], self.settings.margin
        if self._nags["over"].active:
            return
        band = up_band if p.direction == 1 else down_band
        f = p.mean_force_n
        detail = {"direction": "up" if p.direction == 1 else "down", "force_n": round(f, 1),
                  "band_n": [round(band.lo, 1), round(band.hi, 1)]}
        reversed_ = up_f < down_f and (up_f < up_band.lo or down_f > down_band.hi)
        if reversed_:
            if nag.fire("switch_direction", t_s):
                self._dir_state = "high" if f > band.hi else "low" if f < band.lo else "ok"
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

    def _mon_tick(self, m: Metrics, out: list) -> None:
        if self.routine.mode != "roll" or self._next_tick is None:
            return
        if m.t_s >= self._next_tick:
            period = self._tick_period_s()
            self._ticks += 1
            out.append(Cue("tick", m.t_s, {"n": self._ticks, "period_s": period}))
            self._next_tick += period
            if self._next_tick <= m.t_s:
                self._next_tick = m.t_s + period

    def _mon_hold_time(self, m: Metrics, out: list) -> None:
        hold = self.routine.targets.hold
        if hold is None or self._hold_ok or not (m.holding and self._contact):
            return
        if m.hold_s >= hold.hold_s.lo:
            self._hold_ok = True
            out.append(Cue("hold_done", m.t_s, {"hold_s": round(m.hold_s, 3),
                                                "spot": self._spots_done + 1}))

    # ---------------------------------------------------------------- targets and progress

    def _tick_period_s(self) -> float:
        speed = self.routine.targets.speed
        return speed.pass_s.mid if speed else 3.0

    def _ease_elapsed_s(self, t_s: float) -> float:
        return 0.0 if self._t_contact0 is None else t_s - self._t_contact0

    def _ease_cap_n(self, t_s: float) -> float:
        """Force cap (N) ramping from start_fraction x band top to the band top."""
        ease = self.routine.targets.ease_in
        top = self._band[0].hi
        if ease.s <= 0 or self._t_contact0 is None:
            return top if ease.s <= 0 else top * ease.start_fraction
        x = (t_s - self._t_contact0) / ease.s
        if x >= 1.0:
            return top
        return top * (ease.start_fraction + (1.0 - ease.start_fraction) * max(0.0, x))

    def _spots_target(self) -> int:
        hold = self.routine.targets.hold
        return hold.spots if hold else 0

    def _target_s(self) -> float:
        t = self.routine.targets
        if t.hold is not None and self.routine.mode == "hold":
            return t.hold.spots * t.hold.hold_s.lo
        assert t.rolling_min_s is not None
        return t.rolling_min_s * (2 if t.per_direction else 1)

    def _done_s(self) -> float:
        t = self.routine.targets
        if self.routine.mode == "hold":
            assert t.hold is not None
            current = min(self._hold_peak_s, t.hold.hold_s.lo) if self._phase == HOLD else 0.0
            return self._spots_done * t.hold.hold_s.lo + current
        assert t.rolling_min_s is not None
        if t.per_direction and (self._dir_s[1] > 0 or self._dir_s[-1] > 0):
            return min(self._dir_s[1], t.rolling_min_s) + min(self._dir_s[-1], t.rolling_min_s)
        return self._active_s

    def targets(self, summary: dict[str, Any]) -> list[dict[str, Any]]:
        """Per target ``{"name", "target", "actual", "met"}`` for the session summary.

        ``target`` is ``{"min"?, "max"?, "unit", "text"}``; ``actual`` a number in that unit
        (None when unknown, then ``met`` is False). ``met`` means min <= actual <= max, except
        for ``hold_s`` where the max is the point the coach moves you on, so only min counts.
        ``summary`` holds the DESIGN §3.2 metric fields (MetricsEngine.summary()).
        """
        r = self.routine
        rows: list[dict[str, Any]] = []
        if r.mode == "roll":
            rows += self._roll_rows(summary)
        else:
            rows += self._hold_rows(summary)
        force = summary.get("force_n") or {}
        if r.directional:
            by_dir = summary.get("force_by_direction_n") or {}
            for key, d in (("up", 1), ("down", -1)):
                band = self._band[d]
                rows.append(_row(f"force_{key}_n", band.lo, band.hi, "N", by_dir.get(key)))
        else:
            band = self._band[0]
            rows.append(_row("force_n", band.lo, band.hi, "N", force.get("mean")))
        rows.append(_row("force_peak_n", None, self._max_n, "N",
                         force.get("peak")))
        return rows

    def _roll_rows(self, summary: dict[str, Any]) -> list[dict[str, Any]]:
        t = self.routine.targets
        assert t.rolling_min_s is not None and t.speed is not None
        rows = []
        if t.per_direction:
            known = self._dir_s[1] > 0 or self._dir_s[-1] > 0
            for key, d in (("up", 1), ("down", -1)):
                rows.append(_row(f"rolling_{key}_s", t.rolling_min_s, None, "s",
                                 self._dir_s[d] if known else None))
        else:
            rows.append(_row("rolling_s", t.rolling_min_s, None, "s", self._active_s))
        durations = [p.duration_s for p in self._passes]
        rows.append(_row("pass_s", t.speed.pass_s.lo, t.speed.pass_s.hi, "s",
                         statistics.median(durations) if durations else None))
        rows.append(_row("speed_mps", t.speed.speed_mps.lo, t.speed.speed_mps.hi, "m/s",
                         (summary.get("speed_mps") or {}).get("mean")))
        if t.pass_length_m is not None:
            rows.append(_row("pass_length_m", t.pass_length_m.lo, t.pass_length_m.hi, "m",
                             (summary.get("pass_length_m") or {}).get("mean")))
        return rows

    def _hold_rows(self, summary: dict[str, Any]) -> list[dict[str, Any]]:
        hold = self.routine.targets.hold
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
    value = _num(actual)
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


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return round(float(x), 4)


def _pass_data(p: Pass) -> dict[str, Any]:
    return {"length_m": round(p.length_m, 4), "duration_s": round(p.duration_s, 3),
            "direction": p.direction, "mean_speed_mps": round(p.mean_speed_mps, 4),
            "mean_force_n": _num(p.mean_force_n)}


__all__ = ["Band", "Coach", "CoachSettings", "Cue", "Event", "CUE_NAMES", "MONITORS",
           "TRANSITIONS"]
