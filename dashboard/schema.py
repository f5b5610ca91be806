"""What the dashboard accepts from devices: one JSON Schema per topic (DESIGN §3.2, §3.3),
checked once at the edge (``firmware.common.wire``: strict decoding, then the schema), and the
read-side view that gives a stored summary its one shape whatever an older row holds.

Numbers are finite (the decoder refuses NaN and Infinity) and within sane ranges; strings,
lists and objects are bounded; nesting is bounded by the decoder. Fields the dashboard reads
are typed; other fields are allowed (devices add fields freely), within the same bounds.
A message that fails is quarantined by the ingest (dashboard/ingest.py), never stored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from firmware.common.errors import WireError
from firmware.common.wire import WIRE_ID, compile_schema, decode, finite_float

MAX_DEPTH = 8  # nesting of any device message (the summary's targets are 4 deep)
MAX_BYTES = {"session": 192 * 1024, "event": 16 * 1024, "telemetry": 16 * 1024,
             "info": 64 * 1024, "result": 16 * 1024}
STATUS_MAX_BYTES = 16

BIG = 1e9  # any other number a device sends
ID = {"type": "string", "minLength": 1, "maxLength": 128}
ROUTINE_ID = {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}
TIMESTAMP = {"type": "string", "maxLength": 40,
             "pattern": r"^(19[7-9][0-9]|2[0-9]{3})-[01][0-9]-[0-3][0-9]T[0-9:.]+(Z|[+-][0-9:]+)?$"}
SHORT_TEXT = {"type": "string", "maxLength": 200}
TEXT = {"type": "string", "maxLength": 2000}


def number(lo: float = -BIG, hi: float = BIG, *, null: bool = True) -> dict:
    return {"type": ["number", "null"] if null else "number", "minimum": lo, "maximum": hi}


def integer(lo: int = 0, hi: int = 10**6, *, null: bool = True) -> dict:
    return {"type": ["integer", "null"] if null else "integer", "minimum": lo, "maximum": hi}


def pair_of(fields: tuple[str, ...], value: dict) -> dict:
    return {"type": ["object", "null"], "maxProperties": 16,
            "properties": dict.fromkeys(fields, value)}


SECONDS = number(0, 1e6)
METRES = number(0, 1e6)
SPEED = number(-100, 100)
FORCE = number(-1e4, 1e5)
SCALAR = {"type": ["number", "string", "boolean", "null"], "maxLength": 200,
          "minimum": -BIG, "maximum": BIG}
TARGET_VALUE = {  # a target or an actual value: a number, a band [lo, hi], {"min", "max"}, ...
    "anyOf": [
        SCALAR,
        {"type": "array", "maxItems": 8, "items": SCALAR},
        {"type": "object", "maxProperties": 8, "additionalProperties": SCALAR},
    ]
}
# bounds on the fields nobody reads (devices add fields freely, within these)
OPEN_OBJECT = {"type": "object", "maxProperties": 64}

SIDES = ("left", "right")
SORENESS = integer(0, 10)  # a 0-10 rating (issue 22)
SESSION_TAGS = {  # who rolled, which side, which programme step, how sore (issue 22): optional
    "person_id": {"anyOf": [WIRE_ID, {"type": "null"}]},
    "side": {"enum": [*SIDES, None]},
    "program_id": {"anyOf": [ROUTINE_ID, {"type": "null"}]},  # a programme id: [a-z0-9-]{1,64}
    "program_step": integer(0, 10_000),
    "soreness": {"type": ["object", "null"], "maxProperties": 8,
                 "properties": {"before": SORENESS, "after": SORENESS}},
}

SERIES_POINTS = 1800  # firmware.core.series.MAX_POINTS: a 30-minute session at 1 Hz, longer ones coarser
PASS_LIST_MAX = 2000  # firmware.core.metrics.passes.PASS_LIST_MAX


def column(item: dict, max_items: int) -> dict:
    return {"type": "array", "maxItems": max_items, "items": item}


SERIES = {  # the summary's series_1hz (firmware/core/series.py), columnar
    "type": ["object", "null"], "maxProperties": 16,
    "properties": {
        "t0_s": number(-1e9, 1e9), "period_s": number(0, 1e4),
        "t_s": column(number(0, 1e6, null=False), SERIES_POINTS),
        "speed_mps": column(SPEED, SERIES_POINTS),
        "force_n": column(FORCE, SERIES_POINTS),
        "position_m": column(number(-1e6, 1e6), SERIES_POINTS),
        "phase": column(integer(0, 63, null=False), SERIES_POINTS),
        "phases": column({"type": "string", "maxLength": 64}, 64),
    },
}
PASS_LIST = {  # the summary's pass_list (firmware/core/metrics/passes.py pass_columns), columnar
    "type": ["object", "null"], "maxProperties": 16,
    "properties": {
        "end_s": column(number(-1e9, 1e9), PASS_LIST_MAX),
        "length_m": column(METRES, PASS_LIST_MAX),
        "direction": column(integer(-1, 1), PASS_LIST_MAX),
        "mean_speed_mps": column(SPEED, PASS_LIST_MAX),
        "mean_force_n": column(FORCE, PASS_LIST_MAX),
    },
}

SPOT_BINS_MAX = 700  # firmware.core.metrics.spots: at most (2·MAX_FINE + 1)·FINE_M / BIN_M bins
SPOTS = {  # the summary's spots (issue 23, firmware/core/metrics/spots.py)
    "type": ["object", "null"], "maxProperties": 16,
    "properties": {
        "bin_m": number(0.001, 1, null=False),
        "origin": {"enum": ["pass_start", "put_down"]},
        "bins": {"type": "array", "maxItems": SPOT_BINS_MAX, "items": {
            "type": "object", "maxProperties": 16, "required": ["x_m", "dwell_s"],
            "properties": {"x_m": number(-100, 100, null=False), "dwell_s": number(0, 1e6, null=False),
                           "speed_mps": SPEED, "force_n": FORCE, "visits": integer(0, 10**7)}}},
        "holds": {"type": "array", "maxItems": 1000, "items": {
            "type": "object", "maxProperties": 16, "required": ["x_m"],
            "properties": {"x_m": number(-100, 100, null=False), "s": SECONDS}}},
    },
}

SESSION = {
    **OPEN_OBJECT,
    # passes may be unknown: a session interrupted before its first checkpoint (journal)
    "required": ["session_id", "protocol", "tool", "duration_s", "completed"],
    "properties": {
        "format": SHORT_TEXT,
        "session_id": WIRE_ID,
        "protocol": {"anyOf": [ROUTINE_ID, {"type": "null"}]},
        "tool": {"type": "string", "enum": ["roller", "ball", "stick"]},
        "started_at": {"anyOf": [TIMESTAMP, {"type": "null"}]},
        "duration_s": number(0, 1e6, null=False),
        "contact_s": SECONDS,
        "rolling_s": SECONDS,
        "distance_m": METRES,
        "passes": integer(0, 10**6),
        "pass_length_m": pair_of(("mean", "max"), METRES),
        "speed_mps": pair_of(("mean", "p95"), SPEED),
        "force_n": pair_of(("mean", "peak"), FORCE),
        "force_by_direction_n": pair_of(("up", "down"), FORCE),
        "holds": {"type": ["array", "null"], "maxItems": 1000, "items": {
            "type": "object", "maxProperties": 16,
            "properties": {"start_s": number(-1e6, 1e6), "duration_s": SECONDS, "force_n": FORCE}}},
        "targets": {"type": ["array", "null"], "maxItems": 64, "items": {
            "type": "object", "maxProperties": 16, "required": ["name"],
            "properties": {"name": SHORT_TEXT, "target": TARGET_VALUE, "actual": TARGET_VALUE,
                           "met": {"type": ["boolean", "null"]}, "unit": SHORT_TEXT}}},
        "completed": {"type": "boolean"},
        "interrupted": {"type": ["string", "null"], "maxLength": 200},
        "series_1hz": SERIES,
        "pass_list": PASS_LIST,
        "spots": SPOTS,
        "msg_id": WIRE_ID,
        "ts": {"type": ["string", "null"], "maxLength": 40},
        **SESSION_TAGS,
    },
}

EVENT = {
    **OPEN_OBJECT,
    "required": ["msg_id", "event_type"],
    "properties": {
        "msg_id": WIRE_ID,
        "event_type": {"type": "string", "minLength": 1, "maxLength": 64},
        "session_id": {"anyOf": [WIRE_ID, {"type": "null"}]},
        "ts": {"type": ["string", "null"], "maxLength": 40},
        "t_s": number(-1e9, 1e9),
        "direction": {"type": ["integer", "string", "null"], "minimum": -1, "maximum": 1,
                      "maxLength": 16},  # +1/-1 on a pass, "up"/"down" on a cue
        "mean_speed_mps": SPEED,
        "length_m": METRES,
        "pass_length_m": METRES,
        "end_s": number(-1e9, 1e9),
    },
}

# Telemetry is ten of every eleven messages a fleet sends: a lean schema (the fields the
# store and the pages read), no per-key checks of the rest beyond the decoder's bounds.
TELEMETRY = {
    "type": "object", "maxProperties": 64,
    "properties": {
        "session_id": {"type": ["string", "null"], "maxLength": 128},
        "ts": {"type": ["string", "null"], "maxLength": 40},
        "t_s": number(-1e9, 1e9),
        "speed_mps": SPEED,
        "force_n": FORCE,
        "position_m": number(-1e6, 1e6),
    },
}

INFO = {
    **OPEN_OBJECT,
    "properties": {
        "routines": {"type": ["array", "null"], "maxItems": 200, "items": {
            "type": "object", "maxProperties": 16, "required": ["id"],
            "properties": {"id": ROUTINE_ID, "title": SHORT_TEXT}}},
    },
}

# A device answers every command on its result topic, also one it could not read an id from
# (not JSON, not an object, an id that is no id): ``{"id": null, "status": "error", "error"}``
# (firmware/core/commands.py, ``handle``). That reply answers no command this dashboard sent
# (its ids are always there); it is valid, not quarantined (dashboard/ingest_parsers.py).
RESULT = {
    **OPEN_OBJECT,
    "required": ["id", "status"],
    "properties": {
        "id": {**ID, "type": ["string", "null"]},
        "status": {"enum": ["ok", "error"]},
        "error": {"type": ["string", "null"], "maxLength": 500},
        "data": {"type": ["object", "null"], "maxProperties": 64},
    },
    "if": {"properties": {"id": {"type": "null"}}},  # without an id a device only ever refuses
    "then": {"properties": {"status": {"enum": ["error"]}}},
}

SCHEMAS = {"session": SESSION, "event": EVENT, "telemetry": TELEMETRY, "info": INFO, "result": RESULT}
_VALIDATORS: dict[str, Callable[[Any], Any]] = {k: compile_schema(v) for k, v in SCHEMAS.items()}


def parse(kind: str, raw: bytes) -> dict:
    """The message of ``kind`` (session, event, telemetry, info, result) in ``raw``, decoded
    strictly and validated; WireError (one line: why) if it is not one."""
    value = decode(raw, max_bytes=MAX_BYTES[kind], max_depth=MAX_DEPTH)
    return _VALIDATORS[kind](value)


def _no_constant(name: str) -> Any:
    raise WireError(f"{name} is not a JSON number")


# the C scanner; NaN, Infinity and numbers past a float's range (1e400) refused
_LEAN = json.JSONDecoder(parse_constant=_no_constant, parse_float=finite_float)
_SLOW_PATH = re.compile(rb"\\u[dD][89a-fA-F]")  # a surrogate escape: the strict decoder judges


def parse_telemetry(raw: bytes) -> dict:
    """Telemetry, checked leanly: ten of every eleven messages of a fleet, so the strict
    decoder's Python-level passes (about twice json's own time) are spent only where they
    decide something. Same refusals as ``parse("telemetry", ...)`` (size, UTF-8, NaN and
    Infinity, NUL, lone surrogates, depth, the schema) except duplicate keys: the last one
    counts, in the ingest as on the pages, which read the stored text with json too."""
    if len(raw) > MAX_BYTES["telemetry"]:
        raise WireError(f"larger than {MAX_BYTES['telemetry']} bytes")
    if (raw.count(b"[") + raw.count(b"{") > MAX_DEPTH or _SLOW_PATH.search(raw)
            or b"\\u0000" in raw):
        return parse("telemetry", raw)  # nesting or escapes the lean path does not judge
    try:
        value = _LEAN.decode(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise WireError(f"not UTF-8 (byte {e.start})") from None
    except WireError:
        raise
    except ValueError as e:
        raise WireError(f"not valid JSON ({str(e).split(':')[0]})") from None
    return _VALIDATORS["telemetry"](value)


def parse_status(raw: bytes) -> str:
    """``online`` or ``offline`` (the status topic is plain text); WireError if not."""
    if len(raw) > STATUS_MAX_BYTES:
        raise WireError(f"larger than {STATUS_MAX_BYTES} bytes")
    status = raw.decode("utf-8", errors="replace").strip()
    if status not in ("online", "offline"):
        raise WireError("status must be online or offline")
    return status


# ---------------------------------------------------------------- the read side


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _pair(value: Any, fields: tuple[str, ...]) -> dict:
    value = value if isinstance(value, dict) else {}
    return {k: _num(value.get(k)) for k in fields}


def _scalarish(value: Any) -> Any:
    """A target or actual value as the pages word it: numbers, short text, bools, bands."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, list):
        return [_scalarish(v) for v in value[:8] if not isinstance(v, list | dict)]
    if isinstance(value, dict):
        return {str(k)[:40]: _scalarish(v) for k, v in list(value.items())[:8]
                if not isinstance(v, list | dict)}
    return None


