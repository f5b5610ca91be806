"""Roles and access (issue 23) over real HTTP, route by route: every route of create_app
(taken from app.routes, so a route added without a rule and a case here fails) is called as
each role (logged out, an admin, two people, a therapist linked to one of them) on the real
SQLite store, and answers what the role may have: the page, 404 for what is not theirs (as
for what does not exist, so ids do not leak), 403 for the admin's pages. Lists and exports are
filtered; a store made before roles keeps its logins as admins; the CLI's role options answer
in one line."""

from __future__ import annotations

import http.client
import io
import json
import sqlite3
import uuid
from datetime import UTC, datetime

import pytest
from starlette.routing import Mount

from dashboard import access, auth, live, web
from dashboard.sharing import DAY_S, create_share, open_share, revoke_share
from dashboard.store import open_store
from firmware.app.cli import main
from tests.dashboard.test_queries import iso, pass_event, summary_payload, telemetry_payloads
from tests.dashboard.test_web import call, serve, session_cookie
from tests.firmware.edge.test_link import wait_until

PASSWORD = "correct horse"
ROLES = ("anon", "admin", "ann", "ben", "theo")  # ann, ben: person logins; theo: ann's therapist
DEVICE, SPARE = "home-roller", "spare-roller"


def seed(store, person: str | None, *, device: str = DEVICE, started_at: str | None = None,
         protocol: str = "quads-roller") -> str:
    """A session of ``person`` (None: nobody chosen) with telemetry; its id."""
    sid = "s-" + uuid.uuid4().hex[:12]
    for p in telemetry_payloads(sid):
        store.save_telemetry(device, p)
    summary = summary_payload(sid, started_at=started_at or iso(datetime.now(UTC)), protocol=protocol)
    if person:
        summary["person_id"] = person
    store.save_session(device, summary)
    return sid


@pytest.fixture
def world(store):
    """Two people with a person login each, a therapist of Ann's, an admin; a session of
    each person and one of nobody; a share link of Ann's session."""
    store.set_device_paired(DEVICE, True)
    store.set_device_paired(SPARE, True)
    store.add_person("Ann Ash", 60.0, person_id="ann")
    store.add_person("Ben Birch", 80.0, person_id="ben")
    app = web.create_app(store, None, auth_required=True, secret_key="k-access")
    access.add_login(store, "root", PASSWORD)  # no role: an admin, as before issue 23
    access.add_login(store, "ann-login", PASSWORD, role="person", person_id="ann")
    access.add_login(store, "ben-login", PASSWORD, role="person", person_id="ben")
    access.add_login(store, "theo", PASSWORD, role="therapist")
    assert access.link_client(store, "theo", "ann")
    w = {"app": app, "store": store,
         "ann_s": seed(store, "ann"), "ben_s": seed(store, "ben"), "none_s": seed(store, None)}
    share = create_share(store, created_by="ann-login", person_id="ann", session_id=w["ann_s"],
                         now_s=app.state.dashboard.wall_clock(), days=7)
    w["share_id"] = share.share_id
    w["token"] = app.state.dashboard.share_signer.token(share.share_id, share.expires_at)
    return w


LOGINS = {"admin": "root", "ann": "ann-login", "ben": "ben-login", "theo": "theo"}


def log_in(addr, role: str) -> str | None:
    if role == "anon":
        return None
    status, headers, _ = call(addr, "POST", "/login", form={"username": LOGINS[role], "password": PASSWORD})
    assert status == 303, (role, status)
    return session_cookie(headers)


