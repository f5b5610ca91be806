"""Fuzz device -> dashboard: status, info, telemetry, event, session and command results,
published through a real private Mosquitto to a real ``dashboard.ingest.Ingest`` on a real
store (SQLite, or PostgreSQL with ``--db``), then every page the stored data reaches is read
over real HTTP (uvicorn).

    python bench/fuzz.py [--examples N] [--db URL]

Payloads come from hypothesis strategies, derandomized (the same ones every run): each
example is one JSON value (deep, wide, wrong types, huge numbers, NaN / Infinity, odd text)
sent as the whole payload on every kind of topic, put in place of one field of a valid
message of its kind, and once more with its bytes damaged (invalid UTF-8, duplicate keys,
NaN, 1e999, truncation, deep nesting, a huge string). Prints one JSON line:

    {"payloads", "crashes", "stalls", "quarantined", "stored", "null_rows", "pages",
     "pages_500", "redelivered", "seconds", ...}

``crashes``: an exception logged from a callback (``callback_errors``), any ERROR record
with a traceback from the ingest, or a dead ingest thread. ``stalls``: a good session after
the fuzz that is not stored and acked in time. ``null_rows``: sessions rows with NULL in a
column the schema requires. ``pages_500``: pages answering 5xx. ``redelivered``: messages
an Ingest restarted with the same client id got again (bad ones must have been PUBACKed).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import random
import sys
import tempfile
import threading
import time
import timeit
import urllib.parse
import uuid
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402

from dashboard import queries, schema, web  # noqa: E402
from dashboard.ingest import Ingest  # noqa: E402
from dashboard.store import open_store  # noqa: E402
from firmware.common.mqtt_url import make_client, parse_broker_url  # noqa: E402
from firmware.common.wire import decode  # noqa: E402
from firmware.edge.broker import PrivateBroker, free_port  # noqa: E402

EXAMPLES = 1300  # x 8 payloads each, plus the hand-made ones: over 10,000
DEVICES = [f"fz-{i}" for i in range(6)]
KINDS = ("session", "event", "telemetry", "status", "info", "result")
REQUIRED_COLUMNS = ("session_id", "device_id", "tool", "duration_s", "passes",
                    "completed", "summary_json", "received_at")
FIELDS = {
    "session": ("session_id", "protocol", "tool", "started_at", "duration_s", "contact_s",
                "rolling_s", "distance_m", "passes", "pass_length_m", "speed_mps", "force_n",
                "force_by_direction_n", "holds", "targets", "completed", "interrupted",
                "format", "extra"),
    "event": ("msg_id", "event_type", "session_id", "t_s", "ts", "direction", "mean_speed_mps",
              "length_m", "end_s", "extra"),
    "telemetry": ("session_id", "t_s", "speed_mps", "force_n", "position_m", "contact",
                  "speed_band_mps", "force_band_n", "force_max_n", "passes", "cue", "phase"),
    "status": ("status",),
    "info": ("routines", "hardware", "version", "extra"),
    "result": ("id", "status", "error", "data"),
}
HOLDS = [{"start_s": 3.0, "duration_s": 31.5, "force_n": 120.0}]
TARGETS = [{"name": "rolling_s", "target": {"min": 60.0, "unit": "s", "text": "≥ 60 s"},
            "actual": 61.2, "met": True},
           {"name": "speed_mps", "target": [0.04, 0.15], "actual": 0.06, "met": True}]


def template(kind: str, i: int) -> dict:
    """A valid message of ``kind`` (its ids unique by ``i``)."""
    sid = f"fz-s{i}"
    if kind == "session":
        return {"format": "rollsense-summary/1", "session_id": sid, "protocol": "quads-roller",
                "tool": "roller", "started_at": "2026-01-05T10:00:00.000Z", "duration_s": 75.0,
                "contact_s": 70.0, "rolling_s": 65.0, "distance_m": 4.2, "passes": 14,
                "pass_length_m": {"mean": 0.25, "max": 0.31}, "speed_mps": {"mean": 0.07, "p95": 0.12},
                "force_n": {"mean": 110.0, "peak": 190.0},
                "force_by_direction_n": {"up": 120.0, "down": 100.0}, "holds": HOLDS,
                "targets": TARGETS, "completed": True, "v": 1, "ts": "2026-01-05T10:01:15Z",
                "seq": i, "msg_id": f"fz-m{i}"}
    if kind == "event":
        return {"msg_id": f"fz-e{i}", "event_type": "pass_completed", "session_id": f"fz-s{i % 97}",
                "t_s": 4.0, "direction": 1, "mean_speed_mps": 0.07, "length_m": 0.25,
                "v": 1, "ts": "2026-01-05T10:00:04Z", "seq": i}
    if kind == "telemetry":
        return {"session_id": f"fz-s{i % 97}", "t_s": float(i % 50), "speed_mps": 0.05,
                "force_n": 100.0, "position_m": 0.1 * (i % 5), "contact": True, "passes": 3,
                "speed_band_mps": [0.04, 0.15], "force_band_n": [60.0, 200.0],
                "force_max_n": 250.0, "phase": "rolling", "cue": "slower", "v": 1, "seq": i}
    if kind == "status":
        return {"status": "online"}
    if kind == "info":
        return {"hardware": "sim", "version": "0.1", "v": 1,
                "routines": [{"id": "quads-roller", "title": "Quads"}]}
    return {"id": f"fz-c{i}", "status": "ok", "error": None, "data": {}}


def encode(kind: str, value) -> bytes:
    """The message as sent (status is plain text: its ``status`` field, else JSON)."""
    if kind == "status" and isinstance(value, dict) and isinstance(value.get("status"), str):
        return value["status"].encode("utf-8", errors="surrogatepass")
    return json.dumps(value, ensure_ascii=False).encode("utf-8", errors="surrogatepass")


def damage(raw: bytes, rng: random.Random) -> bytes:
    """One of the ways bytes go wrong on a wire or in a hostile device."""
    way = rng.randrange(9)
    if way == 0 and raw:
        at = rng.randrange(len(raw))
        return raw[:at] + b"\xff\xfe" + raw[at:]  # invalid UTF-8
    if way == 1 and raw.startswith(b"{") and len(raw) > 2:
        return b'{"session_id":"dup","msg_id":"dup",' + raw[1:]  # a duplicate key, likely
    if way == 2:
        return raw.replace(b"1", b"NaN", 1) if b"1" in raw else b'{"t_s": NaN}'
    if way == 3:
        return raw.replace(b"0", b"1e999", 1) if b"0" in raw else b'{"t_s": -Infinity}'
    if way == 4:
        return raw[: max(0, len(raw) // 2)]  # truncated
    if way == 5:
        depth = rng.choice((9, 17, 100, 5000))
        return b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    if way == 6:
        return b'{"session_id":"' + b"x" * rng.choice((300, 70_000, 300_000)) + b'"}'
    if way == 7:
        return raw.replace(b'"', b'"\\u0000', 1)  # a NUL in a key or string
    return raw.encode("utf-16") if isinstance(raw, str) else raw.decode(
        "utf-8", errors="replace").encode("utf-16")  # JSON, but not UTF-8


LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
          | st.floats() | st.text(max_size=30)
          | st.sampled_from(["", "quads-roller", "roller", "ok", "online", "2026-01-05T10:00:00Z",
                             "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00", "\x00",
                             "<script>alert(1)</script>", "../../etc/passwd"]))
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
CASES = st.tuples(st.sampled_from(KINDS), st.integers(0, 10**6), VALUES)


def examples(n: int) -> list[tuple[str, int, object]]:
    """``n`` (kind, number, JSON value) cases from hypothesis, the same every run."""
    found: list[tuple[str, int, object]] = []

    @settings(max_examples=n, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(CASES)
    def collect(case) -> None:
        found.append(case)

    collect()
    return found


def hand_made() -> list[tuple[str, bytes]]:
    """The findings of issue 18 and the extremes, one by one."""
    good = template("session", 10**7)
    out = [("result", b'{"status":"ok","id":[1]}'), ("result", b'{"status":"ok","id":{"a":1}}')]
    for field, value in (("force_n", "x"), ("speed_mps", [1]), ("targets", 5), ("holds", 7),
                         ("duration_s", None), ("passes", 2**40), ("started_at", "9999-12-31T23:59:59+14:00")):
        out.append(("session", encode("session", {**good, "session_id": f"fz-h-{field}", field: value})))
    out += [(kind, raw) for kind in KINDS for raw in (
        b"", b"null", b"[]", b'"text"', b"\xff\xfe\xfd", b"[" * 100_000, b'{"a":' * 50_000,
        b'{"a":1,"a":2}', b'{"t_s":NaN}', b'{"t_s":Infinity}', b"x" * 300_000,
        ('{"s":"' + "\u00e9" * 100_000 + '"}').encode())]
    return out


def payloads(n_examples: int = EXAMPLES) -> list[tuple[str, bytes]]:
    """(kind, bytes) to publish: 8 per hypothesis example, then the hand-made ones."""
    rng = random.Random(18)
    out: list[tuple[str, bytes]] = []
    for kind, number, value in examples(n_examples):
        for each in KINDS:  # the value as the whole message of every kind
            out.append((each, encode(each, value)))
        msg = template(kind, number)
        field = FIELDS[kind][number % len(FIELDS[kind])]
        msg[field] = value  # a valid message with one bad (or odd, or fine) field
        out.append((kind, encode(kind, msg)))
        out.append((kind, damage(encode(kind, msg), rng)))
    return out + hand_made()


class Crashes(logging.Handler):
    """Counts ERROR records with a traceback from the ingest."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record.getMessage())


