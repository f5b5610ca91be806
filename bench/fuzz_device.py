"""Fuzz dashboard -> device: the ack topic and every command topic of a real device (simulated
hardware, ``rollsense run``'s own ``build_daemon``) behind a real private Mosquitto configured
like the shipped one (``max_packet_size`` from ``systemd/mosquitto/rollsense.conf``).

    python bench/fuzz_device.py [--payloads N]

Payloads come from hypothesis strategies, derandomized (the same ones every run): deep nesting,
huge strings (up to the broker's largest packet), wrong types, NaN / Infinity / 1e400, invalid
UTF-8, duplicate keys, valid-looking commands with one bad field, unknown commands, arbitrary
bytes and JSON, and valid commands. Prints one JSON line:

    {"payloads", "crashes", "stalls", "refused", "bad_replies", "seconds", ...}

``crashes``: an exception that reached a paho callback's guard, a dead network or delivery
thread, or an ``internal error`` reply. ``stalls``: a command with no reply, or, after the
fuzz, a good ack that does not clear the outbox or a ``ping`` without its ``ok``.
``refused``: acks and commands refused. ``bad_replies``: a refusal of a bad command that is
not one user-worded line (or an ok for a command built to be bad).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from firmware.app.daemon import build_daemon  # noqa: E402
from firmware.common.mqtt_url import make_client, parse_broker_url  # noqa: E402
from firmware.core import commands  # noqa: E402
from firmware.core.prescription import base_routine_dict  # noqa: E402
from firmware.edge.broker import PrivateBroker  # noqa: E402
from firmware.edge.config import apply_overrides, load_config  # noqa: E402

DEVICE = "dev-fuzz"
BASE = f"rollsense/{DEVICE}"
SESSION = "FUZZ-SESSION-1"  # awaiting its ack through the whole fuzz
BATCH = 25
PAYLOADS = 10_000
WINDOW = 40  # commands in flight at once (the device's reply queue holds 100)
REPLY_TIMEOUT_S = 10.0
SHIPPED_CONF = ROOT / "systemd" / "mosquitto" / "rollsense.conf"
PYTHON_NAMES = re.compile(r"Traceback|\b[A-Z][A-Za-z]*(Error|Exception)\b|internal error")
NAMES = sorted(commands.SCHEMAS)
ROUTINES = ["quads-roller", "thoracic-roller", "calf-stick", "piriformis-ball"]


def max_packet_size() -> int:
    """The shipped broker's ``max_packet_size`` (1 MiB if the file does not say)."""
    try:
        m = re.search(r"^max_packet_size\s+(\d+)", SHIPPED_CONF.read_text(), flags=re.M)
    except OSError:
        m = None
    return int(m.group(1)) if m else 1_048_576


MAX_PACKET = max_packet_size()
MAX_PAYLOAD = MAX_PACKET - 1024  # room for the fixed header, topic and properties


@dataclass(frozen=True)
class Payload:
    """One message: ``topic`` is ``ack`` or ``cmd/<name>``; ``bad`` when built to be refused
    (None: arbitrary, either way)."""

    topic: str
    raw: bytes
    bad: bool | None
    why: str


# -- strategies ---------------------------------------------------------------------------------
LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
safe_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                    max_size=30)
ids = st.text(alphabet=LOWER + "ABCXYZ_.:-", min_size=1, max_size=64)
routine_ids = st.one_of(st.sampled_from(ROUTINES),
                        st.builds(str.__add__, st.sampled_from(LOWER), st.text(LOWER + "-", max_size=20)))
numbers = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
                      allow_infinity=False), safe_text)
json_any = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(safe_text, inner, max_size=4)), max_leaves=8)


TARGETS = st.dictionaries(st.sampled_from(("speed_mps", "passes", "force_n")),
                          st.one_of(numbers, st.tuples(numbers, numbers).map(sorted)), min_size=1, max_size=3)
BODY_MASS = st.one_of(st.none(), st.floats(20, 300))
CODES = st.integers(0, 999_999).map("{:06d}".format)
UNKNOWN_NAMES = st.text("abcdefghijklmnopqrstuvwxyz_é", max_size=12).map(lambda n: n + "_x")
ANY_NAMES = st.one_of(st.sampled_from(NAMES), st.text("abcdefghijklmnopqrstuvwxyz_", max_size=10))
NOT_OBJECTS = st.one_of(json_leaf, st.lists(json_leaf, max_size=3))


