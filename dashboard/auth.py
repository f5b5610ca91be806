"""Dashboard logins: salted PBKDF2 passwords in the store, server-side sessions (a random id
in a signed cookie, revocable: logout, a new password), a login throttle that slows guessing
without locking the owner out, and the middleware that guards every page when a login is
required."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.responses import (
    JSONResponse,
    RedirectResponse,
    Response,
)

from firmware.common.errors import ConfigError

COOKIE = "rollsense_session"
COOKIE_MAX_AGE_S = 14 * 24 * 3600
PBKDF2_ITERATIONS = 240_000
# /healthz, /metrics: for monitors (/metrics checks a login itself: a cookie or HTTP Basic);
# /share/: a share link (dashboard/sharing.py checks its token)
OPEN_PATHS = ("/login", "/static/", "/favicon.ico", "/healthz", "/metrics", "/share/")
USERNAME_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")
# Server-side sessions: the SHA-256 of the random id (the cookie carries the id, signed), so
# a copy of the database alone opens no session.
LOGINS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS web_logins(id_hash TEXT PRIMARY KEY, username TEXT NOT NULL, "
    "expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS web_logins_username ON web_logins(username)",
)
# Login throttle (see LoginThrottle): free tries, then a wait doubling from BASE up to MAX.
LOGIN_FREE_TRIES = 3  # per (user name, client address)
LOGIN_FREE_TRIES_PER_USER = 10  # per user name, from all addresses together
LOGIN_DELAY_BASE_S = 1.0
LOGIN_DELAY_MAX_S = 60.0
LOGIN_FORGET_S = 900.0  # failures this old no longer count



# ================================================================= passwords and users


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Salted PBKDF2-SHA256: ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, iterations, salt_hex, hash_hex = stored.split("$")
        if algo != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt_hex), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)


def check_username(username: str) -> str:
    """A login name: 1 to 64 letters, digits and . _ @ - (no spaces: what you see is what you
    type at the login form). ConfigError (one line) otherwise."""
    if not USERNAME_RE.fullmatch(username):
        raise ConfigError(f"user name {username!r}: use 1 to 64 letters, digits and . _ @ -")
    return username


def add_user(store, username: str, password: str, *, replace: bool = False) -> bool:
    """Create a login (for ``rollsense dashboard --add-user``); with ``replace``, set a new
    password for an existing one. True when a password was replaced. ConfigError (one line)
    for a malformed name, a password under 8 characters, or an existing name without
    ``replace``."""
    check_username(username)
    if len(password) < 8:
        raise ConfigError("password must be at least 8 characters")
    hashed = hash_password(password)
    if store.query("SELECT username FROM users WHERE username = ?", (username,)):
        if not replace:
            raise ConfigError(f"user {username!r} already exists; add --replace to set a new password")
        store.execute("UPDATE users SET password_hash = ? WHERE username = ?", (hashed, username))
        end_sessions_of(store, username)  # a new password logs out every browser of the old one
        return True
    store.execute("INSERT INTO users(username, password_hash) VALUES (?, ?)", (username, hashed))
    return False


def check_login(store, username: str, password: str) -> bool:
    rows = store.query("SELECT password_hash FROM users WHERE username = ?", (username.strip(),))
    if not rows:
        verify_password(password, hash_password("timing-equaliser", iterations=PBKDF2_ITERATIONS))
        return False
    return verify_password(password, rows[0]["password_hash"])


# ================================================================= sessions


def ensure_logins_table(store) -> None:
    for sql in LOGINS_SCHEMA:
        store.execute(sql)


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(store, username: str, max_age_s: int = COOKIE_MAX_AGE_S) -> str:
    """A new session for ``username``: stores the hash of a random id and returns the id
    (for the signed cookie). Expired sessions are deleted on the way."""
    now = int(time.time())
    session_id = secrets.token_urlsafe(32)
    store.execute("DELETE FROM web_logins WHERE expires_at <= ?", (now,))
    store.execute("INSERT INTO web_logins(id_hash, username, expires_at) VALUES (?, ?, ?)",
                  (_id_hash(session_id), username, now + max_age_s))
    return session_id


def session_user(store, session_id: str | None) -> str | None:
    """The user of a live session (not logged out, not expired, the login still there)."""
    if not session_id:
        return None
    rows = store.query(
        "SELECT l.username FROM web_logins l JOIN users u ON u.username = l.username "
        "WHERE l.id_hash = ? AND l.expires_at > ?", (_id_hash(session_id), int(time.time())))
    return rows[0]["username"] if rows else None


def end_session(store, session_id: str | None) -> None:
    if session_id:
        store.execute("DELETE FROM web_logins WHERE id_hash = ?", (_id_hash(session_id),))


def end_sessions_of(store, username: str) -> None:
    ensure_logins_table(store)
    store.execute("DELETE FROM web_logins WHERE username = ?", (username,))


# ================================================================= throttle


class LoginThrottle:
    """Slows down password guessing without locking the owner out.

    Failures are counted per (user name, client address) and per user name from all
    addresses together. After ``free`` failures (``free_per_user`` for the name alone) the
    next try waits ``base_s`` seconds, doubling with each further failure up to
    ``max_delay_s``; a try during the wait is refused before the password is checked (so the
    wait tells nothing). The right password is accepted once the wait has passed, and clears
    the (user, address) count. An address that logged in as the user before is not held by
    the per-user wait, so guesses from elsewhere cannot keep the owner out. Failures older
    than ``forget_s`` no longer count. ``clock`` is a monotonic seconds function (injectable:
    tests move it by hand)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, free: int = LOGIN_FREE_TRIES,
                 free_per_user: int = LOGIN_FREE_TRIES_PER_USER, base_s: float = LOGIN_DELAY_BASE_S,
                 max_delay_s: float = LOGIN_DELAY_MAX_S, forget_s: float = LOGIN_FORGET_S,
                 max_entries: int = 10_000) -> None:
        self.clock = clock
        self.free, self.free_per_user = free, free_per_user
        self.base_s, self.max_delay_s, self.forget_s = base_s, max_delay_s, forget_s
        self.max_entries = max_entries
        self._failures: dict[tuple, list[float]] = {}  # key -> [count, time of the last failure]
        self._known: dict[tuple[str, str], float] = {}  # (user, address) that logged in -> when
        self._lock = threading.Lock()

    def _delay(self, key: tuple, free: int, now: float) -> float:
        entry = self._failures.get(key)
        if entry is None:
            return 0.0
        count, last = entry
        if now - last >= self.forget_s:
            del self._failures[key]
            return 0.0
        if count < free:
            return 0.0
        delay = min(self.base_s * 2 ** (count - free), self.max_delay_s)
        return max(0.0, last + delay - now)

    def wait_s(self, username: str, address: str) -> float:
        """Seconds until ``username`` may try again from ``address`` (0: now)."""
        user = username.strip()[:64]
        with self._lock:
            now = self.clock()
            wait = self._delay(("pair", user, address), self.free, now)
            if (user, address) not in self._known:
                wait = max(wait, self._delay(("user", user), self.free_per_user, now))
            return wait

    def failed(self, username: str, address: str) -> None:
        user = username.strip()[:64]
        with self._lock:
            now = self.clock()
            for key in (("pair", user, address), ("user", user)):
                self._delay(key, 0, now)  # forgets an old entry
                count = self._failures.get(key, [0, now])[0]
                self._failures[key] = [count + 1, now]
            self._prune(now)

    def succeeded(self, username: str, address: str) -> None:
        user = username.strip()[:64]
        with self._lock:
            self._failures.pop(("pair", user, address), None)
            self._known[(user, address)] = self.clock()
            self._prune(self.clock())

    def _prune(self, now: float) -> None:
        """Bounded memory: drop forgotten entries, then the oldest, past ``max_entries``."""
        for table, last in ((self._failures, lambda v: v[1]), (self._known, lambda v: v)):
            if len(table) <= self.max_entries:
                continue
            for key in [k for k, v in table.items() if now - last(v) >= self.forget_s]:
                del table[key]
            if len(table) > self.max_entries:
                for key in sorted(table, key=lambda k: last(table[k]))[: len(table) - self.max_entries]:
                    del table[key]