# What each role gets: "ok" (the handler ran: any status but 401/403/404 and no login redirect),
# 404, 403, or "login" (sent to log in). Roles not named get the route's default.
ALL_OK = {r: "ok" for r in ROLES if r != "anon"} | {"anon": "login"}
ADMIN_ONLY = {"anon": "login", "admin": "ok", "ann": 403, "ben": 403, "theo": 403}
ANNS = {"anon": "login", "admin": "ok", "ann": "ok", "ben": 404, "theo": "ok"}  # Ann's data: her, her therapist
ANNS_WRITE = ANNS | {"theo": 403}
BENS = {"anon": "login", "admin": "ok", "ann": 404, "ben": "ok", "theo": 404}
NOBODYS = {"anon": "login", "admin": "ok", "ann": 404, "ben": 404, "theo": 404}
DEVICES = {"anon": "login", "admin": "ok", "ann": "ok", "ben": "ok", "theo": 404}
SHARERS = {"anon": "login", "admin": "ok", "ann": "ok", "ben": "ok", "theo": 403}
OPEN = {r: "ok" for r in ROLES}


def cases(w) -> dict[tuple[str, str], list[tuple[str, dict | None, dict]]]:
    """(method, route path) -> [(request path, form, expected per role)]."""
    a, b, n = w["ann_s"], w["ben_s"], w["none_s"]
    return {
        ("GET", "/"): [("/", None, ALL_OK)],
        ("GET", "/healthz"): [("/healthz", None, OPEN | {"anon": "ok"})],
        ("GET", "/metrics"): [("/metrics", None, {"anon": 401, "admin": "ok", "ann": 403, "ben": 403, "theo": 403})],
        ("GET", "/api/broker"): [("/api/broker", None, ALL_OK | {"anon": 401})],
        ("GET", "/device/{device_id}"): [(f"/device/{DEVICE}", None, DEVICES)],
        ("GET", "/api/live"): [],  # a stream: checked on its own below (test_live_streams)
        ("GET", "/api/live/{device_id}"): [],
        ("POST", "/api/device/{device_id}/start"): [
            (f"/api/device/{DEVICE}/start", {"protocol": "quads-roller"}, DEVICES | {"anon": 401})],
        ("POST", "/api/device/{device_id}/stop"): [(f"/api/device/{DEVICE}/stop", {}, DEVICES | {"anon": 401})],
        ("GET", "/session/{session_id}"): [(f"/session/{a}", None, ANNS), (f"/session/{b}", None, BENS),
                                           (f"/session/{n}", None, NOBODYS)],
        ("GET", "/history"): [("/history", None, ALL_OK), ("/history?person=ben", None, BENS)],
        ("GET", "/api/session/{session_id}.{fmt}"): [
            (f"/api/session/{a}.json", None, ANNS | {"anon": 401}), (f"/api/session/{b}.csv", None, BENS | {"anon": 401}),
            (f"/api/session/{n}.csv", None, NOBODYS | {"anon": 401})],
        ("GET", "/api/history.{fmt}"): [("/api/history.json", None, ALL_OK | {"anon": 401}),
                                        ("/api/history.csv?person=ann", None, ANNS | {"anon": 401})],
        ("GET", "/devices"): [("/devices", None, ADMIN_ONLY)],
        ("GET", "/admin/quarantine"): [("/admin/quarantine", None, ADMIN_ONLY)],
        ("POST", "/devices/pair"): [("/devices/pair", {"device_id": "x", "code": "1"}, ADMIN_ONLY)],
        ("POST", "/devices/{device_id}/forget"): [(f"/devices/{SPARE}/forget", {}, ADMIN_ONLY)],
        ("GET", "/people"): [("/people", None, ALL_OK)],
        ("POST", "/people"): [("/people", {"name": ""}, ADMIN_ONLY)],
        ("POST", "/people/{person_id}"): [("/people/ann", {"name": ""}, ADMIN_ONLY)],
        ("POST", "/people/therapists/link"): [("/people/therapists/link", {"therapist": "root", "person": "ben"},
                                               ADMIN_ONLY)],
        ("POST", "/people/therapists/unlink"): [("/people/therapists/unlink", {"therapist": "nobody", "person": "ben"},
                                                 ADMIN_ONLY)],
        ("GET", "/person/{person_id}"): [("/person/ann", None, ANNS), ("/person/ben", None, BENS)],
        ("GET", "/login"): [("/login", None, OPEN)],
        # a wrong password (each role's own user name: the throttle counts per name)
        ("POST", "/login"): [("/login", {"username": "x", "password": "y"}, {r: 401 for r in ROLES})],
        ("GET", "/logout"): [("/logout", None, OPEN | {"anon": "login"})],
        ("POST", "/logout"): [],  # ends the session: test_logout_is_open_to_every_role
        ("GET", "/plan"): [("/plan", None, ALL_OK)],
        ("GET", "/person/{person_id}/plan"): [("/person/ann/plan", None, ANNS), ("/person/ben/plan", None, BENS)],
        ("POST", "/person/{person_id}/plan"): [("/person/ann/plan", {}, ANNS_WRITE)],
        ("POST", "/session/{session_id}/soreness"): [(f"/session/{a}/soreness", {"soreness_after": "3"}, ANNS_WRITE),
                                                     (f"/session/{n}/soreness", {"soreness_after": "3"}, NOBODYS)],
        ("GET", "/static"): [("/static/style.css", None, OPEN)],
        ("GET", "/shares"): [("/shares", None, SHARERS)],
        ("POST", "/shares"): [("/shares", {"session": a, "days": "7"}, ANNS_WRITE | {"ben": 404})],
        ("POST", "/shares/{share_id}/revoke"): [("/shares/not-a-share/revoke", {}, SHARERS | {
            "admin": 404, "ann": 404, "ben": 404})],  # no such share: 404 from the handler
        ("GET", "/person/{person_id}/prescription"): [("/person/ann/prescription", None, ANNS),
                                                     ("/person/ben/prescription", None, BENS)],
        ("POST", "/person/{person_id}/prescription"): [  # an admin, or a therapist of this client
            ("/person/ann/prescription", {}, {"anon": "login", "admin": "ok", "ann": 403, "ben": 404, "theo": "ok"}),
            ("/person/ben/prescription", {}, {"anon": "login", "admin": "ok", "ann": 404, "ben": 403, "theo": 404})],
        ("GET", "/person/{person_id}/adherence"): [("/person/ann/adherence", None, ANNS),
                                                  ("/person/ben/adherence", None, BENS)],
        ("GET", "/share/{token}"): [(f"/share/{w['token']}", None, OPEN)],
        ("GET", "/share/{token}/session/{session_id}"): [(f"/share/{w['token']}/session/{a}", None, OPEN),
                                                         (f"/share/{w['token']}/session/{b}", None, {r: 404 for r in ROLES})],
    }