def _dumps(obj) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


@st.composite
def valid_commands(draw) -> tuple[str, dict]:
    name = draw(st.sampled_from(NAMES))
    body: dict = {"id": draw(ids)}
    if draw(st.booleans()):
        body.update(v=1, ts="2026-01-01T00:00:00Z", seq=draw(st.integers(0, 2**40)))
    if draw(st.booleans()):
        body["expires_at"] = "2999-01-01T00:00:00Z"
    if name == "start":
        body["protocol"] = draw(routine_ids)
    elif name == "stop" and draw(st.booleans()):
        body["reason"] = draw(safe_text)
    elif name == "set_targets":
        body["targets"] = draw(TARGETS)
    elif name == "set_profile":
        body["body_mass_kg"] = draw(BODY_MASS)
    elif name == "pair":
        body["code"] = draw(CODES)
    elif name == "set_prescription":  # issue 23: a routine whole, as its file has it
        body.update(person="ann", version=draw(st.integers(1, 1000)),
                    routines={"quads-roller": base_routine_dict("quads-roller")})
    return name, body


not_string = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(),
                       st.lists(json_leaf, max_size=3), st.dictionaries(safe_text, json_leaf, max_size=3))
BAD_SESSION_IDS = not_string | st.none() | st.just("") | st.just("a b")
BAD_FIELDS = {
    "id": st.one_of(st.none(), not_string, st.just(""), st.just("a b"), st.just("x/y"),
                    st.text(LOWER, min_size=65, max_size=80), st.just("id\n")),
    "expires_at": st.one_of(not_string.filter(lambda x: x is not None), st.just("tomorrow"),
                            st.just("2026-13-01T00:00:00"), st.just("2000-01-01T00:00:00Z")),
    "v": st.one_of(st.integers().filter(lambda v: v != 1), st.just(True), st.just("1"), st.just(1.5)),
    "seq": st.one_of(st.integers(max_value=-1), st.text(max_size=3), st.just(1.5), st.just(None)),
    "ts": st.one_of(st.integers(), st.text(LOWER, min_size=41, max_size=60), st.just([])),
    "protocol": st.one_of(not_string, st.none(), st.just(""), st.just("Quads"), st.just("../etc"),
                          st.just("-x"), st.text(LOWER, min_size=65, max_size=70)),
    "reason": st.one_of(not_string, st.none(), st.text(LOWER, min_size=201, max_size=260)),
    "targets": st.one_of(st.just({}), st.lists(numbers, max_size=3), st.just({"speed_mps": -1}),
                         st.just({"speed_mps": [3, 1]}), st.just({"Bad Name": 1}),
                         st.just({"x": "fast"}), st.just({"x": [1, 2, 3]}), st.just({"x": True}),
                         st.just({"x": 2e6}), st.dictionaries(st.text(LOWER, min_size=1, max_size=5),
                                                              st.just(1), min_size=33, max_size=40),
                         st.integers(), st.none()),
    "body_mass_kg": st.one_of(st.floats(max_value=19.99, allow_infinity=False),
                              st.floats(min_value=300.01, allow_infinity=False), st.text(max_size=5),
                              st.booleans(), st.lists(numbers, max_size=2)),
    "code": st.one_of(st.integers(), st.none(), st.just("12345"), st.just("1234567"), st.just("12ab56"),
                      st.just("١٢٣٤٥٦")),
    # issue 22: who rolls, which side, which programme step, soreness; set_profile's people
    "person": st.one_of(not_string, st.just(""), st.just("a b"), st.text(LOWER, min_size=65, max_size=70)),
    "side": st.one_of(not_string, st.just("up"), st.just("Left"), st.just("")),
    "program": st.one_of(not_string, st.just(""), st.just("Lower"), st.just("../x"),
                         st.text(LOWER, min_size=65, max_size=70)),
    "program_step": st.one_of(st.integers(max_value=-1), st.integers(min_value=1000), st.just(1.5),
                              st.text(max_size=3), st.booleans()),
    "soreness_before": st.one_of(st.integers(max_value=-1), st.integers(min_value=11), st.just(2.5),
                                 st.text(max_size=3), st.booleans()),
    # issue 23: set_prescription
    "version": st.one_of(st.integers(max_value=0), st.integers(min_value=1_000_001), st.just(1.5),
                         st.text(max_size=3), st.booleans(), st.none()),
    "by": st.one_of(st.integers(), st.just(""), st.just("A\nB"), st.just("x" * 81)),
    "routines": st.one_of(st.just({}), st.integers(), st.none(), st.just({"Quads": {}}),
                          st.just({"quads-roller": 3}), st.just({"quads-roller": {"tool": "hammer"}})),
    "people": st.one_of(st.just({}), st.integers(), st.none(), st.just([{"id": "a"}]),
                        st.just([{"id": "a", "name": ""}]), st.just([{"id": "a b", "name": "x"}]),
                        st.just([{"id": "a", "name": "x"}, {"id": "a", "name": "y"}]),
                        st.just([{"id": "a", "name": "x", "units": "stone"}]),
                        st.just([{"id": f"p{i}", "name": "x"} for i in range(17)])),
}


