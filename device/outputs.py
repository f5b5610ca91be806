"""Cue outputs through gpiozero: an RGB LED (PWM), a tonal buzzer and a push button.

``Outputs.perform(cue)`` sets the LED colour and starts the first tone at once, then a small
worker thread plays the rest of the pattern (timed by ``Event.wait``, never ``time.sleep``),
so the caller is never blocked. A new cue cuts the pattern that is playing; a metronome
``tick`` never cuts a spoken-to-the-user cue. ``CUE_PATTERNS`` is the one table of what each
cue looks and sounds like; ``cue_table_markdown()`` renders it for the README.

Learn it in a minute: green = good, amber = pace, red = pressure, blue = hold,
purple = move / swap, white = start and end. Pitch going down means "less" (slower,
lighter), pitch going up means "more".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from gpiozero import RGBLED, Button, TonalBuzzer

Colour = tuple[float, float, float]

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
    meaning: str  # what the user should do, for the README table
    priority: int = 1  # a lower-priority cue never cuts a higher one that is playing


DEVICE_CUES = ("fault", "storage_full")  # cues the device itself gives, beside the coach's (firmware/core/coach.py)

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
}


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
    shape = "rising" if tones[-1] > tones[0] else "falling" if tones[-1] < tones[0] else "up-down"
    return f"{shape} {'-'.join(f'{t:g}' for t in tones)} Hz"


CUE_TABLE_MARKDOWN = cue_table_markdown()


class Outputs:
    """RGB LED + tonal buzzer + button on injectable gpiozero pins (BCM numbers).

    ``on_press`` runs on a short press (fired at release, so a long press does not also
    start a routine); ``on_hold`` runs when the button is held ``hold_s`` seconds.
    Both run in gpiozero's background thread; ``when_pressed``/``when_held`` are aliases.
    """

    def __init__(self, red_pin: int = 17, green_pin: int = 27, blue_pin: int = 22,
                 buzzer_pin: int = 18, button_pin: int | None = 23, *, hold_s: float = 1.5,
                 pin_factory=None) -> None:
        self.on_press: Callable[[], object] | None = None
        self.on_hold: Callable[[], object] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._job: list | None = None
        self._gen = 0
        self._playing: Pattern | None = None
        self._closed = False
        self._was_held = False
        self.led = self.buzzer = self.button = None
        try:
            self.led = RGBLED(red_pin, green_pin, blue_pin, pwm=True, pin_factory=pin_factory)
            self.buzzer = TonalBuzzer(buzzer_pin, pin_factory=pin_factory)
            if button_pin is not None:
                self.button = Button(button_pin, pull_up=True, hold_time=hold_s,
                                     pin_factory=pin_factory)
                self.button.when_pressed = self._pressed
                self.button.when_released = self._released
                self.button.when_held = self._held
        except Exception:
            self._close_devices()
            raise
        self._worker = threading.Thread(target=self._run, name="rollsense-cues", daemon=True)
        self._worker.start()

    # aliases in gpiozero's spelling
    @property
    def when_pressed(self):
        return self.on_press

    @when_pressed.setter
    def when_pressed(self, fn) -> None:
        self.on_press = fn

    @property
    def when_held(self):
        return self.on_hold

    @when_held.setter
    def when_held(self, fn) -> None:
        self.on_hold = fn

    def perform(self, cue_name: str) -> bool:
        """Show/sound ``cue_name`` now (returns at once); False if unknown or not played."""
        p = CUE_PATTERNS.get(cue_name)
        if p is None or self._closed:
            return False
        steps = pattern_steps(p)
        with self._lock:
            if self._playing is not None and self._playing.priority > p.priority:
                return False
            self._gen += 1
            self._apply(*steps[0][:2])
            self._job, self._playing = steps, p
            self._wake.set()
        return True

    @property
    def busy(self) -> bool:
        """A pattern is still playing."""
        return self._playing is not None

    def close(self) -> None:
        """Stop the worker and release the pins (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._worker.join(timeout=1.0)
        self._close_devices()

    # ---------------------------------------------------------------- internals

    def _apply(self, colour: Colour | None, tone_hz: float | None) -> None:
        if colour is not None:
            self.led.color = colour
        if tone_hz is None:
            self.buzzer.stop()
        else:
            self.buzzer.play(tone_hz)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait()
            with self._lock:
                self._wake.clear()
                job, gen = self._job, self._gen
                self._job = None
            if job is None or self._closed:
                continue
            self._play(job, gen)

    def _play(self, steps: list, gen: int) -> None:
        """Steps 1.. of a job (step 0 was applied by perform); stops early on a new job."""
        if self._wake.wait(steps[0][2]):
            return
        for colour, tone, seconds in steps[1:]:
            with self._lock:
                if gen != self._gen or self._closed:
                    return
                self._apply(colour, tone)
                if seconds <= 0:
                    self._playing = None
                    return
            if self._wake.wait(seconds):
                return

    def _pressed(self) -> None:
        self._was_held = False

    def _released(self) -> None:
        if not self._was_held and self.on_press is not None:
            self.on_press()

    def _held(self) -> None:
        self._was_held = True
        if self.on_hold is not None:
            self.on_hold()

    def _close_devices(self) -> None:
        for dev in (self.button, self.buzzer, self.led):
            if dev is not None:
                dev.close()


__all__ = ["CUE_PATTERNS", "CUE_TABLE_MARKDOWN", "COLOURS", "Outputs", "Pattern",
           "cue_table_markdown", "pattern_steps"]
