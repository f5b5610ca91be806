"""The coach's tables: its phases, which signal moves it from one to the next with which
cues, and which monitors may cue without a phase change. The whole phase logic is data here,
so it can be read (and tested) apart from the code that runs it (``machine.py``).

Phases::

    ready -> ease_in -> active -> complete                      (roll routines)
    ready -> ease_in -> hold -> next_spot -> hold ... -> complete (hold routines; active
                                                                   = waiting for a still hold)
    any running phase -> paused (contact lost briefly / stopped rolling) -> back
    any running phase -> stepped_off (contact lost longer than the grace period; ends it)
"""

from __future__ import annotations

from firmware.common.cues import COACH_CUES
from firmware.core.protocols import Routine

READY, EASE_IN, ACTIVE, HOLD, NEXT_SPOT = "ready", "ease_in", "active", "hold", "next_spot"
PAUSED, COMPLETE, STEPPED_OFF, STOPPED = "paused", "complete", "stepped_off", "stopped"
TERMINAL = (COMPLETE, STEPPED_OFF, STOPPED)
RESUME = "<resume>"  # "next phase": back to the phase a pause interrupted

# Every cue name the coach can emit (the cue table, firmware/common/cues.py, has a pattern
# for each).
CUE_NAMES = COACH_CUES

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
             ("resumed", RESUME, ())),
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


def never_for(routine: Routine) -> frozenset[str]:
    """The monitors and transition signals that can never act for ``routine``."""
    t = routine.targets
    return frozenset(
        (("tick", "idle", "rolled_enough") if routine.mode != "roll" else ())
        + (("holding",) if routine.mode != "hold" else ())
        + (("pace",) if t.speed is None else ())
        + (("hold_time",) if t.hold is None else ())
        + (("pass_force",) if not routine.directional else ()))
