"""Command validation: >= 10,000 generated payloads through the validator (no crash, an error
result for every bad one), plus a live check that bad commands over MQTT get an error reply."""

from __future__ import annotations

import json
import math
import re
import shutil
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import firmware.app.daemon
from firmware.app.daemon import build_daemon
from firmware.common.clock import MonotonicClock
from firmware.common.errors import CommandError, ConfigError
from firmware.core import commands
from firmware.core.prescription import base_routine_dict
from firmware.core.protocols import ROUTINES_DIR
from firmware.edge.config import apply_overrides, load_config
from firmware.edge.journal import Journal
from firmware.edge.link import Link, LinkSettings
from tests.firmware.edge.test_link import Observer as LinkObserver
from tests.firmware.edge.test_link import wait_until

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FUTURE = "2026-06-01T12:05:00Z"
PAST = "2026-06-01T11:59:59Z"
NAMES = sorted(commands.SCHEMAS)
# in batches of 10: 3,500 valid + 4,500 bad + 2,000 arbitrary + 500 field soups = 10,500 payloads
HYP = settings(
    max_examples=350, deadline=None, database=None, derandomize=True,
    suppress_health_check=list(HealthCheck),
)

LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
# text a command may carry: no NUL, no lone surrogates (firmware.common.wire refuses both)
free_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=50)
ids = st.text(alphabet=LOWER + "ABCXYZ_.:-", min_size=1, max_size=64)
routines = st.builds(
    str.__add__, st.sampled_from(LOWER), st.text(alphabet=LOWER + "-", max_size=20)
)
codes = st.integers(0, 999_999).map("{:06d}".format)
target_names = st.builds(
    str.__add__, st.sampled_from("abcdefghxyz"), st.text(alphabet=LOWER[:10] + "_", max_size=15)
)
numbers = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
target_values = st.one_of(numbers, st.tuples(numbers, numbers).map(lambda p: [min(p), max(p)]))
names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda t: re.search(r"\S", t))
masses = st.one_of(st.none(), st.floats(min_value=20, max_value=300))


@st.composite
def people_lists(draw, max_size=commands.MAX_PEOPLE):
    """set_profile's people: unique ids, each with a name, maybe a body mass and units."""
    pids = draw(st.lists(ids, max_size=max_size, unique=True))
    people = []
    for pid in pids:
        person = {"id": pid, "name": draw(names)}
        if draw(st.booleans()):
            person["body_mass_kg"] = draw(masses)
        if draw(st.booleans()):
            person["units"] = draw(st.sampled_from(commands.UNITS))
        people.append(person)
    return people


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_any = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)


@st.composite
def valid_commands(draw):
    name = draw(st.sampled_from(NAMES))
    body = {"id": draw(ids)}
    if draw(st.booleans()):
        body["expires_at"] = FUTURE
    if name == "start":
        body["protocol"] = draw(routines)
        if draw(st.booleans()):
            body["person"] = draw(st.one_of(st.none(), ids))
        if draw(st.booleans()):
            body["side"] = draw(st.sampled_from(["left", "right", None]))
        if draw(st.booleans()):
            body["program"] = draw(st.text(alphabet=LOWER + "-", min_size=1, max_size=64))
            if draw(st.booleans()):
                body["program_step"] = draw(st.one_of(st.none(), st.integers(0, 999)))
        if draw(st.booleans()):
            body["soreness_before"] = draw(st.one_of(st.none(), st.integers(0, 10)))
    elif name == "stop" and draw(st.booleans()):
        body["reason"] = draw(free_text)
    elif name == "set_targets":
        body["targets"] = draw(
            st.dictionaries(
                target_names,
                target_values,
                min_size=1,
                max_size=5,
            )
        )
    elif name == "set_profile":
        what = draw(st.sets(st.sampled_from(["body_mass_kg", "people", "person"]), min_size=1))
        if "body_mass_kg" in what:
            body["body_mass_kg"] = draw(masses)
        if "people" in what:
            body["people"] = draw(people_lists(max_size=4))
        if "person" in what:  # one of the people sent with it, else any id (the device judges)
            sent = [p["id"] for p in body.get("people", [])]
            body["person"] = draw(st.sampled_from([None, *sent]) if "people" in what else ids)
    elif name == "pair":
        body["code"] = draw(codes)
    elif name == "set_prescription":  # issue 23: whole routine dicts, as their files have them
        body["person"] = draw(ids)
        body["version"] = draw(st.integers(1, 1_000_000))
        chosen = draw(st.sets(st.sampled_from(sorted(p.stem for p in ROUTINES_DIR.glob("*.toml"))),
                              min_size=1, max_size=3))
        body["routines"] = {r: base_routine_dict(r) for r in sorted(chosen)}
        if draw(st.booleans()):
            body["by"] = draw(st.sampled_from([None, "Dr Lee"]))
        if draw(st.booleans()):
            body["program"] = draw(st.sampled_from([None, "lower-body"]))
    return name, body


