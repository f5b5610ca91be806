"""Issue 18, device -> dashboard: nothing a device sends stops the ingest or breaks a page.
A real Mosquitto, a real Ingest on SQLite (and PostgreSQL), real HTTP (uvicorn)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import uuid

import pytest

from bench import fuzz
from dashboard import auth, web
from dashboard.ingest import Ingest
from dashboard.schema import parse, parse_telemetry, summary_view
from dashboard.store import open_store
from firmware.common.errors import WireError
from firmware.edge.journal import default_interrupted_summary
from tests.conftest import Subacks, start_subscribed
from tests.dashboard.test_ingest import count, ingest_on_locked_sqlite, summary
from tests.dashboard.test_web import Device, call, serve, session_cookie
from tests.firmware.edge.test_link import Observer, wait_until

PAGES = ("/history", "/device/dev-h", "/api/history.json", "/api/history.csv", "/", "/devices")


def full_summary(session_id: str, **extra) -> dict:
    """A §3.2 summary as a device sends it, with ``extra`` fields replaced."""
    return {**fuzz.template("session", 0), "session_id": session_id, **extra}


def start_ingest(broker, store, client_id: str, cls=Ingest) -> Ingest:
    return start_subscribed(cls(broker.url, store, client_id=client_id))


def publish_and_wait_ack(obs: Observer, device: str, session_id: str) -> None:
    obs.publish(f"rollsense/{device}/session", summary(session_id))
    obs.wait_for(lambda ms: any(m.topic.endswith("/ack") and json.loads(m.payload).get("session_id") == session_id
                                for m in ms))


def pages_answer(addr, paths) -> dict[str, int]:
    return {p: call(addr, "GET", p)[0] for p in paths}


def test_a_pair_result_with_a_list_id_is_quarantined_acked_and_the_ingest_goes_on(fresh_broker, store):
    """Finding: {"status":"ok","id":[1]} on cmd/pair/result raised TypeError in paho's thread:
    nothing stored after it, and (never PUBACKed) it came back after every restart."""
    client_id = "dash-" + uuid.uuid4().hex[:6]
    ing = start_ingest(fresh_broker, store, client_id)
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    try:
        obs.publish("rollsense/dev-p/cmd/pair/result", {"status": "ok", "id": [1]})
        publish_and_wait_ack(obs, "dev-p", "after-bad-result")
        assert count(store, "sessions") == 1
        assert ing.health()["ok"] and all(ing.threads_alive().values())
        assert ing.stats["quarantined"] == 1 and ing.stats["callback_errors"] == 0
        rows = store.query("SELECT device_id, kind, topic, times, payload FROM quarantine")
        assert rows == [{"device_id": "dev-p", "kind": "result", "topic": "rollsense/dev-p/cmd/pair/result",
                         "times": 1, "payload": '{"status": "ok", "id": [1]}'}]
    finally:
        ing.stop()
    again = start_ingest(fresh_broker, store, client_id)  # its persistent session
    try:
        publish_and_wait_ack(obs, "dev-p", "after-restart")
        assert again.stats["quarantined"] == 0  # PUBACKed the first time: not delivered again
    finally:
        again.stop()
        obs.close()


def test_a_devices_reply_to_a_command_without_an_id_is_logged_not_quarantined(fresh_broker, store, tmp_path,
                                                                             caplog):
    """Finding: `mosquitto_pub -t rollsense/<dev>/cmd/ping -m 'not json'` made the device answer,
    as documented, {"id": null, "status": "error", ...} on cmd/ping/result, and the dashboard
    quarantined that reply ("id must be string"): a healthy device listed as misbehaving. A real
    device link answers three id-less commands; the real ingest counts and logs them (once per
    device and command), quarantines nothing and notifies no listener (no command waits)."""
    ing = start_ingest(fresh_broker, store, "dash-" + uuid.uuid4().hex[:6])
    heard = []
    ing.add_listener(lambda kind, dev, payload: heard.append((kind, dev, payload)))
    device = Device(fresh_broker.url, tmp_path).start()
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack", "rollsense/+/cmd/+/result"))
    dev = device.device_id
    try:
        with caplog.at_level(logging.WARNING, logger="rollsense.ingest"):
            for raw in (b"not json", b"[]", b'{"id": 12}'):
                obs.publish(f"rollsense/{dev}/cmd/ping", raw)
            replies = [json.loads(m.payload) for m in obs.wait_suffix("/cmd/ping/result", 3)]
            assert [(r["id"], r["status"]) for r in replies] == [(None, "error")] * 3  # what a device sends
            # the dashboard's own command still finds its answer
            ping_id = ing.send_command(dev, "ping")
            obs.wait_for(lambda ms: any(m.topic.endswith("/cmd/ping/result")
                                        and json.loads(m.payload)["id"] == ping_id for m in ms))
            publish_and_wait_ack(obs, dev, "after-stray-replies")  # the ingest is past all four
        assert store.query("SELECT device_id, kind, reason FROM quarantine") == []
        assert ing.stats["quarantined"] == 0 and ing.stats["callback_errors"] == 0
        assert ing.stats["results_without_id"] == 3
        assert [(k, p["id"], p["status"]) for k, _, p in heard if k == "result"] == [("result", ping_id, "ok")]
        lines = [r.getMessage() for r in caplog.records if "without a readable id" in r.getMessage()]
        assert len(lines) == 1 and lines[0].startswith(f"{dev} refused a ping command without a readable id")
        assert "payload refused: not valid JSON" in lines[0]
        # a reply with no id that claims success is no reply a device sends: quarantined
        obs.publish(f"rollsense/{dev}/cmd/ping/result", {"id": None, "status": "ok"})
        publish_and_wait_ack(obs, dev, "after-odd-reply")
        assert [r["reason"] for r in store.query("SELECT reason FROM quarantine")] == ["status must be one of ['error']"]
    finally:
        obs.close()
        device.stop()
        ing.stop()


class FailingInfo(Ingest):
    """An Ingest with a bug in one parser (a stand-in for any bug a payload may hit)."""

    def _parse_info(self, device_id, msg, name):
        raise RuntimeError("a bug")


def test_a_callback_that_fails_is_logged_counted_and_its_message_acknowledged(fresh_broker, store, caplog):
    client_id = "dash-" + uuid.uuid4().hex[:6]
    ing = start_ingest(fresh_broker, store, client_id, cls=FailingInfo)
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    try:
        with caplog.at_level(logging.ERROR, logger="rollsense.ingest"):
            obs.publish("rollsense/dev-c/info", {"hardware": "sim"})
            publish_and_wait_ack(obs, "dev-c", "after-bug")
        assert ing.stats["callback_errors"] == 1 and all(ing.threads_alive().values())
        failed = [r for r in caplog.records if r.exc_info]
        assert len(failed) == 1 and "on_message" in failed[0].getMessage()
    finally:
        ing.stop()
    seen = []
    again = Ingest(fresh_broker.url, store, client_id=client_id)
    again.add_listener(lambda kind, dev, p: seen.append(kind))
    try:
        start_subscribed(again)
        publish_and_wait_ack(obs, "dev-c", "after-restart")
        assert "info" not in seen  # acknowledged although it failed: not delivered again
    finally:
        again.stop()
        obs.close()


@pytest.fixture
def logged_in_app(store):
    auth.add_user(store, "ana", "correct horse")
    return store


def login(addr) -> str:
    status, headers, _ = call(addr, "POST", "/login", form={"username": "ana", "password": "correct horse", "next": "/"})
    assert status == 303
    return session_cookie(headers)


def test_healthz_is_503_when_the_network_thread_died_and_details_need_a_login(fresh_broker, logged_in_app):
    store = logged_in_app
    ing = start_ingest(fresh_broker, store, "dash-" + uuid.uuid4().hex[:6])
    app = web.create_app(store, ing, auth_required=True, secret_key="k" * 32)
    try:
        with serve(app) as addr:
            status, _, body = call(addr, "GET", "/healthz")
            assert status == 200 and json.loads(body) == {"ok": True, "store": "ok", "ingest": "ok"}
            ing.client.loop_stop()  # the network thread ends; the connection still looks up
            assert ing.connected
            status, _, body = call(addr, "GET", "/healthz")
            assert status == 503 and json.loads(body) == {"ok": False, "store": "ok", "ingest": "thread"}
            status, _, body = call(addr, "GET", "/healthz", cookie=login(addr))
            detail = json.loads(body)
            assert status == 503 and detail["ingest"]["down"] == "thread"
            assert detail["ingest"]["threads"]["writer"] is True
            assert detail["quarantine"] == {"kinds": 0, "messages": 0}
            assert "stats" in detail["ingest"]
    finally:
        ing.stop()


def test_healthz_is_503_when_a_batch_is_stuck(fresh_broker, tmp_path):
    with ingest_on_locked_sqlite(fresh_broker, tmp_path / "stuck.db", "dash-stuck") as (store, ing, locker, obs):
        ing.stall_s = 0.3
        locker.execute("BEGIN EXCLUSIVE")
        try:
            for i in range(3):  # the writer takes the first and waits on the lock; two queue
                obs.publish("rollsense/dev-s/event", {"msg_id": f"e{i}", "event_type": "cue"})
            wait_until(lambda: ing.health()["down"] == "stalled", 8)
            assert not ing.health()["ok"]
        finally:
            locker.execute("ROLLBACK")
        wait_until(lambda: count(store, "events") == 3, 15)
        wait_until(lambda: ing.health()["ok"], 5)


def test_healthz_is_503_while_a_callback_hangs(fresh_broker, store):
    """A network thread alive but stuck in a callback (a listener that never returns) moves
    no messages: not ok until it returns."""
    release = threading.Event()
    ing = Ingest(fresh_broker.url, store, client_id="dash-" + uuid.uuid4().hex[:6])
    ing.add_listener(lambda kind, dev, p: kind == "result" and release.wait(20))
    ing.stall_s = 0.3
    subacks = Subacks.of(ing)
    ing.start()
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    try:
        assert ing.wait_connected(10)
        subacks.wait()
        obs.publish("rollsense/dev-k/cmd/ping/result", {"id": "c1", "status": "ok"})
        wait_until(lambda: ing.health()["down"] == "stalled", 8)
        assert all(ing.threads_alive().values())
        release.set()
        wait_until(lambda: ing.health()["ok"], 5)
    finally:
        release.set()
        ing.stop()
        obs.close()


def test_healthz_without_a_login_says_no_database_error_text(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    auth.add_user(store, "ana", "correct horse")
    app = web.create_app(store, None, auth_required=True, secret_key="k" * 32)
    with serve(app) as addr:
        cookie = login(addr)
        store.close()  # every query now fails with the driver's own words (a path, a db name)
        for who in (None, cookie):  # the login is in the store too: no session while it is down
            status, _, body = call(addr, "GET", "/healthz", cookie=who)
            assert status == 503 and json.loads(body) == {"ok": False, "store": "down", "ingest": None}


def test_healthz_details_need_a_login_without_the_login_wall_too(store):
    auth.add_user(store, "ana", "correct horse")
    app = web.create_app(store, None, auth_required=False, secret_key="k" * 32)
    with serve(app) as addr:
        status, _, body = call(addr, "GET", "/healthz")
        assert status == 200 and json.loads(body) == {"ok": True, "store": "ok", "ingest": None}
        status, _, body = call(addr, "GET", "/healthz", cookie=login(addr))
        assert status == 200 and json.loads(body)["quarantine"] == {"kinds": 0, "messages": 0}


@pytest.mark.parametrize("field,value", [("force_n", "x"), ("speed_mps", [1]), ("targets", 5), ("holds", 7),
                                         ("duration_s", None), ("tool", 3)])
def test_a_malformed_summary_is_quarantined_not_stored(fresh_broker, store, field, value):
    """Findings: such a summary made /history, /device/<id> and /api/history.json answer 500
    for everyone (holds: its own page); 362 fuzzed sessions were stored with NULL columns."""
    store.set_device_paired("dev-h", True)
    ing = start_ingest(fresh_broker, store, "dash-" + uuid.uuid4().hex[:6])
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    app = web.create_app(store, None, auth_required=False, secret_key="k" * 32)
    try:
        obs.publish("rollsense/dev-h/session", full_summary("bad", **{field: value}))
        publish_and_wait_ack(obs, "dev-h", "good")
        assert [r["session_id"] for r in store.query("SELECT session_id FROM sessions")] == ["good"]
        assert ing.stats["quarantined"] == 1
        with serve(app) as addr:
            assert set(pages_answer(addr, PAGES + ("/session/good", "/admin/quarantine")).values()) == {200}
            status, _, page = call(addr, "GET", "/admin/quarantine")
            assert field in page and "dev-h" in page
    finally:
        ing.stop()
        obs.close()


OLD_ROWS = {  # summaries stored before issue 18 (no schema then): every page must still answer
    "o-force": {"force_n": "x"}, "o-speed": {"speed_mps": [1]}, "o-targets": {"targets": 5},
    "o-holds": {"holds": 7}, "o-targets-odd": {"targets": [{"name": {"a": 1}, "target": {"min": [1]}, "actual": "x"}, 3]},
    "o-holds-odd": {"holds": [{"start_s": "x"}, 1, None]}, "o-interrupted": {"completed": False, "interrupted": [1]},
}


def test_pages_survive_odd_rows_stored_before_this_change(store):
    store.set_device_paired("dev-h", True)
    sql = ("INSERT INTO sessions(session_id, device_id, protocol, tool, started_at, duration_s, passes, "
           "completed, summary_json, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    now = "2026-01-05T10:00:00Z"
    for sid, extra in OLD_ROWS.items():
        store.execute(sql, (sid, "dev-h", "quads-roller", "roller", now, 60.0, 3, 1,
                            json.dumps(full_summary(sid, **extra)), now))
    store.execute(sql, ("o-notjson", "dev-h", None, None, "9999-12-31T23:59:59+14:00", "abc", "x", None, "{oops", now))
    store.execute(sql, ("o-list", "dev-h", "../../x", None, "0001-01-01T00:00:00-12:00", None, None, None, "[1, 2]", now))
    store.execute("INSERT INTO telemetry(device_id, session_id, ts, t_s, speed_mps, force_n, payload_json) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)", ("dev-h", "o-force", "x", 1.0, None, None,
                                                   '{"speed_band_mps": "x", "position_m": [1], "contact": 5}'))
    store.execute("INSERT INTO events(msg_id, device_id, session_id, ts, event_type, payload_json) VALUES (?, ?, ?, ?, ?, ?)",
                  ("ev1", "dev-h", "o-force", None, "pass_completed", '{"length_m": "x", "end_s": [1], "direction": {}}'))
    store.execute("UPDATE devices SET info_json = ? WHERE device_id = ?", ('{"routines": [{"id": [1]}, 5]}', "dev-h"))
    app = web.create_app(store, None, auth_required=False, secret_key="k" * 32)
    sids = [*OLD_ROWS, "o-notjson", "o-list"]
    paths = list(PAGES) + [f"/session/{s}" for s in sids] + [f"/api/session/{s}.{f}" for s in sids for f in ("csv", "json")]
    with serve(app) as addr:
        answers = pages_answer(addr, paths)
    assert {p: s for p, s in answers.items() if s != 200} == {}


def test_fuzz_device_to_dashboard_on_sqlite(broker, tmp_path):
    """Over 10,000 hypothesis payloads (derandomized) through the broker: no crash, no stall,
    no NULL row, no page answering 500, nothing delivered twice. A bad retained message of
    another device on the shared broker comes at every subscription: not a redelivery."""
    obs = Observer(broker.url, topics=())
    try:
        obs.publish("rollsense/retained-other/info", b"[1, 2]", retain=True)
        out = fuzz.fuzz(broker.url, f"sqlite:///{tmp_path / 'fuzz.db'}")
    finally:
        obs.publish("rollsense/retained-other/info", b"", retain=True)  # cleared
        obs.close()
    assert out["payloads"] >= 10_000
    assert (out["crashes"], out["stalls"], out["null_rows"], out["pages_500"], out["redelivered"]) == (0, 0, 0, 0, 0), out
    assert out["quarantined"] > 0.8 * out["payloads"] and out["stored"]["sessions"] > 0


def test_fuzz_device_to_dashboard_on_postgresql(broker, postgres_url):
    out = fuzz.fuzz(broker.url, postgres_url, n_examples=250)
    assert out["payloads"] >= 2000 and out["store"] == "postgresql"
    assert (out["crashes"], out["stalls"], out["null_rows"], out["pages_500"], out["redelivered"]) == (0, 0, 0, 0, 0), out


def test_the_quarantine_logs_once_per_device_kind_and_reason(fresh_broker, store, caplog):
    ing = start_ingest(fresh_broker, store, "dash-" + uuid.uuid4().hex[:6])
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    try:
        with caplog.at_level(logging.WARNING, logger="rollsense.ingest"):
            for i in range(50):
                obs.publish("rollsense/dev-l/event", {"msg_id": "x"})  # no event_type
                # what varies with the payload (a key's name, a byte offset) is not a new reason
                obs.publish("rollsense/dev-m/event", f'{{"k{i}": 1, "k{i}": 2}}'.encode())
                obs.publish("rollsense/dev-m/event", b'{"msg_id": "' + b"x" * i + b'\xff"}')
            publish_and_wait_ack(obs, "dev-l", "after")
        lines = [r.getMessage() for r in caplog.records if "quarantined" in r.getMessage()]
        assert len(lines) == 3
        rows = store.query("SELECT device_id, reason, times FROM quarantine ORDER BY device_id, reason")
        assert rows == [{"device_id": "dev-l", "reason": "must contain ['event_type'] properties", "times": 50},
                        {"device_id": "dev-m", "reason": "duplicate key", "times": 50},
                        {"device_id": "dev-m", "reason": "not UTF-8", "times": 50}]
    finally:
        ing.stop()
        obs.close()


def test_a_fleet_of_bad_telemetry_does_not_stall_sessions(fresh_broker, store):
    ing = start_ingest(fresh_broker, store, "dash-" + uuid.uuid4().hex[:6])
    obs = Observer(fresh_broker.url, topics=("rollsense/+/ack",))
    try:
        for i in range(500):
            obs.client.publish("rollsense/dev-t/telemetry", b'{"t_s": NaN}' if i % 2 else b'{"speed_mps": "x"}', qos=0)
        publish_and_wait_ack(obs, "dev-t", "amid-telemetry")
        wait_until(lambda: ing.stats["quarantined"] == 500, 10)
        # the counter moves as a message is judged, the store's row when its batch commits
        expected = [{"kind": "telemetry", "times": 250}, {"kind": "telemetry", "times": 250}]
        wait_until(lambda: store.query("SELECT kind, times FROM quarantine ORDER BY reason") == expected, 10)
        assert ing.health()["ok"] and count(store, "telemetry") == 0
    finally:
        ing.stop()
        obs.close()


REAL_RUNS = (("quads-roller", "too-fast"), ("calf-stick", "reversed"), ("upper-back-ball", "moved-hold"),
             ("piriformis-ball", "step-off"))


def test_what_real_devices_send_fits_the_schemas(broker, store):
    """The schemas refuse nothing a real device sends: simulated devices (`rollsense demo
    --fast`, every tool, scenarios with cues of every kind) through the broker to an Ingest:
    status, info, telemetry, events, sessions all stored, nothing quarantined."""
    ing = start_ingest(broker, store, "dash-" + uuid.uuid4().hex[:6])
    devices = [f"real-{uuid.uuid4().hex[:6]}" for _ in REAL_RUNS]
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "firmware.app.cli", "demo", "--fast", "--no-dashboard",
                                   "--broker", broker.url, "--protocol", protocol, "--scenario", scenario,
                                   "--device-id", device], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for (protocol, scenario), device in zip(REAL_RUNS, devices, strict=True)]
        for p in procs:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err[-2000:]
        wait_until(lambda: count(store, "sessions") == len(REAL_RUNS), 20, "every session stored")
        ing.flush_telemetry()
        assert store.query("SELECT device_id, kind, reason FROM quarantine") == []
        assert ing.stats["quarantined"] == 0 and ing.stats["events"] > 0 and ing.stats["telemetry"] > 0
        for device in devices:
            assert count(store, "devices", "device_id = ? AND info_json IS NOT NULL", (device,)) == 1
    finally:
        ing.stop()


def test_the_quarantine_page_is_linked_from_devices_and_escapes_what_it_shows(store, page):
    hostile = '<script>document.title="owned"</script><img src=x onerror=alert(1)>'
    store.save_many([("quarantine", "dev-q", {"topic": "rollsense/dev-q/session", "kind": "session",
                                              "reason": "force_n must be object or null",
                                              "payload": hostile, "size": len(hostile)})] * 3)
    app = web.create_app(store, None, auth_required=False, secret_key="k" * 32)
    with serve(app) as (host, port):
        page.goto(f"http://{host}:{port}/devices")
        link = page.locator("#quarantine-link")
        assert "3 messages" in link.locator("xpath=..").inner_text()
        link.click()
        page.wait_for_url("**/admin/quarantine")
        row = page.locator("#quarantine tbody tr").first
        assert "force_n must be object or null" in row.inner_text() and "dev-q" in row.inner_text()
        row.locator("summary").click()
        assert page.locator("pre.payload").first.inner_text() == hostile  # shown as text, never run
        assert page.title() == "Quarantine · rollsense"


def _words(html: str) -> str:
    """What a reader sees of a page's main part: its text, tags and spacing gone."""
    main = html.split("<main", 1)[1].split("</main>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", main.split(">", 1)[1]).split())