def wait_text(wait_s: float) -> str:
    return f"Too many wrong passwords. Try again in {math.ceil(wait_s)} s."


# ================================================================= cookies


class CookieSigner:
    """HMAC-SHA256 signed session cookie: ``<session id>.<signature>``. The id is random and
    means something only while its session is in the store."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(("rollsense-cookie:" + secret_key).encode()).digest()

    def _sig(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def sign(self, session_id: str) -> str:
        return f"{session_id}.{self._sig(session_id)}"

    def session_id(self, cookie: str | None) -> str | None:
        """The id in a cookie this key signed, else None."""
        if not cookie or "." not in cookie:
            return None
        text, sig = cookie.rsplit(".", 1)
        if not text or not hmac.compare_digest(sig, self._sig(text)):
            return None
        return text


def _cookie_from_scope(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == COOKIE:
                    return val
    return None


def _header(scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return None


class GuardMiddleware:
    """Login wall (when required) and a same-origin check on every POST (against cross-site
    form posts to a dashboard on loopback). Sets ``request.state.user`` and
    ``request.state.session_id`` (None without a live session)."""

    def __init__(self, app, signer: CookieSigner, store, auth_required: bool) -> None:
        self.app = app
        self.signer = signer
        self.store = store
        self.auth_required = auth_required

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        session_id = self.signer.session_id(_cookie_from_scope(scope))
        user = await run_in_threadpool(_session_user_or_none, self.store, session_id) if session_id else None
        state = scope.setdefault("state", {})
        state["user"], state["session_id"] = user, session_id if user else None
        if scope.get("method") == "POST" and not _same_origin(scope):
            return await PlainError(403, "cross-site request refused")(scope, receive, send)
        if self.auth_required and user is None and not path.startswith(OPEN_PATHS):
            if path.startswith("/api/"):
                resp = JSONResponse({"error": "login required"}, status_code=401)
            else:
                query = scope.get("query_string", b"").decode("latin-1")
                target = path + ("?" + query if query else "")
                resp = RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
            return await resp(scope, receive, send)
        return await self.app(scope, receive, send)


def _session_user_or_none(store, session_id: str) -> str | None:
    """session_user, or None while the store is down (/healthz must still say so)."""
    try:
        return session_user(store, session_id)
    except Exception:  # noqa: BLE001 - any store failure: no session can be confirmed
        return None


def PlainError(status: int, text: str) -> Response:  # noqa: N802 - reads like a response class
    return Response(text + "\n", status_code=status, media_type="text/plain")


def _same_origin(scope) -> bool:
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return origin is None
    host = _header(scope, b"host") or ""
    return urlsplit(origin).netloc == host


def safe_next(target: str | None) -> str:
    """A local redirect target only (no scheme, no host, no //)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