BAD_PERSON = st.one_of(
    st.just({"id": "a"}), st.just({"name": "Ann"}), st.just({"id": "a b", "name": "Ann"}),
    st.just({"id": "a", "name": ""}), st.just({"id": "a", "name": "  "}),
    st.just({"id": "a", "name": "x" * 41}), st.just({"id": "a", "name": "A\nB"}),
    st.just({"id": "a", "name": "Ann", "units": "stone"}),
    st.just({"id": "a", "name": "Ann", "body_mass_kg": 19}),
    st.just({"id": "a", "name": "Ann", "body_mass_kg": "70"}),
    st.just({"id": "a", "name": "Ann", "age": 40}), st.integers(), st.none(), st.text(max_size=5),
)
BAD_VALUES = {
    # set_prescription (issue 23)
    "version": st.one_of(st.integers(max_value=0), st.integers(min_value=1_000_001), st.just(1.5),
                         st.text(max_size=3), st.booleans(), st.none()),
    "by": st.one_of(st.integers(), st.just(""), st.just("  "), st.just("A\nB"), st.just("x" * 81)),
    "routines": st.one_of(
        st.just({}), st.integers(), st.none(), st.just({"Quads": {}}), st.just({"quads-roller": 3}),
        st.just({"quads-roller": {"tool": "hammer"}}),  # not a routine: its file's problems
        st.just({f"r{i}": {} for i in range(commands.MAX_RX_ROUTINES + 1)}),
    ),
    "person": st.one_of(st.integers(), st.just(""), st.just("a b"), st.just("x/y"),
                        st.text(alphabet=LOWER, min_size=65, max_size=70), st.lists(ids, max_size=2)),
    "side": st.one_of(st.just("up"), st.just("Left"), st.just(""), st.integers(), st.booleans(),
                      st.lists(st.just("left"), max_size=2)),
    "program": st.one_of(st.integers(), st.just(""), st.just("Lower"), st.just("a b"),
                         st.text(alphabet=LOWER, min_size=65, max_size=70)),
    "program_step": st.one_of(st.integers(max_value=-1), st.integers(min_value=1000), st.just(1.5),
                              st.text(max_size=3), st.booleans()),
    "soreness_before": st.one_of(st.integers(max_value=-1), st.integers(min_value=11), st.just(2.5),
                                 st.text(max_size=3), st.booleans()),
    "people": st.one_of(
        st.just({}), st.integers(), st.text(max_size=5), st.none(),
        st.lists(BAD_PERSON, min_size=1, max_size=3),
        st.just([{"id": "a", "name": "Ann"}, {"id": "a", "name": "Bo"}]),  # an id twice
        st.just([{"id": f"p{i}", "name": "P"} for i in range(commands.MAX_PEOPLE + 1)]),
    ),
    "protocol": st.one_of(
        st.integers(),
        st.none(),
        st.just(""),
        st.just("Quads"),
        st.just("-x"),
        st.text().filter(lambda t: not commands.ROUTINE_RE.fullmatch(t)),
    ),
    "reason": st.one_of(
        st.integers(), st.none(), st.text(min_size=201, max_size=240), st.lists(st.text())
    ),
    "targets": st.one_of(
        st.just({}),
        st.lists(numbers),
        st.just({"speed_mps": -1}),
        st.just({"speed_mps": [3, 1]}),
        st.just({"Bad Name": 1}),
        st.just({"x": "fast"}),
        st.just({"x": [1, 2, 3]}),
        st.just({"x": True}),
        st.just({"x": float("nan")}),
        st.integers(),
    ),
    "body_mass_kg": st.one_of(
        st.floats(max_value=19.99),
        st.floats(min_value=300.01),
        st.just(float("inf")),
        st.text(),
        st.booleans(),
    ),
    "code": st.one_of(st.integers(), st.text().filter(lambda t: not commands.CODE_RE.fullmatch(t))),
    "id": st.one_of(
        st.integers(),
        st.none(),
        st.just(""),
        st.text(min_size=65, max_size=70),
        st.just("a b"),
        st.just("x/y"),
        st.lists(ids),
    ),
    "expires_at": st.one_of(
        st.just(PAST), st.just("tomorrow"), st.integers(), st.just("2026-13-01T00:00:00")
    ),
}


