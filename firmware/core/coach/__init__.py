"""The coach: turns ``Metrics`` and a ``Routine`` into cues for the user and events for the
journal. Pure: no I/O, no clock (time comes only from ``Metrics.t_s``).

One job per module:

- ``machine``: ``Coach``, the phase state machine and the front the session talks to;
- ``phases``: the tables (phases, ``TRANSITIONS``, ``MONITORS``);
- ``state``: ``RunState``, what the run knows so far (timers, contact, passes, holds);
- ``monitors``: the checks that cue without a phase change (pace, force, over-pressure,
  metronome, hold timer) and the ``Nag`` that rate limits them;
- ``limits``: the force bands, the hard limit and the ease-in cap for this user;
- ``progress``: the routine's target in seconds and how much of it is done;
- ``verdicts``: live verdicts for the gauges and the summary's target rows;
- ``actions``: ``Cue`` and ``Event``, what the coach returns; ``settings``: ``CoachSettings``.

The cue names themselves are the cue table's (``firmware/common/cues.py``).
"""

from __future__ import annotations

from firmware.core.coach.actions import Cue, Event
from firmware.core.coach.machine import Coach
from firmware.core.coach.phases import (
    ACTIVE,
    COMPLETE,
    CUE_NAMES,
    EASE_IN,
    HOLD,
    MONITORS,
    NEXT_SPOT,
    PAUSED,
    READY,
    STEPPED_OFF,
    STOPPED,
    TERMINAL,
    TRANSITIONS,
)
from firmware.core.coach.settings import CoachSettings
from firmware.core.protocols import Band

__all__ = ["ACTIVE", "Band", "COMPLETE", "CUE_NAMES", "Coach", "CoachSettings", "Cue",
           "EASE_IN", "Event", "HOLD", "MONITORS", "NEXT_SPOT", "PAUSED", "READY",
           "STEPPED_OFF", "STOPPED", "TERMINAL", "TRANSITIONS"]