def topic_of(kind: str, device: str, i: int) -> str:
    if kind == "result":
        return f"rollsense/{device}/cmd/{'pair' if i % 2 else 'start'}/result"
    return f"rollsense/{device}/{kind}"


def publish_all(broker_url: str, items: list[tuple[str, bytes]], final: dict) -> dict:
    """Publish the payloads (QoS 0 and 1 mixed; telemetry QoS 0), then a good session;
    wait for its ack. Returns {"published", "acked_s" (None: never)}."""
    client = make_client(parse_broker_url(broker_url), client_id=f"fuzz-pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    acked = threading.Event()
    subscribed = threading.Event()
    client.on_message = lambda c, u, m: (json.loads(m.payload).get("session_id") == final["session_id"]
                                         and acked.set())
    client.on_subscribe = lambda *_: subscribed.set()
    address = parse_broker_url(broker_url)
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        client.subscribe(f"rollsense/{DEVICES[0]}/ack", qos=1)
        subscribed.wait(10)
        last = None
        for i, (kind, raw) in enumerate(items):
            qos = 0 if kind == "telemetry" else i % 2
            last = client.publish(topic_of(kind, DEVICES[i % len(DEVICES)], i), raw, qos=qos)
        if last is not None:
            last.wait_for_publish(60)
        t0 = time.monotonic()
        client.publish(f"rollsense/{DEVICES[0]}/session", json.dumps(final), qos=1)
        ok = acked.wait(60)
        return {"published": len(items), "acked_s": round(time.monotonic() - t0, 2) if ok else None}
    finally:
        client.disconnect()
        client.loop_stop()


def read_pages(store, limit: int = 2000) -> dict:
    """GET every session page and export, the history pages and each device's live page over
    real HTTP; {"pages", "pages_500", "failures"}."""
    app = web.create_app(store, None, auth_required=False, secret_key="fuzz")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    paths = ["/", "/history", "/devices", "/admin/quarantine", "/api/history.json",
             "/api/history.csv", "/healthz"]
    paths += [f"/device/{d}" for d in DEVICES] + [f"/history?device={d}" for d in DEVICES]
    for row in store.query("SELECT session_id FROM sessions LIMIT ?", (limit,)):
        sid = row["session_id"]
        sid = urllib.parse.quote(sid, safe="")  # as a browser sends it
        paths += [f"/session/{sid}", f"/api/session/{sid}.csv", f"/api/session/{sid}.json"]
    failures = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for path in paths:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 500:
                failures.append(f"{resp.status} {path}")
    finally:
        conn.close()
        app.state.dashboard.hub.close()
        server.should_exit = True
        thread.join(10)
    return {"pages": len(paths), "pages_500": len(failures), "failures": failures[:10]}


def telemetry_check_us(n: int = 20_000) -> dict:
    """CPU µs per telemetry message (a device's real one, 0.6 KB): json.loads alone (what the
    ingest did before issue 18), the lean check it does now, and the strict decoder + schema."""
    sample = {"session_id": "01JEXAMPLE0000000000000000", "protocol": "quads-roller", "tool": "roller",
              "phase": "rolling", "cue": "slow down", "t_s": 12.345, "speed_mps": 0.0612,
              "velocity_mps": -0.0612, "position_m": 0.143, "force_n": 112.4, "contact": True,
              "passes": 7, "hold_s": 0.0, "distance_m": 1.23, "degraded": False, "elapsed_s": 12.3,
              "done_s": 10.1, "target_s": 60.0, "remaining_s": 49.9, "progress": 0.168,
              "spots_done": None, "spots_target": None, "speed_band_mps": [0.0375, 0.15],
              "force_band_n": [60.0, 200.0], "force_max_n": 250.0, "v": 1,
              "ts": "2026-12-07T01:00:00.000Z", "seq": 1234}
    raw = json.dumps(sample).encode()
    strict = schema._VALIDATORS["telemetry"]

    cases = {"json_loads": lambda: json.loads(raw), "lean": lambda: schema.parse_telemetry(raw),
             "strict": lambda: strict(decode(raw, max_bytes=16384, max_depth=schema.MAX_DEPTH))}
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(20):  # interleaved, the best of 20 each: a busy moment hits all three alike
        for name, fn in cases.items():
            best[name] = min(best[name], timeit.timeit(fn, number=n // 20) / (n // 20))
    return {"bytes": len(raw), **{k: round(v * 1e6, 1) for k, v in best.items()}}


def _fuzz_quarantined(store) -> int:
    """Messages from the fuzz's devices in the quarantine."""
    rows = store.query("SELECT SUM(times) AS n FROM quarantine WHERE device_id LIKE ?", ("fz-%",))
    return int(rows[0]["n"] or 0)


def fuzz(broker_url: str, db_url: str, n_examples: int = EXAMPLES) -> dict:
    """The whole run against ``broker_url`` and a store at ``db_url``; the figures."""
    t0 = time.monotonic()
    items = payloads(n_examples)
    generated_s = time.monotonic() - t0
    store = open_store(db_url)
    for device in DEVICES:
        store.set_device_paired(device, True)
    crashes = Crashes()
    log = logging.getLogger("rollsense.ingest")
    log.addHandler(crashes)
    client_id = f"fuzz-dash-{uuid.uuid4().hex[:8]}"
    ingest = Ingest(broker_url, store, client_id=client_id)
    ingest.start()
    try:
        if not ingest.wait_connected(10):
            raise RuntimeError("the ingest did not connect")
        time.sleep(0.2)  # SUBACK (no callback for it on Ingest)
        final = template("session", 10**8)
        sent = publish_all(broker_url, items, final)
        ingest.flush_telemetry()
        dead = [name for name, alive in ingest.threads_alive().items() if not alive]
        stats = dict(ingest.stats)
    finally:
        ingest.stop()
    stored_final = bool(store.query("SELECT 1 AS one FROM sessions WHERE session_id = ?",
                                    (final["session_id"],)))
    # a second life with the same client id: whatever was not PUBACKed comes again (counted
    # on the fuzz's own devices: a shared broker's retained messages of others come at every
    # subscription, by design)
    kept_before = _fuzz_quarantined(store)
    again = Ingest(broker_url, store, client_id=client_id)
    again.start()
    try:
        again.wait_connected(10)
        time.sleep(0.2)
        redo = template("session", 10**8 + 1)
        second = publish_all(broker_url, [], redo)
    finally:
        again.stop()
        log.removeHandler(crashes)
    redelivered = _fuzz_quarantined(store) - kept_before + again.stats["sessions_dup"]
    nulls = store.query("SELECT COUNT(*) AS n FROM sessions WHERE " +
                        " OR ".join(f"{c} IS NULL" for c in REQUIRED_COLUMNS))[0]["n"]
    pages = read_pages(store)
    out = {
        "payloads": len(items),
        "crashes": stats["callback_errors"] + len(crashes.records) + len(dead),
        "stalls": 0 if sent["acked_s"] is not None and stored_final and second["acked_s"] is not None else 1,
        "quarantined": stats["quarantined"],
        "stored": {"sessions": stats["sessions_new"], "events": stats["events"],
                   "telemetry": stats["telemetry"]},
        "quarantine_rows": queries.quarantine_totals(store)["kinds"],
        "null_rows": int(nulls),
        "pages": pages["pages"],
        "pages_500": pages["pages_500"],
        "redelivered": redelivered,
        "store": store.kind,
        "generate_s": round(generated_s, 1),
        "seconds": round(time.monotonic() - t0, 1),
    }
    problems = crashes.records[:5] + [f"dead thread {d}" for d in dead] + pages["failures"]
    if problems:
        out["problems"] = problems
    store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=EXAMPLES,
                    help=f"hypothesis examples, 8 payloads each (default {EXAMPLES})")
    ap.add_argument("--db", default=None, help="store URL (default: a SQLite file in a temp dir)")
    ap.add_argument("--json", action="store_true", help="(the output is always one JSON line)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rollsense-fuzz-") as tmp:
        broker = PrivateBroker(Path(tmp) / "broker")
        broker.start()
        try:
            out = fuzz(broker.url, args.db or f"sqlite:///{Path(tmp) / 'fuzz.db'}", args.examples)
        finally:
            broker.close()
    out["telemetry_check_us"] = telemetry_check_us()
    print(json.dumps(out))
    return 0 if out["crashes"] == out["stalls"] == out["null_rows"] == out["pages_500"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
