"""Command schemas and validation for ``rollsense/<id>/cmd/<name>`` (pure: no I/O, no clock reads).

Every command is a JSON object with ``id`` (1-64 chars of ``[A-Za-z0-9_.:-]``), an optional
``expires_at`` (ISO-8601; naive times are UTC) and the optional envelope fields ``v``, ``ts``,
``seq``. Unknown fields are refused. Per command:

    start        {"protocol": "<routine id>"}
    stop         {"reason"?: str}
    set_targets  {"targets": {name: number | [lo, hi]}, "protocol"?: str}
    set_profile  {"body_mass_kg": number in [20, 300] | null}
    ping         {}
    pair         {"code": "<6 digits>"}

``check(name, raw, now)`` returns a ``Command`` or raises ``CommandError`` with one line;
``result(...)`` builds the reply for ``.../cmd/<name>/result``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from firmware.errors import RollsenseError

ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
ROUTINE_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
TARGET_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
CODE_RE = re.compile(r"[0-9]{6}")
ENVELOPE = {"id", "expires_at", "v", "ts", "seq"}
MAX_RAW_BYTES = 16_384


class CommandError(RollsenseError):
    """A command is refused (bad JSON, schema, expired, duplicate) or its handler failed."""


@dataclass(frozen=True)
class Command:
    """A validated command: ``args`` are its fields without the envelope."""

    name: str
    id: str
    args: dict
    expires_at: datetime | None


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _str_field(pattern: re.Pattern, what: str) -> Callable[[Any], None]:
    def check(x: Any) -> None:
        if not isinstance(x, str) or not pattern.fullmatch(x):
            raise CommandError(f"{what} must match {pattern.pattern}")

    return check


def _reason(x: Any) -> None:
    if not isinstance(x, str) or len(x) > 200:
        raise CommandError("reason must be a string of at most 200 characters")


def _targets(x: Any) -> None:
    if not isinstance(x, dict) or not 1 <= len(x) <= 32:
        raise CommandError("targets must be an object with 1 to 32 entries")
    for name, value in x.items():
        if not TARGET_NAME_RE.fullmatch(name):
            raise CommandError(f"target name {name[:40]!r} must match {TARGET_NAME_RE.pattern}")
        if _is_number(value):
            if value < 0:
                raise CommandError(f"target {name} must be >= 0")
        elif isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value):
            if not 0 <= value[0] <= value[1]:
                raise CommandError(f"target {name} must be [lo, hi] with 0 <= lo <= hi")
        else:
            raise CommandError(f"target {name} must be a number or [lo, hi]")


def _body_mass(x: Any) -> None:
    if x is not None and not (_is_number(x) and 20 <= x <= 300):
        raise CommandError("body_mass_kg must be a number from 20 to 300, or null")


# name -> {field: (required, checker)}
SCHEMAS: dict[str, dict[str, tuple[bool, Callable[[Any], None]]]] = {
    "start": {"protocol": (True, _str_field(ROUTINE_RE, "protocol"))},
    "stop": {"reason": (False, _reason)},
    "set_targets": {
        "targets": (True, _targets),
        "protocol": (False, _str_field(ROUTINE_RE, "protocol")),
    },
    "set_profile": {"body_mass_kg": (True, _body_mass)},
    "ping": {},
    "pair": {"code": (True, _str_field(CODE_RE, "code"))},
}


def parse_time(text: Any) -> datetime:
    """An ISO-8601 time as an aware UTC datetime (naive means UTC); CommandError if not one."""
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        raise CommandError("expires_at must be an ISO-8601 time")
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as e:
        raise CommandError("expires_at must be an ISO-8601 time") from e
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def decode(raw: bytes | str) -> dict:
    """The JSON object in ``raw``; CommandError for anything else."""
    if len(raw) > MAX_RAW_BYTES:
        raise CommandError(f"payload larger than {MAX_RAW_BYTES} bytes")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise CommandError("payload is not valid JSON") from e
    if not isinstance(obj, dict):
        raise CommandError("payload must be a JSON object")
    return obj


def validate(name: str, obj: dict) -> Command:
    """Check ``obj`` against the schema of command ``name``."""
    schema = SCHEMAS.get(name)
    if schema is None:
        raise CommandError(f"unknown command {name[:40]!r}; known: {', '.join(sorted(SCHEMAS))}")
    if "id" not in obj:
        raise CommandError("missing field id")
    if not isinstance(obj["id"], str) or not ID_RE.fullmatch(obj["id"]):
        raise CommandError(f"id must match {ID_RE.pattern}")
    unknown = sorted(k for k in obj if k not in schema and k not in ENVELOPE)
    if unknown:
        raise CommandError(f"unknown field(s) for {name}: {', '.join(k[:40] for k in unknown[:5])}")
    for field, (required, checker) in schema.items():
        if field in obj:
            checker(obj[field])
        elif required:
            raise CommandError(f"missing field {field}")
    if "v" in obj and obj["v"] != 1:
        raise CommandError("unsupported schema version v (expected 1)")
    expires_at = parse_time(obj["expires_at"]) if obj.get("expires_at") is not None else None
    args = {k: v for k, v in obj.items() if k not in ENVELOPE}
    return Command(name, obj["id"], args, expires_at)


def check(name: str, raw: bytes | str, now: datetime) -> Command:
    """Decode, validate and check expiry of one command received at ``now`` (aware UTC)."""
    cmd = validate(name, decode(raw))
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise CommandError(f"command expired at {cmd.expires_at.isoformat()}")
    return cmd


def command_id(raw: bytes | str) -> str | None:
    """The ``id`` of a (possibly invalid) command, if one can be read, to echo in an error reply."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError, TypeError):
        return None
    cid = obj.get("id") if isinstance(obj, dict) else None
    return cid if isinstance(cid, str) and ID_RE.fullmatch(cid) else None


def handle(
    name: str,
    raw: bytes | str,
    now: datetime,
    remember: Callable[[str], bool],
    run: Callable[[Command], dict | None],
) -> dict:
    """The full answer to one received command: check it, refuse duplicates (``remember(id)``
    is False for an id seen before), run it, and build the result. Never raises: a refused
    command or a failing ``run`` gives an error result with its one line (any RollsenseError:
    its own words; an unexpected failure says it is one)."""
    try:
        cmd = check(name, raw, now)
        if not remember(cmd.id):
            raise CommandError(f"duplicate command id {cmd.id}")
        return result(cmd.id, data=run(cmd))
    except RollsenseError as e:  # a refusal, or a setup/config problem: its own one line
        return result(command_id(raw), error=str(e) or "refused")
    except Exception as e:
        return result(command_id(raw), error=f"internal error: {type(e).__name__}: {e}")


def result(cmd_id: str | None, error: str | None = None, data: dict | None = None) -> dict:
    """The reply body: ``{"id", "status": "ok"|"error", "error", "data"}``."""
    return {"id": cmd_id, "status": "error" if error else "ok", "error": error, "data": data or {}}
