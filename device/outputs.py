"""Cue outputs through gpiozero: an RGB LED (PWM), a tonal buzzer and a push button.

``Outputs.perform(cue)`` sets the LED colour and starts the first tone at once, then a small
worker thread plays the rest of the pattern (timed by ``Event.wait``, never ``time.sleep``),
so the caller is never blocked. A new cue cuts the pattern that is playing; a metronome
``tick`` never cuts a spoken-to-the-user cue. What each cue looks and sounds like is the cue
table's (``firmware/common/cues.py``, shared with the coach and the terminal display); this
module is only its player.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gpiozero import RGBLED, Button, TonalBuzzer

from firmware.common.cues import CUE_PATTERNS, Colour, Pattern, pattern_steps


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


__all__ = ["Outputs"]
