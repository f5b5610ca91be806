"""Validator parity (issue 23): the same bad value gives the same one-line problems whether it
is in a routine file, in a routine dict (``firmware.core.prescription``) or in a
``set_prescription`` command the device receives."""

from __future__ import annotations

import json
import tomllib

import pytest

from firmware.common.errors import ConfigError
from firmware.core import commands
from firmware.core.prescription import (
    base_routine_dict,
    check_routine_dict,
    prescription_from_payload,
    with_overrides,
)
from firmware.core.protocols import ROUTINES_DIR, load_routine_file

NOW = commands.parse_time("2026-01-01T00:00:00Z")

# (routine, a line of its file -> the bad line, the same change as dotted keys)
CASES = [
    ("quads-roller", ("pass_s = [2.0, 4.0]", "pass_s = [5.0, 4.0]"), {"targets.speed.pass_s": [5.0, 4.0]}),
    ("quads-roller", ("rolling_min_s = 60.0", 'rolling_min_s = "abc"'), {"targets.rolling_min_s": "abc"}),
    ("quads-roller", ("max_n = 440.0", "max_n = 100.0"), {"targets.force.max_n": 100.0}),
    ("quads-roller", ("s = 15.0 ", "s = 500.0 "), {"targets.ease_in.s": 500.0}),
    ("piriformis-ball", ("s = [30.0, 60.0]", "s = [1.0, 60.0]"), {"targets.hold.s": [1.0, 60.0]}),
    ("calf-stick", ("n = [20.0, 90.0]", "n = [90.0, 20.0]"), {"targets.force_down.n": [90.0, 20.0]}),
]


def file_problems(tmp_path, rid: str, old: str, new: str) -> list[str]:
    text = (ROUTINES_DIR / f"{rid}.toml").read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / f"{rid}.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_routine_file(path)
    return e.value.problems


@pytest.mark.parametrize(("rid", "edit", "overrides"), CASES)
def test_a_bad_value_is_the_same_line_from_a_file_a_dict_and_the_command(tmp_path, rid, edit, overrides):
    from_file = file_problems(tmp_path, rid, *edit)
    assert len(from_file) >= 1 and all("\n" not in p for p in from_file)

    bad = with_overrides(base_routine_dict(rid), overrides)
    routine, from_dict = check_routine_dict(rid, bad)
    assert routine is None and from_dict == from_file

    raw = json.dumps({"id": "c1", "person": "ann", "version": 1, "routines": {rid: bad}})
    reply = commands.handle("set_prescription", raw, NOW, lambda cid: True, lambda cmd: {})
    assert reply["status"] == "error"
    assert reply["data"]["problems"] == from_file
    assert reply["error"] == "; ".join(from_file)


def test_the_file_as_parsed_passes_as_a_dict_and_builds_the_same_routine():
    for path in sorted(ROUTINES_DIR.glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        routine, problems = check_routine_dict(path.stem, raw)
        assert problems == [] and routine.targets == load_routine_file(path).targets


def test_a_prescription_carries_its_numbers_and_its_tag():
    quads = with_overrides(base_routine_dict("quads-roller"), {"targets.speed.pass_s": [1.0, 2.0]})
    rx = prescription_from_payload({"person": "ann", "version": 3, "by": "Dr Lee", "program": "lower-body",
                                    "routines": {"quads-roller": quads}})
    assert rx.tag() == {"version": 3, "by": "Dr Lee"}
    got = rx.routines["quads-roller"]
    assert got.targets.speed.pass_s.as_list() == [1.0, 2.0]
    assert got.id == "quads-roller" and got.source == "prescription:ann/v3"


def test_every_problem_of_every_routine_is_its_own_line():
    a = with_overrides(base_routine_dict("quads-roller"), {"targets.speed.pass_s": [5.0, 4.0], "tool": "hammer"})
    b = with_overrides(base_routine_dict("calf-stick"), {"targets.force_up": None})
    raw = json.dumps({"id": "c1", "person": "ann", "version": 1, "routines": {"quads-roller": a, "calf-stick": b}})
    reply = commands.handle("set_prescription", raw, NOW, lambda cid: True, lambda cmd: {})
    assert reply["data"]["problems"] == [
        "calf-stick.toml: targets.force_up: missing (force_up and force_down go together)",
        "calf-stick.toml: targets.per_direction: needs targets.force_up and targets.force_down",
        "quads-roller.toml: tool: 'hammer' is not one of roller, ball, stick",
        "quads-roller.toml: targets.speed.pass_s: low 5 > high 4",
    ]