@st.composite
def bad_commands(draw):
    """A valid command with exactly one thing wrong (so the oracle knows it is bad)."""
    name, body = draw(valid_commands())
    required = [*commands.REQUIRED.get(name, ()), "id"]
    fields = [*commands.FIELDS[name], "id", "expires_at"]
    how = draw(st.sampled_from(["drop", "value", "extra", "name", "raw", "version"]))
    raw = None
    if how == "drop":
        body.pop(draw(st.sampled_from(required)))
    elif how == "value":
        field = draw(st.sampled_from(fields))
        body[field] = draw(BAD_VALUES[field])
    elif how == "extra":
        key = draw(
            st.text(min_size=1, max_size=12).filter(
                lambda k: k not in fields and k not in commands.ENVELOPE
            )
        )
        body[key] = draw(json_leaf)
    elif how == "name":
        name = draw(st.text(max_size=12).filter(lambda n: n not in commands.SCHEMAS))
    elif how == "version":
        body["v"] = draw(st.integers().filter(lambda v: v != 1))
    else:
        raw = draw(
            st.one_of(
                st.binary(max_size=40).filter(lambda b: not _is_json_object(b)),
                json_any.filter(lambda x: not isinstance(x, dict)).map(json.dumps),
                st.just(json.dumps(body)[:-1]),
                st.just(b"\xff\xfe" + json.dumps(body).encode()),
            )
        )
    if raw is None:
        raw = json.dumps(body, allow_nan=True)
    return name, raw


def _is_json_object(b: bytes) -> bool:
    try:
        return isinstance(json.loads(b), dict)
    except ValueError:
        return False


def answer(name, raw, seen=None):
    seen = set() if seen is None else seen

    def remember(cid):
        new = cid not in seen
        seen.add(cid)
        return new

    return commands.handle(name, raw, NOW, remember, lambda cmd: {"ran": cmd.name})


BATCH = 10  # payloads per generated example: 10x fewer examples, same payload count
# what a refusal never says (tests/firmware/core/test_command_words.py has the exact words):
# fastjsonschema's own phrases, or a regular expression of the schemas
SCHEMA_WORDS = ("must match", "cannot be validated", "definition", "data.", "must contain",
                "smaller than", "bigger than", "same as const", *(
                    r.pattern for r in (commands.ID_RE, commands.ROUTINE_RE, commands.CODE_RE,
                                        commands.PROGRAM_RE, commands.TARGET_NAME_RE,
                                        commands.SORE_KEY_RE)), commands.NAME_PATTERN)


def batches(strategy):
    return st.lists(strategy, min_size=BATCH, max_size=BATCH)