@st.composite
def one_bad_field(draw) -> Payload:
    """A valid command with exactly one thing wrong."""
    name, body = draw(valid_commands())
    fields = [*commands.FIELDS[name], *sorted(commands.ENVELOPE)]  # sorted: the same every run
    how = draw(st.sampled_from(("value", "value", "drop", "extra", "name")))
    if how == "value":
        f = draw(st.sampled_from(tuple(fields)))
        body[f] = draw(BAD_FIELDS[f])
    elif how == "drop":
        body.pop(draw(st.sampled_from((*commands.REQUIRED.get(name, ()), "id"))))
    elif how == "extra":
        key = draw(safe_text)
        key = key if key not in fields else f"{key}!"
        body[key] = draw(json_leaf)
    else:
        name = draw(UNKNOWN_NAMES)
    return Payload(f"cmd/{name}", _dumps(body), True, f"bad field ({how})")


@st.composite
def strict_json_breakers(draw) -> Payload:
    """Valid-looking commands that are not strict JSON: NaN/Infinity/1e400, duplicate keys,
    invalid UTF-8, a NUL, deep nesting."""
    name, body = draw(valid_commands())
    text = json.dumps(body)
    how = draw(st.sampled_from(("constant", "dup", "utf8", "nul", "deep", "deep_value")))
    if how == "constant":
        const = draw(st.sampled_from(("NaN", "Infinity", "-Infinity", "1e400", "-1e999")))
        key = draw(st.sampled_from(("body_mass_kg", "seq", "v", "id", "reason", "targets")))
        rest = {k: v for k, v in body.items() if k != key}  # the constant is all that is wrong
        value = f'{{"speed_mps": {const}}}' if key == "targets" else const
        data = (json.dumps(rest)[:-1] + (", " if rest else "") + f'"{key}": {value}}}').encode()
    elif how == "dup":
        key = draw(st.sampled_from(tuple(body)))
        data = (text[:-1] + f', "{key}": ' + json.dumps(body[key]) + "}").encode()
    elif how == "utf8":
        junk = draw(st.sampled_from((b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                     b"\xe2\x82")))
        enc = text.encode()
        at = enc.index(b'"id": "') + 7
        data = enc[:at] + junk + enc[at:]
    elif how == "nul":
        data = (text[:-1] + ', "reason": "a\\u0000b"}').encode()
    elif how == "deep":
        n = draw(st.sampled_from((5, 17, 100, 1000, 5000, 8000)))
        data = (text[:-1] + ', "reason": ' + "[" * n + "]" * n + "}").encode()
    else:
        n = draw(st.integers(5, 8000))
        data = b"[" * n if draw(st.booleans()) else b'{"id": "deep", "x": ' + b"{\"a\": " * n
    return Payload(f"cmd/{name}", data, True, how)