def _rating(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10
    return value if ok else None


def tags_view(s: dict) -> dict:
    """The issue 22 fields of a stored summary, typed (an old device's summary: all None)."""
    person, side, program, step = (s.get(k) for k in ("person_id", "side", "program_id", "program_step"))
    soreness = s.get("soreness") if isinstance(s.get("soreness"), dict) else {}
    return {
        "person_id": person if isinstance(person, str) and re.fullmatch(WIRE_ID["pattern"], person) else None,
        "side": side if side in SIDES else None,
        "program_id": program if isinstance(program, str) and re.fullmatch(ROUTINE_ID["pattern"], program) else None,
        "program_step": step if isinstance(step, int) and not isinstance(step, bool) and step >= 0 else None,
        "soreness": {"before": _rating(soreness.get("before")), "after": _rating(soreness.get("after"))},
    }


def summary_view(summary: Any) -> dict:
    """A stored summary in the one shape the pages read: the §3.2 fields with their types
    (wrong or missing ones become None / empty), the other fields as stored. Summaries
    stored since issue 18 already have this shape; rows from before may hold anything."""
    s = dict(summary) if isinstance(summary, dict) else {}
    for key in ("duration_s", "contact_s", "rolling_s", "distance_m"):
        s[key] = _num(s.get(key))
    passes = s.get("passes")
    s["passes"] = passes if isinstance(passes, int) and not isinstance(passes, bool) and passes >= 0 else None
    s["pass_length_m"] = _pair(s.get("pass_length_m"), ("mean", "max"))
    s["speed_mps"] = _pair(s.get("speed_mps"), ("mean", "p95"))
    s["force_n"] = _pair(s.get("force_n"), ("mean", "peak"))
    fbd = s.get("force_by_direction_n")
    s["force_by_direction_n"] = _pair(fbd, ("up", "down")) if isinstance(fbd, dict) else None
    holds = s.get("holds") if isinstance(s.get("holds"), list) else []
    s["holds"] = [{k: _num(h.get(k)) for k in ("start_s", "duration_s", "force_n")}
                  for h in holds[:1000] if isinstance(h, dict)]
    targets = s.get("targets") if isinstance(s.get("targets"), list) else []
    s["targets"] = [
        {"name": str(t.get("name"))[:200], "target": _scalarish(t.get("target")),
         "actual": _scalarish(t.get("actual")), "met": bool(t.get("met")),
         **({"unit": str(t["unit"])[:40]} if isinstance(t.get("unit"), str) else {})}
        for t in targets[:64] if isinstance(t, dict)
    ]
    interrupted = s.get("interrupted")
    s["interrupted"] = str(interrupted)[:200] if interrupted else None
    s.update(tags_view(s))
    s["series_1hz"] = columns_view(s.get("series_1hz"), ("t_s", "speed_mps", "force_n", "position_m", "phase"),
                                   SERIES_POINTS, required=("t_s",))
    if s["series_1hz"] is not None:
        series, raw = s["series_1hz"], summary["series_1hz"]
        series["t0_s"] = _num(raw.get("t0_s"))
        series["period_s"] = _num(raw.get("period_s")) or 1.0
        phases = raw.get("phases") if isinstance(raw.get("phases"), list) else []
        series["phases"] = [str(p)[:64] for p in phases[:64]]
    s["pass_list"] = columns_view(s.get("pass_list"), ("end_s", "length_m", "direction", "mean_speed_mps", "mean_force_n"),
                                  PASS_LIST_MAX, required=("length_m",))
    return s


def columns_view(value: Any, keys: tuple[str, ...], max_items: int, *, required: tuple[str, ...]) -> dict | None:
    """A columnar field (series_1hz, pass_list) as lists of numbers or None, all as long as the
    ``required`` ones (missing columns: all None); None when absent or malformed."""
    if not isinstance(value, dict) or not all(isinstance(value.get(k), list) for k in required):
        return None
    n = min(len(value[k]) for k in required)
    if n > max_items:
        return None
    out = {}
    for k in keys:
        col = value.get(k) if isinstance(value.get(k), list) else []
        out[k] = [_num(v) for v in col[:n]] + [None] * max(0, n - len(col))
    if any(v is None for k in required for v in out[k]):
        return None
    return out
