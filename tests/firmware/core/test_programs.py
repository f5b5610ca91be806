"""Programmes (issue 22): the four built-in programme files are valid and say what the issue
asks; every bad file gets one clear line per problem naming the file and the key; a user's
programmes override by id and may use the user's routines; ``ProgramRun`` plays the steps of
one tool in order with ``switch_side`` and ``next_step`` between them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from firmware.common.cues import CUE_PATTERNS, PROGRAM_CUES
from firmware.common.errors import ConfigError
from firmware.core.programs import (
    PROGRAMS_DIR,
    Program,
    ProgramRun,
    Step,
    first_not_done,
    list_programs,
    load_program,
    load_program_file,
    on_a_limb,
    transition_cue,
)
from firmware.core.protocols import ROUTINES_DIR, list_routines

ROUTINES = {r.id: r for r in list_routines()}
LIMB = {"quads-roller", "it-band-stick", "calf-stick", "piriformis-ball"}


def _steps(p: Program) -> list[tuple[str, str | None]]:
    return [(s.routine, s.side) for s in p.steps]


# ------------------------------------------------------------------ the built-in ones


def test_limb_routines_are_decided_by_their_muscle():
    assert {rid for rid, r in ROUTINES.items() if on_a_limb(r)} == LIMB
    assert not on_a_limb(ROUTINES["thoracic-roller"]) and not on_a_limb(ROUTINES["upper-back-ball"])


def test_the_built_in_programmes_are_the_issues():
    programs = {p.id: p for p in list_programs()}
    assert sorted(programs) == ["hips", "lower-body", "upper-back", "whole-article"]
    both = [("quads-roller", "left"), ("quads-roller", "right"), ("it-band-stick", "left"),
            ("it-band-stick", "right"), ("calf-stick", "left"), ("calf-stick", "right")]
    assert _steps(programs["lower-body"]) == both
    assert _steps(programs["hips"]) == [("piriformis-ball", "left"), ("piriformis-ball", "right")]
    assert _steps(programs["upper-back"]) == [("thoracic-roller", None), ("upper-back-ball", None)]
    whole = programs["whole-article"]
    assert {s.routine for s in whole.steps} == set(ROUTINES)  # all six
    for s in whole.steps:  # each limb routine on both sides, the spine once without one
        sides = sorted(str(x.side) for x in whole.steps if x.routine == s.routine)
        assert sides == (["left", "right"] if s.routine in LIMB else ["None"])
    assert whole.tools == ("roller", "ball", "stick")
    assert programs["lower-body"].tools == ("roller", "stick")
    for p in programs.values():
        assert p.title and [s.index for s in p.steps] == list(range(len(p.steps)))
        assert all(0 <= s.rest_s <= 600 for s in p.steps)
        assert all(s.tool == ROUTINES[s.routine].tool for s in p.steps)
        assert Path(p.source).parent == PROGRAMS_DIR


def test_to_dict_is_the_validated_tree():
    d = load_program("hips").to_dict()
    assert d["id"] == "hips" and d["tools"] == ["ball"]
    assert d["steps"][0] == {"index": 0, "routine": "piriformis-ball", "tool": "ball",
                             "side": "left", "rest_s": 15.0}


# ------------------------------------------------------------------ bad files


GOOD = '''title = "Mine"
[[steps]]
routine = "quads-roller"
side = "left"
rest_s = 10
[[steps]]
routine = "thoracic-roller"
'''


def _problems(tmp_path, text: str, name: str = "mine.toml") -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_program_file(path, ROUTINES)
    lines = str(info.value).splitlines()
    assert lines == info.value.problems
    return lines


def test_a_good_file_loads(tmp_path):
    (tmp_path / "mine.toml").write_text(GOOD)
    p = load_program_file(tmp_path / "mine.toml", ROUTINES)
    assert p == Program("mine", "Mine", (Step(0, "quads-roller", "roller", "left", 10.0),
                                         Step(1, "thoracic-roller", "roller", None, 0.0)),
                        "", str(tmp_path / "mine.toml"))


@pytest.mark.parametrize(("old", "new", "line"), [
    ('title = "Mine"\n', "", "title: missing"),
    ('title = "Mine"', 'title = "Mine"\ncolour = "red"', "colour: unknown key"),
    ('title = "Mine"', 'title = "Mine"\nid = "yours"', "id: 'yours' does not match the file name 'mine'"),
    ('rest_s = 10', 'rest_s = 10\nreps = 3', "steps[0].reps: unknown key"),
    ('"quads-roller"', '"quads"', "steps[0].routine: 'quads' is not a routine (known: calf-stick, "
     "it-band-stick, piriformis-ball, quads-roller, thoracic-roller, upper-back-ball)"),
    ('side = "left"', 'side = "up"', "steps[0].side: 'up' is not one of left, right (leave it out "
     "for the spine)"),
    ('routine = "thoracic-roller"', 'routine = "thoracic-roller"\nside = "right"',
     "steps[1].side: thoracic-roller (thoracic paraspinals) is not on a limb: leave side out"),
    ('rest_s = 10', 'rest_s = 900', "steps[0].rest_s: 900 is outside 0..600"),
    ('rest_s = 10', 'rest_s = "long"', "steps[0].rest_s: expected a number, got 'long'"),
    ('routine = "quads-roller"', "routine = 3", "steps[0].routine: expected a non-empty string, got 3"),
])
def test_one_line_per_problem_naming_file_and_key(tmp_path, old, new, line):
    assert old in GOOD
    assert _problems(tmp_path, GOOD.replace(old, new, 1)) == [f"mine.toml: {line}"]


def test_not_toml_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^mine.toml: not valid TOML: "):
        load_program_file(_write(tmp_path, GOOD + 'routine = "twice"\n'), ROUTINES)


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_steps_must_be_there_and_be_tables(tmp_path):
    assert _problems(tmp_path, 'title = "x"\n') == [
        "mine.toml: steps: missing (give one [[steps]] table per routine)"]
    assert _problems(tmp_path, 'title = "x"\nsteps = ["quads-roller"]\n') == [
        "mine.toml: steps: expected [[steps]] tables"]
    assert _problems(tmp_path, 'title = "x"\nsteps = []\n') == ["mine.toml: steps: 0 steps; give 1 to 100"]


def test_every_problem_of_a_file_is_a_line(tmp_path):
    text = GOOD.replace('"quads-roller"', '"quads"').replace("rest_s = 10", "rest_s = -1")
    text = text.replace('routine = "thoracic-roller"', 'routine = "thoracic-roller"\nside = "left"')
    assert _problems(tmp_path, 'wat = 1\n' + text) == [
        "mine.toml: wat: unknown key",
        "mine.toml: steps[0].routine: 'quads' is not a routine (known: calf-stick, it-band-stick, "
        "piriformis-ball, quads-roller, thoracic-roller, upper-back-ball)",
        "mine.toml: steps[0].rest_s: -1 is outside 0..600",
        "mine.toml: steps[1].side: thoracic-roller (thoracic paraspinals) is not on a limb: leave "
        "side out",
    ]


def test_a_file_name_that_is_no_programme_id(tmp_path):
    assert _problems(tmp_path, GOOD, "My Programme.toml") == [
        "My Programme.toml: id: the file name 'My Programme' is not a programme id (a-z, 0-9 and -, "
        "1 to 64 characters)"]


def test_a_limb_routine_may_leave_its_side_out(tmp_path):
    p = load_program_file(_write(tmp_path, GOOD.replace('side = "left"\n', "")), ROUTINES)
    assert p.steps[0].side is None


# ------------------------------------------------------------------ the user's own


def _user_dir(tmp_path) -> Path:
    (tmp_path / "programs").mkdir()
    return tmp_path


def test_user_programmes_add_and_override_by_id_and_use_user_routines(tmp_path):
    d = _user_dir(tmp_path)
    shutil.copy(ROUTINES_DIR / "calf-stick.toml", d / "calves-roller.toml")
    text = (d / "calves-roller.toml").read_text()
    (d / "calves-roller.toml").write_text(text.replace('tool = "stick"', 'tool = "roller"'))
    (d / "programs" / "hips.toml").write_text(
        'title = "My hips"\n[[steps]]\nroutine = "piriformis-ball"\nside = "right"\n')
    (d / "programs" / "calves.toml").write_text(
        'title = "Calves"\n[[steps]]\nroutine = "calves-roller"\nside = "left"\n'
        '[[steps]]\nroutine = "calves-roller"\nside = "right"\n')
    programs = {p.id: p for p in list_programs(d)}
    assert sorted(programs) == ["calves", "hips", "lower-body", "upper-back", "whole-article"]
    assert programs["hips"].title == "My hips" and _steps(programs["hips"]) == [("piriformis-ball", "right")]
    assert programs["calves"].tools == ("roller",)  # the user's routine, on its own tool
    assert load_program("calves", d) == programs["calves"]
    assert load_program("hips").title == "Hips"  # the built-in without the user directory


def test_a_user_routine_directory_without_programs_is_fine(tmp_path):
    assert [p.id for p in list_programs(tmp_path)] == ["hips", "lower-body", "upper-back", "whole-article"]


def test_problems_of_every_file_are_listed_together(tmp_path):
    d = _user_dir(tmp_path)
    (d / "programs" / "a.toml").write_text('title = "A"\n[[steps]]\nroutine = "nope"\n')
    (d / "programs" / "b.toml").write_text('[[steps]]\nroutine = "quads-roller"\n')
    with pytest.raises(ConfigError) as info:
        list_programs(d)
    assert [line.split(":")[:2] for line in info.value.problems] == [["a.toml", " steps[0].routine"],
                                                                    ["b.toml", " title"]]


def test_unknown_programme_and_missing_directory(tmp_path):
    with pytest.raises(ConfigError, match=r"^unknown programme 'legs' \(known: hips, lower-body"):
        load_program("legs")
    with pytest.raises(ConfigError, match="routine directory does not exist"):
        list_programs(tmp_path / "nope")


# ------------------------------------------------------------------ playing a programme


def _play(run: ProgramRun) -> list[tuple]:
    """(routine, side, upcoming tool) per step played, then each turn's cue and rest."""
    out = []
    while not run.finished:
        step, upcoming = run.current, run.upcoming()
        turn = run.advance()
        out.append((step.routine, step.side, upcoming.tool if upcoming else None, turn.cue,
                    turn.rest_s))
    return out