def app_routes(app) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        if isinstance(route, Mount):
            out.append(("GET", route.path))
            continue
        out += [(m, route.path) for m in sorted(route.methods - {"HEAD"})]
    return out


def outcome(status: int, headers: dict) -> str | int:
    if status == 303 and headers.get("location", "").startswith("/login"):
        return "login"
    if status in (401, 403, 404):
        return status
    return "ok"


def test_every_route_has_a_rule_and_a_case(store):
    app = web.create_app(store, None, auth_required=True, secret_key="k")
    routes = app_routes(app)
    assert [r for r in routes if access.rule_for(*r) is None] == [], "a route without an access rule"
    w = {"ann_s": "a", "ben_s": "b", "none_s": "n", "token": "t"}
    assert [r for r in routes if r not in cases(w)] == [], "a route without a case in this test"
    assert set(access.RULES) == set(routes), "a rule for a route that is not there"


def test_each_role_gets_what_it_may_route_by_route(world):
    app = world["app"]
    table = cases(world)
    with serve(app) as addr:
        cookies = {r: log_in(addr, r) for r in ROLES}
        wrong = []
        for key in app_routes(app):
            for path, form, expected in table[key]:
                for role in ROLES:
                    if key == ("POST", "/login"):
                        form = {"username": LOGINS.get(role, "x"), "password": "wrong"}
                    status, headers, body = call(addr, key[0], path, form=form, cookie=cookies[role])
                    got = outcome(status, headers)
                    want = expected[role] if role in expected else "ok"
                    if got != want:
                        wrong.append(f"{key[0]} {path} as {role}: {status} ({got}), want {want}")
                    if got == 404 and role != "anon":  # not theirs reads as not there: nothing of it shown
                        for other in ("Ann Ash", "Ben Birch", world["ann_s"], world["ben_s"], world["none_s"]):
                            if other in body and other not in path:
                                wrong.append(f"{key[0]} {path} as {role}: the 404 shows {other}")
        assert "\n".join(wrong) == ""