@HYP
@given(batches(valid_commands()))
def test_every_valid_command_is_accepted(cmds):
    for name, body in cmds:
        raw = json.dumps(body)
        reply = answer(name, raw)
        assert reply == {"id": body["id"], "status": "ok", "error": None, "data": {"ran": name}}
        parsed = commands.check(name, raw, NOW)
        assert parsed.args == {k: v for k, v in body.items() if k not in commands.ENVELOPE}


@settings(HYP, max_examples=450)
@given(batches(bad_commands()))
def test_every_bad_command_gets_an_error_result(cmds):
    for name, raw in cmds:
        reply = answer(name, raw)
        assert (
            reply["status"] == "error" and reply["error"] and "internal error" not in reply["error"]
        )
        assert not any(words in reply["error"] for words in SCHEMA_WORDS), reply["error"]
        # set_prescription's routines that are not routines: their problems, one line each
        problems = reply["data"].pop("problems", None)
        assert reply["data"] == {}
        assert problems is None or (name == "set_prescription"
                                    and reply["error"] == commands.one_line("; ".join(problems)))
        with pytest.raises(CommandError):
            commands.check(name, raw, NOW)


@settings(HYP, max_examples=200)
@given(
    batches(
        st.tuples(
            st.one_of(st.sampled_from(NAMES), st.text(max_size=10)),
            st.one_of(json_any.map(json.dumps), st.binary(max_size=60)),
        )
    )
)
def test_arbitrary_payloads_never_crash(pairs):
    for name, raw in pairs:
        reply = answer(name, raw)
        assert reply["status"] in ("ok", "error")
        assert set(reply) == {"id", "status", "error", "data"}
        if reply["status"] == "ok":  # then it really was valid for its schema
            cmd = commands.check(name, raw, NOW)
            assert cmd.id == reply["id"] and name in commands.SCHEMAS
        else:
            assert reply["error"] and "internal error" not in reply["error"]
        json.dumps(reply, allow_nan=False)


@settings(HYP, max_examples=50)
@given(
    batches(
        st.tuples(
            st.dictionaries(
                st.sampled_from(
                    [
                        "id",
                        "protocol",
                        "targets",
                        "code",
                        "body_mass_kg",
                        "reason",
                        "expires_at",
                        "v",
                    ]
                ),
                json_any,
                max_size=6,
            ),
            st.sampled_from(NAMES),
        )
    )
)
def test_field_soup_never_crashes(pairs):
    for body, name in pairs:
        reply = answer(name, json.dumps(body))
        assert reply["status"] in ("ok", "error")
        if reply["status"] == "ok":
            commands.validate(name, body)


def test_duplicates_and_expiry():
    seen = set()
    raw = json.dumps({"id": "a1", "protocol": "quads-roller"})
    assert answer("start", raw, seen)["status"] == "ok"
    dup = answer("start", raw, seen)
    assert dup["status"] == "error" and "duplicate" in dup["error"] and dup["id"] == "a1"
    expired = answer("start", json.dumps({"id": "a2", "protocol": "x", "expires_at": PAST}), seen)
    assert "expired" in expired["error"] and "a2" not in seen  # expired ones are not remembered
    naive = answer("ping", json.dumps({"id": "a3", "expires_at": "2026-06-01T12:00:01"}), seen)
    assert naive["status"] == "ok"  # a naive time is UTC, one second in the future
    deep = "[" * 100_000
    assert answer("ping", deep)["status"] == "error"
    huge = json.dumps({"id": "a4", "reason": "x" * 20_000})
    assert "larger than" in answer("stop", huge)["error"]
    assert math.isfinite(0.0)