def test_a_roller_plays_its_part_of_lower_body():
    run = ProgramRun(load_program("lower-body"), "roller")
    assert _play(run) == [
        ("quads-roller", "left", "roller", "switch_side", 15.0),
        ("quads-roller", "right", "stick", None, 30.0),  # the last: the stick is next
    ]
    assert run.current is None and run.upcoming() is None
    assert run.advance().cue is None  # finished: nothing more


def test_a_stick_plays_its_part_with_sides_and_steps():
    run = ProgramRun(load_program("lower-body"), "stick")
    assert [s.index for s in run.steps] == [2, 3, 4, 5]
    assert _play(run) == [
        ("it-band-stick", "left", "stick", "switch_side", 15.0),
        ("it-band-stick", "right", "stick", "next_step", 30.0),
        ("calf-stick", "left", "stick", "switch_side", 15.0),
        ("calf-stick", "right", None, None, 0.0),
    ]


def test_a_ball_in_the_whole_article_and_what_lies_between():
    program = load_program("whole-article")
    run = ProgramRun(program, "ball")
    assert [(s.routine, s.side) for s in run.steps] == [
        ("piriformis-ball", "left"), ("piriformis-ball", "right"), ("upper-back-ball", None)]
    assert run.current.index == 3 and run.upcoming().routine == "piriformis-ball"
    assert run.advance().cue == "switch_side"
    turn = run.advance()
    assert (turn.cue, turn.step.routine, turn.between) == ("next_step", "upper-back-ball", ())
    assert run.upcoming().tool == "stick"
    last = run.advance()
    assert last.cue is None and last.step is None and [s.tool for s in last.between] == ["stick"] * 4


