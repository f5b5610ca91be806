"""Roles and access (issue 23): who a login is, and what it may see and do.

A login (``users``) has a ``role``:

    admin      sees and does everything (every login made before roles existed is one, and so
               is the owner on a loopback dashboard that asks for no login)
    person     linked to one person (``users.person_id``): their own sessions, person page,
               plan and exports; may use any paired device, only as themselves, and
               sees a device's live data only while its current person is them
               (dashboard/live_pages.py ``sees``; its status is anyone's)
    therapist  linked to clients (``therapist_clients``): those people's pages, sessions and
               exports; no devices, no quarantine, no people admin

The store side, made (or brought up to date) when the dashboard opens a store, as the plan
tables are (``ensure_access_tables``), in SQL both SQLite and PostgreSQL take::

    users.role TEXT NOT NULL DEFAULT 'admin', users.person_id TEXT    (added in place)
    therapist_clients(therapist, person_id)                           one row per link

Every route has a rule (``RULES``, by method and path template); ``AccessMiddleware`` finds
the route a request goes to and applies its rule before the handler runs, so no page or export
is guarded by hiding its links only. A route without a rule is refused (and the route-by-route
test fails). One policy function per kind of resource decides: ``may_see_person`` (a person
id), ``session_person`` (a session id -> its person), ``may_use_device`` (a device id). What a
login may not see answers 404 like what does not exist, so ids do not leak; pages only an
admin uses answer 403. Data with no person (nobody chosen) is the admin's only. Lists
(history, overview, plan, people) are filtered by ``Viewer.person_ids``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Match

from dashboard.auth import add_user
from dashboard.render import esc, layout
from firmware.common.errors import ConfigError

ROLES = ("admin", "person", "therapist")
USER_COLUMNS = (("role", "TEXT NOT NULL DEFAULT 'admin'"), ("person_id", "TEXT"))
ACCESS_TABLES = (
    "CREATE TABLE IF NOT EXISTS therapist_clients(therapist TEXT NOT NULL, person_id TEXT NOT NULL, "
    "PRIMARY KEY(therapist, person_id))",
)

# rule kinds
OPEN = "open"  # no login needed (the login page, static files, health, a share link)
ANY = "any"  # any login; the handler filters what it lists by Viewer.person_ids
ADMIN = "admin"
PERSON = "person"  # path param person_id: may_see_person
PERSON_WRITE = "person_write"  # changing a person's own things: admin or that person
SESSION = "session"  # path param session_id: its person may be seen
SESSION_WRITE = "session_write"  # admin or the session's own person
DEVICE = "device"  # path param device_id (or none: every device): may_use_device
SHARER = "sharer"  # admin or a person (who may share their own data); not a therapist
PRESCRIBER = "prescriber"  # path param person_id: an admin, or a therapist of this client

# (method, path template) -> rule. HEAD goes as GET.
RULES: dict[tuple[str, str], str] = {
    ("GET", "/"): ANY,
    ("GET", "/healthz"): OPEN,
    ("GET", "/metrics"): OPEN,  # the handler checks the login itself (a cookie or HTTP Basic): admins
    ("GET", "/api/broker"): ANY,
    ("GET", "/device/{device_id}"): DEVICE,
    ("GET", "/api/live"): DEVICE,
    ("GET", "/api/live/{device_id}"): DEVICE,
    ("POST", "/api/device/{device_id}/start"): DEVICE,
    ("POST", "/api/device/{device_id}/stop"): DEVICE,
    ("GET", "/session/{session_id}"): SESSION,
    ("GET", "/history"): ANY,
    ("GET", "/api/session/{session_id}.{fmt}"): SESSION,
    ("GET", "/api/history.{fmt}"): ANY,
    ("GET", "/devices"): ADMIN,
    ("GET", "/admin/quarantine"): ADMIN,
    ("POST", "/devices/pair"): ADMIN,
    ("POST", "/devices/{device_id}/forget"): ADMIN,
    ("GET", "/people"): ANY,
    ("POST", "/people"): ADMIN,
    ("POST", "/people/{person_id}"): ADMIN,
    ("POST", "/people/therapists/link"): ADMIN,
    ("POST", "/people/therapists/unlink"): ADMIN,
    ("GET", "/person/{person_id}"): PERSON,
    ("GET", "/login"): OPEN,
    ("POST", "/login"): OPEN,
    ("GET", "/logout"): OPEN,
    ("POST", "/logout"): OPEN,
    ("GET", "/plan"): ANY,
    ("GET", "/person/{person_id}/plan"): PERSON,
    ("POST", "/person/{person_id}/plan"): PERSON_WRITE,
    ("POST", "/session/{session_id}/soreness"): SESSION_WRITE,
    ("GET", "/static"): OPEN,
    ("GET", "/share/{token}"): OPEN,
    ("GET", "/share/{token}/session/{session_id}"): OPEN,
    ("GET", "/shares"): SHARER,
    ("POST", "/shares"): SHARER,
    ("POST", "/shares/{share_id}/revoke"): SHARER,
    ("GET", "/person/{person_id}/prescription"): PERSON,
    ("POST", "/person/{person_id}/prescription"): PRESCRIBER,
    ("GET", "/person/{person_id}/adherence"): PERSON,
}


# ---------------------------------------------------------------- the store


def ensure_access_tables(store) -> None:
    """Roles on the logins (an older store's logins become admins) and the therapist links;
    idempotent, and two dashboards opening one old store at once both end with the columns."""
    store.add_columns("users", USER_COLUMNS)
    for sql in ACCESS_TABLES:
        store.execute(sql)


def check_role(role: str, person_id: str | None, store) -> None:
    """ConfigError (one line) unless ``role`` is one and ``person_id`` fits it: a person
    login names an existing person; the others name none."""
    if role not in ROLES:
        raise ConfigError(f"role {role!r}: use admin, person or therapist")
    if role == "person":
        if not person_id:
            raise ConfigError("a person login needs --person ID (the person it is; see the People page)")
        if store.person(person_id) is None:
            raise ConfigError(f"no person with id {person_id!r} (see the People page for the ids)")
    elif person_id:
        raise ConfigError(f"--person applies to a person login only, not to a {role}")


def set_role(store, username: str, role: str, person_id: str | None = None) -> None:
    """Give an existing login its role (and person). ConfigError as check_role."""
    ensure_access_tables(store)
    check_role(role, person_id, store)
    store.execute("UPDATE users SET role = ?, person_id = ? WHERE username = ?",
                  (role, person_id if role == "person" else None, username))


def add_login(store, username: str, password: str, *, role: str | None = None, person_id: str | None = None,
              replace: bool = False) -> bool:
    """``rollsense dashboard --add-user NAME [--role R] [--person ID] [--replace]``: a new login
    (an admin unless ``role`` says otherwise), or a new password (and, given, a new role) for
    an existing one. True when a password was replaced. Everything is checked before anything
    is stored (ConfigError, one line)."""
    ensure_access_tables(store)
    if role is not None:
        check_role(role, person_id, store)
    elif person_id:
        raise ConfigError("--person applies with --role person")
    replaced = add_user(store, username, password, replace=replace)
    if role is not None:
        set_role(store, username, role, person_id)
    return replaced


def _login(store, username: str) -> dict:
    rows = store.query("SELECT username, role, person_id FROM users WHERE username = ?", (username,))
    if not rows:
        raise ConfigError(f"no login {username!r} (add it with --add-user NAME --role therapist)")
    return rows[0]


def link_client(store, therapist: str, person_id: str) -> bool:
    """Link a person to a therapist login; True if the link is new. ConfigError (one line)
    when the login is not a therapist or there is no such person."""
    ensure_access_tables(store)
    login = _login(store, therapist)
    if login["role"] != "therapist":
        raise ConfigError(f"{therapist!r} is a {login['role']} login, not a therapist")
    if store.person(person_id) is None:
        raise ConfigError(f"no person with id {person_id!r} (see the People page for the ids)")
    return store.execute("INSERT INTO therapist_clients(therapist, person_id) VALUES (?, ?) "
                         "ON CONFLICT(therapist, person_id) DO NOTHING", (therapist, person_id)) == 1


def unlink_client(store, therapist: str, person_id: str) -> bool:
    """End a therapist's link to a person; True if there was one."""
    ensure_access_tables(store)
    _login(store, therapist)
    return store.execute("DELETE FROM therapist_clients WHERE therapist = ? AND person_id = ?",
                         (therapist, person_id)) == 1


def therapists(store) -> list[dict]:
    """Every therapist login with their clients' ids: ``{username, clients: [...]}``."""
    links: dict[str, list[str]] = {}
    for r in store.query("SELECT therapist, person_id FROM therapist_clients ORDER BY person_id"):
        links.setdefault(r["therapist"], []).append(r["person_id"])
    return [{"username": r["username"], "clients": links.get(r["username"], [])}
            for r in store.query("SELECT username FROM users WHERE role = ? ORDER BY username", ("therapist",))]


# ---------------------------------------------------------------- who is looking


@dataclass(frozen=True)
class Viewer:
    """A login as the pages see it. ``person_ids``: the people whose data it may see (None:
    everyone's, and the data of nobody: an admin)."""

    username: str | None
    role: str
    person_id: str | None = None
    clients: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def person_ids(self) -> frozenset[str] | None:
        if self.role == "admin":
            return None
        if self.role == "person":
            return frozenset({self.person_id}) if self.person_id else frozenset()
        return self.clients

    def may_see_person(self, person_id: str | None) -> bool:
        """The policy for a person id (None: data nobody was chosen for: admin only)."""
        ids = self.person_ids
        return ids is None or (person_id is not None and person_id in ids)

    def may_change_person(self, person_id: str | None) -> bool:
        """Admin, or the person themselves (a therapist reads, does not change)."""
        return self.is_admin or (self.role == "person" and person_id is not None and person_id == self.person_id)

    def may_use_device(self, device: dict | None) -> bool:
        """The policy for a device: an admin any; a person any paired one (to start as
        themselves); a therapist none. ``device`` None: every device (the overview stream)."""
        if self.is_admin:
            return True
        if self.role != "person":
            return False
        return device is None or bool(device.get("paired"))


ADMIN_VIEWER = Viewer(None, "admin")
NOBODY = Viewer(None, "none")  # a login that vanished mid-request: sees nothing


def load_viewer(store, username: str | None, auth_required: bool) -> Viewer:
    """The Viewer of a request: no login on a dashboard that asks for none is the owner (an
    admin); a login is what its row says."""
    if username is None:
        return NOBODY if auth_required else ADMIN_VIEWER
    rows = store.query("SELECT role, person_id FROM users WHERE username = ?", (username,))
    if not rows:
        return NOBODY
    role = rows[0].get("role") or "admin"
    clients = frozenset()
    if role == "therapist":
        clients = frozenset(r["person_id"] for r in store.query(
            "SELECT person_id FROM therapist_clients WHERE therapist = ?", (username,)))
    return Viewer(username, role, rows[0].get("person_id"), clients)


def viewer(request) -> Viewer:
    """The request's Viewer (set by AccessMiddleware; an admin in a bare handler test)."""
    return getattr(request.state, "viewer", None) or ADMIN_VIEWER


def session_person(store, session_id: str) -> tuple[bool, str | None]:
    """The policy lookup for a session id: (whether a paired device's session has it, its
    person id)."""
    rows = store.query("SELECT s.person_id FROM sessions s JOIN devices d ON d.device_id = s.device_id "
                       "WHERE s.session_id = ? AND d.paired = ?", (session_id, 1))
    return (True, rows[0]["person_id"]) if rows else (False, None)


def may_see_session(store, who: Viewer, session_id: str, *, write: bool = False) -> bool:
    found, person_id = session_person(store, session_id)
    if not found:
        return True  # the handler says "no such session", as to anyone
    return who.may_change_person(person_id) if write else who.may_see_person(person_id)


def decide(store, who: Viewer, rule: str | None, params: dict) -> str:
    """``ok``, ``hidden`` (answer 404: not theirs, or not there) or ``forbidden`` (403)."""
    if rule == OPEN:
        return "ok"
    if rule is None or who.role == "none":
        return "forbidden"
    if rule == ANY:
        return "ok"
    if rule == ADMIN:
        return "ok" if who.is_admin else "forbidden"
    if rule == SHARER:
        return "ok" if who.is_admin or who.role == "person" else "forbidden"
    if rule == PERSON:
        return "ok" if who.may_see_person(params.get("person_id")) else "hidden"
    if rule == PRESCRIBER:
        if not who.may_see_person(params.get("person_id")):
            return "hidden"
        return "ok" if who.is_admin or who.role == "therapist" else "forbidden"
    if rule == PERSON_WRITE:
        if not who.may_see_person(params.get("person_id")):
            return "hidden"
        return "ok" if who.may_change_person(params.get("person_id")) else "forbidden"
    if rule in (SESSION, SESSION_WRITE):
        sid = params.get("session_id", "")
        if not may_see_session(store, who, sid):
            return "hidden"
        return "ok" if rule == SESSION or may_see_session(store, who, sid, write=True) else "forbidden"
    if rule == DEVICE:
        device_id = params.get("device_id")
        if device_id is None:
            return "ok" if who.may_use_device(None) else "forbidden"
        rows = store.query("SELECT device_id, paired FROM devices WHERE device_id = ?", (device_id,))
        if who.is_admin:
            return "ok"
        return "ok" if rows and who.may_use_device(rows[0]) else "hidden"
    return "forbidden"


def rule_for(method: str, path: str) -> str | None:
    return RULES.get(("GET" if method == "HEAD" else method, path))


class AccessMiddleware:
    """Applies the rule of the route a request goes to (``RULES``), before its handler runs,
    and sets ``request.state.viewer``. Runs inside GuardMiddleware (which has set the user
    and turned away those not logged in)."""

    def __init__(self, app, store, router, auth_required: bool) -> None:
        self.app = app
        self.store = store
        self.router = router
        self.auth_required = auth_required

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        route, params = self._route(scope)
        if route is None:  # Starlette answers its own 404 / 405
            return await self.app(scope, receive, send)
        rule = rule_for(scope["method"], route.path)
        if rule == OPEN and not state.get("user"):
            state["viewer"] = NOBODY if self.auth_required else ADMIN_VIEWER
            return await self.app(scope, receive, send)
        try:
            who = await run_in_threadpool(load_viewer, self.store, state.get("user"), self.auth_required)
            verdict = await run_in_threadpool(decide, self.store, who, rule, params)
        except Exception:  # noqa: BLE001 - the store is down: /healthz and the login still answer
            if rule != OPEN:
                raise
            who, verdict = NOBODY, "ok"
        state["viewer"] = who
        if verdict != "ok":
            return await refusal(scope, verdict)(scope, receive, send)
        return await self.app(scope, receive, send)

    def _route(self, scope):
        for route in self.router.routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                return route, child.get("path_params", {})
        return None, {}


def refusal(scope, verdict: str):
    """404 (not theirs, said as not there) or 403 (only an admin's), as JSON under /api/."""
    api = scope.get("path", "").startswith("/api/")
    if verdict == "hidden":
        if api:
            return JSONResponse({"error": "not found"}, status_code=404)
        return _page(scope, 404, "Not found", "Nothing here with that id.")
    if api:
        return JSONResponse({"error": "this login may not do that"}, status_code=403)
    return _page(scope, 403, "Not for this login", "This page is for the dashboard's administrator.")


def _page(scope, status: int, title: str, text: str) -> HTMLResponse:
    body = (f'<section class="card empty" id="refused"><h1>{esc(title)}</h1><p>{esc(text)}</p>'
            '<p><a href="/">Back to the dashboard</a></p></section>')
    return layout(Request(scope), title, body, status_code=status)


def may_see(request, person_id: str) -> bool:
    """This request's login may see ``person_id``'s data (their prescription and adherence):
    the same policy as every route's (``Viewer.may_see_person``)."""
    return viewer(request).may_see_person(person_id)