@st.composite
def huge_commands(draw) -> Payload:
    name = draw(st.sampled_from(NAMES))
    n = draw(st.integers(commands.MAX_RAW_BYTES, 70_000))
    body = '{"id": "huge", "reason": "' + "x" * n + '"}'
    return Payload(f"cmd/{name}", body.encode(), True, "huge")


@st.composite
def acks(draw) -> Payload:
    how = draw(st.sampled_from(("good", "good", "deep", "huge", "type", "missing", "extra",
                                "constant", "dup", "utf8", "nul", "not_object", "bytes", "json")))
    good = {"session_id": draw(ids)}  # never SESSION: that has capitals outside ABCXYZ
    if how == "good":
        if draw(st.booleans()):
            good.update(v=1, ts="2026-01-01T00:00:00Z", seq=draw(st.integers(0, 2**40)))
        return Payload("ack", _dumps(good), False, "ack good")
    if how == "deep":
        n = draw(st.sampled_from((3, 50, 1000, 5000, 20_000)))
        raw = b"[" * n if draw(st.booleans()) else b'{"session_id": ' + b"[" * n + b"]" * n + b"}"
    elif how == "huge":
        raw = _dumps({"session_id": "x" * draw(st.integers(1025, 70_000))})
    elif how == "type":
        raw = _dumps({"session_id": draw(BAD_SESSION_IDS)})
    elif how == "missing":
        raw = _dumps({"v": 1, "ts": "2026-01-01T00:00:00Z", "seq": 1})
    elif how == "extra":
        key = draw(safe_text)
        raw = _dumps({**good, (key if key not in ("session_id", "v", "ts", "seq") else f"{key}!"): 1})
    elif how == "constant":
        raw = b'{"session_id": "s", "seq": ' + draw(st.sampled_from((b"NaN", b"Infinity", b"1e400"))) + b"}"
    elif how == "dup":
        raw = b'{"session_id": "a", "session_id": "' + SESSION.encode() + b'"}'
    elif how == "utf8":
        raw = b'{"session_id": "\xff' + SESSION.encode() + b'"}'
    elif how == "nul":
        raw = b'{"session_id": "a\\u0000"}'
    elif how == "not_object":
        raw = _dumps(draw(NOT_OBJECTS))
    elif how == "bytes":
        raw = b"\x00" + draw(st.binary(max_size=100))  # never a JSON object
    else:
        value = draw(json_any)
        raw = _dumps([value] if isinstance(value, dict) and "session_id" in value else value)
    return Payload("ack", raw, True, f"ack {how}")


@st.composite
def arbitrary_commands(draw) -> Payload:
    name = draw(ANY_NAMES)
    raw = draw(ANY_RAW)
    return Payload(f"cmd/{name}", raw, None, "arbitrary")


ANY_RAW = st.one_of(st.binary(max_size=120), json_any.map(_dumps))


def _valid(pair: tuple[str, dict]) -> Payload:
    name, body = pair
    return Payload(f"cmd/{name}", _dumps(body), False, "valid")


payloads = st.one_of(valid_commands().map(_valid), one_bad_field(), strict_json_breakers(),
                     huge_commands(), acks(), arbitrary_commands())


