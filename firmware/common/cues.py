"""The cue table: every cue the user can be given, and what it looks and sounds like.

One home, because four places read it: the coach emits the names (``firmware/core/coach``),
the device's LED and buzzer play the patterns (``device/outputs.py``), the terminal display
prints the meanings (``firmware/edge/display.py``) and the README and docs/cues.md carry the
table that ``cue_table_markdown()`` renders (tests check they agree). Pure data and pure
functions: the player with its pins and threads stays in ``device/outputs.py``.

Learn it in a minute: green = good, amber = pace, red = pressure, blue = hold,
purple = move / swap (spot, direction, side, programme step), white = start and end. Pitch going down means "less" (slower,
lighter), pitch going up means "more".
"""

from __future__ import annotations

from dataclasses import dataclass

Colour = tuple[float, float, float]

# Every cue name the coach can emit (each has a pattern in CUE_PATTERNS).
COACH_CUES = (
    "start", "ease_in", "tick", "slow_down", "speed_up", "on_pace", "press_less", "press_more",
    "longer_passes", "over_pressure", "hold", "hold_done", "keep_still", "next_spot",
    "switch_direction",
    "paused", "stepped_off", "done",
)
# cues the device gives between the routines of a programme (``firmware.core.programs``)
PROGRAM_CUES = ("switch_side", "next_step")
# cues the device itself gives, beside the coach's (the programme's among them)
DEVICE_CUES = ("fault", "storage_full", *PROGRAM_CUES, "person")

