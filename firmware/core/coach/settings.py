"""How patient the coach is: every timing and hysteresis of its judgement, in one frozen
record so a test or a bench can change one and the rest stay as shipped."""

from __future__ import annotations

from dataclasses import dataclass


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
