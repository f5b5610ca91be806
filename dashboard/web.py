"""The dashboard web UI: a Starlette app serving server-rendered pages (live view, session,
history, devices, login), JSON/CSV exports, and a Server-Sent-Events stream of live data fed
by the MQTT ingest. Charts are hand-written SVG in ``static/charts.js``; no external assets.

    ingest listener (MQTT thread) -> LiveHub -> asyncio queues -> /api/live SSE -> browser

The pages live in modules of their own (one job each), wired here into one Starlette app:
live_pages (overview, live view, SSE stream), actions (Start, Stop), session_pages (session,
history), export (JSON, CSV), devices (devices, pairing, quarantine), people_pages (people,
sent to the devices by people_sync), person_page (one person), login_pages and health,
all on the one shared ``context.Dashboard``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dashboard.access import AccessMiddleware
from dashboard.actions import DeviceActions
from dashboard.auth import GuardMiddleware
from dashboard.context import Dashboard
from dashboard.devices import DevicePages
from dashboard.export import SUMMARY_SCALARS, Exports, csv_cell, meta_text
from dashboard.health import HealthRoutes
from dashboard.live_pages import LivePages
from dashboard.login_pages import LoginPages
from dashboard.people_pages import PeoplePages
from dashboard.person_page import PersonPage
from dashboard.plan_pages import PlanPages
from dashboard.prescriptions import RxSync
from dashboard.rx_pages import RxPages
from dashboard.session_pages import SessionPages
from dashboard.share_pages import SharePages

# the CSV escaping, named here too (tests/dashboard/test_security.py checks it as web.*)
__all__ = ["COMMAND_TIMEOUT_S", "PAIR_TIMEOUT_S", "SUMMARY_SCALARS", "create_app", "csv_cell", "meta_text"]

STATIC_DIR = Path(__file__).parent / "static"
PAIR_TIMEOUT_S = 5.0  # how long a pairing waits for the device's reply (read by create_app)
COMMAND_TIMEOUT_S = 5.0  # how long Start/Stop wait for the device's reply (read by create_app)


def create_app(store, ingest=None, *, auth_required: bool, secret_key: str, secure_cookies: bool = False,
               clock=None, today=None, retention=None, wall_clock=None) -> Starlette:
    """The dashboard ASGI app. ``ingest`` (dashboard.ingest.Ingest or None) feeds the live view
    and carries commands; ``auth_required`` turns on the login wall; ``secret_key`` signs the
    session cookie; ``secure_cookies`` marks it Secure (served over HTTPS); ``clock`` (a
    monotonic seconds function) paces the login throttle; ``today`` (a function giving the
    local date) is the Plan page's day; ``retention`` (dashboard.retention.TelemetryRetention
    or None) adds its counters to ``/metrics``; ``wall_clock`` (Unix seconds) says when a share
    link has expired. Every route has an access rule (dashboard/access.py RULES), applied by
    AccessMiddleware before its handler. ``app.state.dashboard.hub.close()`` ends open live
    streams."""
    if not secret_key:
        raise ValueError("create_app needs a secret_key to sign session cookies")
    d = Dashboard(store, ingest, auth_required=auth_required, secret_key=secret_key,
                  secure_cookies=secure_cookies, clock=clock, wall_clock=wall_clock)
    d.retention = retention

    def sync(fn):
        async def endpoint(request: Request):
            return await run_in_threadpool(fn, request)
        return endpoint

    live, actions = LivePages(d), DeviceActions(d, command_timeout_s=COMMAND_TIMEOUT_S)
    sessions, exports = SessionPages(d), Exports(d)
    devices, login, health = DevicePages(d, pair_timeout_s=PAIR_TIMEOUT_S), LoginPages(d), HealthRoutes(d)
    plan = PlanPages(d, today)  # issue 22: plans, today's plan, soreness after
    people, person = PeoplePages(d, command_timeout_s=COMMAND_TIMEOUT_S), PersonPage(d)
    shares = SharePages(d, d.wall_clock)  # issue 23
    # issue 23: prescriptions (sent to the devices by RxSync) and adherence
    rx = RxPages(d, RxSync(store, ingest), people.device_status, COMMAND_TIMEOUT_S, today)
    routes = [
        Route("/", sync(live.overview)),
        Route("/healthz", sync(health.healthz)),
        Route("/metrics", health.metrics),
        Route("/api/broker", sync(health.broker_state)),
        Route("/device/{device_id}", sync(live.live)),
        Route("/api/live", live.live_stream),
        Route("/api/live/{device_id}", live.live_stream),
        Route("/api/device/{device_id}/start", actions.start_routine, methods=["POST"]),
        Route("/api/device/{device_id}/stop", actions.stop_routine, methods=["POST"]),
        Route("/session/{session_id}", sync(sessions.session_page)),
        Route("/history", sync(sessions.history_page)),
        Route("/api/session/{session_id}.{fmt}", sync(exports.session_export)),
        Route("/api/history.{fmt}", sync(exports.history_export)),
        Route("/devices", sync(devices.devices_page)),
        Route("/admin/quarantine", sync(devices.quarantine_page)),
        Route("/devices/pair", devices.pair, methods=["POST"]),
        Route("/devices/{device_id}/forget", devices.forget, methods=["POST"]),
        Route("/people", sync(people.people_page)),
        Route("/people", people.add, methods=["POST"]),
        Route("/people/therapists/link", people.link_therapist, methods=["POST"]),  # issue 23
        Route("/people/therapists/unlink", people.unlink_therapist, methods=["POST"]),
        Route("/people/{person_id}", people.edit, methods=["POST"]),
        Route("/person/{person_id}", sync(person.person_page)),
        Route("/login", sync(login.login_page)),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", sync(login.logout_page)),
        Route("/logout", sync(login.logout), methods=["POST"]),
        Route("/plan", sync(plan.plan_page)),
        Route("/person/{person_id}/plan", sync(plan.person_plan_page)),
        Route("/person/{person_id}/plan", plan.person_plan_save, methods=["POST"]),
        Route("/session/{session_id}/soreness", plan.soreness_save, methods=["POST"]),
        Route("/shares", sync(shares.shares_page)),  # issue 23: share links
        Route("/shares", shares.create, methods=["POST"]),
        Route("/shares/{share_id}/revoke", shares.revoke, methods=["POST"]),
        Route("/share/{token}", sync(shares.shared)),
        Route("/share/{token}/session/{session_id}", sync(shares.shared_session)),
        Route("/person/{person_id}/prescription", sync(rx.rx_page)),
        Route("/person/{person_id}/prescription", rx.rx_save, methods=["POST"]),
        Route("/person/{person_id}/adherence", sync(rx.adherence_page)),
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    app = Starlette(routes=routes)
    # inner: each route's access rule (issue 23); outer: the login wall and the POST origin check
    app.add_middleware(AccessMiddleware, store=store, router=app.router, auth_required=auth_required)
    app.add_middleware(GuardMiddleware, signer=d.signer, store=store, auth_required=auth_required)
    app.state.dashboard = d
    app.state.people_sync = people.sync  # sends the people to the devices (dashboard.people_sync)
    app.state.rx_sync = rx.sync  # sends the prescriptions to the devices (dashboard.prescriptions)
    return app
