"""The cue table (firmware/common/cues.py) is the one home of what each cue is: every cue the
coach can give has a pattern the device can play and words for the user, and the README's
table is rendered from it."""

from __future__ import annotations

from firmware.common.cues import (
    COACH_CUES,
    COLOURS,
    CUE_PATTERNS,
    CUE_TABLE_MARKDOWN,
    DEVICE_CUES,
    OFF,
    TONE_RANGE_HZ,
    cue_meaning,
    cue_table_markdown,
    pattern_steps,
)
from firmware.core.coach import CUE_NAMES, TRANSITIONS


def test_every_coach_cue_has_a_pattern_and_every_pattern_a_giver():
    assert CUE_NAMES == COACH_CUES  # the coach's names are the table's
    assert set(CUE_PATTERNS) == set(COACH_CUES) | set(DEVICE_CUES)
    assert not set(COACH_CUES) & set(DEVICE_CUES)
    for rows in TRANSITIONS.values():
        for _, _, cues in rows:
            assert set(cues) <= set(CUE_PATTERNS)


def test_every_pattern_is_playable_without_the_device():
    lo, hi = TONE_RANGE_HZ
    for name, p in CUE_PATTERNS.items():
        assert p.colour is None or p.colour in COLOURS, name
        assert all(lo <= f <= hi for f in p.tones_hz), name
        assert p.meaning and p.priority >= 0, name
    # the one alarm outranks everything; the metronome never cuts a cue
    top = max(CUE_PATTERNS.values(), key=lambda p: p.priority)
    assert top is CUE_PATTERNS["over_pressure"]
    assert min(CUE_PATTERNS.values(), key=lambda p: p.priority) is CUE_PATTERNS["tick"]


def test_pattern_steps_alternate_tones_and_gaps_and_end_silent():
    steps = pattern_steps(CUE_PATTERNS["over_pressure"])  # red, flashing, three tones
    red = COLOURS["red"]
    assert steps == [(red, 220.0, 0.15), (OFF, None, 0.1), (red, 220.0, 0.15), (OFF, None, 0.1),
                     (red, 220.0, 0.15), (red, None, 0.0)]
    assert pattern_steps(CUE_PATTERNS["tick"]) == [(None, 880.0, 0.03), (None, None, 0.0)]


def test_a_name_outside_the_table_is_still_readable():
    for name, p in CUE_PATTERNS.items():
        assert cue_meaning(name) == p.meaning
    assert cue_meaning("new_cue") == "New cue"


def test_the_markdown_table_is_rendered_once_from_the_table():
    assert CUE_TABLE_MARKDOWN == cue_table_markdown()
    names = [line.split("`")[1] for line in CUE_TABLE_MARKDOWN.strip().splitlines()[2:]]
    assert names == list(CUE_PATTERNS)
