"""Dashboard logins: salted PBKDF2 passwords in the store, signed session cookies, a
login throttle, and the middleware that guards every page when a login is required."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from urllib.parse import quote, urlsplit

from starlette.responses import (
    JSONResponse,
    RedirectResponse,
    Response,
)

from firmware.errors import ConfigError

COOKIE = "rollsense_session"
COOKIE_MAX_AGE_S = 14 * 24 * 3600
PBKDF2_ITERATIONS = 240_000
OPEN_PATHS = ("/login", "/static/", "/favicon.ico", "/healthz")  # /healthz: for monitors
LOGIN_FAILURES_MAX = 5  # per client address within LOGIN_WINDOW_S, then refused until it passes
LOGIN_WINDOW_S = 300.0
USERNAME_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")



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
        return True
    store.execute("INSERT INTO users(username, password_hash) VALUES (?, ?)", (username, hashed))
    return False


def check_login(store, username: str, password: str) -> bool:
    rows = store.query("SELECT password_hash FROM users WHERE username = ?", (username.strip(),))
    if not rows:
        verify_password(password, hash_password("timing-equaliser", iterations=PBKDF2_ITERATIONS))
        return False
    return verify_password(password, rows[0]["password_hash"])


class LoginThrottle:
    """Counts failed logins per client address; too many in the window -> refuse for a while."""

    def __init__(self, max_failures: int = LOGIN_FAILURES_MAX, window_s: float = LOGIN_WINDOW_S) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, who: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(who, []) if now - t < self.window_s]
        if times:
            self._failures[who] = times
        else:
            self._failures.pop(who, None)
        return times

    def blocked(self, who: str) -> bool:
        with self._lock:
            return len(self._recent(who, time.monotonic())) >= self.max_failures

    def failed(self, who: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._failures[who] = self._recent(who, now) + [now]

    def succeeded(self, who: str) -> None:
        with self._lock:
            self._failures.pop(who, None)


class CookieSigner:
    """HMAC-SHA256 signed session cookie: base64(json{u, exp}).signature."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(("rollsense-cookie:" + secret_key).encode()).digest()

    def _sig(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def sign(self, username: str, max_age_s: int = COOKIE_MAX_AGE_S) -> str:
        body = base64.urlsafe_b64encode(json.dumps({"u": username, "exp": int(time.time()) + max_age_s}).encode())
        text = body.decode().rstrip("=")
        return f"{text}.{self._sig(text)}"

    def user(self, cookie: str | None) -> str | None:
        if not cookie or "." not in cookie:
            return None
        text, sig = cookie.rsplit(".", 1)
        if not hmac.compare_digest(sig, self._sig(text)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("exp", 0) < time.time():
            return None
        return str(data.get("u") or "") or None


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
    form posts to a dashboard on loopback). Sets ``request.state.user``."""

    def __init__(self, app, signer: CookieSigner, auth_required: bool) -> None:
        self.app = app
        self.signer = signer
        self.auth_required = auth_required

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        user = self.signer.user(_cookie_from_scope(scope))
        scope.setdefault("state", {})["user"] = user
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


