"""Command schemas and validation for ``rollsense/<id>/cmd/<name>`` (pure: no I/O, no clock reads).

Every command is a JSON object with ``id`` (1-64 chars of ``[A-Za-z0-9_.:-]``), an optional
``expires_at`` (ISO-8601; naive times are UTC) and the optional envelope fields ``v`` (1),
``ts`` (a time, as text) and ``seq`` (a whole number). Unknown fields are refused. Per command:

    start        {"protocol": "<routine id>" (optional with program), "person"?: id | null, "side"?: "left" | "right" | null,
                  "program"?: "<programme id>" | null, "program_step"?: int >= 0 | null,
                  "soreness_before"?: 0..10 | null}
    stop         {"reason"?: str}
    set_targets  {"targets": {name: number | [lo, hi]}, "protocol"?: str}
    set_profile  {"body_mass_kg"?: number in [20, 300] | null,
                  "people"?: [{"id", "name", "body_mass_kg"?, "units"?, "sore"?}] (at most 16),
                  "person"?: id | null}   (at least one of the three)
    set_prescription {"person": id, "version": int >= 1, "by"?: str | null, "program"?: id | null,
                  "routines": {"<routine id>": {the routine as its TOML file has it}} (1 to 16)}
    ping         {}
    pair         {"code": "<6 digits>"}

A start with ``program`` plays that programme's steps for this device's tool from
``program_step`` (default 0); its ``protocol`` may then be left out (``firmware.app.programme``).
A person's ``sore`` is the last "before" rating per area: ``{"<routine id>": 0..10}`` or
``{"<routine id>/left": 0..10}`` (at most 32 areas); the device eases in by it when a start
gives no rating (``firmware.edge.people``).

``set_prescription`` (issue 23) carries a therapist's numbers for one person: each routine
is checked exactly as the file ``<routine id>.toml`` holding it would be
(``firmware.core.prescription``); its problems are the reply's error and, one line each, its
``data.problems``.

A payload is decoded once, strictly (``firmware.common.wire.decode``: size, UTF-8, no NaN/Infinity,
no duplicate keys, bounded depth, no NUL), then checked against its command's JSON Schema
(``SCHEMAS``, compiled by fastjsonschema); a failure is one line in a user's words (which
field, what it must be), never a Python exception's name.

``handle(...)`` is the whole answer to one received command; ``check(name, raw, now)``
returns a ``Command`` or raises ``CommandError`` with one line; ``result(...)`` builds the
reply for ``.../cmd/<name>/result``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fastjsonschema

from firmware.common import wire
from firmware.common.errors import CommandError, RollsenseError, WireError
from firmware.core.prescription import check_routines

ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
ROUTINE_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
TARGET_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
CODE_RE = re.compile(r"[0-9]{6}")
PROGRAM_RE = re.compile(r"[a-z0-9-]{1,64}")  # a programme id (issue 22 contract)
PERSON_ID_RE = ID_RE  # a person id: WIRE_ID, as every id on the wire
MAX_PEOPLE = 16
NAME_MAX = 40
UNITS = ("metric", "imperial", "kgf")  # what a person reads (firmware.common.units)
SIDES = ("left", "right")
SORENESS_MAX = 10
MAX_SORE_AREAS = 32
SORE_KEY_RE = re.compile(r"[a-z0-9-]{1,64}(/(left|right))?")  # "<routine id>[/<side>]"
NAME_PATTERN = r"^(?=.*\S)[^\x00-\x1f\x7f]+$"  # printable, not only spaces
PROGRAM_STEP_MAX = 999
ENVELOPE = {"id", "expires_at", "v", "ts", "seq"}
MAX_RAW_BYTES = 16_384
MAX_DEPTH = 4  # {"targets": {"name": [lo, hi]}} is 3 deep
TARGET_MAX = 1_000_000  # a target's value: finite, 0 to this
MAX_TARGETS = 32
MAX_RX_ROUTINES = 16  # routines in one set_prescription
RX_VERSION_MAX = 1_000_000
BY_MAX = 80
# set_prescription nests deeper and runs longer: routines / id / targets / force / n / [lo, hi]
DEPTH_OF = {"set_prescription": 7}
BYTES_OF = {"set_prescription": 65_536}


@dataclass(frozen=True)
class Command:
    """A validated command: ``args`` are its fields without the envelope."""

    name: str
    id: str
    args: dict
    expires_at: datetime | None


def _pattern(regex: re.Pattern) -> dict:
    return {"type": "string", "pattern": f"^{regex.pattern}$"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


_TARGET_NUMBER = {"type": "number", "minimum": 0, "maximum": TARGET_MAX}
BODY_MASS = {"type": ["number", "null"], "minimum": 20, "maximum": 300}
# one person as set_profile carries it (and the dashboard's people table stores it)
PERSON = {
    "type": "object",
    "properties": {
        "id": _pattern(PERSON_ID_RE),
        "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX,
                 "pattern": NAME_PATTERN},
        "body_mass_kg": BODY_MASS,
        "units": {"enum": list(UNITS)},
        # the last "before" rating per area (issue 22): what the next session eases in by
        "sore": {
            "type": "object",
            "maxProperties": MAX_SORE_AREAS,
            "propertyNames": {"pattern": f"^{SORE_KEY_RE.pattern}$"},
            "additionalProperties": {"type": "integer", "minimum": 0, "maximum": SORENESS_MAX},
        },
    },
    "required": ["id", "name"],
    "additionalProperties": False,
}
ENVELOPE_SCHEMA = {
    "id": _pattern(ID_RE),
    "expires_at": {"type": ["string", "null"], "minLength": 10, "maxLength": 40},
    "v": {"type": "integer", "const": wire.PAYLOAD_VERSION},
    "ts": {"type": "string", "maxLength": 40},
    "seq": {"type": "integer", "minimum": 0},
}
# name -> {field: JSON Schema}, and the fields each one requires (besides "id")
FIELDS: dict[str, dict[str, dict]] = {
    "start": {
        "protocol": _pattern(ROUTINE_RE),
        "person": _nullable(_pattern(PERSON_ID_RE)),
        "side": {"enum": [*SIDES, None]},
        "program": _nullable(_pattern(PROGRAM_RE)),
        "program_step": {"type": ["integer", "null"], "minimum": 0, "maximum": PROGRAM_STEP_MAX},
        "soreness_before": {"type": ["integer", "null"], "minimum": 0, "maximum": SORENESS_MAX},
    },
    "stop": {"reason": {"type": "string", "maxLength": 200}},
    "set_targets": {
        "targets": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": MAX_TARGETS,
            "propertyNames": {"pattern": f"^{TARGET_NAME_RE.pattern}$"},
            "additionalProperties": {
                "anyOf": [
                    _TARGET_NUMBER,
                    {"type": "array", "items": _TARGET_NUMBER, "minItems": 2, "maxItems": 2},
                ]
            },
        },
        "protocol": _pattern(ROUTINE_RE),
    },
    "set_profile": {
        "body_mass_kg": BODY_MASS,
        "people": {"type": "array", "maxItems": MAX_PEOPLE, "items": PERSON},
        "person": _nullable(_pattern(PERSON_ID_RE)),
    },
    "set_prescription": {
        "person": _pattern(PERSON_ID_RE),
        "version": {"type": "integer", "minimum": 1, "maximum": RX_VERSION_MAX},
        "by": {"type": ["string", "null"], "maxLength": BY_MAX, "pattern": NAME_PATTERN},
        "program": _nullable(_pattern(PROGRAM_RE)),
        "routines": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": MAX_RX_ROUTINES,
            "propertyNames": {"pattern": f"^{ROUTINE_RE.pattern}$"},
            "additionalProperties": {"type": "object"},
        },
    },
    "ping": {},
    "pair": {"code": _pattern(CODE_RE)},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "set_targets": ("targets",),
    "set_prescription": ("person", "version", "routines"),
    "pair": ("code",),
}
# each command's full JSON Schema (envelope + fields); the README's command table lists these
SCHEMAS: dict[str, dict] = {
    name: {
        "type": "object",
        "properties": {**ENVELOPE_SCHEMA, **fields},
        "required": ["id", *REQUIRED.get(name, ())],
        "additionalProperties": False,
    }
    for name, fields in FIELDS.items()
}
PEOPLE_ENTRY = "set_profile.people[]"  # _validator's name for PERSON (not a command name)


@functools.cache
def _validator(name: str) -> Callable[[Any], Any]:
    """The compiled schema of command ``name`` (or of one entry of set_profile's ``people``),
    compiled when first needed: a device that never gets a command never holds the compiled
    code (fastjsonschema's is about 1 MB for all of them)."""
    return fastjsonschema.compile(PERSON if name == PEOPLE_ENTRY else SCHEMAS[name])


# what a field must be, in a user's words (the reply's error when that field is wrong)
FIELD_WORDS = {
    "id": f"id must match {ID_RE.pattern}",
    "expires_at": "expires_at must be an ISO-8601 time",
    "v": f"unsupported schema version v (expected {wire.PAYLOAD_VERSION})",
    "ts": "ts must be a time (text of at most 40 characters)",
    "seq": "seq must be a whole number >= 0",
    "protocol": f"protocol must match {ROUTINE_RE.pattern}",
    "reason": "reason must be a string of at most 200 characters",
    "targets": f"targets must be an object with 1 to {MAX_TARGETS} entries",
    "body_mass_kg": "body_mass_kg must be a number from 20 to 300, or null",
    "code": f"code must match {CODE_RE.pattern}",
    "person": f"person must be a person id matching {PERSON_ID_RE.pattern}, or null",
    "side": "side must be left, right or null",
    "program": f"program must be a programme id matching {PROGRAM_RE.pattern}, or null",
    "program_step": f"program_step must be a whole number from 0 to {PROGRAM_STEP_MAX}, or null",
    "soreness_before": f"soreness_before must be a whole number from 0 to {SORENESS_MAX}, or null",
    "people": f"people must be a list of at most {MAX_PEOPLE} people",
    "version": f"version must be a whole number from 1 to {RX_VERSION_MAX}",
    "by": f"by must be text of at most {BY_MAX} characters (no control characters), or null",
    "routines": (f"routines must be an object of 1 to {MAX_RX_ROUTINES} routines, each a routine "
                 f"id ({ROUTINE_RE.pattern}) and a table as its TOML file has it"),
}
# what a person's field must be (set_profile's people[i].<field>)
PERSON_WORDS = {
    "id": f"id must match {PERSON_ID_RE.pattern}",
    "name": f"name must be text of 1 to {NAME_MAX} characters (no control characters)",
    "body_mass_kg": "body_mass_kg must be a number from 20 to 300, or null",
    "units": f"units must be {', '.join(UNITS[:-1])} or {UNITS[-1]}",
    "sore": (f"sore must be an object of at most {MAX_SORE_AREAS} areas (a routine id, or a "
             f"routine id and /left or /right), each rated 0 to {SORENESS_MAX}"),
}


def _explain(name: str, obj: Any, e: fastjsonschema.JsonSchemaValueException) -> str:
    """One line for a schema failure: which field, and what it must be."""
    path = list(e.path or [])[1:]
    if not path:
        if not isinstance(obj, dict):
            return "payload must be a JSON object"
        if e.rule == "required":
            missing = [f for f in SCHEMAS[name]["required"] if f not in obj]
            return f"missing field {missing[0]}" if missing else "missing field"
        if e.rule == "additionalProperties":
            unknown = sorted(k for k in obj if k not in SCHEMAS[name]["properties"])
            return f"unknown field(s) for {name}: {', '.join(repr(k[:40]) for k in unknown[:5])}"
        return "payload does not match the command's schema"
    field = path[0]
    targets = obj.get("targets")
    if field == "targets" and isinstance(targets, dict) and e.rule == "propertyNames":
        bad = next((k for k in targets if not TARGET_NAME_RE.fullmatch(k)), "")
        return f"target name {bad[:40]!r} must match {TARGET_NAME_RE.pattern}"
    if field == "targets" and isinstance(targets, dict) and len(path) >= 2:
        return f"target {str(path[1])[:40]!r} must be a number from 0 to {TARGET_MAX} or [lo, hi]"
    people = obj.get("people")
    if field == "people" and isinstance(people, list) and len(path) >= 2 and str(path[1]).isdigit():
        i = int(path[1])
        if i < len(people):
            return f"people[{i}]: {_person_words(people[i], path[2:], e.rule)}"
    return FIELD_WORDS.get(str(field), f"field {str(field)[:40]!r} is not valid")


def _person_words(person: Any, path: list, rule: str | None) -> str:
    """What is wrong with one person of set_profile's ``people``, in a user's words."""
    if not isinstance(person, dict):
        return "must be an object with id and name"
    if path and path[0] == "sore":
        return _sore_words(person.get("sore"), path[1:], rule)
    if path:
        return PERSON_WORDS.get(str(path[0]), f"field {str(path[0])[:40]!r} is not valid")
    if rule == "required":
        return f"missing field {next((f for f in PERSON['required'] if f not in person), 'id')}"
    unknown = sorted(k for k in person if k not in PERSON["properties"])
    if unknown:
        return f"unknown field(s): {', '.join(repr(k[:40]) for k in unknown[:5])}"
    return "must be an object with id and name"


def _sore_words(sore: Any, path: list, rule: str | None) -> str:
    """What is wrong with a person's ``sore`` areas, in a user's words."""
    if isinstance(sore, dict) and path:
        return f"sore[{str(path[0])[:70]!r}] must be a whole number from 0 to {SORENESS_MAX}"
    if isinstance(sore, dict) and rule == "propertyNames":
        bad = next((k for k in sore if not SORE_KEY_RE.fullmatch(k)), "")
        return (f"sore: {bad[:70]!r} is not an area: give a routine id, or a routine id and "
                "/left or /right")
    if isinstance(sore, dict) and rule == "maxProperties":
        return f"sore: {len(sore)} areas; give at most {MAX_SORE_AREAS}"
    return PERSON_WORDS["sore"]


def person_problem(person: Any) -> str:
    """Why ``person`` is not a person as ``set_profile`` carries it ("" when it is): one
    line in a user's words. The dashboard's people table checks with this too."""
    try:
        _validator(PEOPLE_ENTRY)(person)
    except fastjsonschema.JsonSchemaValueException as e:
        return _person_words(person, list(e.path or [])[1:], e.rule)
    return ""


def _cross_check(name: str, obj: dict) -> None:
    """What a schema cannot say: a target band's order, a programme step without its
    programme, set_profile's people (ids once each, the current person among them)."""
    for target, value in (obj.get("targets") or {}).items():
        if isinstance(value, list) and value[0] > value[1]:
            raise CommandError(f"target {target!r} must be [lo, hi] with 0 <= lo <= hi")
    if name == "start" and obj.get("program_step") is not None and obj.get("program") is None:
        raise CommandError("program_step needs program (the programme it is a step of)")
    if name == "start" and obj.get("protocol") is None and obj.get("program") is None:
        raise CommandError("missing field protocol (or program, to play a programme)")
    if name == "set_profile":
        if not {"body_mass_kg", "people", "person"} & obj.keys():
            raise CommandError("set_profile needs body_mass_kg, people or person")
        ids = [p["id"] for p in obj.get("people") or []]
        twice = next((i for n, i in enumerate(ids) if i in ids[:n]), None)
        if twice is not None:
            raise CommandError(f"people: id {twice!r} appears more than once")
        person = obj.get("person")
        if "people" in obj and person is not None and person not in ids:
            raise CommandError(f"person {person!r} is not one of people")
    if name == "set_prescription":
        _, problems = check_routines(obj["routines"])
        if problems:
            err = CommandError("; ".join(problems))
            err.problems = problems  # type: ignore[attr-defined]
            raise err


def parse_time(text: Any) -> datetime:
    """An ISO-8601 time as an aware UTC datetime (naive means UTC); CommandError if not one."""
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        raise CommandError("expires_at must be an ISO-8601 time")
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as e:
        raise CommandError("expires_at must be an ISO-8601 time") from e
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def decode(raw: bytes | bytearray | str, name: str = "") -> Any:
    """The JSON value in ``raw``, decoded strictly (``firmware.common.wire``), as deep and as
    long as command ``name`` may be; CommandError if not."""
    try:
        return wire.decode(raw, max_bytes=BYTES_OF.get(name, MAX_RAW_BYTES),
                           max_depth=DEPTH_OF.get(name, MAX_DEPTH))
    except WireError as e:
        raise CommandError(f"payload refused: {e}") from None


def validate(name: str, obj: Any) -> Command:
    """Check ``obj`` against the schema of command ``name``."""
    if name not in SCHEMAS:
        raise CommandError(f"unknown command {name[:40]!r}; known: {', '.join(sorted(SCHEMAS))}")
    check_schema = _validator(name)
    try:
        check_schema(obj)
    except fastjsonschema.JsonSchemaValueException as e:
        raise CommandError(_explain(name, obj, e)) from None
    _cross_check(name, obj)
    expires_at = parse_time(obj["expires_at"]) if obj.get("expires_at") is not None else None
    args = {k: v for k, v in obj.items() if k not in ENVELOPE}
    return Command(name, obj["id"], args, expires_at)


def _expiry(cmd: Command, now: datetime) -> Command:
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise CommandError(f"command expired at {cmd.expires_at.isoformat()}")
    return cmd


def check(name: str, raw: bytes | str, now: datetime) -> Command:
    """Decode, validate and check expiry of one command received at ``now`` (aware UTC)."""
    return _expiry(validate(name, decode(raw, name)), now)


def _id_of(obj: Any) -> str | None:
    """The ``id`` of a (possibly invalid) decoded command, to echo in an error reply."""
    cid = obj.get("id") if isinstance(obj, dict) else None
    return cid if isinstance(cid, str) and ID_RE.fullmatch(cid) else None


def command_id(raw: bytes | str) -> str | None:
    """The ``id`` of a (possibly invalid) command, if one can be read."""
    try:
        return _id_of(decode(raw))
    except CommandError:
        return None


def one_line(text: str, limit: int = 300) -> str:
    """``text`` as one line of at most ``limit`` characters (a reply's error)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def handle(
    name: str,
    raw: bytes | str,
    now: datetime,
    remember: Callable[[str], bool],
    run: Callable[[Command], dict | None],
) -> dict:
    """The full answer to one received command: decode it once, check it, refuse duplicates
    (``remember(id)`` is False for an id seen before), run it, and build the result. Never
    raises: a refused command or a failing ``run`` gives an error result with its one line
    (any RollsenseError: its own words; only an unexpected failure says it is one)."""
    obj = None
    try:
        obj = decode(raw, name)
        cmd = _expiry(validate(name, obj), now)
        if not remember(cmd.id):
            raise CommandError(f"duplicate command id {cmd.id}")
        return result(cmd.id, data=run(cmd))
    except RollsenseError as e:  # a refusal, or a setup/config problem: its own one line
        problems = getattr(e, "problems", None)  # a routine's: one line per problem, too
        return result(_id_of(obj), error=one_line(str(e)) or "refused",
                      data={"problems": list(problems)} if problems else None)
    except Exception as e:  # a bug: say it is one
        return result(_id_of(obj), error=one_line(f"internal error: {type(e).__name__}: {e}"))


def result(cmd_id: str | None, error: str | None = None, data: dict | None = None) -> dict:
    """The reply body: ``{"id", "status": "ok"|"error", "error", "data"}``."""
    return {"id": cmd_id, "status": "error" if error else "ok", "error": error, "data": data or {}}
