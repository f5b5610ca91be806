"""Cue outputs on gpiozero's MockFactory with PWM pins: LED colours and buzzer tones read
back from the pins, patterns in the background, the button's press and hold."""

from __future__ import annotations

import threading
import time

import pytest
from gpiozero.pins.mock import MockPWMPin

from device.outputs import Outputs
from firmware.common.cues import (
    COLOURS,
    CUE_PATTERNS,
    CUE_TABLE_MARKDOWN,
    DEVICE_CUES,
    TONE_RANGE_HZ,
    cue_table_markdown,
    pattern_steps,
)
from firmware.core.coach import CUE_NAMES

RED, GREEN, BLUE, BUZZER, BUTTON = 17, 27, 22, 18, 23


class ToneLogPin(MockPWMPin):
    """gpiozero's MockPWMPin that also keeps every frequency it was set to."""

    def __init__(self, factory, info):
        super().__init__(factory, info)
        self.frequencies: list[float] = []

    def _set_frequency(self, value):
        super()._set_frequency(value)
        if value is not None:
            self.frequencies.append(value)


@pytest.fixture
def outputs(mock_factory):
    mock_factory.pin_class = ToneLogPin
    out = Outputs(RED, GREEN, BLUE, BUZZER, BUTTON, hold_s=0.1, pin_factory=mock_factory)
    mock_factory.pin(BUZZER).frequencies.clear()  # PWMOutputDevice starts at 100 Hz, silent
    yield out
    out.close()


def led(mock_factory) -> tuple[float, float, float]:
    return tuple(float(mock_factory.pin(n).state) for n in (RED, GREEN, BLUE))


def wait_idle(out: Outputs, timeout_s: float = 3.0) -> None:
    done = threading.Event()
    deadline = time.monotonic() + timeout_s
    while out.busy and time.monotonic() < deadline:
        done.wait(0.01)
    assert not out.busy


def test_slow_down_is_amber_with_its_first_tone_at_once(outputs, mock_factory):
    assert outputs.perform("slow_down") is True
    assert led(mock_factory) == COLOURS["amber"] == (1.0, 0.5, 0.0)
    buzzer = mock_factory.pin(BUZZER)
    assert buzzer.frequency == CUE_PATTERNS["slow_down"].tones_hz[0] == 587.0
    assert buzzer.state == 0.5


def test_the_whole_pattern_plays_in_the_background_then_goes_quiet(outputs, mock_factory):
    outputs.perform("done")
    wait_idle(outputs)
    buzzer = mock_factory.pin(BUZZER)
    assert buzzer.frequencies == [523.0, 659.0, 784.0]  # the triple chime, in order
    assert buzzer.frequency is None and buzzer.state == 0.0
    assert led(mock_factory) == COLOURS["white"]  # the LED keeps the last cue's colour


def test_over_pressure_flashes_red_and_cuts_a_lower_cue(outputs, mock_factory):
    red = mock_factory.pin(RED)
    outputs.perform("slow_down")
    red.clear_states()
    outputs.perform("over_pressure")
    assert led(mock_factory) == COLOURS["red"]
    assert mock_factory.pin(BUZZER).frequency == 220.0
    wait_idle(outputs)
    states = [s.state for s in red.states]
    assert states.count(0.0) == 2  # dark in both gaps between the three beeps
    assert states[-1] == 1.0
    assert mock_factory.pin(BUZZER).frequencies[-3:] == [220.0, 220.0, 220.0]


def test_a_tick_never_cuts_a_cue_but_plays_when_quiet(outputs, mock_factory):
    buzzer = mock_factory.pin(BUZZER)
    outputs.perform("press_less")
    assert outputs.perform("tick") is False
    assert led(mock_factory) == COLOURS["red"] and buzzer.frequency == 330.0
    wait_idle(outputs)
    assert outputs.perform("tick") is True
    assert buzzer.frequency == 880.0
    assert led(mock_factory) == COLOURS["red"]  # a tick leaves the LED alone
    wait_idle(outputs)
    assert buzzer.frequencies == [330.0, 262.0, 880.0]


