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
(``SCHEMAS``, compiled by fastjsonschema); a failure is one line in a user's words, never a
Python exception's name, a regular expression or the schema's own terms: the field's dotted
path and what it must be, which each schema node says in its ``description``
(``people[2].units: must be metric, imperial or kgf, not 'stone'``; ``code: the pairing code
is 6 digits``). An id that should be one of the device's routines or programmes (``x-choices``)
is refused with the ones the device knows, when it says (``handle(..., choices)``):
``protocol: unknown routine 'Quads' (known: calf-stick, quads-roller, ...)``.

``handle(...)`` is the whole answer to one received command; ``check(name, raw, now)``
returns a ``Command`` or raises ``CommandError`` with one line; ``result(...)`` builds the
reply for ``.../cmd/<name>/result``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
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


CHOICES = "x-choices"  # a schema annotation: which of the device's lists an id is one of
Choices = Callable[[str], Sequence[str]]  # "routine" / "programme" -> the ids the device knows
KNOWN_SHOWN = 12  # ids a refusal lists before "and N more"


def _said(schema: dict, words: str, choices: str | None = None) -> dict:
    """``schema`` with what it must be in a user's words: JSON Schema's own ``description``
    annotation, which is the reply's error when the value fails (``_explain``). ``choices``:
    the device's list ("routine", "programme") the value is an id in, so that a refusal can
    name the ones the device knows."""
    return {**schema, "description": words, **({CHOICES: choices} if choices else {})}


def _pattern(regex: re.Pattern, words: str, choices: str | None = None) -> dict:
    return _said({"type": "string", "pattern": f"^{regex.pattern}$"}, words, choices)


def _nullable(schema: dict) -> dict:
    """``schema`` or null, in the same words and ", or null"."""
    inner = {k: v for k, v in schema.items() if k not in ("description", CHOICES)}
    return _said({"anyOf": [inner, {"type": "null"}]}, f"{schema['description']}, or null",
                 schema.get(CHOICES))


# What each value must be, in a user's words (a field's "description": the reply's error is
# "<field's dotted path>: <these words>"). A propertyNames' words say what a key is, as a noun
# ("<path>: 'Bad Name' is not a target name ...").
ID_WORDS = "must be 1 to 64 letters, digits or . _ : -"
PERSON_ID_WORDS = "must be a person's id (1 to 64 letters, digits or . _ : -)"
ROUTINE_WORDS = ("lowercase letters, digits and -, starting with a letter or digit, at most 64 "
                 "characters")
PROGRAM_WORDS = "must be a programme id (1 to 64 lowercase letters, digits or -)"
SORENESS_WORDS = f"must be a whole number from 0 to {SORENESS_MAX}"
TEXT_WORDS = "no control characters, not only spaces"
AREA_WORDS = "a routine id, or a routine id and /left or /right"
_TARGET_NUMBER = {"type": "number", "minimum": 0, "maximum": TARGET_MAX}
BODY_MASS = _said({"type": ["number", "null"], "minimum": 20, "maximum": 300},
                  "must be a number from 20 to 300, or null")
