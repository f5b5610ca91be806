"""The web login's security over real HTTP(S): uvicorn with TLS (a certificate made on first
start, or given), revocable sessions in the real store (SQLite and PostgreSQL), the login
throttle on an injected clock, forwarded headers trusted only from configured proxies, and
CSV exports that neither break their metadata lines nor run as spreadsheet formulas."""

from __future__ import annotations

import csv
import http.client
import io
import re
import signal
import ssl
import subprocess
import sys
import threading
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest

from dashboard import auth, server, web
from dashboard.server import run_dashboard
from dashboard.store import open_store
from firmware.app.cli import build_parser, main
from firmware.common.clock import ManualClock
from firmware.common.errors import ConfigError, SetupError
from firmware.edge.broker import free_port
from tests.dashboard.test_queries import seed_session, telemetry_payloads
from tests.dashboard.test_web import call, serve, session_cookie

PASSWORD = "correct horse"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'dash.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = open_store(url)
    yield s
    s.close()


def login(addr, username="ana", password=PASSWORD, headers=None):
    return call(addr, "POST", "/login", form={"username": username, "password": password, "next": "/history"},
                headers=headers)


@contextmanager
def store_at(db_url):
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()


@contextmanager
def running_dashboard(broker, db_url: str, host: str, **kw):
    """run_dashboard in a thread (as `rollsense dashboard` runs it); yields its port."""
    port = free_port()
    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run():
        try:
            run_dashboard(broker.url, db_url, host, port, stop_event=stop, ready_event=ready, **kw)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(20) and not errors, errors
    try:
        yield port
    finally:
        stop.set()
        thread.join(10)
    assert not errors, errors


