"""The MQTT wire's edge: every JSON message that arrives from outside (device -> dashboard,
dashboard -> device) is decoded here, strictly and once, and checked against an explicit
schema (JSON Schema, compiled to Python by fastjsonschema) before anything acts on it.

Strict decoding means: at most ``max_bytes``; UTF-8 without invalid sequences; no NaN or
Infinity; no duplicate keys; nesting at most ``max_depth`` deep; no NUL characters and no
lone surrogates in strings or keys (no database column or UTF-8 file takes them). Anything
else is a :class:`WireError` whose message is one short line, fit for a log, a quarantine
row or a command's error reply. Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import fastjsonschema

from firmware.common.errors import WireError

MAX_BYTES = 256 * 1024
MAX_DEPTH = 16
# The ids on the wire (session ids: ULIDs; message ids: UUID hex; command ids): one shape on
# both sides, so a session the dashboard stores is one whose ack the device takes.
WIRE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _no_constants(name: str) -> Any:
    raise WireError(f"{name} is not a JSON number")


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as infinity
        raise WireError(f"number {text[:20]} is out of range")
    return value


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise WireError(f"duplicate key {dup[:40]!r}")
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_no_constants,
                            parse_float=finite_float)


def _check_tree(value: Any, max_depth: int) -> None:
    """Depth and text checks over the decoded tree, iteratively (no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if _BAD_TEXT.search(node):
                raise WireError("text with a NUL or an unpaired surrogate")
        elif isinstance(node, dict | list):
            if depth > max_depth:
                raise WireError(f"nested deeper than {max_depth} levels")
            if isinstance(node, dict):
                for key, item in node.items():
                    if _BAD_TEXT.search(key):
                        raise WireError("a key with a NUL or an unpaired surrogate")
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in node)


def decode(raw: bytes | bytearray | str, *, max_bytes: int = MAX_BYTES,
           max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in ``raw``, decoded strictly (module docstring); WireError if not."""
    if len(raw) > max_bytes:
        raise WireError(f"larger than {max_bytes} bytes")
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise WireError(f"not UTF-8 (byte {e.start})") from None
    else:
        text = raw
    try:
        value = _DECODER.decode(text)
    except WireError:
        raise
    except RecursionError:
        raise WireError(f"nested deeper than {max_depth} levels") from None
    except ValueError as e:  # json.JSONDecodeError
        raise WireError(f"not valid JSON ({str(e).split(':')[0]})") from None
    _check_tree(value, max_depth)
    return value


def compile_schema(schema: dict) -> Callable[[Any], Any]:
    """A fast validator for one JSON Schema (draft 7); raises WireError with a short reason."""
    check = fastjsonschema.compile(schema)

    def validate(value: Any) -> Any:
        try:
            return check(value)
        except fastjsonschema.JsonSchemaValueException as e:
            raise WireError(_reason(e)) from None

    return validate


def _reason(error: fastjsonschema.JsonSchemaValueException) -> str:
    """'data.force_n.mean must be number or null' -> 'force_n.mean must be number or null'."""
    text = str(error.message).splitlines()[0]
    text = re.sub(r"^data\.?", "", text).strip()
    return (text or "does not match its schema")[:160]


def parse(raw: bytes | bytearray | str, validate: Callable[[Any], Any], *,
          max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Decode strictly, then validate: the one call at every edge."""
    return validate(decode(raw, max_bytes=max_bytes, max_depth=max_depth))
