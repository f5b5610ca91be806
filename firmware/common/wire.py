"""The wire contract (DESIGN.md section 3) in one home, and its strict edge.

The contract: the topics (``topic()``, ``subscription()``, ``TOPIC_RE``), the envelope every
payload carries (``envelope()``: ``v``, ``ts``, ``seq``), the format names of summaries and
recordings, UTC timestamps (``utc_iso()``, ``utc_now_iso()``) and JSON as it is sent
(``clean_json()``, ``dumps()`` with the ``JsonText`` it writes as it is, ``finite_or_none()``).
Nothing else in the project spells a topic, a format name or the schema version
(tests/test_house.py checks it).

The edge: every JSON message that arrives from outside (device -> dashboard,
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
from datetime import UTC, datetime
from typing import Any

import fastjsonschema

from firmware.common.errors import WireError

MAX_BYTES = 256 * 1024
MAX_DEPTH = 16
# The ids on the wire (session ids: ULIDs; message ids: UUID hex; command ids): one shape on
# both sides, so a session the dashboard stores is one whose ack the device takes.
WIRE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")

# ------------------------------------------------------------------------------ the contract

PAYLOAD_VERSION = 1  # "v" of every payload (DESIGN.md 3.3)
SUMMARY_FORMAT = "rollsense-summary/1"  # "format" of a session summary (3.2)
RECORDING_FORMAT = "rollsense-recording/1"  # "# format:" of a recording (3.1)
TOPIC_ROOT = "rollsense"
DEVICE_ID = "[a-z0-9-]{1,64}"  # <id> in a topic
# Sites bridged to a centre (docs/sites.md): each site's broker bridges its devices' topics to
# the centre under ``sites/<site>/``, so a device's topics there are
# ``sites/<site>/rollsense/<id>/...``. At the centre the device's id is site-qualified,
# ``<site>.<id>`` (a "." is in no site or device id, so the two parts never blur, and two
# sites may each have a device "raspberrypi"); ``topic()`` turns it back into the prefixed
# topic, so commands and acks sent to it reach the site's bridge, which maps them back ``in``.
SITES_ROOT = "sites"
SITE_ID = DEVICE_ID  # <site> in a topic
SITE_SEP = "."
# the topics a dashboard takes from devices: (site or None, device id, kind, command name or None)
TOPIC_RE = re.compile(
    rf"(?:{SITES_ROOT}/({SITE_ID})/)?{TOPIC_ROOT}/({DEVICE_ID})/"
    rf"(session|event|telemetry|status|info|cmd/([a-z_]{{1,64}})/result)"
)
# the acks a dashboard sends a device once it stored a summary: (site or None, device id)
ACK_TOPIC_RE = re.compile(rf"(?:{SITES_ROOT}/({SITE_ID})/)?{TOPIC_ROOT}/({DEVICE_ID})/ack")
DEVICE_KEY_RE = re.compile(f"(?:{SITE_ID}{re.escape(SITE_SEP)})?{DEVICE_ID}")  # "r1", "clinic-a.r1"


def site_prefix(site: str) -> str:
    """Where a site's device topics live at the centre: ``sites/<site>/`` (then ``rollsense/...``)."""
    return f"{SITES_ROOT}/{site}/"


def site_device_id(site: str | None, device_id: str) -> str:
    """The id a centre knows a device by: ``<site>.<id>``, or ``<id>`` for a direct device."""
    return f"{site}{SITE_SEP}{device_id}" if site else device_id


def topic(device_id: str, *parts: str) -> str:
    """``rollsense/<id>/<parts...>``: ``topic("r1", "cmd", "start")``; for a site-qualified id
    ``sites/<site>/rollsense/<id>/<parts...>``: ``topic("clinic-a.r1", "ack")``."""
    site, sep, local_id = device_id.rpartition(SITE_SEP)
    base = "/".join((TOPIC_ROOT, local_id, *parts))
    return site_prefix(site) + base if sep else base


def subscription(*parts: str) -> str:
    """The same topic for every device: ``subscription("event")`` is ``rollsense/+/event``."""
    return topic("+", *parts)


def site_subscription(*parts: str) -> str:
    """The same topic for every device of every site: ``sites/+/rollsense/+/event``."""
    return site_prefix("+") + subscription(*parts)


def match_topic(name: str) -> tuple[str, str, str | None] | None:
    """``(device id, kind, command name)`` of a device's topic (the id site-qualified under
    ``sites/<site>/``; kind ``result`` for ``cmd/<name>/result``), or None for any other topic."""
    m = TOPIC_RE.fullmatch(name)
    if not m:
        return None
    site, device_id, kind, command = m.groups()
    return site_device_id(site, device_id), ("result" if command else kind), command


def match_ack_topic(name: str) -> str | None:
    """The device id (site-qualified under ``sites/<site>/``) of an ack topic, else None."""
    m = ACK_TOPIC_RE.fullmatch(name)
    return site_device_id(m.group(1), m.group(2)) if m else None


def site_bridge_state_topic(site: str) -> str:
    """The site bridge's own state at both ends (Mosquitto's notifications): retained ``1``
    while connected, ``0`` (its will at the centre) when not."""
    return site_prefix(site) + "bridge/state"


# A site bridge's topic mappings (pattern, direction, QoS), local ``rollsense/`` <-> remote
# ``sites/<site>/rollsense/``: device messages go out, commands and acks come in. Listed one
# by one, not ``#``, so nothing the bridge brings in matches a pattern it sends out (no loops,
# whatever the centre's broker does about a bridge's own messages).
BRIDGE_OUT = (("+/status", 1), ("+/info", 1), ("+/event", 1), ("+/session", 1),
              ("+/cmd/+/result", 1), ("+/telemetry", 0))