OFF: Colour = (0.0, 0.0, 0.0)
COLOURS: dict[str, Colour] = {
    "white": (1.0, 1.0, 1.0),
    "dim white": (0.2, 0.2, 0.2),
    "green": (0.0, 1.0, 0.0),
    "dim green": (0.0, 0.3, 0.0),
    "amber": (1.0, 0.5, 0.0),
    "red": (1.0, 0.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "purple": (0.6, 0.0, 1.0),
    "off": OFF,
}
TONE_RANGE_HZ = (220.0, 880.0)  # TonalBuzzer's default range: A3..A5 (mid A4, one octave)


@dataclass(frozen=True)
class Pattern:
    """How one cue looks and sounds. ``colour`` None leaves the LED as it is."""

    colour: str | None  # a COLOURS name
    tones_hz: tuple[float, ...]  # played one after another
    beep_s: float  # length of each tone
    gap_s: float  # silence between tones
    flash: bool  # LED off during the gaps (alarm)
    meaning: str  # what the user should do, for the README table and the terminal
    priority: int = 1  # a lower-priority cue never cuts a higher one that is playing


CUE_PATTERNS: dict[str, Pattern] = {
    "start": Pattern("white", (523.0, 659.0), 0.12, 0.06, False, "Routine ready: get on the tool"),
    "ease_in": Pattern("dim green", (440.0,), 0.25, 0.0, False,
                       "Contact: start gently, pressure builds over the first seconds"),
    "tick": Pattern(None, (880.0,), 0.03, 0.0, False,
                    "Metronome: one click per one-way pass", priority=0),
    "on_pace": Pattern("green", (659.0,), 0.1, 0.0, False, "Good pace again"),
    "slow_down": Pattern("amber", (587.0, 440.0), 0.12, 0.06, False, "Roll slower"),
    "speed_up": Pattern("amber", (440.0, 587.0), 0.12, 0.06, False, "Roll a little faster"),
    "longer_passes": Pattern("amber", (523.0, 523.0), 0.12, 0.06, False,
                             "Roll the whole length, end to end"),
    "press_less": Pattern("red", (330.0, 262.0), 0.2, 0.08, False, "Press less"),
    "press_more": Pattern("red", (262.0, 330.0), 0.2, 0.08, False, "Press a little more"),
    "over_pressure": Pattern("red", (220.0, 220.0, 220.0), 0.15, 0.1, True,
                             "Too much pressure: back off now", priority=3),
    "hold": Pattern("blue", (523.0,), 0.4, 0.0, False, "Holding: stay still and breathe"),
    "hold_done": Pattern("blue", (784.0, 784.0), 0.1, 0.08, False,
                         "Hold long enough: you may move on"),
    "keep_still": Pattern("blue", (294.0, 294.0), 0.1, 0.08, True,
                          "The ball moved: keep it still"),
    "next_spot": Pattern("purple", (659.0, 784.0), 0.12, 0.06, False,
                         "Move the ball to the next spot"),
    "switch_direction": Pattern("purple", (440.0, 659.0, 440.0), 0.1, 0.05, False,
                                "Pressure the wrong way round: firm going up, light coming down"),
    "switch_side": Pattern("purple", (784.0, 523.0, 784.0), 0.12, 0.06, False,
                           "Programme: same routine, other side: change legs (or hips) and "
                           "start again", priority=2),
    "next_step": Pattern("purple", (392.0, 523.0, 659.0), 0.15, 0.06, False,
                         "Programme: on to the next routine (if it is on another tool, the "
                         "dashboard's Plan page says which)", priority=2),
    "paused": Pattern("dim white", (392.0,), 0.15, 0.0, False, "Paused: roll on to continue"),
    "stepped_off": Pattern("off", (392.0, 262.0), 0.25, 0.1, False,
                           "Stepped off: the routine has ended", priority=2),
    "done": Pattern("white", (523.0, 659.0, 784.0), 0.15, 0.08, False,
                    "Done: routine complete", priority=2),
    "fault": Pattern("red", (262.0, 220.0), 0.35, 0.15, True,
                     "A sensor does not answer: see rollsense doctor", priority=2),
    "storage_full": Pattern("dim white", (349.0, 262.0), 0.3, 0.15, True,
                            "Storage full: coaching goes on, the session is saved once there is "
                            "space (free some)", priority=2),
    # the button at idle, two or more people: played once per the chosen person's number
    # (person 3: three beeps, 0.4 s apart); hold the button to start for them
    "person": Pattern("white", (784.0,), 0.1, 0.0, False,
                      "Person chosen: count the beeps (one per person number); hold to start"),
}


def cue_meaning(name: str) -> str:
    """What a cue asks of the user, in the table's words (a name outside it, made readable)."""
    pattern = CUE_PATTERNS.get(name)
    return pattern.meaning if pattern else name.replace("_", " ").capitalize()


def pattern_steps(p: Pattern) -> list[tuple[Colour | None, float | None, float]]:
    """The pattern as (LED colour or None, tone Hz or None, seconds) steps, silence last."""
    on = COLOURS[p.colour] if p.colour is not None else None
    gap = OFF if (p.flash and on is not None) else on
    steps: list[tuple[Colour | None, float | None, float]] = []
    for i, tone in enumerate(p.tones_hz):
        if i:
            steps.append((gap, None, p.gap_s))
        steps.append((on, tone, p.beep_s))
    steps.append((on, None, 0.0))
    return steps


def cue_table_markdown() -> str:
    """The README table: cue, light, sound, what it means."""
    rows = ["| cue | light | sound | means |", "|---|---|---|---|"]
    for name, p in CUE_PATTERNS.items():
        light = "unchanged" if p.colour is None else p.colour + (", flashing" if p.flash else "")
        sound = _sound_text(p)
        rows.append(f"| `{name}` | {light} | {sound} | {p.meaning} |")
    return "\n".join(rows) + "\n"


def _sound_text(p: Pattern) -> str:
    tones = p.tones_hz
    if len(set(tones)) == 1:
        count = {1: "one", 2: "two", 3: "three"}.get(len(tones), str(len(tones)))
        height = "high" if tones[0] >= 700 else "low" if tones[0] < 350 else "mid"
        what = "click" if p.beep_s < 0.05 else "beep" + ("s" if len(tones) > 1 else "")
        length = "long " if p.beep_s >= 0.3 else ""
        return f"{count} {length}{height} {what} ({tones[0]:g} Hz)"
    shape = ("rising" if tones[-1] > tones[0] else "falling" if tones[-1] < tones[0]
             else "up-down" if max(tones) > tones[0] else "down-up")
    return f"{shape} {'-'.join(f'{t:g}' for t in tones)} Hz"


CUE_TABLE_MARKDOWN = cue_table_markdown()

__all__ = ["COACH_CUES", "COLOURS", "CUE_PATTERNS", "CUE_TABLE_MARKDOWN", "DEVICE_CUES", "OFF",
           "PROGRAM_CUES", "TONE_RANGE_HZ", "Colour", "Pattern", "cue_meaning", "cue_table_markdown",
           "pattern_steps"]