def test_steps_of_other_tools_in_between_are_named():
    program = Program("mixed", "Mixed", (Step(0, "quads-roller", "roller", "left"),
                                         Step(1, "calf-stick", "stick", "left"),
                                         Step(2, "quads-roller", "roller", "right")))
    run = ProgramRun(program, "roller")
    turn = run.advance()
    assert turn.cue == "switch_side" and turn.step.index == 2
    assert [s.routine for s in turn.between] == ["calf-stick"]


def test_a_tool_without_steps_and_a_late_start():
    assert ProgramRun(load_program("hips"), "roller").finished
    run = ProgramRun(load_program("lower-body"), "stick", start_step=3)  # the sensor moved on
    assert [s.index for s in run.steps] == [3, 4, 5]
    run = ProgramRun(load_program("whole-article"), "roller", start_step=1)
    assert [(s.routine, s.side) for s in run.steps] == [("quads-roller", "right"), ("thoracic-roller", None)]
    assert run.advance().cue == "next_step"


def test_transition_cue_rule():
    left, right = Step(0, "quads-roller", "roller", "left"), Step(1, "quads-roller", "roller", "right")
    assert transition_cue(left, right) == "switch_side"
    assert transition_cue(left, left) == "next_step"  # the same side again: a new step
    assert transition_cue(Step(0, "quads-roller", "roller", None), right) == "next_step"
    assert transition_cue(right, Step(2, "thoracic-roller", "roller", None)) == "next_step"


def test_progress_across_tools():
    program = load_program("lower-body")
    assert first_not_done(program, []).tool == "roller"
    assert first_not_done(program, [0, 1]).routine == "it-band-stick"
    assert first_not_done(program, [0, 1, 2, 4]).index == 3  # a skipped step comes first
    assert first_not_done(program, range(6)) is None


def test_the_two_cues_are_in_the_cue_table():
    assert PROGRAM_CUES == ("switch_side", "next_step")
    for name in PROGRAM_CUES:
        p = CUE_PATTERNS[name]
        assert p.colour == "purple" and p.meaning.startswith("Programme:")