BRIDGE_IN = (("+/cmd/+", 1), ("+/ack", 1))


def bridge_topics(site: str) -> list[tuple[str, str, int, str, str]]:
    """``(pattern, "out"|"in", qos, local prefix, remote prefix)`` of each mapping of ``site``."""
    local, remote = TOPIC_ROOT + "/", site_prefix(site) + TOPIC_ROOT + "/"
    return ([(p, "out", q, local, remote) for p, q in BRIDGE_OUT]
            + [(p, "in", q, local, remote) for p, q in BRIDGE_IN])


HA_PREFIX = "homeassistant"  # Home Assistant's MQTT discovery prefix (its default)
REMINDER_EVENT_TYPES = ("due", "skipped")  # the dashboard's plan reminders (issue 22)


def ha_reminder_object_id(person_id: str) -> str:
    """The Home Assistant object id of a person's plan reminders: ``rollsense_reminder_<id>``
    (HA allows [a-zA-Z0-9_-]; any other character of a person id becomes ``_``)."""
    return "rollsense_reminder_" + re.sub(r"[^a-zA-Z0-9_-]", "_", person_id)


def ha_event_topic(object_id: str, kind: str, prefix: str = HA_PREFIX) -> str:
    """A Home Assistant ``event`` entity's topics: ``kind`` "config" (its discovery config,
    retained) or "state" (the events): ``homeassistant/event/<object id>/<kind>``."""
    return f"{prefix}/event/{object_id}/{kind}"


def utc_iso(t: datetime, timespec: str = "milliseconds") -> str:
    """``t`` (aware) as UTC ISO-8601 with a ``Z``: ``2026-12-07T03:32:00.123Z``."""
    return t.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_now_iso(timespec: str = "milliseconds") -> str:
    """Now as UTC ISO-8601 with a ``Z`` (milliseconds unless ``timespec`` says otherwise)."""
    return utc_iso(datetime.now(UTC), timespec)


def envelope(payload: dict, seq: int, ts: str | None = None) -> dict:
    """``payload`` with the fields every message carries: ``v``, ``ts`` (now unless given), ``seq``."""
    return {**payload, "v": PAYLOAD_VERSION, "ts": ts or utc_now_iso(), "seq": seq}


def finite_or_none(value: Any) -> float | None:
    """A finite number as a float; None for anything else (missing, bool, text, NaN, inf)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


_AS_IS = frozenset({str, int, bool, type(None)})  # exact types clean_json returns unchanged
_isfinite = math.isfinite


def clean_json(value: Any) -> Any:
    """A JSON-safe copy: NaN and infinities become None, numpy scalars Python numbers, keys
    text, tuples lists; recursively. Plain str/int/bool/None and finite floats inside a dict
    or list are taken as they are without a call (a long session's summary holds tens of
    thousands of them, and the device makes one every checkpoint)."""
    if isinstance(value, dict):
        return {(k if type(k) is str else str(k)):
                (v if (t := type(v)) in _AS_IS or (t is float and _isfinite(v)) else clean_json(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [v if (t := type(v)) in _AS_IS or (t is float and _isfinite(v)) else clean_json(v)
                for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any) -> str:
    """Compact JSON as it goes on the wire and into the journal (NaN sent as null). A
    ``JsonText`` anywhere in ``value`` is written as the JSON it holds."""
    texts: list[str] = []

    def other(obj: Any) -> Any:
        if type(obj) is JsonText:
            texts.append(obj.text)
            return _SPLICE
        return str(obj)

    text = json.dumps(clean_json(value), separators=(",", ":"), allow_nan=False, default=other)
    if not texts:
        return text
    pieces = text.split(_SPLICED)
    if len(pieces) != len(texts) + 1:  # the marker was also a string of the value's own
        return dumps(_expanded(value))
    return "".join(x for pair in zip(pieces, [*texts, ""], strict=True) for x in pair)


class JsonText:
    """JSON text that ``dumps`` writes in place of the value it encodes (``dumps(value)``):
    a long list a session keeps as text while it grows (``JsonList``), so that a checkpoint
    does not turn it into Python objects and encode them all again every few seconds. Only
    ``dumps`` knows it: a value for anything else holds none (``Session.checkpoint``'s
    ``encoded``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class JsonList:
    """A list's JSON text as ``dumps`` writes it, kept as the list grows (``append``; ``text``
    any time): the values' texts are joined in chunks, a few strings for thousands of values."""

    CHUNK = 32  # values a chunk joins: few small strings live a short while

    def __init__(self, values=()) -> None:
        self._chunks: list[str] = []
        self._tail: list[str] = []
        for v in values:
            self.append(v)

    def append(self, value: Any) -> None:
        self._tail.append(dumps(value))
        if len(self._tail) >= self.CHUNK:
            self._chunks.append(",".join(self._tail))
            self._tail = []

    def text(self, *more: Any) -> JsonText:
        """The list and then ``more`` (not kept), as ``JsonText``."""
        return JsonText("[" + ",".join([*self._chunks, *self._tail, *map(dumps, more)]) + "]")


_SPLICE = "\x00JsonText\x00"  # what json.dumps writes for a JsonText, then replaced
_SPLICED = json.dumps(_SPLICE)


def _expanded(value: Any) -> Any:
    """``value`` with every JsonText decoded (dumps' way when the marker is ambiguous)."""
    if type(value) is JsonText:
        return json.loads(value.text)
    if isinstance(value, dict):
        return {k: _expanded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_expanded(v) for v in value]
    return value


# ------------------------------------------------------------------------------ the strict edge


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
