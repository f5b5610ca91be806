"""Numbers for people (firmware/common/units.py): one wording of a session for the terminal, the
summary table of demo and replay, and the dashboard."""

from __future__ import annotations

import re

import pytest

from firmware.app.loop import summary_text
from firmware.app.subcommands.offline import summary_table  # what `rollsense replay` prints
from firmware.common import units
from firmware.core.coach.verdicts import _row

SI_UNIT = re.compile(r"(?<!c)m/s|\d\.\d+ N|\d\.\d{3,}")


def summary(**over):
    s = {
        "format": "rollsense-summary/1", "session_id": "01JF8Z6Q3M4ZK5N0V2W8X9Y7AB",
        "protocol": "calf-stick", "tool": "stick", "duration_s": 548.7, "contact_s": 541.2,
        "rolling_s": 530.4, "distance_m": 31.237, "passes": 161.0,
        "pass_length_m": {"mean": 0.2114, "max": 0.2873},
        "speed_mps": {"mean": 0.0632, "p95": 0.1123},
        "holds": [{"start_s": 3.25, "duration_s": 12.4, "force_n": 151.2345}],
        "force_n": {"mean": 119.4567, "peak": 181.0049},
        "force_by_direction_n": {"up": 167.33, "down": 71.5},
        "targets": [
            _row("rolling_up_s", 60.0, None, "s", 270.2),
            _row("rolling_down_s", 60.0, None, "s", 48.0),
            _row("pass_s", 2.0, 4.0, "s", 3.04),
            _row("speed_mps", 0.0375, 0.175, "m/s", 0.0632),
            _row("pass_length_m", 0.15, 0.35, "m", 0.2114),
            _row("force_up_n", 100.0, 200.0, "N", 167.3333),
            _row("force_peak_n", None, 260.0, "N", 181.0049),
            _row("spots", 3, None, "", 1.0),
        ],
        "completed": False, "interrupted": "stopped by user",
    }
    s.update(over)
    return s


def test_the_table_is_what_a_person_reads():
    text = units.summary_table(summary())
    lines = text.splitlines()
    assert lines[0] == "session_id  01JF8Z6Q3M4ZK5N0V2W8X9Y7AB"  # grepped by an outside check
    assert "calf-stick (stick)" in lines[1]
    assert "9 min 09 s" in text and "time rolling 8 min 50 s" in text
    assert "passes      161, length mean 21 cm, max 29 cm" in text
    assert "distance    31.2 m" in text
    assert "mean 6.3 cm/s, p95 11.2 cm/s" in text
    assert "mean 119 N, peak 181 N; rolling up 167 N, down 72 N" in text
    assert "12 s at 151 N from 3.2 s" in text
    assert not SI_UNIT.search(text), SI_UNIT.search(text)
    assert lines[-1] == "not completed: stopped by user"
    assert len(lines) <= 20 and max(len(line) for line in lines) <= 100


def test_each_target_says_met_or_miss_in_peoples_units():
    rows = [line for line in units.summary_table(summary()).splitlines() if line.startswith("  ")]
    assert [r.split()[0] for r in rows] == ["met", "MISS", "met", "met", "met", "met", "met",
                                            "MISS"]
    by_label = {units.label(t["name"]): t for t in summary()["targets"]}
    assert set(by_label) == {"Time rolling up", "Time rolling down", "Time per pass", "Speed",
                             "Pass length", "Pressure rolling up", "Peak pressure", "Spots held"}
    text = "\n".join(rows)
    assert re.search(r"Time rolling up\s+≥ 60 s\s+4 min 30 s$", text, re.M)
    assert re.search(r"Time rolling down\s+≥ 60 s\s+48 s$", text, re.M)
    assert re.search(r"Time per pass\s+2–4 s\s+3.0 s$", text, re.M)
    assert re.search(r"Speed\s+3.8–17.5 cm/s\s+6.3 cm/s$", text, re.M)
    assert re.search(r"Pass length\s+15–35 cm\s+21 cm$", text, re.M)
    assert re.search(r"Pressure rolling up\s+100–200 N\s+167 N$", text, re.M)
    assert re.search(r"Peak pressure\s+≤ 260 N\s+181 N$", text, re.M)
    assert re.search(r"Spots held\s+≥ 3\s+1$", text, re.M)


def test_demo_and_replay_print_the_same_table():
    s = summary(completed=True, interrupted=None)
    assert summary_text(s) == summary_table(s) == units.summary_table(s)
    assert summary_text(s).splitlines()[-1] == "completed"


def test_a_summary_with_unknowns_still_reads():
    s = summary(rolling_s=None, distance_m=None, holds=[], speed_mps={"mean": None, "p95": None},
                force_n={"mean": None, "peak": None},
                force_by_direction_n={"up": None, "down": None}, targets=[], protocol=None)
    text = units.summary_table(s)
    assert "holds       none" in text and "time rolling" not in text
    assert "speed       mean –, p95 –" in text and "targets" not in text


@pytest.mark.parametrize(("name", "label"), [
    ("rolling_s", "Time rolling"), ("rolling_up_s", "Time rolling up"),
    ("rolling_down_s", "Time rolling down"), ("force_down_n", "Pressure rolling down"),
    ("rolling_sideways_s", "Rolling sideways"), ("mean_speed_mps", "Mean speed"), (None, ""),
])
def test_labels_carry_no_units(name, label):
    assert units.label(name) == label


@pytest.mark.parametrize(("fn", "value", "text"), [
    (units.speed, 0.0632, "6.3 cm/s"), (units.speed, None, "–"),
    (units.length, 0.2114, "21 cm"), (units.distance, 0.18, "18 cm"),
    (units.distance, 4.96, "5.0 m"), (units.force, 212.4567, "212 N"),
    (units.force, float("nan"), "–"), (units.count, 3.0, "3"),
    (units.seconds, 2.64, "2.6 s"), (units.seconds, 76.4, "76 s"),
    (units.seconds, 540.0, "9 min 00 s"), (units.speed, -0.0001, "0.0 cm/s"),
    (units.speed, -0.0512, "-5.1 cm/s"), (units.force, -0.3, "0 N"),
])
def test_numbers_for_people(fn, value, text):
    assert fn(value) == text


def test_target_goal_and_actual():
    assert units.target_goal({"min": 0.04, "max": 0.12, "unit": "m/s"}) == "4–12 cm/s"
    assert units.target_goal({"min": 60.0, "unit": "s", "text": "≥ 60 s"}) == "≥ 60 s"
    assert units.target_goal({"max": 412.5, "unit": "N"}) == "≤ 412 N" or \
        units.target_goal({"max": 412.5, "unit": "N"}) == "≤ 413 N"
    assert units.target_actual({"target": {"unit": "N"}, "actual": 212.4567}) == "212 N"
    assert units.target_actual({"target": {"unit": ""}, "actual": 2.0}) == "2"
    assert units.target_actual({"target": {"unit": "s"}, "actual": None}) == "–"


def test_targets_without_a_unit_take_it_from_their_name():
    speed = {"name": "speed_mps", "target": [0.04, 0.12], "actual": 0.08, "met": True}
    assert units.target_line(speed) == ("Speed", "4–12 cm/s", "8.0 cm/s", True)
    duration = {"name": "duration_s", "target": 60, "actual": 95.0, "met": True}
    assert units.target_line(duration) == ("Duration", "≥ 60 s", "95 s", True)
    words = {"name": "feel", "target": "soft", "actual": "soft", "met": True}
    assert units.target_line(words) == ("Feel", "soft", "soft", True)
