"""Logging in and out: the login form (LoginThrottle paces wrong guesses), the server-side
session it opens, and the logout that ends it."""

from __future__ import annotations

import math
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dashboard.auth import (
    COOKIE,
    COOKIE_MAX_AGE_S,
    check_login,
    end_session,
    safe_next,
    start_session,
    wait_text,
)
from dashboard.context import Pages
from dashboard.render import esc, form_data, layout


class LoginPages(Pages):
    """``/login`` and ``/logout``."""

    def login_page(self, request: Request, message: str = "", status_code: int = 200) -> HTMLResponse:
        nxt = safe_next(request.query_params.get("next"))
        no_users = not self.store.query("SELECT username FROM users LIMIT 1")
        hint = (
            '<p class="muted">No logins exist yet. On the dashboard machine run '
            "<code>rollsense dashboard --add-user NAME</code> and type the password.</p>" if no_users else ""
        )
        note = f'<p id="login-msg" class="msg error" role="alert">{esc(message)}</p>' if message else ""
        body = f"""<section class="card login"><h1>Log in</h1>{hint}
<form method="post" action="/login" id="login-form"><input type="hidden" name="next" value="{esc(nxt)}">
<label>User name <input name="username" id="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
<button type="submit" class="primary">Log in</button></form>{note}</section>"""
        return layout(request, "Log in", body, status_code=status_code)

    async def login(self, request: Request) -> Response:
        """Wrong guesses wait (LoginThrottle: per user and address, and per user); the right
        password opens a new server-side session (the old one of this browser ends)."""
        form = await form_data(request)
        username, password = form.get("username", "").strip(), form.get("password", "")
        who = request.client.host if request.client else "?"  # a proxy's client only if trusted
        request.scope["query_string"] = ("next=" + quote(form.get("next", "/"), safe="")).encode()
        wait_s = self.d.throttle.wait_s(username, who)
        if wait_s > 0:
            resp = await run_in_threadpool(self.login_page, request, wait_text(wait_s), 429)
            resp.headers["Retry-After"] = str(math.ceil(wait_s))
            return resp
        ok = bool(username and password) and await run_in_threadpool(check_login, self.store, username, password)
        if not ok:
            self.d.throttle.failed(username, who)
            return await run_in_threadpool(self.login_page, request, "Wrong user name or password.", 401)
        self.d.throttle.succeeded(username, who)
        await run_in_threadpool(end_session, self.store, getattr(request.state, "session_id", None))
        session_id = await run_in_threadpool(start_session, self.store, username)
        resp = RedirectResponse(safe_next(form.get("next")), status_code=303)
        resp.set_cookie(COOKIE, self.d.signer.sign(session_id), max_age=COOKIE_MAX_AGE_S, httponly=True,
                        samesite="lax", secure=self.d.secure_cookies or request.url.scheme == "https")
        return resp

    def logout_page(self, request: Request) -> Response:
        """GET /logout logs nobody out (another site's <img> can make a GET): a button that
        POSTs, which the same-origin check guards."""
        if not getattr(request.state, "user", None):
            return RedirectResponse("/login" if self.d.auth_required else "/", status_code=303)
        body = """<section class="card login"><h1>Log out</h1>
<form method="post" action="/logout" id="logout-form"><button type="submit" class="primary">Log out</button></form></section>"""
        return layout(request, "Log out", body)

    def logout(self, request: Request) -> Response:
        """Ends the session on the server: its cookie, wherever a copy is, opens nothing."""
        end_session(self.store, getattr(request.state, "session_id", None))
        resp = RedirectResponse("/login" if self.d.auth_required else "/", status_code=303)
        resp.delete_cookie(COOKIE, httponly=True, samesite="lax",
                           secure=self.d.secure_cookies or request.url.scheme == "https")
        return resp