def biggest() -> list[Payload]:
    """Up to the broker's largest packet, on the ack topic and every command topic."""
    out = []
    for topic in ["ack", *(f"cmd/{n}" for n in NAMES)]:
        for size in (MAX_PAYLOAD // 4, MAX_PAYLOAD):
            key = "session_id" if topic == "ack" else "reason"
            head = f'{{"id": "big", "{key}": "'.encode()
            out.append(Payload(topic, head + b"x" * (size - len(head) - 2) + b'"}', True, "max packet"))
        out.append(Payload(topic, b"[" * MAX_PAYLOAD, True, "max packet deep"))
    return out


# -- the device behind the broker, and the fuzzing client -----------------------------------------
@dataclass
class Figures:
    payloads: int = 0
    commands: int = 0
    acks: int = 0
    bad_acks: int = 0
    crashes: int = 0
    stalls: int = 0
    refused: int = 0
    bad_replies: int = 0
    kinds: Counter = field(default_factory=Counter)  # payloads sent, by how they were made
    problems: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(what[:300])


class DeviceRig:
    """``rollsense run``'s device (simulated hardware, serving) on a private Mosquitto, and a
    plain paho client that sends payloads and collects the replies."""

    def __init__(self, workdir: Path) -> None:
        self.broker = PrivateBroker(workdir / "broker", persistence=False,
                                    extra_conf=f"max_packet_size {MAX_PACKET}").start()
        cfg = apply_overrides(load_config(None), hardware="sim", state_dir=workdir / "state",
                              broker_url=self.broker.url, device_id=DEVICE)
        self.device, self.link, self.journal, self.outputs = build_daemon(cfg)
        self.stop_serving = threading.Event()
        self.server = threading.Thread(target=self.device.serve, args=(self.stop_serving,),
                                       name="fuzz-device", daemon=True)
        self.replies: list[dict] = []  # every reply, in order
        self.sent: list[Payload] = []  # every command sent, in order
        self.checked = 0  # replies checked so far
        self.cond = threading.Condition()
        self.figures = Figures()
        self.client = make_client(parse_broker_url(self.broker.url), "fuzz-dashboard")
        self.client.max_inflight_messages_set(WINDOW)
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_reply
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(f"{BASE}/cmd/+/result", qos=1)
        address = parse_broker_url(self.broker.url)
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the fuzzing client did not subscribe")
        self.journal.start_session(SESSION, "quads-roller", "roller", "2026-01-01T10:00:00.000Z")
        self.journal.finish_session(SESSION, {"session_id": SESSION, "completed": True})
        self.link.start()
        self.server.start()
        deadline = time.monotonic() + 10
        while not getattr(self.link, "subscribed", self.link.connected):
            if time.monotonic() > deadline:
                raise RuntimeError("the device did not subscribe")
            time.sleep(0.01)

    def _on_reply(self, client, userdata, msg) -> None:
        with self.cond:
            try:
                self.replies.append(json.loads(msg.payload))
            except ValueError:
                self.replies.append({"unreadable": msg.payload[:80].decode("latin-1")})
            self.cond.notify_all()

    def _wait_replies(self, n: int, timeout_s: float = REPLY_TIMEOUT_S) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while len(self.replies) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def send(self, batch: list[Payload]) -> None:
        """Publish ``batch``, at most WINDOW commands awaiting their reply, and check the
        replies that are in (in order: one connection each way keeps it). Does not wait for
        the rest: the next batch is made while the device answers; ``settle`` waits."""
        f = self.figures
        if f.stalls:  # the device stopped answering: more payloads prove nothing
            return
        for p in batch:
            if p.topic != "ack":
                if not self._wait_replies(len(self.sent) - WINDOW + 1):
                    self._stalled()
                    return
                self.sent.append(p)
                f.commands += 1
            self.client.publish(f"{BASE}/{p.topic}", p.raw, qos=1)
            f.payloads += 1
            f.kinds[p.why] += 1
            f.acks += p.topic == "ack"
            f.bad_acks += p.topic == "ack" and bool(p.bad)
        self._check_arrived()

    def settle(self) -> None:
        """Wait for every sent command's reply (a missing one is a stall) and check them."""
        if not self._wait_replies(len(self.sent)):
            self._stalled()
        self._check_arrived()

    def _stalled(self) -> None:
        f = self.figures
        with self.cond:
            missing = len(self.sent) - len(self.replies)
            f.stalls += missing
            f.note(f"{missing} command(s) without a reply")
            self.replies.extend([{}] * missing)  # late replies would shift the pairing

    def _check_arrived(self) -> None:
        with self.cond:
            got = self.replies[self.checked:len(self.sent)]
        for p, reply in zip(self.sent[self.checked:self.checked + len(got)], got, strict=True):
            self._check(p, reply)
        self.checked += len(got)

    def _check(self, p: Payload, reply: dict) -> None:
        f = self.figures
        if not reply:
            return  # counted as a stall
        status, error = reply.get("status"), reply.get("error")
        if status != "ok":
            f.refused += 1
        if isinstance(error, str) and error.startswith("internal error"):
            f.crashes += 1
            f.note(f"internal error for {p.topic} {p.raw[:80]!r}: {error}")
            return
        if not {"id", "status", "error", "data", "v", "ts", "seq"} <= set(reply):
            f.bad_replies += 1
            f.note(f"malformed reply {reply!r:.200}")
        elif p.bad and status == "ok":
            f.bad_replies += 1
            f.note(f"{p.why}: ok for {p.topic} {p.raw[:120]!r}")
        elif status != "ok" and not (
            isinstance(error, str) and error and "\n" not in error and len(error) <= 300
            and not (PYTHON_NAMES.search(error) and not PYTHON_NAMES.search(p.raw.decode("latin-1")))
        ):
            f.bad_replies += 1
            f.note(f"{p.why}: not one user-worded line: {error!r:.200}")

    def finish(self) -> Figures:
        """After the fuzz: no crash (guards, threads), no stall (a good ack, a good ping)."""
        f = self.figures
        self.settle()
        f.crashes += self.link.stats.get("callback_errors", 0)
        thread = self.link.client._thread
        for what, alive in (("paho network thread", thread is not None and thread.is_alive()),
                            ("outbox delivery thread", self.link._worker.is_alive()),
                            ("device loop", self.server.is_alive())):
            if not alive:
                f.crashes += 1
                f.note(f"{what} died")
        health = getattr(self.link, "health", str)()
        if health:
            f.note(f"link health: {health}")
        self.client.publish(f"{BASE}/ack", json.dumps({"session_id": SESSION, "v": 1}), qos=1)
        self.client.publish(f"{BASE}/cmd/ping", json.dumps({"id": "fuzz-final-ping"}), qos=1)
        ok = self._wait_replies(len(self.sent) + 1, 10) and self.replies[len(self.sent)].get("status") == "ok"
        if not ok:
            f.stalls += 1
            f.note("the final ping got no ok")
        refused_acks = self.link.stats.get("acks_refused", 0)  # every ack before the ping is handled
        f.refused += refused_acks
        if refused_acks != f.bad_acks:
            f.bad_replies += 1
            f.note(f"{refused_acks} acks refused, {f.bad_acks} built to be")
        deadline = time.monotonic() + 10
        while any(r.session_id == SESSION for r in self.journal.outbox()):
            if time.monotonic() > deadline:
                f.stalls += 1
                f.note("a good ack did not clear the session from the outbox")
                break
            time.sleep(0.02)
        return f

    def close(self) -> None:
        self.stop_serving.set()
        self.server.join(20)
        self.client.disconnect()
        self.client.loop_stop()
        for closer in (self.link.stop, self.journal.close, self.outputs.close,
                       self.device.rt.hardware.close, self.broker.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


def fuzz(rig: DeviceRig, n_payloads: int = PAYLOADS) -> Figures:
    """Send the biggest payloads, then hypothesis's (derandomized) batches until ``n_payloads``."""
    rig.send(biggest())
    n_batches = max(1, -(-(n_payloads - rig.figures.payloads) // BATCH))

    @settings(max_examples=n_batches, derandomize=True, database=None, deadline=None,
              phases=(Phase.generate,), suppress_health_check=list(HealthCheck))
    @given(st.lists(payloads, min_size=BATCH, max_size=BATCH))
    def run(batch: list[Payload]) -> None:
        rig.send(batch)

    run()
    while rig.figures.payloads < n_payloads and not rig.figures.stalls:  # hypothesis may drop one
        run()
    return rig.finish()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--payloads", type=int, default=PAYLOADS, help="at least this many (default 10000)")
    ap.add_argument("--json", action="store_true", help="(the output is always one JSON line)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rollsense-fuzz-") as tmp:
        rig = DeviceRig(Path(tmp))
        try:
            f = fuzz(rig, args.payloads)
        finally:
            rig.close()
    out = {"payloads": f.payloads, "commands": f.commands, "acks": f.acks, "crashes": f.crashes,
           "stalls": f.stalls, "refused": f.refused, "bad_replies": f.bad_replies,
           "max_packet": MAX_PACKET, "seconds": round(time.monotonic() - t0, 1)}
    if f.problems:
        out["problems"] = f.problems
    print(json.dumps(out))
    return 0 if f.crashes == f.stalls == f.bad_replies == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
