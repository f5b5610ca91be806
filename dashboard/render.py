"""HTML rendering helpers of the dashboard: escaping, time formatting and the page layout.
Speeds, lengths, forces and targets are worded by ``firmware.common.units``, as on the terminal."""

from __future__ import annotations

import html
import json
from datetime import datetime
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
)

from dashboard import queries as q
from firmware.core.protocols import list_routines, load_routine

FORM_MAX_BYTES = 16 * 1024



# ================================================================= formatting


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_duration(seconds) -> str:
    s = q.num(seconds)
    if s is None:
        return "–"
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60}:{s % 60:02d}"


def fmt_when(iso: str | None) -> str:
    dt = q.parse_ts(iso)
    if dt is None:
        return "–"
    local = dt.astimezone()
    today = datetime.now().astimezone().date()
    if local.date() == today:
        return "Today " + local.strftime("%H:%M")
    return local.strftime("%a %d %b %Y, %H:%M")


def routine_title(protocol: str | None) -> str:
    if not protocol:
        return "Unknown routine"
    try:
        title = getattr(load_routine(protocol), "title", None)
        if title:
            return str(title)
    except Exception:  # noqa: BLE001 - history outlives routine files
        pass
    return protocol.replace("-", " ").capitalize()


def routine_choices(info: dict | None = None) -> list[tuple[str, str]]:
    """(id, title) of the routines the Start control offers: the device's own list when its
    ``info`` has one (``routines``: the routines of its tool, its user's own too), else the
    built-in routines of its ``tool`` (every one when its info names none)."""
    listed = info.get("routines") if isinstance(info, dict) else None
    tool = info.get("tool") if isinstance(info, dict) and isinstance(info.get("tool"), str) else None
    if isinstance(listed, list):
        own = [(r["id"], str(r.get("title") or r["id"])) for r in listed
               if isinstance(r, dict) and isinstance(r.get("id"), str)]
        if own:
            return own
    try:
        found = [(r.id, getattr(r, "title", r.id)) for r in list_routines() if tool in (None, r.tool)]
        if found:
            return found
    except Exception:  # noqa: BLE001 - a routine file that does not load falls back to the known ids
        pass
    return [(pid, routine_title(pid)) for pid in q.KNOWN_MUSCLES]


def data_script(data) -> str:
    text = json.dumps(data, separators=(",", ":"), default=str).replace("<", "\\u003c")
    return f'<script type="application/json" id="page-data">{text}</script>'


NAV = (("/", "Live", "live"), ("/history", "History", "history"), ("/plan", "Plan", "plan"),
       ("/people", "People", "people"), ("/devices", "Devices", "devices"), ("/shares", "Shares", "shares"))
# issue 23: the nav a role gets (the pages themselves check access: dashboard/access.py)
NAV_HIDDEN = {"person": {"devices"}, "therapist": {"live", "devices", "shares"}, "none": {k for _, _, k in NAV}}


def nav_links(request: Request, active: str) -> str:
    role = getattr(getattr(request.state, "viewer", None), "role", "admin")
    hidden = NAV_HIDDEN.get(role, set())
    return "".join(
        f'<a href="{href}"{" class=on" if key == active else ""}>{label}</a>'
        for href, label, key in NAV if key not in hidden
    )


def layout(request: Request, title: str, body: str, *, active: str = "", script: str = "", data=None,
           status_code: int = 200, nav: bool = True) -> HTMLResponse:
    """A dashboard page; ``nav`` False: no navigation and no login (a shared page, issue 23)."""
    user = getattr(request.state, "user", None) if nav else None
    links = nav_links(request, active) if nav else ""
    if user:
        links += (
            f'<form method="post" action="/logout" class="logout"><span class="who">{esc(user)}</span>'
            '<button type="submit" class="link">Log out</button></form>'
        )
    logo = '<img src="/static/icon.svg" alt="" width="26" height="26">rollsense'
    brand = f'<a class="brand" href="/">{logo}</a>' if nav else f'<span class="brand">{logo}</span>'
    scripts = '<script src="/static/charts.js"></script>'
    if script:
        scripts += f'<script src="/static/{script}.js"></script>'
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · rollsense</title>
<link rel="icon" href="/static/icon.svg" type="image/svg+xml">
<link rel="manifest" href="/static/manifest.webmanifest">
<link rel="apple-touch-icon" href="/static/icon-192.png">
<meta name="theme-color" content="#0f766e">
<link rel="stylesheet" href="/static/style.css">
</head><body>
<header class="top">{brand}
<nav>{links}</nav></header>
<main>{broker_banner(request) if nav else ""}{body}</main>
{data_script(data) if data is not None else ""}
{scripts}
</body></html>"""
    return HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)


def broker_problem(ingest) -> str:
    """While the dashboard's broker does not answer: which broker (no credentials) and why,
    in words, from the ingest's health(); '' while it is connected."""
    if ingest is None:
        return ""
    try:
        health = ingest.health()
    except Exception:  # noqa: BLE001 - a page never fails for its banner
        return ""
    link = health.get("commands") or health  # an IngestGroup: its command connection
    if health.get("connected") or not link.get("broker_error"):
        return ""
    return (f'Not connected to the broker at {link.get("broker")}: {link["broker_error"]} — live data and '
            "commands paused. Stored sessions and the history still show; the dashboard keeps trying.")


def broker_banner(request: Request) -> str:
    """On every page while the dashboard's broker does not answer (broker_problem); the page
    keeps it up to date (static/charts.js asks /api/broker)."""
    text = broker_problem(getattr(getattr(request.app.state, "dashboard", None), "ingest", None))
    return f'<div class="banner error" id="broker-banner" role="alert">{esc(text)}</div>' if text else ""


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def not_found(request: Request, what: str) -> HTMLResponse:
    body = f'<section class="card empty"><h1>Not found</h1><p>{esc(what)}</p><p><a href="/">Back to the dashboard</a></p></section>'
    return layout(request, "Not found", body, status_code=404)


def gone(request: Request, title: str, what: str, status_code: int = 410) -> HTMLResponse:
    """A page that was there and is no more (an expired or revoked share link), no nav."""
    body = f'<section class="card empty" id="gone"><h1>{esc(title)}</h1><p>{esc(what)}</p></section>'
    return layout(request, title, body, status_code=status_code, nav=False)


async def form_lists(request: Request, max_fields: int = 20) -> dict[str, list[str]]:
    """An urlencoded form body as lists of values (checkbox groups: every value), at most
    ``max_fields`` fields; bodies over FORM_MAX_BYTES (or with more fields) are read as empty."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > FORM_MAX_BYTES:
            return {}
        chunks.append(chunk)
    body = b"".join(chunks).decode("utf-8", errors="replace")
    try:
        return parse_qs(body, keep_blank_values=True, max_num_fields=max_fields)
    except ValueError:  # too many fields
        return {}


async def form_data(request: Request) -> dict[str, str]:
    """An urlencoded form body as a dict of first values (no multipart needed); bodies over
    FORM_MAX_BYTES are read as empty (our forms are a few hundred bytes)."""
    return {k: v[0] for k, v in (await form_lists(request)).items()}


