"""dashboard.web and dashboard.server over real HTTP (uvicorn on a loopback port), with the
real store, the real ingest and the real device link on the private Mosquitto wherever a
command or live data is involved."""

from __future__ import annotations

import csv
import http.client
import io
import json
import re
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import uvicorn

from dashboard import auth, web
from dashboard.ingest import Ingest, client_id_for
from dashboard.server import run_dashboard
from dashboard.store import open_store
from firmware.app.demo import undelivered
from firmware.common.clock import MonotonicClock
from firmware.common.errors import CommandError, ConfigError, SetupError
from firmware.edge.broker import free_port
from firmware.edge.journal import Journal
from firmware.edge.link import Link
from firmware.edge.pairing import check_code, new_code
from tests.conftest import wait_subacked
from tests.dashboard.test_queries import seed_session, summary_payload, telemetry_payloads

# ---------------------------------------------------------------- helpers


@contextmanager
def serve(app):
    """Run ``app`` with uvicorn on a free loopback port; yields (host, port)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield ("127.0.0.1", port)
    finally:
        app.state.dashboard.hub.close()
        server.should_exit = True
        thread.join(10)


def call(addr, method, path, *, form=None, cookie=None, headers=None):
    """One HTTP request, redirects NOT followed; returns (status, headers dict, body text)."""
    conn = http.client.HTTPConnection(*addr, timeout=15)
    hdrs = dict(headers or {})
    body = None
    if form is not None:
        body = urlencode(form)
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    if cookie:
        hdrs["Cookie"] = cookie
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    text = resp.read().decode("utf-8", errors="replace")
    out = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, text)
    conn.close()
    return out


def session_cookie(headers: dict) -> str:
    value = headers["set-cookie"].split(";", 1)[0]
    assert value.startswith(auth.COOKIE + "=")
    return value


@pytest.fixture
def ingest(broker, store):
    ing = Ingest(broker.url, store, client_id="test-dash-" + uuid.uuid4().hex[:8])
    ing.start()
    assert ing.wait_connected(10)
    yield ing
    ing.stop()


class Device:
    """The real device side of the link: Journal + Link, answering cmd/pair with the code
    `rollsense pair` wrote, and recording other commands."""

    def __init__(self, broker_url: str, tmp_path, device_id: str | None = None) -> None:
        self.device_id = device_id or "dev-" + uuid.uuid4().hex[:8]
        self.state_dir = tmp_path / self.device_id
        self.state_dir.mkdir()
        self.code = new_code(self.state_dir)
        self.journal = Journal(self.state_dir / "journal.db")
        self.link = Link(self.device_id, broker_url, self.journal, MonotonicClock(), info={"hardware": "sim"})
        self.commands: list[tuple[str, dict]] = []
        self.link.on_command = self.on_command

    def on_command(self, name: str, args: dict) -> dict:
        self.commands.append((name, args))
        if name == "pair":
            if not check_code(self.state_dir, str(args.get("code", ""))):
                raise CommandError("wrong or expired pairing code")
            return {"paired": self.device_id}
        return {"accepted": args.get("protocol")}

    def start(self) -> Device:
        self.link.start()
        deadline = time.monotonic() + 10
        while not self.link.connected:
            assert time.monotonic() < deadline, "device link did not connect"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.link.stop()
        self.journal.close()


@pytest.fixture
def device(broker, tmp_path):
    d = Device(broker.url, tmp_path).start()
    yield d
    d.stop()


# ---------------------------------------------------------------- pages and exports (loopback, no login)


def test_history_lists_paired_sessions_with_duration_and_passes(store):
    store.set_device_paired("home-roller", True)
    sid = seed_session(store, "home-roller", duration_s=125.4, passes=17)
    hidden = seed_session(store, "stranger", passes=3)
    app = web.create_app(store, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        status, _, page = call(addr, "GET", "/history")
        assert status == 200
        assert f'data-session-id="{sid}"' in page and hidden not in page
        assert 'class="duration num" data-seconds="125.4">2:05</td>' in page
        assert '<td class="passes num">17</td>' in page
        status, _, page = call(addr, "GET", f"/session/{sid}")
        assert status == 200 and 'id="speed-chart"' in page and "2:05" in page
        data = json.loads(page.split('id="page-data">', 1)[1].split("</script>", 1)[0])
        assert len(data["series"]) == 200 and data["speed_band_mps"] == [0.04, 0.12]
        assert call(addr, "GET", f"/session/{hidden}")[0] == 404
        assert call(addr, "GET", "/session/nope")[0] == 404
        assert call(addr, "GET", "/device/stranger")[0] == 404
        assert call(addr, "GET", "/device/home-roller")[0] == 200
        status, headers, css = call(addr, "GET", "/static/style.css")
        assert status == 200 and "--accent" in css


def test_session_and_history_exports_are_valid_files(store):
    store.set_device_paired("r1", True)
    sid = seed_session(store, "r1", passes=9)
    seed_session(store, "r1", passes=4, protocol="calf-stick", tool="stick")
    app = web.create_app(store, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        status, headers, body = call(addr, "GET", f"/api/session/{sid}.json")
        assert status == 200 and "attachment" in headers["content-disposition"]
        doc = json.loads(body)
        assert doc["summary"]["session_id"] == sid and doc["session"]["passes"] == 9
        assert len(doc["telemetry"]) == 200

        status, headers, body = call(addr, "GET", f"/api/session/{sid}.csv")
        assert status == 200 and headers["content-type"].startswith("text/csv")
        meta = [line for line in body.splitlines() if line.startswith("#")]
        assert f"# session_id: {sid}" in meta and "# passes: 9" in meta
        rows = list(csv.DictReader(line for line in body.splitlines() if not line.startswith("#")))
        assert len(rows) == 200 and float(rows[10]["speed_mps"]) == pytest.approx(0.08)

        doc = json.loads(call(addr, "GET", "/api/history.json")[2])
        assert sorted(s["passes"] for s in doc["sessions"]) == [4, 9]
        assert doc["streaks"]["today"] is True
        rows = list(csv.DictReader(io.StringIO(call(addr, "GET", "/api/history.csv")[2])))
        assert {r["protocol"] for r in rows} == {"quads-roller", "calf-stick"}
        assert {r["passes"] for r in rows} == {"9", "4"}
        assert call(addr, "GET", f"/api/session/{sid}.xml")[0] == 404


def test_history_and_its_exports_filter_by_device(store):
    for dev in ("clinic-roller-1", "clinic-roller-2"):
        store.set_device_paired(dev, True)
    a = seed_session(store, "clinic-roller-1", telemetry=False, passes=7)
    b = seed_session(store, "clinic-roller-2", telemetry=False, passes=8)
    app = web.create_app(store, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        page = call(addr, "GET", "/history")[2]
        assert a in page and b in page and 'id="device-filter"' in page
        page = call(addr, "GET", "/history?device=clinic-roller-2")[2]
        assert a not in page and b in page and 'href="/api/history.csv?device=clinic-roller-2"' in page
        doc = json.loads(call(addr, "GET", "/api/history.json?device=clinic-roller-1")[2])
        assert [x["session_id"] for x in doc["sessions"]] == [a]
        status, headers, body = call(addr, "GET", "/api/history.csv?device=clinic-roller-2")
        assert 'filename="rollsense-history-clinic-roller-2.csv"' in headers["content-disposition"]
        assert [r["session_id"] for r in csv.DictReader(io.StringIO(body))] == [b]
        page = call(addr, "GET", "/history?device=not-paired")[2]  # unknown filter: everything
        assert a in page and b in page


# ---------------------------------------------------------------- auth


def test_password_hashes_are_salted_pbkdf2(store):
    auth.add_user(store, "ana", "correct horse")
    auth.add_user(store, "ben", "correct horse")
    hashes = [r["password_hash"] for r in store.query("SELECT password_hash FROM users ORDER BY username")]
    algo, iterations, salt_a, _ = hashes[0].split("$")
    assert algo == "pbkdf2_sha256" and int(iterations) >= 200_000
    assert hashes[0] != hashes[1] and salt_a != hashes[1].split("$")[2]
    assert auth.check_login(store, "ana", "correct horse")
    assert not auth.check_login(store, "ana", "correct horsE")
    assert not auth.check_login(store, "nobody", "correct horse")
    auth.add_user(store, "ana", "a new password", replace=True)  # changes the password, no second row
    assert auth.check_login(store, "ana", "a new password") and not auth.check_login(store, "ana", "correct horse")
    with pytest.raises(ConfigError, match="at least 8"):
        auth.add_user(store, "cy", "short")


def test_login_wall_when_auth_required(store):
    auth.add_user(store, "ana", "correct horse")
    app = web.create_app(store, None, auth_required=True, secret_key="secret-1")
    with serve(app) as addr:
        status, headers, _ = call(addr, "GET", "/history?x=1")
        assert status == 303 and headers["location"] == "/login?next=%2Fhistory%3Fx%3D1"
        assert call(addr, "GET", "/api/history.json")[0] == 401
        assert call(addr, "GET", "/api/live")[0] == 401
        assert call(addr, "GET", "/login")[0] == 200

        status, headers, page = call(addr, "POST", "/login", form={"username": "ana", "password": "wrong", "next": "/history"})
        assert status == 401 and "Wrong user name or password" in page and "set-cookie" not in headers

        status, headers, _ = call(addr, "POST", "/login", form={"username": "ana", "password": "correct horse", "next": "/history"})
        assert status == 303 and headers["location"] == "/history"
        assert "httponly" in headers["set-cookie"].lower()
        cookie = session_cookie(headers)
        assert call(addr, "GET", "/history", cookie=cookie)[0] == 200
        assert call(addr, "GET", "/api/history.json", cookie=cookie)[0] == 200

        tampered = cookie[:-2] + ("00" if not cookie.endswith("00") else "11")
        assert call(addr, "GET", "/history", cookie=tampered)[0] == 303
        other_key = auth.CookieSigner("another-secret").sign("ana")
        assert call(addr, "GET", "/history", cookie=f"{auth.COOKIE}={other_key}")[0] == 303

        # no open redirects after login
        status, headers, _ = call(addr, "POST", "/login", form={"username": "ana", "password": "correct horse", "next": "//evil.example/x"})
        assert headers["location"] == "/"
        status, headers, _ = call(addr, "POST", "/logout", cookie=cookie)
        assert status == 303 and 'rollsense_session=""' in headers["set-cookie"]

        # guessing is slowed down: after 5 failures even the right password waits its turn
        # (tests/dashboard/test_security.py: it gets in once the wait has passed)
        for _ in range(5):
            call(addr, "POST", "/login", form={"username": "ana", "password": "guess"})
        status, headers, page = call(addr, "POST", "/login", form={"username": "ana", "password": "correct horse"})
        assert status == 429 and "Too many wrong passwords" in page and "set-cookie" not in headers


def test_cross_site_posts_are_refused(store):
    app = web.create_app(store, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        host = f"{addr[0]}:{addr[1]}"
        status, _, body = call(addr, "POST", "/devices/pair", form={"device_id": "x", "code": "123456"},
                               headers={"Origin": "http://evil.example", "Host": host})
        assert status == 403 and "cross-site" in body
        status, _, body = call(addr, "POST", "/devices/pair", form={"device_id": "BAD ID", "code": "12"},
                               headers={"Origin": f"http://{host}", "Host": host})
        assert status == 400 and "6-digit code" in body
        for junk in ({f"f{i}": "x" for i in range(50)}, {"device_id": "a" * 40_000, "code": "123456"}):
            status, _, body = call(addr, "POST", "/devices/pair", form=junk)
            assert status == 400 and "6-digit code" in body  # oversized forms read as empty


# ---------------------------------------------------------------- pairing and commands (real broker + link)


def test_pairing_through_the_real_link(store, ingest, device):
    app = web.create_app(store, ingest, auth_required=False, secret_key="k")
    with serve(app) as addr:
        wrong = "000000" if device.code != "000000" else "111111"
        status, _, page = call(addr, "POST", "/devices/pair", form={"device_id": device.device_id, "code": wrong})
        assert status == 403 and "Pairing refused" in page and "wrong or expired pairing code" in page
        assert not store.query("SELECT paired FROM devices WHERE device_id = ? AND paired = 1", (device.device_id,))
        assert call(addr, "GET", f"/device/{device.device_id}")[0] == 404

        status, _, page = call(addr, "POST", "/devices/pair",
                               form={"device_id": device.device_id, "code": device.code, "name": "Ana's  roller"})
        assert status == 200 and f"Paired with &#x27;{device.device_id}&#x27;" in page
        row = store.query("SELECT paired, name FROM devices WHERE device_id = ?", (device.device_id,))[0]
        assert row == {"paired": 1, "name": "Ana's roller"}
        assert [c[0] for c in device.commands] == ["pair", "pair"]
        assert call(addr, "GET", f"/device/{device.device_id}")[0] == 200

        status, _, _ = call(addr, "POST", f"/devices/{device.device_id}/forget")
        assert status == 303 and call(addr, "GET", f"/device/{device.device_id}")[0] == 404


def test_pairing_an_absent_device_times_out(store, ingest, monkeypatch):
    monkeypatch.setattr(web, "PAIR_TIMEOUT_S", 0.5)
    app = web.create_app(store, ingest, auth_required=False, secret_key="k")
    with serve(app) as addr:
        status, _, page = call(addr, "POST", "/devices/pair", form={"device_id": "nobody-home", "code": "123456"})
        assert status == 504 and "No answer" in page
    assert q_paired(store) == set()


def q_paired(store) -> set[str]:
    return {r["device_id"] for r in store.query("SELECT device_id FROM devices WHERE paired = 1")}


def test_start_routine_only_on_paired_devices(store, ingest, device):
    app = web.create_app(store, ingest, auth_required=False, secret_key="k")
    with serve(app) as addr:
        path = f"/api/device/{device.device_id}/start"
        status, _, body = call(addr, "POST", path, form={"protocol": "quads-roller"})
        assert status == 403 and device.commands == []
        store.set_device_paired(device.device_id, True)
        status, _, body = call(addr, "POST", path, form={"protocol": "quads-roller"})
        assert status == 200 and json.loads(body)["ok"] is True
        assert device.commands == [("start", {"protocol": "quads-roller"})]
        assert call(addr, "POST", path, form={"protocol": "../etc"})[0] == 400


def read_sse(resp, wanted: str, predicate, timeout_s: float = 10.0) -> dict:
    """Read SSE frames until an ``event: wanted`` whose data satisfies ``predicate``."""
    deadline = time.monotonic() + timeout_s
    event = None
    while time.monotonic() < deadline:
        line = resp.fp.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == wanted:
            data = json.loads(line[6:])
            if predicate(data):
                return data
    raise AssertionError(f"no {wanted} event matched within {timeout_s} s")


def test_live_stream_pushes_device_telemetry_and_status(store, ingest, device):
    store.set_device_paired(device.device_id, True)
    app = web.create_app(store, ingest, auth_required=False, secret_key="k")
    with serve(app) as addr:
        conn = http.client.HTTPConnection(*addr, timeout=10)
        conn.request("GET", f"/api/live/{device.device_id}")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("content-type").startswith("text/event-stream")
        assert read_sse(resp, "status", lambda d: d["status"] == "online")["device_id"] == device.device_id
        samples = telemetry_payloads("live-1", n=30)
        stop = threading.Event()

        def publish():
            for p in samples:
                if stop.is_set():
                    return
                device.link.publish_telemetry(p)
                time.sleep(0.06)  # deliberate: a device's telemetry comes at its pace, ~16 Hz

        pub = threading.Thread(target=publish, daemon=True)
        pub.start()
        got = read_sse(resp, "telemetry", lambda d: d.get("seq", 0) >= 0 and d.get("elapsed_s", 0) >= 1.0)
        assert got["device_id"] == device.device_id and got["speed_band_mps"] == [0.04, 0.12]
        stop.set()
        pub.join()
        device.link.stop()  # says "offline" (retained), as its Last Will would
        assert read_sse(resp, "status", lambda d: d["status"] == "offline")["device_id"] == device.device_id
        conn.close()
        assert call(addr, "GET", "/api/live/not-paired")[0] == 404


# ---------------------------------------------------------------- server.run_dashboard


def test_run_dashboard_serves_and_stops_from_another_thread(broker, tmp_path):
    port = free_port()
    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run():
        try:
            run_dashboard(broker.url, f"sqlite:///{tmp_path / 'd.db'}", "127.0.0.1", port,
                          stop_event=stop, ready_event=ready, trust_devices=["demo-roller"])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(15), errors
    addr = ("127.0.0.1", port)
    status, _, page = call(addr, "GET", "/")
    assert status == 200 and 'href="/device/demo-roller"' in page  # trusted device is paired
    conn = http.client.HTTPConnection(*addr, timeout=10)  # an open live stream must not block shutdown
    conn.request("GET", "/api/live")
    assert conn.getresponse().status == 200
    t0 = time.monotonic()
    stop.set()
    thread.join(10)
    assert not thread.is_alive() and not errors
    assert time.monotonic() - t0 < 5
    conn.close()
    assert (tmp_path / "d.db.secret").stat().st_mode & 0o777 == 0o600
    with pytest.raises(OSError):
        socket.create_connection(addr, timeout=1)


def test_run_dashboard_refuses_a_busy_port(broker, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(SetupError, match="cannot listen"):
            run_dashboard(broker.url, f"sqlite:///{tmp_path / 'd.db'}", "127.0.0.1", s.getsockname()[1])


def test_two_ingest_workers_store_each_session_once(chatty_broker, tmp_path):
    """Fleet mode: run_dashboard(workers=2) shares the subscriptions ($share); every summary
    the device sends is stored exactly once and listed once."""
    broker = chatty_broker  # it logs its SUBACKs: the workers are other processes
    port = free_port()
    device = Device(broker.url, tmp_path).start()
    stop, ready = threading.Event(), threading.Event()
    db = tmp_path / "fleet.db"
    client_id = client_id_for(f"sqlite:///{db}")  # run_dashboard's; its workers' are -1, -2
    thread = threading.Thread(target=run_dashboard, args=(broker.url, f"sqlite:///{db}", "127.0.0.1", port),
                              kwargs={"stop_event": stop, "ready_event": ready, "workers": 2,
                                      "trust_devices": [device.device_id]}, daemon=True)
    thread.start()
    try:
        assert ready.wait(15)
        wait_subacked(broker, [f"{client_id}-{i}{part}" for i in (1, 2) for part in ("", "-telemetry")]
                      + [f"{client_id}-commands"])  # both workers subscribed
        sids = []
        for i in range(6):
            sid = f"fleet-{i}-{uuid.uuid4().hex[:6]}"
            started = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            device.journal.start_session(sid, "quads-roller", "roller", started)
            summary = summary_payload(sid, started_at=started, passes=i + 1)
            device.journal.finish_session(sid, {k: v for k, v in summary.items() if k not in ("v", "ts", "seq", "msg_id")})
            sids.append(sid)
        device.link.wake()
        deadline = time.monotonic() + 20
        while undelivered(device.journal) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert undelivered(device.journal) == 0  # every summary acked
        page = call(("127.0.0.1", port), "GET", "/history")[2]
        assert all(page.count(f'data-session-id="{sid}"') == 1 for sid in sids)
    finally:
        stop.set()
        thread.join(10)
        device.stop()
    store = open_store(f"sqlite:///{db}")
    try:
        rows = store.query("SELECT session_id, COUNT(*) AS n FROM sessions GROUP BY session_id")
        assert sorted(r["session_id"] for r in rows) == sorted(sids) and {r["n"] for r in rows} == {1}
    finally:
        store.close()


def test_healthz_tells_a_monitor_when_the_broker_is_gone_and_back(fresh_broker, store):
    """No login needed (it shows states, no data): 200 while all is well, 503 with the reason
    while the broker is down, 200 again once the ingest has resubscribed."""
    ing = Ingest(fresh_broker.url, store, client_id="dash-health")
    ing.start()
    assert ing.wait_connected(10)
    app = web.create_app(store, ing, auth_required=True, secret_key="k")
    try:
        with serve(app) as addr:
            status, _, body = call(addr, "GET", "/healthz")
            assert status == 200 and json.loads(body) == {"ok": True, "store": "ok", "ingest": "ok"}
            fresh_broker.stop()
            deadline = time.monotonic() + 10
            while (status := call(addr, "GET", "/healthz")[0]) == 200:
                assert time.monotonic() < deadline, "healthz never noticed the broker gone"
                time.sleep(0.1)
            status, _, body = call(addr, "GET", "/healthz")
            assert status == 503 and json.loads(body) == {"ok": False, "store": "ok", "ingest": "disconnected"}
            assert call(addr, "GET", "/history")[0] == 303  # the rest still needs a login
            fresh_broker.start()
            assert ing.wait_connected(20)
            assert call(addr, "GET", "/healthz")[0] == 200
    finally:
        ing.stop()


def test_start_list_is_the_devices_own_routines_when_its_info_lists_them(store, ingest):
    """A device's info lists the routines it can start (its tool's, its user's own too):
    the live page offers those, not every built-in routine."""
    store.set_device_info("dev-ball", {"tool": "ball", "routines": [
        {"id": "glute-ball", "title": "Glutes on the mini ball", "mode": "hold"},
        {"id": "piriformis-ball", "title": "Piriformis on the mini ball", "mode": "hold"}]})
    store.set_device_paired("dev-ball", True)
    store.set_device_info("dev-old", {"hardware": "sim"})  # a device that lists none
    store.set_device_paired("dev-old", True)
    app = web.create_app(store, ingest, auth_required=False, secret_key="k")
    with serve(app) as addr:
        _, _, page = call(addr, "GET", "/device/dev-ball")
        _, _, old = call(addr, "GET", "/device/dev-old")
    def routines(html: str) -> list[str]:  # the routine select's options (not the person's, ...)
        select = re.search(r'<select name="protocol".*?</select>', html, re.S).group(0)
        return re.findall(r'<option value="([a-z0-9-]+)">', select)

    assert routines(page) == ["glute-ball", "piriformis-ball"]
    assert "Glutes on the mini ball" in page
    assert "quads-roller" in routines(old)  # built-ins


def test_history_says_the_same_minutes_in_its_heading_and_this_weeks_tile(store):
    """447 s this week: the heading said '8 minutes in all' (7.45 rounded to 7.5, then to 8)
    beside 'This week 7 min'; one rounding of one total."""
    store.set_device_paired("home-roller", True)
    for seconds in (64.0, 128.0, 64.0, 55.0, 136.0):
        seed_session(store, "home-roller", duration_s=seconds, passes=3, telemetry=False)
    app = web.create_app(store, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        status, _, page = call(addr, "GET", "/history")
    assert status == 200
    assert "5 sessions · 7 minutes in all" in page
    assert '<span class="label">This week</span><span class="value">7 min</span>' in page