def https_call(port: int, ca_file, method: str, path: str, *, form=None, cookie=None):
    """One HTTPS request to 127.0.0.1:port, verifying the server against ``ca_file``."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=15)
    headers, body = {}, None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if cookie:
        headers["Cookie"] = cookie
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    out = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode())
    conn.close()
    return out


# ---------------------------------------------------------------- HTTPS


def test_beyond_loopback_it_serves_https_with_a_certificate_made_on_first_start(broker, tmp_path, page):
    db = tmp_path / "d.db"
    db_url = f"sqlite:///{db}"
    with store_at(db_url) as store:
        auth.add_user(store, "ana", PASSWORD)
    with running_dashboard(broker, db_url, "0.0.0.0") as port:
        cert, key = tmp_path / "d.db.tls.crt", tmp_path / "d.db.tls.key"
        assert cert.is_file() and key.stat().st_mode & 0o777 == 0o600
        # the certificate names this host's loopback address, so the client verifies it
        status, headers, _ = https_call(port, cert, "POST", "/login",
                                        form={"username": "ana", "password": PASSWORD, "next": "/"})
        assert status == 303
        set_cookie = headers["set-cookie"].lower()
        assert "; secure" in set_cookie and "httponly" in set_cookie
        assert https_call(port, cert, "GET", "/history", cookie=session_cookie(headers))[0] == 200
        # plain HTTP gets no page (no password crosses the network in clear)
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            status = call(("127.0.0.1", port), "GET", "/login")[0]
            assert status >= 400  # uvicorn may answer 400 to a TLS port spoken to in clear
            raise ConnectionError("answered in clear")
        # a real browser logs in through the form and keeps a Secure cookie
        ctx = page.context.browser.new_context(ignore_https_errors=True)
        try:
            p = ctx.new_page()
            p.goto(f"https://127.0.0.1:{port}/history")
            p.fill("#username", "ana")
            p.fill("#password", PASSWORD)
            p.click("#login-form button[type=submit]")
            p.wait_for_url(re.compile(r".*/history$"))
            cookies = ctx.cookies()
            assert [c["secure"] for c in cookies if c["name"] == auth.COOKIE] == [True]
        finally:
            ctx.close()
    fingerprint = server.fingerprint(cert)
    with running_dashboard(broker, db_url, "0.0.0.0"):  # a restart keeps the same certificate
        assert server.fingerprint(cert) == fingerprint


def make_cert(tmp_path):
    cert, key = tmp_path / "given.crt", tmp_path / "given.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def test_a_given_certificate_serves_https_even_on_loopback(broker, tmp_path):
    cert, key = make_cert(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'd.db'}"
    with store_at(db_url) as store:
        auth.add_user(store, "ana", PASSWORD)
    with running_dashboard(broker, db_url, "127.0.0.1", tls_cert=str(cert), tls_key=str(key)) as port:
        status, headers, _ = https_call(port, cert, "POST", "/login", form={"username": "ana", "password": PASSWORD})
        assert status == 303 and "; secure" in headers["set-cookie"].lower()
    assert not (tmp_path / "d.db.tls.crt").exists()  # none made when one is given


def test_bad_certificate_options_are_one_line(tmp_path):
    cert, key = make_cert(tmp_path)
    with pytest.raises(ConfigError, match="both --tls-cert and --tls-key"):
        server.tls_files("0.0.0.0", "sqlite:///x.db", str(cert), None)
    with pytest.raises(SetupError, match=r"^dashboard TLS: .*missing\.key"):
        server.tls_files("0.0.0.0", "sqlite:///x.db", str(cert), str(tmp_path / "missing.key"))
    (tmp_path / "o").mkdir()
    other_cert, _ = make_cert(tmp_path / "o")
    with pytest.raises(SetupError, match="^dashboard TLS: .*does not match"):
        server.tls_files("0.0.0.0", "sqlite:///x.db", str(other_cert), str(key))
    r = subprocess.run([sys.executable, "-m", "firmware.app.cli", "dashboard", "--host", "127.0.0.1",
                        "--port", str(free_port()), "--db", f"sqlite:///{tmp_path / 'd.db'}",
                        "--tls-cert", str(cert), "--tls-key", str(tmp_path / "missing.key")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "missing.key" in r.stderr


def test_without_openssl_and_without_a_certificate_it_refuses_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no openssl on it
    with pytest.raises(SetupError, match=r"^dashboard on 0\.0\.0\.0 serves HTTPS but has no certificate: .*--tls-cert"):
        server.tls_files("0.0.0.0", f"sqlite:///{tmp_path / 'd.db'}", None, None)
    assert server.tls_files("127.0.0.1", f"sqlite:///{tmp_path / 'd.db'}", None, None) is None  # plain HTTP


def test_dashboard_command_says_https_and_the_fingerprint(tmp_path, broker):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "firmware.app.cli", "dashboard", "--host", "0.0.0.0",
                             "--port", str(port), "--db", f"sqlite:///{tmp_path / 'd.db'}", "--broker", broker.url],
                            stderr=subprocess.PIPE, text=True)
    try:
        first, second = proc.stderr.readline(), proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"rollsense dashboard on https://127.0.0.1:{port}" in first
    cert = tmp_path / "d.db.tls.crt"
    assert f"HTTPS certificate {cert} (self-signed), SHA-256 {server.fingerprint(cert)}" in second


def test_trusted_proxies_are_addresses_or_networks(monkeypatch, capsys):
    args = build_parser().parse_args(["dashboard", "--trusted-proxy", "10.0.0.0/8, 127.0.0.1", "--trusted-proxy", "::1"])
    assert args.trusted_proxy == [["10.0.0.0/8", "127.0.0.1"], ["::1"]]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["dashboard", "--trusted-proxy", "proxy.lan"])
    assert "'proxy.lan' is not an IP address or network" in capsys.readouterr().err
    monkeypatch.setenv("ROLLSENSE_DASHBOARD_TRUSTED_PROXY", "*")
    assert main(["dashboard", "--port", str(free_port())]) == 2
    assert "$ROLLSENSE_DASHBOARD_TRUSTED_PROXY: '*' is not an IP address" in capsys.readouterr().err


# ---------------------------------------------------------------- sessions


def test_logout_ends_the_session_on_the_server(any_store):
    auth.add_user(any_store, "ana", PASSWORD)
    app = web.create_app(any_store, None, auth_required=True, secret_key="k")
    with serve(app) as addr:
        first = session_cookie(login(addr)[1])
        second = session_cookie(login(addr)[1])  # another browser
        # GET /logout (an <img> on another site can make one) shows a button, logs nobody out
        status, _, page = call(addr, "GET", "/logout", cookie=first)
        assert status == 200 and 'method="post" action="/logout"' in page
        assert call(addr, "GET", "/history", cookie=first)[0] == 200
        # a cross-site POST is refused
        host = f"{addr[0]}:{addr[1]}"
        status, _, _ = call(addr, "POST", "/logout", cookie=first, headers={"Origin": "http://evil.example", "Host": host})
        assert status == 403 and call(addr, "GET", "/history", cookie=first)[0] == 200
        status, headers, _ = call(addr, "POST", "/logout", cookie=first, headers={"Origin": f"http://{host}", "Host": host})
        assert status == 303 and headers["location"] == "/login"
        # the old cookie, kept by someone, no longer opens anything; the other browser stays in
        assert call(addr, "GET", "/history", cookie=first)[0] == 303
        assert call(addr, "GET", "/api/history.json", cookie=first)[0] == 401
        assert call(addr, "GET", "/history", cookie=second)[0] == 200


def test_a_new_password_ends_that_users_sessions(any_store):
    auth.add_user(any_store, "ana", PASSWORD)
    auth.add_user(any_store, "ben", PASSWORD)
    app = web.create_app(any_store, None, auth_required=True, secret_key="k")
    with serve(app) as addr:
        ana, ben = session_cookie(login(addr)[1]), session_cookie(login(addr, "ben")[1])
        assert call(addr, "GET", "/history", cookie=ana)[0] == 200
        auth.add_user(any_store, "ana", "a new password", replace=True)
        assert call(addr, "GET", "/history", cookie=ana)[0] == 303
        assert call(addr, "GET", "/history", cookie=ben)[0] == 200


def test_a_session_cookie_while_the_store_is_down_still_gets_healthz(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'd.db'}")
    auth.add_user(store, "ana", PASSWORD)
    app = web.create_app(store, None, auth_required=True, secret_key="k")
    with serve(app) as addr:
        cookie = session_cookie(login(addr)[1])
        store.close()  # the store is gone: the session cannot be looked up
        assert call(addr, "GET", "/healthz", cookie=cookie)[0] == 503
        assert call(addr, "GET", "/history", cookie=cookie)[0] == 303


def test_cookies_carry_only_a_signed_random_id(store):
    auth.add_user(store, "ana", PASSWORD)
    app = web.create_app(store, None, auth_required=True, secret_key="k")
    with serve(app) as addr:
        cookie = session_cookie(login(addr)[1])
        value = cookie.split("=", 1)[1]
        assert "ana" not in value
        # a cookie signed with the right key for an id the store never issued opens nothing
        forged = auth.CookieSigner("k").sign("x" * 43)
        assert call(addr, "GET", "/history", cookie=f"{auth.COOKIE}={forged}")[0] == 303
        # the store keeps a hash of the id, not the id
        rows = store.query("SELECT * FROM web_logins")
        assert len(rows) == 1 and value.split(".")[0] not in str(rows[0])


# ---------------------------------------------------------------- throttle


def test_wrong_passwords_slow_down_but_the_owner_gets_in_after_the_wait(store):
    auth.add_user(store, "ana", PASSWORD)
    clock = ManualClock(1000.0)
    app = web.create_app(store, None, auth_required=True, secret_key="k", clock=clock.now_s)
    with serve(app) as addr:
        for _ in range(5):
            status, _, page = login(addr, password="guess")
            if status != 401:  # refused before checking: the wait of the earlier failures
                assert status == 429
                clock.advance(int(call_wait(page)))
                assert login(addr, password="guess")[0] == 401
        status, headers, page = login(addr)  # the right password, too early
        assert status == 429 and "set-cookie" not in headers
        wait_s = int(headers["retry-after"])
        assert 1 <= wait_s <= 60 and f"Try again in {wait_s} s" in page
        clock.advance(wait_s - 0.5)
        assert login(addr)[0] == 429
        clock.advance(0.5)
        status, headers, _ = login(addr)
        assert status == 303 and auth.COOKIE in headers["set-cookie"]


def call_wait(page: str) -> float:
    return float(re.search(r"Try again in (\d+) s", page).group(1))


def test_rotating_addresses_share_one_budget_per_user():
    clock = ManualClock(0.0)
    t = auth.LoginThrottle(clock=clock.now_s)
    t.succeeded("ana", "192.168.1.20")  # the owner's laptop logged in before
    tries = 0
    for i in range(200):  # an attacker with many addresses, one guess each, for 200 s
        address = f"10.0.{i // 250}.{i % 250}"
        if t.wait_s("ana", address) == 0:
            tries += 1
            t.failed("ana", address)
        clock.advance(1.0)
    assert tries <= t.free_per_user + 8, tries  # then about one guess per max_delay_s
    assert t.wait_s("ana", "10.9.9.9") > 0
    assert t.wait_s("ana", "192.168.1.20") == 0  # the owner's own address is not locked out
    assert t.wait_s("ben", "10.9.9.9") == 0  # other users are not affected


def test_forwarded_for_from_loopback_does_not_reset_the_throttle(broker, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'd.db'}"
    with store_at(db_url) as store:
        auth.add_user(store, "ana", PASSWORD)
    with running_dashboard(broker, db_url, "127.0.0.1") as port:
        addr = ("127.0.0.1", port)
        for i in range(5):
            login(addr, password="guess", headers={"X-Forwarded-For": f"203.0.113.{i}"})
        status, _, page = login(addr, headers={"X-Forwarded-For": "203.0.113.99"})
        assert status == 429 and "Try again in" in page


def test_forwarded_for_is_used_from_a_trusted_proxy(broker, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'd.db'}"
    with store_at(db_url) as store:
        auth.add_user(store, "ana", PASSWORD)
    with running_dashboard(broker, db_url, "127.0.0.1", trusted_proxies=["127.0.0.1"]) as port:
        addr = ("127.0.0.1", port)
        assert call(addr, "GET", "/history")[0] == 303  # the proxy's clients are elsewhere: login required
        for _ in range(5):
            login(addr, password="guess", headers={"X-Forwarded-For": "203.0.113.7"})
        assert login(addr, headers={"X-Forwarded-For": "203.0.113.7"})[0] == 429
        # the real client behind the proxy is another person: not slowed down; HTTPS to the proxy
        status, headers, _ = login(addr, headers={"X-Forwarded-For": "198.51.100.2", "X-Forwarded-Proto": "https"})
        assert status == 303 and "; secure" in headers["set-cookie"].lower()


# ---------------------------------------------------------------- CSV exports


def test_csv_exports_escape_device_strings_and_guard_formulas(store):
    store.set_device_paired("r1", True)
    sid = seed_session(store, "r1", telemetry=False, protocol="quads\n# completed: False\r\n=1+1",
                       tool='=HYPERLINK("http://evil.example","x"),@SUM(1)')
    samples = telemetry_payloads(sid, n=3)
    samples[0]["cue"] = "=cmd|' /C calc'!A0"
    samples[1]["phase"] = "+A1*2"
    samples[2]["cue"] = "\t-2+3"
    samples[2]["velocity_mps"] = -0.08
    for s in samples:
        store.save_telemetry("r1", s)
    app = web.create_app(store, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        status, _, body = call(addr, "GET", f"/api/session/{sid}.csv")
        assert status == 200
        lines = body.split("\n")
        meta = [line for line in lines if line.startswith("#")]
        assert len(meta) == len(web.SUMMARY_SCALARS) + 2  # no line smuggled in
        assert "# completed: True" in meta
        assert r"# protocol: quads\n# completed: False\r\n=1+1" in meta
        tool_line = next(line for line in meta if line.startswith("# tool:"))
        assert "," not in tool_line and '"' not in tool_line  # no cell of its own in a spreadsheet
        rows = list(csv.DictReader(line for line in lines if line and not line.startswith("#")))
        assert len(rows) == 3
        assert rows[0]["cue"] == "'=cmd|' /C calc'!A0" and rows[1]["phase"] == "'+A1*2" and rows[2]["cue"] == "'\t-2+3"
        assert rows[2]["velocity_mps"] == "-0.08"  # negative numbers stay numbers

        status, _, body = call(addr, "GET", "/api/history.csv")
        row = next(csv.DictReader(io.StringIO(body)))
        assert row["protocol"].startswith("quads")
        assert row["tool"].startswith("'=HYPERLINK")


def test_csv_cells_keep_negative_numbers_and_quote_formulas():
    assert web.csv_cell(-0.08) == -0.08 and web.csv_cell("-0.08") == "-0.08" and web.csv_cell("-1e-3") == "-1e-3"
    for text in ("=1+1", "+A1", "-A1", "@SUM(1)", "\tx", "\rx", "-", "-1+2"):
        assert web.csv_cell(text) == "'" + text
    assert web.csv_cell("roller") == "roller" and web.csv_cell(None) == ""
    assert web.meta_text("a\nb\\c,d\x00") == r"a\nb\\c\u002cd\u0000"