def test_lists_and_exports_show_only_what_the_login_may_see(world):
    a, b, n = world["ann_s"], world["ben_s"], world["none_s"]
    with serve(world["app"]) as addr:
        seen = {}
        for role in ("admin", "ann", "ben", "theo"):
            cookie = log_in(addr, role)
            doc = json.loads(call(addr, "GET", "/api/history.json", cookie=cookie)[2])
            csv_text = call(addr, "GET", "/api/history.csv", cookie=cookie)[2]
            pages = {p: call(addr, "GET", p, cookie=cookie)[2] for p in ("/history", "/people", "/plan", f"/device/{DEVICE}")}
            seen[role] = ({s["session_id"] for s in doc["sessions"]}, csv_text, pages)
        assert seen["admin"][0] == {a, b, n}
        assert seen["ann"][0] == {a} and seen["ben"][0] == {b} and seen["theo"][0] == {a}
        for role, mine, others in (("ann", a, (b, n)), ("ben", b, (a, n)), ("theo", a, (b, n))):
            ids, csv_text, pages = seen[role]
            assert mine in csv_text and all(o not in csv_text for o in others)
            for page in pages.values():
                assert all(o not in page for o in others), role
        assert "Ben Birch" not in seen["ann"][2]["/people"] + seen["ann"][2]["/plan"]
        assert "Ann Ash" in seen["theo"][2]["/people"] and "Ben Birch" not in seen["theo"][2]["/people"]
        assert "Ben Birch" in seen["admin"][2]["/people"] and 'id="therapists"' in seen["admin"][2]["/people"]
        assert 'id="add-form"' not in seen["ann"][2]["/people"]  # the people forms are the admin's
        # a person starts as themselves only: the Start form offers nobody else
        device_page = seen["ben"][2][f"/device/{DEVICE}"]
        assert 'value="ben"' in device_page and 'value="ann"' not in device_page
        # the nav a role gets
        assert 'href="/devices"' not in seen["ann"][2]["/history"] and 'href="/devices"' in seen["admin"][2]["/history"]
        assert 'href="/shares"' not in seen["theo"][2]["/history"]
        status, headers, _ = call(addr, "GET", "/", cookie=log_in(addr, "theo"))
        assert status == 303 and headers["location"] == "/people"  # no devices for a therapist


def test_live_streams_are_for_admins_and_people(world):
    with serve(world["app"]) as addr:
        for role, want in (("theo", 404), ("ann", 200)):
            conn_status = stream_status(addr, f"/api/live/{DEVICE}", log_in(addr, role))
            assert conn_status == want, role
        assert stream_status(addr, "/api/live", log_in(addr, "theo")) == 403
        assert stream_status(addr, "/api/live", None) == 401


def stream_status(addr, path: str, cookie: str | None) -> int:
    conn = http.client.HTTPConnection(*addr, timeout=10)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    status = conn.getresponse().status
    conn.close()
    return status


def test_logout_is_open_to_every_role(world):
    with serve(world["app"]) as addr:
        for role in ROLES:
            cookie = log_in(addr, role)
            status, headers, _ = call(addr, "POST", "/logout", cookie=cookie)
            assert status == 303 and headers["location"].startswith("/login")
            if cookie:
                assert outcome(*call(addr, "GET", "/history", cookie=cookie)[:2]) == "login"