def test_strict_decoding_and_schema_words():
    """Decoded once, strictly (firmware.common.wire), then the command's JSON Schema: every refusal
    is one line that names the field and what it must be."""
    cases = {
        ("ping", '{"id": "a", "id": "b"}'): "payload refused: duplicate key 'id'",
        ("set_profile", '{"id": "a", "body_mass_kg": NaN}'): "payload refused: NaN is not a JSON number",
        ("set_profile", '{"id": "a", "body_mass_kg": 1e400}'): "payload refused: number 1e400 is out of range",
        ("set_targets", '{"id": "a", "targets": {"x": 1e400}}'): "payload refused: number 1e400 is out of range",
        ("set_targets", '{"id": "a", "targets": {"x": [3, 1]}}'): "targets.x: must be low, then high (3 is above 1)",
        ("set_targets", '{"id": "a", "targets": {"Bad Name": 1}}'): (
            "targets: 'Bad Name' is not a target name (a lowercase letter, then up to 39 lowercase "
            "letters, digits or _)"),
        ("stop", '{"id": "a", "reason": "x\\u0000y"}'): "payload refused: text with a NUL or an unpaired surrogate",
        ("stop", '{"id": "a", "x\\ny": 1}'): "unknown field 'x\\ny' for stop (its fields: id, expires_at, v, ts, seq, reason)",
        ("ping", '{"id": "a", "v": true}'): "v: must be 1 (the schema version this device speaks)",
        ("ping", '{"id": "a", "seq": -1}'): "seq: must be a whole number, 0 or more",
        ("ping", b'{"id": "\xff"}'): "payload refused: not UTF-8 (byte 8)",
        ("ping", '{"id": "a", "ts": [[[[[1]]]]]}'): "payload refused: nested deeper than 4 levels",
        ("ping", "[1]"): "payload: must be a JSON object",
        ("start", '{"id": "a"}'): "protocol: missing; give a routine id, or program to play a programme",
    }
    for (name, raw), error in cases.items():
        reply = answer(name, raw)
        assert reply["status"] == "error" and reply["error"] == error, (name, raw, reply)
        assert reply["id"] in ("a", None)


def test_handler_failures_become_error_results():
    def boom(cmd):
        raise ValueError("bad state")

    reply = commands.handle("ping", '{"id": "p1"}', NOW, lambda cid: True, boom)
    assert reply == {
        "id": "p1",
        "status": "error",
        "error": "internal error: ValueError: bad state",
        "data": {},
    }

    def refuse(cmd):
        raise CommandError("no routine running")

    reply = commands.handle("stop", '{"id": "p2"}', NOW, lambda cid: True, refuse)
    assert reply["error"] == "no routine running"

    def missing_dir(cmd):
        raise ConfigError("/etc/rollsense/routines: routine directory does not exist")

    reply = commands.handle("start", '{"id": "p3", "protocol": "x"}', NOW, lambda cid: True, missing_dir)
    assert reply["status"] == "error"
    assert reply["error"] == "/etc/rollsense/routines: routine directory does not exist"


def test_bad_commands_over_mqtt_get_error_replies(fresh_broker, tmp_path):
    from tests.firmware.edge.test_link import Observer, wait_until

    journal = Journal(tmp_path / "j.db")
    link = Link(
        "dev-c", fresh_broker.url, journal, MonotonicClock(), {}, LinkSettings(reconnect_max_s=1)
    )
    link.on_command = lambda name, args: {"ok": name}
    obs = Observer(fresh_broker.url, topics=("rollsense/dev-c/cmd/+/result",))
    try:
        link.start()
        wait_until(lambda: link.subscribed, what="link subscribed")
        soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        bad = [
            ("start", b"{not json"),
            ("start", json.dumps({"id": "b1"})),
            ("set_profile", json.dumps({"id": "b2", "body_mass_kg": 5})),
            ("pair", json.dumps({"id": "b3", "code": "12ab56"})),
            ("warp", json.dumps({"id": "b4"})),
            ("stop", json.dumps({"id": "b5", "extra": 1})),
            ("ping", json.dumps({"id": "b6", "expires_at": "2000-01-01T00:00:00Z"})),
        ]
        for name, raw in bad:
            obs.publish(f"rollsense/dev-c/cmd/{name}", raw)
        obs.publish("rollsense/dev-c/cmd/ping", {"id": "g1", "expires_at": soon})
        replies = {m.topic: json.loads(m.payload) for m in obs.wait_suffix("/result", len(bad) + 1)}
        results = [json.loads(m.payload) for m in obs.messages]
        errors = [r for r in results if r["status"] == "error"]
        assert len(errors) == len(bad)
        assert {r["id"] for r in errors} == {None, "b1", "b2", "b3", "b4", "b5", "b6"}
        assert replies["rollsense/dev-c/cmd/warp/result"]["error"].startswith("unknown command")
        ok = [r for r in results if r["status"] == "ok"]
        assert ok[0]["id"] == "g1" and ok[0]["data"] == {"ok": "ping"}
    finally:
        link.stop()
        obs.close()
        journal.close()