def test_the_quarantine_page_says_in_a_users_words_what_it_holds_and_what_to_do(store):
    """Finding: it told users "Messages from devices that did not fit their schema (DESIGN
    §3.2, §3.3)": a reference to an internal document, and a word they need not know."""
    app = web.create_app(store, None, auth_required=False, secret_key="k" * 32)
    with serve(app) as addr:
        empty = _words(call(addr, "GET", "/admin/quarantine")[2])
        store.save_many([("quarantine", "dev-q", {"topic": "rollsense/dev-q/event", "kind": "event",
                                                  "reason": "must contain ['event_type'] properties",
                                                  "payload": "{}", "size": 2})] * 2)
        held = _words(call(addr, "GET", "/admin/quarantine")[2])
        devices = _words(call(addr, "GET", "/devices")[2])
    for text in (empty, held, devices):
        assert not re.search(r"DESIGN|§|schema", text), text
    assert "Nothing set aside: every message from your devices could be read." in empty
    explained = held.split("Device Kind Reason", 1)[0]
    assert explained.startswith("Quarantine Messages your devices sent that the dashboard could not read")
    assert "left out of sessions and history" in explained and "2 messages in all" in explained
    assert "update the device and the dashboard to the same release of rollsense" in explained
    assert "Quarantine : 2 messages from devices that the dashboard could not read, set aside." in devices


def test_a_session_interrupted_before_its_first_checkpoint_is_stored_not_quarantined():
    """A device killed before its first checkpoint recovers the session with no pass count:
    the summary it sends must pass the dashboard's schema, and pages show the count as unknown."""
    row = {"session_id": "01J0000000000000000000000A", "protocol": "quads-roller", "tool": "roller",
           "started_at": "2026-01-01T10:00:00.000Z", "partial": None, "events": []}
    summary = default_interrupted_summary(row, "power lost")
    assert "passes" not in summary
    stored = parse("session", json.dumps(summary).encode())
    assert stored["duration_s"] == 0.0 and summary_view(stored)["passes"] is None


@pytest.mark.parametrize("raw", [b'{"session_id": "s", "t_s": 1, "extra": 1e400}',
                                 b'{"session_id": "s", "t_s": 1, "extra": [-2e308]}'])
def test_telemetry_with_a_number_past_a_floats_range_is_refused(raw):
    """1e400 reads as infinity: the lean telemetry path refuses it as the strict one does,
    also in a field no schema names (the payload is stored as received)."""
    with pytest.raises(WireError, match="out of range"):
        parse_telemetry(raw)
