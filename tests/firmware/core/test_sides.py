"""Issue 22 in the pure core: which routines have sides, the summary's who/which-side fields
(always present, null when unknown), and the start/set_profile fields in a user's words."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from firmware.core import commands
from firmware.core.metrics import MetricsSettings
from firmware.core.protocols import list_routines, load_routine
from firmware.core.session import Session
from firmware.core.sides import on_a_limb, side_problem
from firmware.core.summary import TAG_FIELDS, SessionTags

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_the_builtin_routines_on_a_limb_are_the_contracts():
    limbs = {r.id for r in list_routines() if on_a_limb(r)}
    assert limbs == {"quads-roller", "it-band-stick", "calf-stick", "piriformis-ball"}


@pytest.mark.parametrize(("muscle", "limb"), [
    ("hamstrings (back of the thigh)", True),  # a limb word wins over "back"
    ("glutes", True), ("forearm flexors", True), ("lower back", False), ("neck", False),
    ("lumbar erectors", False), ("chest", False),  # no limb word: no side (the programmes' rule)
])
def test_a_users_routine_is_judged_by_its_muscle(muscle, limb):
    assert on_a_limb(SimpleNamespace(id="mine", muscle=muscle)) is limb


def test_a_side_on_the_spine_is_refused_with_the_reason():
    thoracic = load_routine("thoracic-roller")
    why = side_problem(thoracic, "left")
    assert why == ("thoracic-roller works on the thoracic paraspinals, not on a limb: it has no "
                   "left or right; start it without a side (side null)")
    assert side_problem(thoracic, None) == ""
    assert side_problem(load_routine("calf-stick"), "right") == ""
    assert side_problem(load_routine("calf-stick"), "up") == "side must be left, right or null, not 'up'"


def test_every_summary_carries_who_and_which_side():
    routine = load_routine("quads-roller")
    plain = Session(session_id="S1", routine=routine, settings=MetricsSettings(tool="roller"))
    s = plain.summary()
    assert {k: s[k] for k in TAG_FIELDS} == {
        "person_id": None, "side": None, "program_id": None, "program_step": None,
        "soreness": {"before": None, "after": None}}
    tags = SessionTags(person_id="ann", side="left", program_id="lower-body", program_step=2,
                       soreness_before=7)
    tagged = Session(session_id="S2", routine=routine, settings=MetricsSettings(tool="roller"),
                     tags=tags)
    for s in (tagged.checkpoint(), tagged.summary()):
        assert (s["person_id"], s["side"], s["program_id"], s["program_step"]) == (
            "ann", "left", "lower-body", 2)
        assert s["soreness"] == {"before": 7, "after": None}
        assert SessionTags.from_fields(json.loads(json.dumps(s))) == tags


def test_tags_from_odd_data_are_none_not_errors():
    odd = {"person_id": 3, "side": ["left"], "program_step": True, "soreness": {"before": "7"}}
    assert SessionTags.from_fields(odd) == SessionTags()
    assert SessionTags.from_fields(None) == SessionTags()


def answer(name: str, body: dict) -> dict:
    return commands.handle(name, json.dumps(body), NOW, lambda cid: True, lambda cmd: cmd.args)


def test_start_takes_who_which_side_and_the_programme_step():
    body = {"id": "a", "protocol": "quads-roller", "person": "ann", "side": "left",
            "program": "lower-body", "program_step": 0, "soreness_before": 7}
    assert answer("start", body) == {"id": "a", "status": "ok", "error": None,
                                     "data": {k: v for k, v in body.items() if k != "id"}}
    nulls = {"id": "b", "protocol": "thoracic-roller", "person": None, "side": None,
             "program": None, "program_step": None, "soreness_before": None}
    assert answer("start", nulls)["status"] == "ok"


@pytest.mark.parametrize(("field", "value", "words"), [
    ("side", "up", "side: must be left, right or null, not 'up'"),
    ("person", "a b", "person: must be a person's id (1 to 64 letters, digits or . _ : -), or null"),
    ("program", "Lower Body",
     "program: must be a programme id (1 to 64 lowercase letters, digits or -), or null, not 'Lower Body'"),
    ("soreness_before", 11, "soreness_before: must be a whole number from 0 to 10, or null"),
    ("soreness_before", 6.5, "soreness_before: must be a whole number from 0 to 10, or null"),
    ("program_step", -1, "program_step: must be a whole number from 0 to 999, or null"),
])
def test_start_refuses_each_new_field_in_a_users_words(field, value, words):
    body = {"id": "a", "protocol": "quads-roller", "program": "lower-body", field: value}
    assert answer("start", body)["error"] == words


def test_a_programme_step_needs_its_programme():
    body = {"id": "a", "protocol": "quads-roller", "program_step": 1}
    assert answer("start", body)["error"] == "program_step: needs program, the programme it is a step of"


ANN = {"id": "ann", "name": "Ann", "body_mass_kg": 60, "units": "metric"}
NAME_WORDS = "people[0].name: must be text of 1 to 40 characters (no control characters, not only spaces)"
BO = {"id": "bo", "name": "Bo", "body_mass_kg": None, "units": "imperial"}


def test_set_profile_takes_people_and_the_current_person():
    ok = answer("set_profile", {"id": "a", "people": [ANN, BO], "person": "bo"})
    assert ok["status"] == "ok" and ok["data"]["people"] == [ANN, BO]
    assert answer("set_profile", {"id": "b", "body_mass_kg": 70})["status"] == "ok"  # as before
    assert answer("set_profile", {"id": "c", "person": "ann"})["status"] == "ok"  # the device judges
    assert answer("set_profile", {"id": "d", "people": [{"id": "x", "name": "X"}]})["status"] == "ok"


@pytest.mark.parametrize(("body", "words"), [
    ({}, "set_profile needs body_mass_kg, people or person"),
    ({"people": [ANN, {**BO, "id": "ann"}]}, "people: id 'ann' appears more than once"),
    ({"people": [ANN], "person": "bo"}, "person: 'bo' is not one of people"),
    ({"people": [ANN, {"id": "bo"}]}, "people[1].name: missing; must be text of 1 to 40 characters (no control characters, not only spaces)"),
    ({"people": [{**ANN, "name": ""}]}, NAME_WORDS),
    ({"people": [{**ANN, "name": "a\tb"}]}, NAME_WORDS),
    ({"people": [{**ANN, "name": "x" * 41}]}, NAME_WORDS + "; this has 41"),
    ({"people": [{**ANN, "units": "stone"}]}, "people[0].units: must be metric, imperial or kgf, not 'stone'"),
    ({"people": [{**ANN, "body_mass_kg": 400}]}, "people[0].body_mass_kg: must be a number from 20 to 300, or null"),
    ({"people": [{**ANN, "age": 40}]}, "people[0]: unknown field 'age' (its fields: id, name, body_mass_kg, units, sore)"),
    ({"people": [{**ANN, "id": "a/b"}]}, "people[0].id: must be 1 to 64 letters, digits or . _ : -"),
    ({"people": ["ann"]}, "people[0]: must be a person: an object with id and name"),
    ({"people": [{"id": f"p{i}", "name": "P"} for i in range(17)]}, "people: must be a list of at most 16 people; this has 17"),
    ({"people": {"ann": ANN}}, "people: must be a list of at most 16 people"),
])
def test_set_profile_refuses_bad_people_in_a_users_words(body, words):
    assert answer("set_profile", {"id": "a", **body})["error"] == words


def test_person_problem_is_the_same_check_for_the_dashboard():
    assert commands.person_problem(ANN) == ""
    assert commands.person_problem({"id": "ann"}) == "name: missing; must be text of 1 to 40 characters (no control characters, not only spaces)"
    assert commands.person_problem({**ANN, "units": "kg"}) == "units: must be metric, imperial or kgf, not 'kg'"
