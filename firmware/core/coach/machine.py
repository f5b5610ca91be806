"""The coach: turns ``Metrics`` and a ``Routine`` into cues for the user and events for the
journal. A table-driven state machine in the h11 manner: pure, no I/O, no clock (time comes
only from ``Metrics.t_s``); it returns actions (``Cue``/``Event``) for others to perform.

``TRANSITIONS`` (``phases.py``) is the whole phase logic: per phase an ordered list of
(signal, next phase, cues); the first signal that is true wins. The signals are the
``_sig_*`` methods here. ``MONITORS`` names the checks that may cue without changing phase
(``monitors.py``: pace, pressure, metronome, hold timer). Every cue is rate limited and has
hysteresis, so a borderline user hears one cue, not a stream. What the run knows so far is
one ``RunState`` (``state.py``) that all of them read.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from firmware.common.model import Metrics
from firmware.core.coach.actions import Cue, Event, json_number
from firmware.core.coach.limits import Limits
from firmware.core.coach.monitors import Monitors
from firmware.core.coach.phases import (
    ACTIVE,
    COMPLETE,
    EASE_IN,
    HOLD,
    MONITORS,
    NEXT_SPOT,
    PAUSED,
    READY,
    RESUME,
    STEPPED_OFF,
    STOPPED,
    TERMINAL,
    TRANSITIONS,
    never_for,
)
from firmware.core.coach.progress import done_s, progress, spots_target, target_s
from firmware.core.coach.settings import CoachSettings
from firmware.core.coach.state import RunState
from firmware.core.coach.verdicts import live_verdicts, target_rows
from firmware.core.protocols import Profile, Routine, check_soreness


class Coach:
    """One routine run: ``step(metrics)`` per Metrics update returns the cues/events it caused."""

    def __init__(self, routine: Routine, profile: Profile | None = None,
                 settings: CoachSettings | None = None, *,
                 soreness_before: int | None = None) -> None:
        """``soreness_before``: the person's 0-10 rating of the area before this session
        (None: not rated); at or above the routine's ``sore_from`` the ease-in is longer and
        its cap lower (``protocols.EaseIn``)."""
        self.routine = routine
        self.profile = profile or Profile()
        self.settings = settings or CoachSettings()
        self.soreness_before = check_soreness(soreness_before)
        self._run = run = RunState(routine, self.settings)
        self._limits = Limits(routine, self.profile, run, self.soreness_before)
        self._monitor = Monitors(routine, self.settings, run, self._limits)
        # a step runs every 40 ms: resolve the tables, the profile's force limits and the
        # targets once, leaving out the checks that can never act for this routine
        idle = never_for(routine)
        self._monitors = {ph: tuple(getattr(self._monitor, n) for n in names if n not in idle)
                          for ph, names in MONITORS.items()}
        self._transitions = {ph: tuple((getattr(self, "_sig_" + sig), nxt, cues)
                                       for sig, nxt, cues in rows if sig not in idle)
                             for ph, rows in TRANSITIONS.items()}
        self._total_s = target_s(routine)

    # ---------------------------------------------------------------- public state

    @property
    def phase(self) -> str:
        return self._run.phase

    @property
    def finished(self) -> bool:
        return self._run.phase in TERMINAL

    @property
    def completed(self) -> bool:
        return self._run.phase == COMPLETE

    @property
    def ended_reason(self) -> str | None:
        """Why the routine ended: "completed", "stepped_off", a stop reason, or None."""
        return self._run.ended_reason

    @property
    def rolling_s(self) -> float | None:
        """Time rolling (s) of a roll routine: under contact in its rolling phases, and on
        after it completed while the user keeps rolling; None for a hold routine."""
        return round(self._run.active_s, 3) if self.routine.mode == "roll" else None

    def progress(self) -> dict[str, Any]:
        """Elapsed, target and remaining seconds, fraction done (0..1), spots done/target
        (see ``progress.progress``)."""
        return progress(self._run)

    def bands(self) -> dict[str, Any]:
        """Current display bands: speed m/s, force N (ease-in cap and direction applied)."""
        return self._limits.bands()

    def direction_bands(self) -> tuple[list[float], list[float]]:
        """The up and down force bands [lo, hi] N of a direction-dependent routine."""
        return self._limits.direction_bands()

    def verdicts(self) -> dict[str, str | None]:
        """The coach's own verdict per quantity, for gauges that must agree with the cues
        (see ``verdicts.live_verdicts``)."""
        return live_verdicts(self._run, self._monitor)

    def targets(self, summary: dict[str, Any]) -> list[dict[str, Any]]:
        """Per target ``{"name", "target", "actual", "met"}`` for the session summary (see
        ``verdicts.target_rows``)."""
        return target_rows(self._run, self._limits, summary)

    # ---------------------------------------------------------------- stepping

    def step(self, m: Metrics) -> list[Cue | Event]:
        """Feed one Metrics update; returns the cues and events it causes, in order."""
        run = self._run
        if run.phase in TERMINAL:
            if run.phase == COMPLETE:  # the user rolls on: count it, cue nothing
                run.observe(m, [])
            return []
        out: list[Cue | Event] = []
        if run.t0 is None:
            run.t0 = run.t_last = m.t_s
            out.append(Cue("start", m.t_s, {"routine": self.routine.id}))
            out.append(Event("phase_changed", m.t_s, {"from": None, "to": READY}))
        run.observe(m, out)
        for monitor in self._monitors[run.phase]:
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
        self._enter(STOPPED, self._run.t_last, (), out, reason=reason)
        return out

    # ---------------------------------------------------------------- transitions

    def _transition(self, m: Metrics, out: list) -> bool:
        run = self._run
        for signal, nxt, cues in self._transitions.get(run.phase, ()):
            if signal(m):
                if nxt == RESUME:
                    nxt = run.resume_phase
                self._exit(run.phase, nxt, m, out)
                self._enter(nxt, m.t_s, cues, out)
                return True
        return False

    def _exit(self, phase: str, nxt: str, m: Metrics, out: list) -> None:
        run = self._run
        if phase == HOLD and nxt in (NEXT_SPOT, COMPLETE):
            run.spots_done += 1
            run.spot_end_t = m.t_s
            force = statistics.median(run.hold_forces) if run.hold_forces else math.nan
            hold = {"spot": run.spots_done, "duration_s": round(run.hold_peak_s, 3),
                    "force_n": json_number(force)}
            out.append(Event("hold_completed", m.t_s, hold))
        if nxt == PAUSED:
            run.resume_phase = ACTIVE if phase in (HOLD, NEXT_SPOT) else phase

    def _enter(self, phase: str, t_s: float, cues: tuple[str, ...], out: list,
               reason: str | None = None) -> None:
        run = self._run
        prev, run.phase = run.phase, phase
        if phase in (EASE_IN, PAUSED):
            run.moved = False
        for name in cues:
            if name == "paused" and not self._pause_cue_ok(t_s):
                continue
            out.append(Cue(name, t_s, self._cue_detail(name, prev)))
        out.append(Event("phase_changed", t_s, {"from": prev, "to": phase}))
        if phase == HOLD:
            run.hold_ok, run.hold_peak_s, run.hold_forces = False, 0.0, []
        if phase in (EASE_IN, ACTIVE) and prev in (READY, PAUSED):
            self._monitor.start_tick(t_s)
        if phase == STEPPED_OFF:
            out.append(Event("stepped_off", t_s, {"phase": prev,
                                                  "off_s": round(run.held("off", t_s), 3)}))
        if phase == COMPLETE:
            out.append(Event("routine_completed", t_s, {"routine": self.routine.id,
                                                        **self.progress()}))
        if phase in TERMINAL:
            run.ended_reason = reason or ("completed" if phase == COMPLETE else phase)
            out.append(Event("session_ended", t_s, {"reason": run.ended_reason,
                                                    "completed": phase == COMPLETE}))

    def _pause_cue_ok(self, t_s: float) -> bool:
        since = self._run.since
        last = since.get("paused_cue")
        if last is not None and t_s - last < self.settings.repeat_s:
            return False
        since["paused_cue"] = t_s
        return True

    def _cue_detail(self, name: str, prev: str) -> dict[str, Any]:
        if name == "ease_in":
            limits = self._limits
            return {"ease_in_s": limits.ease_s, "cap_scale": limits.ease_scale,
                    "soreness_before": self.soreness_before}
        if name == "next_spot":
            return {"spots_done": self._run.spots_done,
                    "spots_target": spots_target(self.routine)}
        if name in ("done", "stepped_off", "paused"):
            return {"from": prev}
        if name == "hold":
            return {"spot": self._run.spots_done + 1}
        return {}

    # ---------------------------------------------------------------- signals (table inputs)

    def _sig_contact(self, m: Metrics) -> bool:
        return self._run.contact

    # (signals that only one mode can raise are left out of the other's tables: never_for)

    def _sig_off(self, m: Metrics) -> bool:
        off0 = self._run.since.get("off")  # held() written out: a signal is read every step
        return (0.0 if off0 is None else m.t_s - off0) >= self.settings.contact_grace_s

    def _sig_off_long(self, m: Metrics) -> bool:
        off0 = self._run.since.get("off")
        return (0.0 if off0 is None else m.t_s - off0) >= self.settings.stepped_off_s

    def _sig_idle(self, m: Metrics) -> bool:
        """Roll routines: stopped rolling (still under contact) after having rolled."""
        run = self._run
        return run.moved and run.held("idle", m.t_s) >= self.settings.idle_pause_s

    def _sig_holding(self, m: Metrics) -> bool:
        """Hold routines: a still hold under contact."""
        return m.holding and self._run.contact

    def _sig_eased(self, m: Metrics) -> bool:
        return self._limits.ease_elapsed_s(m.t_s) >= self._limits.ease_s

    def _sig_rolled_enough(self, m: Metrics) -> bool:
        """Roll routines: the rolling target is done."""
        return done_s(self._run) >= self._total_s

    def _spot_end(self, m: Metrics) -> bool:
        run = self._run
        hold = self.routine.targets.hold
        assert hold is not None
        return run.hold_ok and (not m.holding or not run.contact or m.hold_s >= hold.hold_s.hi)

    def _sig_spot_end_last(self, m: Metrics) -> bool:
        return self._spot_end(m) and self._run.spots_done + 1 >= spots_target(self.routine)

    def _sig_spot_end_more(self, m: Metrics) -> bool:
        return self._spot_end(m) and self._run.spots_done + 1 < spots_target(self.routine)

    def _sig_hold_broken(self, m: Metrics) -> bool:
        run = self._run
        return not run.hold_ok and run.contact and not m.holding

    def _sig_new_hold(self, m: Metrics) -> bool:
        run = self._run
        return m.holding and run.contact and (m.t_s - m.hold_s) > run.spot_end_t

    def _sig_resumed(self, m: Metrics) -> bool:
        return self._run.contact and (self.routine.mode == "hold" or not m.still)