def test_done_is_not_cut_by_a_late_pace_cue(outputs, mock_factory):
    outputs.perform("done")
    assert outputs.perform("slow_down") is False
    wait_idle(outputs)
    assert mock_factory.pin(BUZZER).frequencies == [523.0, 659.0, 784.0]


def test_unknown_cue_changes_nothing(outputs, mock_factory):
    outputs.perform("on_pace")
    wait_idle(outputs)
    assert outputs.perform("dance") is False
    assert led(mock_factory) == COLOURS["green"]
    assert mock_factory.pin(BUZZER).frequencies == [659.0]


def test_short_press_starts_and_long_press_stops(outputs, mock_factory):
    pressed, held = threading.Event(), threading.Event()
    calls: list[str] = []
    outputs.when_pressed = lambda: (calls.append("press"), pressed.set())
    outputs.on_hold = lambda: (calls.append("hold"), held.set())
    button = mock_factory.pin(BUTTON)
    button.drive_low()
    button.drive_high()
    assert pressed.wait(1.0)
    assert calls == ["press"]
    button.drive_low()
    assert held.wait(1.0)  # held past hold_s = 0.1 s
    button.drive_high()
    released = threading.Event()
    released.wait(0.05)
    assert calls == ["press", "hold"]  # releasing a long press does not also "press"
    assert outputs.when_held is outputs.on_hold


def test_every_coach_cue_has_a_learnable_pattern_in_the_buzzer_range(mock_factory):
    assert set(CUE_PATTERNS) == set(CUE_NAMES) | set(DEVICE_CUES)
    out = Outputs(pin_factory=mock_factory)
    lo, hi = out.buzzer.min_tone.frequency, out.buzzer.max_tone.frequency
    assert (lo, hi) == pytest.approx(TONE_RANGE_HZ)
    for name, p in CUE_PATTERNS.items():
        assert p.colour is None or p.colour in COLOURS, name
        assert all(lo <= f <= hi for f in p.tones_hz), name
        assert 0.02 <= p.beep_s <= 0.5 and len(p.tones_hz) <= 3, name
        steps = pattern_steps(p)
        assert sum(s[2] for s in steps) < 1.0, name  # short enough to never pile up
    out.close()
    # each cue is told apart by colour + sound
    signatures = {(p.colour, p.tones_hz) for p in CUE_PATTERNS.values()}
    assert len(signatures) == len(CUE_PATTERNS)


def test_the_readme_table_lists_every_cue():
    assert CUE_TABLE_MARKDOWN == cue_table_markdown()
    lines = CUE_TABLE_MARKDOWN.strip().splitlines()
    assert lines[0] == "| cue | light | sound | means |"
    assert len(lines) == 2 + len(CUE_PATTERNS)
    assert "| `slow_down` | amber | falling 587-440 Hz | Roll slower |" in lines
    assert "| `over_pressure` | red, flashing | three low beeps (220 Hz) |" in CUE_TABLE_MARKDOWN
    assert "| `done` | white | rising 523-659-784 Hz |" in CUE_TABLE_MARKDOWN
    assert "| `hold` | blue | one long mid beep (523 Hz) |" in CUE_TABLE_MARKDOWN


def test_close_releases_the_pins_and_is_idempotent(mock_factory):
    out = Outputs(pin_factory=mock_factory)
    out.perform("hold")
    out.close()
    out.close()
    assert out.perform("done") is False
    again = Outputs(pin_factory=mock_factory)  # the pins are free again
    again.close()


def test_perform_never_blocks_the_caller(outputs, mock_factory):
    took_s = []
    for name in list(CUE_PATTERNS) * 20:
        t0 = time.perf_counter()
        outputs.perform(name)
        took_s.append(time.perf_counter() - t0)
    took_s.sort()
    assert took_s[len(took_s) // 2] < 0.001  # median well under a millisecond
    assert took_s[int(len(took_s) * 0.95)] < 0.005  # a few ms at worst on a busy machine
    wait_idle(outputs)
    assert mock_factory.pin(BUZZER).frequency is None


def test_the_user_doc_carries_the_current_table():
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "cues.md"
    assert CUE_TABLE_MARKDOWN in doc.read_text(encoding="utf-8")