# one person as set_profile carries it (and the dashboard's people table stores it)
PERSON = _said({
    "type": "object",
    "properties": {
        "id": _pattern(PERSON_ID_RE, ID_WORDS),
        "name": _said({"type": "string", "minLength": 1, "maxLength": NAME_MAX,
                       "pattern": NAME_PATTERN},
                      f"must be text of 1 to {NAME_MAX} characters ({TEXT_WORDS})"),
        "body_mass_kg": BODY_MASS,
        "units": _said({"enum": list(UNITS)},
                       f"must be {', '.join(UNITS[:-1])} or {UNITS[-1]}"),
        # the last "before" rating per area (issue 22): what the next session eases in by
        "sore": _said({
            "type": "object",
            "maxProperties": MAX_SORE_AREAS,
            "propertyNames": _said({"pattern": f"^{SORE_KEY_RE.pattern}$"}, f"an area ({AREA_WORDS})"),
            "additionalProperties": _said({"type": "integer", "minimum": 0,
                                           "maximum": SORENESS_MAX}, SORENESS_WORDS),
        }, f"must be an object of at most {MAX_SORE_AREAS} areas ({AREA_WORDS}), each rated 0 to "
           f"{SORENESS_MAX}"),
    },
    "required": ["id", "name"],
    "additionalProperties": False,
}, "must be a person: an object with id and name")
ENVELOPE_SCHEMA = {
    "id": _pattern(ID_RE, ID_WORDS),
    "expires_at": _said({"type": ["string", "null"], "minLength": 10, "maxLength": 40},
                        "must be an ISO-8601 time, such as 2026-06-01T12:05:00Z, or null"),
    "v": _said({"type": "integer", "const": wire.PAYLOAD_VERSION},
               f"must be {wire.PAYLOAD_VERSION} (the schema version this device speaks)"),
    "ts": _said({"type": "string", "maxLength": 40}, "must be a time, as text of at most 40 characters"),
    "seq": _said({"type": "integer", "minimum": 0}, "must be a whole number, 0 or more"),
}
ROUTINE = _pattern(ROUTINE_RE, f"must be a routine id ({ROUTINE_WORDS})", "routine")
# name -> {field: JSON Schema}, and the fields each one requires (besides "id")
FIELDS: dict[str, dict[str, dict]] = {
    "start": {
        "protocol": ROUTINE,
        "person": _nullable(_pattern(PERSON_ID_RE, PERSON_ID_WORDS)),
        "side": _said({"enum": [*SIDES, None]}, "must be left, right or null"),
        "program": _nullable(_pattern(PROGRAM_RE, PROGRAM_WORDS, "programme")),
        "program_step": _said({"type": ["integer", "null"], "minimum": 0,
                               "maximum": PROGRAM_STEP_MAX},
                              f"must be a whole number from 0 to {PROGRAM_STEP_MAX}, or null"),
        "soreness_before": _said({"type": ["integer", "null"], "minimum": 0,
                                  "maximum": SORENESS_MAX}, f"{SORENESS_WORDS}, or null"),
    },
    "stop": {"reason": _said({"type": "string", "maxLength": 200},
                             "must be text of at most 200 characters")},
    "set_targets": {
        "targets": _said({
            "type": "object",
            "minProperties": 1,
            "maxProperties": MAX_TARGETS,
            "propertyNames": _said({"pattern": f"^{TARGET_NAME_RE.pattern}$"},
                                   "a target name (a lowercase letter, then up to 39 lowercase "
                                   "letters, digits or _)"),
            "additionalProperties": _said({
                "anyOf": [
                    _TARGET_NUMBER,
                    {"type": "array", "items": _TARGET_NUMBER, "minItems": 2, "maxItems": 2},
                ]
            }, f"must be a number from 0 to {TARGET_MAX:,}, or a list of two such numbers: "
               "low, then high"),
        }, f"must be an object of 1 to {MAX_TARGETS} targets, each a name and its number (or "
           "its low and high)"),
        "protocol": ROUTINE,
    },
    "set_profile": {
        "body_mass_kg": BODY_MASS,
        "people": _said({"type": "array", "maxItems": MAX_PEOPLE, "items": PERSON},
                        f"must be a list of at most {MAX_PEOPLE} people"),
        "person": _nullable(_pattern(PERSON_ID_RE, PERSON_ID_WORDS)),
    },
    "set_prescription": {
        "person": _pattern(PERSON_ID_RE, PERSON_ID_WORDS),
        "version": _said({"type": "integer", "minimum": 1, "maximum": RX_VERSION_MAX},
                         f"must be a whole number from 1 to {RX_VERSION_MAX:,}"),
        "by": _said({"type": ["string", "null"], "maxLength": BY_MAX, "pattern": NAME_PATTERN},
                    f"must be text of at most {BY_MAX} characters ({TEXT_WORDS}), or null"),
        "program": _nullable(_pattern(PROGRAM_RE, PROGRAM_WORDS, "programme")),
        "routines": _said({
            "type": "object",
            "minProperties": 1,
            "maxProperties": MAX_RX_ROUTINES,
            "propertyNames": _said({"pattern": f"^{ROUTINE_RE.pattern}$"},
                                   f"a routine id ({ROUTINE_WORDS})", "routine"),
            "additionalProperties": _said({"type": "object"},
                                          "must be a table, as the routine's TOML file has it"),
        }, f"must be an object of 1 to {MAX_RX_ROUTINES} routines, each a routine id and its "
           "table as the routine's TOML file has it"),
    },
    "ping": {},
    "pair": {"code": _pattern(CODE_RE, "the pairing code is 6 digits")},
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
        "description": "must be a JSON object",
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


def _explain(schema: dict, value: Any, e: fastjsonschema.JsonSchemaValueException, *,
             top: str, owner: str, choices: Choices | None = None) -> str:
    """A schema failure in one line of a user's words: the failing value's dotted path
    (``people[2].units``; ``top`` for the whole of ``value``) and what it must be (its
    schema's ``description``), never the schema's own terms. ``owner`` names ``value`` for an
    unknown field ("start", "a person"); ``choices`` lists the routines or programmes the
    device knows, for an id that is none of them."""
    node, here, where = schema, value, ""
    for key in [str(k) for k in list(e.path or [])[1:]]:
        if isinstance(here, list):
            node, here, where = node.get("items", {}), here[int(key)], f"{where}[{key}]"
            continue
        fields = node.get("properties", {})
        if key not in fields and not _key_fits(node, key):  # a bad key: that before its value
            return _bad_key(where or top, node, key, choices)
        node = fields.get(key) or node.get("additionalProperties") or {}
        here, where = here[key], _dotted(where, key)
    return _say(where or top, where, node, here, e.rule, owner, choices)


def _say(label: str, where: str, node: dict, value: Any, rule: str | None, owner: str,
         choices: Choices | None) -> str:
    """What is wrong with ``value`` (at ``label``), which fails ``rule`` of ``node``."""
    if rule == "required" and isinstance(value, dict):
        field = next((f for f in node["required"] if f not in value), None)
        if field is not None:
            return f"{_dotted(where, field)}: missing; {node['properties'][field]['description']}"
    if rule == "additionalProperties" and isinstance(value, dict):
        unknown = sorted(k for k in value if k not in node["properties"])
        if unknown:
            s = "s" if len(unknown) > 1 else ""
            named = ", ".join(_shown(k) for k in unknown[:5])
            head = f"{where}: unknown field{s} {named}" if where else f"unknown field{s} {named} for {owner}"
            return f"{head} (its fields: {', '.join(node['properties'])})"
    if rule == "propertyNames" and isinstance(value, dict):
        bad = next((k for k in value if not _key_fits(node, k)), None)
        if bad is not None:
            return _bad_key(label, node, bad, choices)
    words = node.get("description", "is not valid")
    kind = node.get(CHOICES)
    known = _known(choices, kind)
    if kind and isinstance(value, str):
        return (f"{label}: unknown {kind} {_shown(value)} ({_listed(known)})" if known
                else f"{label}: {words}, not {_shown(value)}")
    if known:
        return f"{label}: {words}; {_listed(known)}"
    if rule in ("enum", "const"):
        return f"{label}: {words}, not {_shown(value)}"
    if rule in ("maxLength", "maxItems", "maxProperties") and isinstance(value, str | list | dict):
        return f"{label}: {words}; this has {len(value)}"
    return f"{label}: {words}"


def _bad_key(label: str, node: dict, key: str, choices: Choices | None) -> str:
    """A key of a map (targets, routines, sore) that is not one of what it holds."""
    names = node.get("propertyNames", {})
    known = _known(choices, names.get(CHOICES))
    if known:
        return f"{label}: unknown {names[CHOICES]} {_shown(key)} ({_listed(known)})"
    return f"{label}: {_shown(key)} is not {names.get('description', 'a name it takes')}"


def _key_fits(node: dict, key: str) -> bool:
    names = node.get("propertyNames")
    return names is None or re.search(names["pattern"], key) is not None


def _dotted(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _shown(value: Any) -> str:
    """A value as a refusal quotes it: text in quotes (at most 40 characters), other values
    as JSON has them."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "...")
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    return json.dumps(value)


def _known(choices: Choices | None, kind: str | None) -> list[str]:
    """The ids of ``kind`` the device knows; none when it cannot say (a refusal never fails)."""
    if choices is None or kind is None:
        return []
    try:
        return [str(k) for k in choices(kind)]
    except (RollsenseError, OSError):
        return []


def _listed(known: Sequence[str]) -> str:
    more = len(known) - KNOWN_SHOWN
    return "known: " + ", ".join(known[:KNOWN_SHOWN]) + (f", and {more} more" if more > 0 else "")


def person_problem(person: Any) -> str:
    """Why ``person`` is not a person as ``set_profile`` carries it ("" when it is): one
    line in a user's words. The dashboard's people table checks with this too."""
    try:
        _validator(PEOPLE_ENTRY)(person)
    except fastjsonschema.JsonSchemaValueException as e:
        return _explain(PERSON, person, e, top="person", owner="a person")
    return ""


def _cross_check(name: str, obj: dict) -> None:
    """What a schema cannot say: a target band's order, a programme step without its
    programme, set_profile's people (ids once each, the current person among them)."""
    for target, value in (obj.get("targets") or {}).items():
        if isinstance(value, list) and value[0] > value[1]:
            raise CommandError(f"targets.{target}: must be low, then high ({_shown(value[0])} "
                               f"is above {_shown(value[1])})")
    if name == "start" and obj.get("program_step") is not None and obj.get("program") is None:
        raise CommandError("program_step: needs program, the programme it is a step of")
    if name == "start" and obj.get("protocol") is None and obj.get("program") is None:
        raise CommandError("protocol: missing; give a routine id, or program to play a "
                           "programme")
    if name == "set_profile":
        if not {"body_mass_kg", "people", "person"} & obj.keys():
            raise CommandError("set_profile needs body_mass_kg, people or person")
        ids = [p["id"] for p in obj.get("people") or []]
        twice = next((i for n, i in enumerate(ids) if i in ids[:n]), None)
        if twice is not None:
            raise CommandError(f"people: id {twice!r} appears more than once")
        person = obj.get("person")
        if "people" in obj and person is not None and person not in ids:
            raise CommandError(f"person: {_shown(person)} is not one of people")
    if name == "set_prescription":
        _, problems = check_routines(obj["routines"])
        if problems:
            err = CommandError("; ".join(problems))
            err.problems = problems  # type: ignore[attr-defined]
            raise err


def parse_time(text: Any) -> datetime:
    """An ISO-8601 time as an aware UTC datetime (naive means UTC); CommandError if not one."""
    not_a_time = CommandError(f"expires_at: {ENVELOPE_SCHEMA['expires_at']['description']}")
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        raise not_a_time
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as e:
        raise not_a_time from e
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def decode(raw: bytes | bytearray | str, name: str = "") -> Any:
    """The JSON value in ``raw``, decoded strictly (``firmware.common.wire``), as deep and as
    long as command ``name`` may be; CommandError if not."""
    try:
        return wire.decode(raw, max_bytes=BYTES_OF.get(name, MAX_RAW_BYTES),
                           max_depth=DEPTH_OF.get(name, MAX_DEPTH))
    except WireError as e:
        raise CommandError(f"payload refused: {e}") from None


def validate(name: str, obj: Any, choices: Choices | None = None) -> Command:
    """Check ``obj`` against the schema of command ``name``; ``choices(kind)``: the routines
    or programmes the device knows, which a refused id's error lists."""
    if name not in SCHEMAS:
        raise CommandError(f"unknown command {name[:40]!r}; known: {', '.join(sorted(SCHEMAS))}")
    check_schema = _validator(name)
    try:
        check_schema(obj)
    except fastjsonschema.JsonSchemaValueException as e:
        raise CommandError(_explain(SCHEMAS[name], obj, e, top="payload", owner=name,
                                    choices=choices)) from None
    _cross_check(name, obj)
    expires_at = parse_time(obj["expires_at"]) if obj.get("expires_at") is not None else None
    args = {k: v for k, v in obj.items() if k not in ENVELOPE}
    return Command(name, obj["id"], args, expires_at)


def _expiry(cmd: Command, now: datetime) -> Command:
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise CommandError(f"command expired at {cmd.expires_at.isoformat()}")
    return cmd


def check(name: str, raw: bytes | str, now: datetime, choices: Choices | None = None) -> Command:
    """Decode, validate and check expiry of one command received at ``now`` (aware UTC)."""
    return _expiry(validate(name, decode(raw, name), choices), now)


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
    choices: Choices | None = None,
) -> dict:
    """The full answer to one received command: decode it once, check it, refuse duplicates
    (``remember(id)`` is False for an id seen before), run it, and build the result. Never
    raises: a refused command or a failing ``run`` gives an error result with its one line
    (any RollsenseError: its own words; only an unexpected failure says it is one).
    ``choices(kind)``: the ids of "routine" or "programme" the device knows (``validate``)."""
    obj = None
    try:
        obj = decode(raw, name)
        cmd = _expiry(validate(name, obj, choices), now)
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