def test_a_therapist_link_made_on_the_people_page_opens_the_client(world):
    with serve(world["app"]) as addr:
        theo = log_in(addr, "theo")
        assert call(addr, "GET", f"/session/{world['ben_s']}", cookie=theo)[0] == 404
        admin = log_in(addr, "admin")
        status, _, page = call(addr, "POST", "/people/therapists/link", form={"therapist": "theo", "person": "ben"},
                               cookie=admin)
        assert status == 200 and "Linked Ben Birch to theo." in page
        assert call(addr, "GET", f"/session/{world['ben_s']}", cookie=theo)[0] == 200
        status, _, page = call(addr, "POST", "/people/therapists/link", form={"therapist": "ann-login", "person": "ben"},
                               cookie=admin)
        assert status == 400 and "&#x27;ann-login&#x27; is a person login, not a therapist" in page
        call(addr, "POST", "/people/therapists/unlink", form={"therapist": "theo", "person": "ben"}, cookie=admin)
        assert call(addr, "GET", f"/session/{world['ben_s']}", cookie=theo)[0] == 404


def test_loopback_without_a_login_is_the_admin(store):
    store.set_device_paired(DEVICE, True)
    sid = seed(store, None)
    app = web.create_app(store, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        assert call(addr, "GET", f"/session/{sid}")[0] == 200
        assert call(addr, "GET", "/devices")[0] == 200


def test_an_older_stores_logins_become_admins(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users(username TEXT PRIMARY KEY, password_hash TEXT NOT NULL)")
    conn.execute("INSERT INTO users VALUES (?, ?)", ("old", auth.hash_password(PASSWORD, iterations=1000)))
    conn.commit()
    conn.close()
    s = open_store(f"sqlite:///{path}")
    try:
        web.create_app(s, None, auth_required=True, secret_key="k")
        web.create_app(s, None, auth_required=True, secret_key="k")  # twice: idempotent
        assert access.load_viewer(s, "old", True).role == "admin"
        assert {"role", "person_id"} <= s.columns("users")
    finally:
        s.close()


def run_cli(monkeypatch, capsys, args, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["dashboard", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_roles_and_client_links(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    s = open_store(db)
    s.add_person("Ann", person_id="ann")
    web.create_app(s, None, auth_required=True, secret_key="k")
    s.close()
    code, out, _ = run_cli(monkeypatch, capsys, ["--db", db, "--add-user", "ann", "--role", "person",
                                                 "--person", "ann"], PASSWORD + "\n")
    assert code == 0 and out.strip() == "user ann added (person ann)"
    code, out, _ = run_cli(monkeypatch, capsys, ["--db", db, "--add-user", "theo", "--role", "therapist"],
                           PASSWORD + "\n")
    assert code == 0
    code, out, _ = run_cli(monkeypatch, capsys, ["--db", db, "--link-client", "theo", "ann"])
    assert code == 0 and out.strip() == "person ann linked to therapist theo"
    errors = [
        (["--add-user", "x", "--role", "person"], "a person login needs --person ID"),
        (["--add-user", "x", "--role", "person", "--person", "zed"], "no person with id 'zed'"),
        (["--add-user", "x", "--role", "therapist", "--person", "ann"], "--person applies to a person login only"),
        (["--add-user", "x", "--person", "ann"], "--person applies with --role person"),
        (["--link-client", "ann", "ann"], "'ann' is a person login, not a therapist"),
        (["--link-client", "nobody", "ann"], "no login 'nobody'"),
        (["--link-client", "theo", "zed"], "no person with id 'zed'"),
        (["--role", "admin"], "--role and --person only apply with --add-user NAME"),
    ]
    for args, said in errors:
        code, _, err = run_cli(monkeypatch, capsys, ["--db", db, *args], PASSWORD + "\n")
        assert code == 2 and said in err and err.count("\n") == 1 and "Traceback" not in err, (args, err)
    s = open_store(db)
    try:
        assert [r["username"] for r in s.query("SELECT username FROM users ORDER BY username")] == ["ann", "theo"]
        assert access.load_viewer(s, "theo", True).clients == {"ann"}
    finally:
        s.close()
    code, out, _ = run_cli(monkeypatch, capsys, ["--db", db, "--unlink-client", "theo", "ann"])
    assert code == 0 and out.strip() == "person ann unlinked from therapist theo"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'dash.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = open_store(url)
    yield s
    s.close()


def test_roles_links_and_shares_in_both_stores(any_store):
    s = any_store
    app = web.create_app(s, None, auth_required=True, secret_key="k")
    ensure_again = web.create_app(s, None, auth_required=True, secret_key="k")  # an opened store: idempotent
    assert ensure_again is not None
    s.add_person("Ann", person_id="ann")
    access.add_login(s, "theo", PASSWORD, role="therapist")
    access.add_login(s, "ann", PASSWORD, role="person", person_id="ann")
    assert access.link_client(s, "theo", "ann") and not access.link_client(s, "theo", "ann")
    assert access.load_viewer(s, "theo", True).person_ids == {"ann"}
    assert access.load_viewer(s, "ann", True).person_ids == {"ann"}
    assert access.unlink_client(s, "theo", "ann") and access.load_viewer(s, "theo", True).person_ids == set()
    d = app.state.dashboard
    share = create_share(s, created_by="ann", person_id="ann", session_id="s-1", now_s=1000.0, days=1)
    token = d.share_signer.token(share.share_id, share.expires_at)
    assert open_share(s, d.share_signer, token, 1000.0 + DAY_S - 1)[0] == "ok"
    assert open_share(s, d.share_signer, token, 1000.0 + DAY_S)[0] == "expired"
    forged = d.share_signer.token(share.share_id, share.expires_at + DAY_S)  # same id, a later expiry: no row says so
    assert open_share(s, d.share_signer, forged, 1000.0)[0] == "unknown"
    assert open_share(s, web.create_app(s, None, auth_required=True, secret_key="other").state.dashboard.share_signer,
                      token, 1000.0)[0] == "unknown"  # another dashboard's key
    assert revoke_share(s, share.share_id) and open_share(s, d.share_signer, token, 1000.0)[0] == "revoked"


# ---------------------------------------------------------------- live data (issue 23)


def open_stream(addr, path: str, cookie: str | None):
    conn = http.client.HTTPConnection(*addr, timeout=10)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    resp = conn.getresponse()
    assert resp.status == 200
    return conn, resp


def events_until(resp, status: str) -> list[tuple[str, dict]]:
    """The (event, data) frames of DEVICE up to and including its status ``status`` (the hub
    fans out in order, so what a stream has not sent before the marker it never sends)."""
    got: list[tuple[str, dict]] = []
    event = None
    while True:
        line = resp.fp.readline().decode().rstrip("\n")  # the connection's 10 s timeout bounds it
        assert line or not resp.fp.closed, "stream ended"
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event:
            data = json.loads(line[6:])
            if data.get("device_id") == DEVICE:
                got.append((event, data))
                if event == "status" and data["status"] == status:
                    return got


def test_a_person_sees_a_devices_live_data_only_while_it_is_theirs(world, monkeypatch):
    monkeypatch.setattr(live, "TELEMETRY_MIN_PERIOD_S", 0.0)  # each test frame goes out, however fast
    hub = world["app"].state.dashboard.hub
    world["store"].set_device_info(DEVICE, {"name": "Home roller", "person": "ann"})  # stale: the hub's is newer
    feed = telemetry_payloads("live-ben", n=3)
    hub.on_ingest("status", DEVICE, "online")
    hub.on_ingest("info", DEVICE, {"name": "Home roller", "person": "ben"})
    hub.on_ingest("telemetry", DEVICE, feed[0])
    with serve(world["app"]) as addr:
        cookies = {r: log_in(addr, r) for r in ("admin", "ann", "ben")}
        pages = {r: (call(addr, "GET", "/", cookie=c)[2], call(addr, "GET", f"/device/{DEVICE}", cookie=c)[2])
                 for r, c in cookies.items()}
        assert "Running now: " not in pages["ann"][0] and "live-ben" not in pages["ann"][1]
        for role in ("ben", "admin"):
            assert "Running now: " in pages[role][0] and "live-ben" in pages[role][1], role
        assert f"data-device-id=\"{DEVICE}\"" in pages["ann"][0] and ">online<" in pages["ann"][0]  # its card and status
        streams = {"ann": open_stream(addr, f"/api/live/{DEVICE}", cookies["ann"]),
                   "ann-all": open_stream(addr, "/api/live", cookies["ann"]),
                   "ben": open_stream(addr, f"/api/live/{DEVICE}", cookies["ben"]),
                   "admin": open_stream(addr, "/api/live", cookies["admin"])}
        # a stream subscribes to the hub once its response has begun: wait for all four
        wait_until(lambda: hub.streams == len(streams), what="the four streams subscribed")
        hub.on_ingest("event", DEVICE, pass_event("live-ben", 501.0, 0.2, 0.08))
        hub.on_ingest("telemetry", DEVICE, feed[1])
        ben_summary = summary_payload("live-ben", started_at=iso(datetime.now(UTC))) | {"person_id": "ben"}
        hub.on_ingest("session", DEVICE, ben_summary)
        hub.on_ingest("status", DEVICE, "offline")
        seen = {name: events_until(resp, "offline") for name, (_, resp) in streams.items()}
        for name in ("ann", "ann-all"):
            assert {e for e, _ in seen[name]} == {"status"}, (name, seen[name])
        for name in ("ben", "admin"):
            kinds = [e for e, _ in seen[name]]
            assert {"telemetry", "event", "session"} <= set(kinds), (name, kinds)
            assert kinds[:2] == ["status", "telemetry"]  # the snapshot: the running session

        # the device's current person becomes Ann: her live data now, and not Ben's
        hub.on_ingest("status", DEVICE, "online")
        hub.on_ingest("info", DEVICE, {"name": "Home roller", "person": "ann"})
        mine = telemetry_payloads("live-ann", n=2)
        hub.on_ingest("telemetry", DEVICE, mine[0])
        hub.on_ingest("event", DEVICE, pass_event("live-ann", 501.0, 0.2, 0.08))
        ann_summary = summary_payload("live-ann", started_at=iso(datetime.now(UTC))) | {"person_id": "ann"}
        hub.on_ingest("session", DEVICE, ann_summary)
        hub.on_ingest("status", DEVICE, "offline")
        seen = {name: events_until(resp, "offline") for name, (_, resp) in streams.items()}
        for name in ("ann", "ann-all", "admin"):
            kinds = {e for e, _ in seen[name]}
            assert kinds == {"status", "info", "telemetry", "event", "session"}, (name, kinds)
            assert all(d.get("session_id") in (None, "live-ann") for _, d in seen[name])
        assert {e for e, _ in seen["ben"]} == {"status"}
        for conn, _ in streams.values():
            conn.close()


def test_before_the_hub_hears_a_device_its_stored_person_decides(world):
    """A dashboard just started: the live hub has telemetry but no info yet; the store's info
    (its last retained info) names the person."""
    hub = world["app"].state.dashboard.hub
    world["store"].set_device_info(SPARE, {"name": "Spare roller", "person": "ben"})
    hub.on_ingest("telemetry", SPARE, telemetry_payloads("live-spare", n=1)[0])
    with serve(world["app"]) as addr:
        for role, shown in (("ann", False), ("ben", True), ("admin", True)):
            page = call(addr, "GET", f"/device/{SPARE}", cookie=log_in(addr, role))[2]
            assert ("live-spare" in page) is shown, role