def test_start_and_stop_refusals_in_a_users_words_over_mqtt(fresh_broker, tmp_path, monkeypatch):
    """A real device (simulated roller) behind a real broker: every refused start/stop says
    why, never 'internal error'; user routines start; stop stops."""
    monkeypatch.setattr(firmware.app.daemon, "SENSOR_RETRY_S", 0.2)
    routines = tmp_path / "routines"
    routines.mkdir()
    shutil.copy(ROUTINES_DIR / "quads-roller.toml", routines / "my-quads.toml")
    cfg = apply_overrides(load_config(None), hardware="sim", state_dir=tmp_path / "state",
                          broker_url=fresh_broker.url, device_id="dev-s", routines_dir=routines)
    device, link, journal, outputs = build_daemon(cfg)
    fakes = device.rt.hardware.fakes
    fakes["bus"].detach(0x68)  # start with the IMU unplugged
    obs = LinkObserver(fresh_broker.url, topics=("rollsense/dev-s/cmd/+/result",))
    stop = threading.Event()
    server = threading.Thread(target=device.serve, args=(stop,))
    n = 0

    def send(name: str, **fields) -> dict:
        nonlocal n
        n += 1
        obs.publish(f"rollsense/dev-s/cmd/{name}", {"id": f"c{n}", **fields})
        (msg,) = obs.wait_for(lambda ms: [m for m in ms if json.loads(m.payload)["id"] == f"c{n}"])
        return json.loads(msg.payload)

    try:
        link.start()
        server.start()
        wait_until(lambda: link.subscribed and device.degraded, what="link up, device degraded")
        refused = {
            "degraded": send("start", protocol="quads-roller"),
            "tool": send("start", protocol="piriformis-ball"),
            "unknown": send("start", protocol="no-such-routine"),
            "idle stop": send("stop"),
        }
        fakes["bus"].attach(0x68, fakes["mpu6050"])  # plugged back in
        wait_until(lambda: device.sensors_ok, what="sensors back")
        ok = send("start", protocol="my-quads")  # a user routine from routines_dir
        wait_until(lambda: device.running, what="routine running")
        refused["busy"] = send("start", protocol="thoracic-roller")
        stopped = send("stop")
        wait_until(lambda: not device.running, what="routine stopped")
    finally:
        stop.set()
        server.join(20)
        link.stop()
        obs.close()
    for what, r in refused.items():
        assert r["status"] == "error", (what, r)
        assert not r["error"].startswith("internal error"), (what, r)
    assert "cannot start quads-roller" in refused["degraded"]["error"]
    assert "0x68" in refused["degraded"]["error"]
    assert refused["tool"]["error"] == "piriformis-ball is for a ball; this device is a roller"
    assert refused["unknown"]["error"].startswith("unknown routine 'no-such-routine'")
    assert "my-quads" in refused["unknown"]["error"]  # the known list includes user routines
    assert refused["idle stop"]["error"] == "no routine is running; nothing to stop"
    assert refused["busy"]["error"] == "my-quads is running; send stop first"
    assert ok["status"] == "ok" and ok["data"] == {"accepted": "my-quads"}
    assert stopped["status"] == "ok" and stopped["data"]["protocol"] == "my-quads"
    (s,) = journal.sessions()
    assert journal.session(s["session_id"])["summary"]["protocol"] == "my-quads"
    outputs.close()
    journal.close()
    device.rt.hardware.close()
