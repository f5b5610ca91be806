"""A refused command says what is wrong in a user's words: each kind of failure fastjsonschema
reports (type, pattern, enum, const, minimum/maximum, minLength/maxLength, required,
additionalProperties, propertyNames, minProperties/maxProperties, maxItems, anyOf) for each
command's fields, and the cross checks after the schema, gives one exact line that names the
field (its dotted path) and never quotes a regular expression or the schema's own terms. The
same table goes through ``commands.handle`` with the device's choices and, over a real broker,
through a real device (its link and its own list of routines and programmes)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime

import pytest

from firmware.app.daemon import build_daemon
from firmware.app.wiring import known_ids
from firmware.core import commands
from firmware.core.programs import PROGRAMS_DIR, program_ids
from firmware.core.protocols import ROUTINES_DIR, routine_ids
from firmware.edge.config import apply_overrides, load_config
from tests.firmware.edge.test_link import Observer, wait_until

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ANN = {"id": "ann", "name": "Ann"}
RX = {"person": "ann", "version": 1, "routines": {"quads-roller": {}}}  # set_prescription's base
NAME = "must be text of 1 to 40 characters (no control characters, not only spaces)"
ROUTINE = ("must be a routine id (lowercase letters, digits and -, starting with a letter or digit, "
           "at most 64 characters)")
PROGRAMME = "must be a programme id (1 to 64 lowercase letters, digits or -), or null"
PERSON_ID = "must be a person's id (1 to 64 letters, digits or . _ : -)"
ID = "must be 1 to 64 letters, digits or . _ : -"
TARGETS = ("must be an object of 1 to 32 targets, each a name and its number (or its low and "
           "high)")
TARGET = "must be a number from 0 to 1,000,000, or a list of two such numbers: low, then high"
SORE = ("must be an object of at most 32 areas (a routine id, or a routine id and /left or "
        "/right), each rated 0 to 10")
ROUTINES = ("must be an object of 1 to 16 routines, each a routine id and its table as the "
            "routine's TOML file has it")
EXPIRES = "expires_at: must be an ISO-8601 time, such as 2026-06-01T12:05:00Z, or null"
ENVELOPE = "id, expires_at, v, ts, seq"

# (command, payload, the reply's error); {routines} and {programmes}: the ids the device knows
CASES = [
    # the envelope, on every command
    ("ping", {"id": ""}, f"id: {ID}"),  # pattern
    ("ping", {"id": "a b"}, f"id: {ID}"),
    ("ping", {"id": "x" * 65}, f"id: {ID}"),
    ("ping", {"id": 5}, f"id: {ID}"),  # type
    ("ping", {}, f"id: missing; {ID}"),  # required
    ("ping", {"id": "a", "expires_at": 5}, EXPIRES),  # type
    ("ping", {"id": "a", "expires_at": "tomorrow"}, EXPIRES),  # minLength
    ("ping", {"id": "a", "expires_at": "2026-06-01T12:05:00Z" * 3}, EXPIRES + "; this has 60"),
    ("ping", {"id": "a", "expires_at": "2026-13-01T00:00:00"}, EXPIRES),  # not a date
    ("ping", {"id": "a", "v": 2}, "v: must be 1 (the schema version this device speaks), not 2"),
    ("ping", {"id": "a", "v": True}, "v: must be 1 (the schema version this device speaks)"),
    ("ping", {"id": "a", "ts": 5}, "ts: must be a time, as text of at most 40 characters"),
    ("ping", {"id": "a", "ts": "x" * 41},
     "ts: must be a time, as text of at most 40 characters; this has 41"),
    ("ping", {"id": "a", "seq": -1}, "seq: must be a whole number, 0 or more"),  # minimum
    ("ping", {"id": "a", "seq": 1.5}, "seq: must be a whole number, 0 or more"),
    ("ping", {"id": "a", "extra": 1}, f"unknown field 'extra' for ping (its fields: {ENVELOPE})"),
    ("ping", [1], "payload: must be a JSON object"),
    # start
    ("start", {"id": "a", "protocol": "квадрицепс"},
     "protocol: unknown routine 'квадрицепс' (known: {routines})"),
    ("start", {"id": "a", "protocol": "-x"}, "protocol: unknown routine '-x' (known: {routines})"),
    ("start", {"id": "a", "protocol": ""}, "protocol: unknown routine '' (known: {routines})"),
    ("start", {"id": "a", "protocol": 5}, f"protocol: {ROUTINE}; known: {{routines}}"),
    ("start", {"id": "a", "protocol": None}, f"protocol: {ROUTINE}; known: {{routines}}"),
    ("start", {"id": "a"}, "protocol: missing; give a routine id, or program to play a programme"),
    ("start", {"id": "a", "protocol": "quads-roller", "person": "a b"}, f"person: {PERSON_ID}, or null"),
    ("start", {"id": "a", "protocol": "quads-roller", "person": 5}, f"person: {PERSON_ID}, or null"),
    ("start", {"id": "a", "protocol": "quads-roller", "side": "up"},
     "side: must be left, right or null, not 'up'"),  # enum
    ("start", {"id": "a", "protocol": "quads-roller", "side": True},
     "side: must be left, right or null, not true"),
    ("start", {"id": "a", "program": "Lower Body"},
     "program: unknown programme 'Lower Body' (known: {programmes})"),
    ("start", {"id": "a", "program": 5}, f"program: {PROGRAMME}; known: {{programmes}}"),
    ("start", {"id": "a", "program": "hips", "program_step": -1},
     "program_step: must be a whole number from 0 to 999, or null"),
    ("start", {"id": "a", "program": "hips", "program_step": 1000},
     "program_step: must be a whole number from 0 to 999, or null"),  # maximum
    ("start", {"id": "a", "program": "hips", "program_step": 1.5},
     "program_step: must be a whole number from 0 to 999, or null"),
    ("start", {"id": "a", "protocol": "quads-roller", "program_step": 1},
     "program_step: needs program, the programme it is a step of"),
    ("start", {"id": "a", "protocol": "quads-roller", "soreness_before": 11},
     "soreness_before: must be a whole number from 0 to 10, or null"),
    ("start", {"id": "a", "protocol": "quads-roller", "soreness_before": "7"},
     "soreness_before: must be a whole number from 0 to 10, or null"),
    ("start", {"id": "a", "protocol": "quads-roller", "speed": 2},
     f"unknown field 'speed' for start (its fields: {ENVELOPE}, protocol, person, side, program, "
     "program_step, soreness_before)"),
    # stop
    ("stop", {"id": "a", "reason": 5}, "reason: must be text of at most 200 characters"),
    ("stop", {"id": "a", "reason": "x" * 201},
     "reason: must be text of at most 200 characters; this has 201"),  # maxLength
    ("stop", {"id": "a", "x": 1, "y": 2},
     f"unknown fields 'x', 'y' for stop (its fields: {ENVELOPE}, reason)"),
    # set_targets
    ("set_targets", {"id": "a"}, f"targets: missing; {TARGETS}"),
    ("set_targets", {"id": "a", "targets": {}}, f"targets: {TARGETS}"),  # minProperties
    ("set_targets", {"id": "a", "targets": [1]}, f"targets: {TARGETS}"),
    ("set_targets", {"id": "a", "targets": {f"t{i}": 1 for i in range(33)}},
     f"targets: {TARGETS}; this has 33"),  # maxProperties
    ("set_targets", {"id": "a", "targets": {"Bad Name": 1}},  # propertyNames
     "targets: 'Bad Name' is not a target name (a lowercase letter, then up to 39 lowercase "
     "letters, digits or _)"),
    ("set_targets", {"id": "a", "targets": {"Bad Name": "x"}},  # the key said before its value
     "targets: 'Bad Name' is not a target name (a lowercase letter, then up to 39 lowercase "
     "letters, digits or _)"),
    ("set_targets", {"id": "a", "targets": {"speed": "fast"}}, f"targets.speed: {TARGET}"),  # anyOf
    ("set_targets", {"id": "a", "targets": {"speed": [1, 2, 3]}}, f"targets.speed: {TARGET}"),
    ("set_targets", {"id": "a", "targets": {"speed": -1}}, f"targets.speed: {TARGET}"),
    ("set_targets", {"id": "a", "targets": {"speed": [3, 1]}},
     "targets.speed: must be low, then high (3 is above 1)"),
    ("set_targets", {"id": "a", "targets": {"speed": 1}, "protocol": "Quads"},
     "protocol: unknown routine 'Quads' (known: {routines})"),
    # set_profile
    ("set_profile", {"id": "a"}, "set_profile needs body_mass_kg, people or person"),
    ("set_profile", {"id": "a", "body_mass_kg": 5}, "body_mass_kg: must be a number from 20 to 300, or null"),
    ("set_profile", {"id": "a", "body_mass_kg": "70"}, "body_mass_kg: must be a number from 20 to 300, or null"),
    ("set_profile", {"id": "a", "people": {}}, "people: must be a list of at most 16 people"),
    ("set_profile", {"id": "a", "people": [{"id": f"p{i}", "name": "P"} for i in range(17)]},
     "people: must be a list of at most 16 people; this has 17"),  # maxItems
    ("set_profile", {"id": "a", "people": ["ann"]}, "people[0]: must be a person: an object with id and name"),
    ("set_profile", {"id": "a", "people": [ANN, {"id": "bo"}]}, f"people[1].name: missing; {NAME}"),
    ("set_profile", {"id": "a", "people": [{**ANN, "age": 40}]},
     "people[0]: unknown field 'age' (its fields: id, name, body_mass_kg, units, sore)"),
    ("set_profile", {"id": "a", "people": [{"id": "p0", "name": "P"}, {"id": "p1", "name": "Q"},
                                           {**ANN, "units": "stone"}]},
     "people[2].units: must be metric, imperial or kgf, not 'stone'"),
    ("set_profile", {"id": "a", "people": [{**ANN, "id": "a/b"}]}, f"people[0].id: {ID}"),
    ("set_profile", {"id": "a", "people": [{**ANN, "name": ""}]}, f"people[0].name: {NAME}"),  # minLength
    ("set_profile", {"id": "a", "people": [{**ANN, "name": "  "}]}, f"people[0].name: {NAME}"),
    ("set_profile", {"id": "a", "people": [{**ANN, "name": "A\nB"}]}, f"people[0].name: {NAME}"),
    ("set_profile", {"id": "a", "people": [{**ANN, "name": "x" * 41}]},
     f"people[0].name: {NAME}; this has 41"),
    ("set_profile", {"id": "a", "people": [{**ANN, "body_mass_kg": 400}]},
     "people[0].body_mass_kg: must be a number from 20 to 300, or null"),
    ("set_profile", {"id": "a", "people": [{**ANN, "sore": [1]}]}, f"people[0].sore: {SORE}"),
    ("set_profile", {"id": "a", "people": [{**ANN, "sore": {"quads-roller/up": 3}}]},
     "people[0].sore: 'quads-roller/up' is not an area (a routine id, or a routine id and /left "
     "or /right)"),
    ("set_profile", {"id": "a", "people": [{**ANN, "sore": {"quads-roller/left": 11}}]},
     "people[0].sore.quads-roller/left: must be a whole number from 0 to 10"),
    ("set_profile", {"id": "a", "people": [{**ANN, "sore": {f"r{i}": 1 for i in range(33)}}]},
     f"people[0].sore: {SORE}; this has 33"),
    ("set_profile", {"id": "a", "person": "a b"}, f"person: {PERSON_ID}, or null"),
    ("set_profile", {"id": "a", "people": [ANN, ANN]}, "people: id 'ann' appears more than once"),
    ("set_profile", {"id": "a", "people": [ANN], "person": "bo"}, "person: 'bo' is not one of people"),
    # set_prescription
    ("set_prescription", {"id": "a", **RX, "person": None}, f"person: {PERSON_ID}"),
    ("set_prescription", {"id": "a", "version": 1, "routines": {"quads-roller": {}}},
     f"person: missing; {PERSON_ID}"),
    ("set_prescription", {"id": "a", **RX, "version": 0},
     "version: must be a whole number from 1 to 1,000,000"),
    ("set_prescription", {"id": "a", **RX, "version": 1.5},
     "version: must be a whole number from 1 to 1,000,000"),
    ("set_prescription", {"id": "a", **RX, "by": 5},
     "by: must be text of at most 80 characters (no control characters, not only spaces), or null"),
    ("set_prescription", {"id": "a", **RX, "by": "x" * 81},
     "by: must be text of at most 80 characters (no control characters, not only spaces), or "
     "null; this has 81"),
    ("set_prescription", {"id": "a", **RX, "program": "Lower"},
     "program: unknown programme 'Lower' (known: {programmes})"),
    ("set_prescription", {"id": "a", **RX, "routines": {}}, f"routines: {ROUTINES}"),
    ("set_prescription", {"id": "a", **RX, "routines": 5}, f"routines: {ROUTINES}"),
    ("set_prescription", {"id": "a", **RX, "routines": {f"r{i}": {} for i in range(17)}},
     f"routines: {ROUTINES}; this has 17"),
    ("set_prescription", {"id": "a", **RX, "routines": {"Quads": {}}},
     "routines: unknown routine 'Quads' (known: {routines})"),
    ("set_prescription", {"id": "a", **RX, "routines": {"quads-roller": 3}},
     "routines.quads-roller: must be a table, as the routine's TOML file has it"),
    # pair
    ("pair", {"id": "a", "code": "abc"}, "code: the pairing code is 6 digits"),
    ("pair", {"id": "a", "code": "1234567"}, "code: the pairing code is 6 digits"),
    ("pair", {"id": "a", "code": 123456}, "code: the pairing code is 6 digits"),
    ("pair", {"id": "a"}, "code: missing; the pairing code is 6 digits"),
]
# what no refusal may say: a regular expression, or the schema's own terms ("[2]" of a path is fine)
JARGON = re.compile(r"[\[\]{}^$\\*+?|]|must match|pattern|definition|\bdata\b|anyOf|oneOf|"
                    r"const\b|enum|properties|propertyNames|same as|smaller than|bigger than")


def expected(words: str, routines: list[str], programmes: list[str]) -> str:
    return words.format(routines=", ".join(routines), programmes=", ".join(programmes))


def assert_in_words(error: str) -> None:
    assert error and "\n" not in error and len(error) <= 300
    assert not JARGON.search(re.sub(r"\[\d+\]", "", error)), error


def test_every_command_and_every_kind_of_failure_is_in_the_table():
    """The table covers each command, and each kind of rule the schemas use."""
    assert {name for name, _, _ in CASES} == set(commands.SCHEMAS)
    rules = set()
    for name, body, _ in CASES:
        try:
            commands._validator(name)(body)
        except commands.fastjsonschema.JsonSchemaValueException as e:
            rules.add(e.rule)
    assert rules == {"type", "pattern", "enum", "const", "minimum", "maximum", "minLength",
                     "maxLength", "required", "additionalProperties", "propertyNames",
                     "minProperties", "maxProperties", "maxItems", "anyOf"}


def test_every_field_says_what_it_must_be():
    """Each schema node a value can fail has its words (a new field cannot come without)."""
    def walk(node: dict, where: str):
        assert node.get("description"), where
        for key, sub in node.get("properties", {}).items():
            walk(sub, f"{where}.{key}")
        for part in ("items", "additionalProperties", "propertyNames"):
            if isinstance(node.get(part), dict):
                walk(node[part], f"{where}.{part}")
        for sub in node.get("anyOf", []):  # refused as a whole: its own words
            assert "description" not in sub, where

    for name, schema in commands.SCHEMAS.items():
        walk(schema, name)


@pytest.mark.parametrize(("name", "body", "words"), CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_each_refusal_is_in_words(name, body, words):
    raw = json.dumps(body, ensure_ascii=False)
    choices = known_ids(None)  # the device's own choices, built-in routines and programmes
    reply = commands.handle(name, raw, NOW, lambda cid: True, lambda cmd: {}, choices)
    assert reply["status"] == "error" and reply["data"] == {}
    assert reply["error"] == expected(words, routine_ids(), program_ids())
    assert_in_words(reply["error"])


def test_without_the_devices_lists_a_refused_id_says_what_an_id_is():
    """A check without the device (the dashboard's own, before it sends) cannot list the
    device's routines: it says what a routine id is, and quotes the one it was given."""
    reply = commands.handle("start", json.dumps({"id": "a", "protocol": "Quads"}), NOW,
                            lambda cid: True, lambda cmd: {})
    assert reply["error"] == f"protocol: {ROUTINE}, not 'Quads'"
    reply = commands.handle("start", json.dumps({"id": "a", "program": 5}), NOW,
                            lambda cid: True, lambda cmd: {})
    assert reply["error"] == f"program: {PROGRAMME}"
    assert_in_words(reply["error"])


def test_a_device_that_cannot_list_its_routines_still_answers_in_words():
    def broken(kind):
        raise OSError("routines directory unreadable")

    reply = commands.handle("start", json.dumps({"id": "a", "protocol": "Quads"}), NOW,
                            lambda cid: True, lambda cmd: {}, broken)
    assert reply["error"] == f"protocol: {ROUTINE}, not 'Quads'"


def test_many_choices_are_cut_short():
    many = [f"r{i:02d}" for i in range(20)]
    reply = commands.handle("start", json.dumps({"id": "a", "protocol": "Quads"}), NOW,
                            lambda cid: True, lambda cmd: {}, lambda kind: many)
    assert reply["error"] == ("protocol: unknown routine 'Quads' (known: r00, r01, r02, r03, r04, "
                              "r05, r06, r07, r08, r09, r10, r11, and 8 more)")


def test_person_problem_speaks_of_the_person_alone():
    """The dashboard's people table checks with the same words, without the list's path."""
    assert commands.person_problem({**ANN, "units": "stone"}) == (
        "units: must be metric, imperial or kgf, not 'stone'")
    assert commands.person_problem(3) == "person: must be a person: an object with id and name"
    assert commands.person_problem({**ANN, "age": 40}) == (
        "unknown field 'age' for a person (its fields: id, name, body_mass_kg, units, sore)")


def test_a_real_device_answers_the_table_in_the_same_words(fresh_broker, tmp_path):
    """Over MQTT, through the device's link: the same words, with the device's own routines
    and programmes (a user's routine and programme among them)."""
    routines = tmp_path / "routines"
    (routines / "programs").mkdir(parents=True)
    shutil.copy(ROUTINES_DIR / "quads-roller.toml", routines / "my-quads.toml")
    shutil.copy(PROGRAMS_DIR / "hips.toml", routines / "programs" / "my-hips.toml")
    cfg = apply_overrides(load_config(None), hardware="sim", state_dir=tmp_path / "state",
                          broker_url=fresh_broker.url, device_id="dev-w", routines_dir=routines)
    device, link, journal, outputs = build_daemon(cfg)
    obs = Observer(fresh_broker.url, topics=("rollsense/dev-w/cmd/+/result",))
    mine, theirs = routine_ids(routines), program_ids(routines)
    assert "my-quads" in mine and "my-hips" in theirs
    errors = []
    try:
        link.start()
        wait_until(lambda: link.subscribed, what="link subscribed")
        for n, (name, body, _) in enumerate(CASES):  # one at a time: a bad id's reply has none
            obs.publish(f"rollsense/dev-w/cmd/{name}", json.dumps(body, ensure_ascii=False))
            (msg,) = obs.wait_for(lambda ms, n=n: ms[n:n + 1])
            assert msg.topic == f"rollsense/dev-w/cmd/{name}/result"
            errors.append(json.loads(msg.payload)["error"])
    finally:
        link.stop()
        obs.close()
        outputs.close()
        journal.close()
        device.rt.hardware.close()
    assert errors == [expected(words, mine, theirs) for _, _, words in CASES]
    for error in errors:
        assert_in_words(error)
