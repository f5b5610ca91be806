"""The dashboard's health for monitors (``/healthz``), its state for Prometheus (``/metrics``)
and the broker banner's words for open pages (``/api/broker``)."""

from __future__ import annotations

import base64
import binascii
import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dashboard import queries as q
from dashboard.access import load_viewer
from dashboard.auth import check_login
from dashboard.context import Pages
from dashboard.metrics import CONTENT_TYPE_LATEST, DashboardCollector, exposition
from dashboard.render import broker_problem
from firmware.common.errors import first_line


class HealthRoutes(Pages):
    """``/healthz`` and ``/api/broker``."""

    def healthz(self, request: Request) -> JSONResponse:
        """For monitors: 200 when the store answers and the ingest really works (connected,
        its threads alive, its store up, no batch stalled: Ingest.health), else 503.
        Without a login only states: ``{"ok", "store": "ok"|"down", "ingest": "ok"|what is
        down}``; the details (error text, counters, quarantine) need a login, also on a
        dashboard without the login wall (a database's error names its socket and database)."""
        try:
            self.store.query("SELECT 1 AS one")
            store = {"ok": True}
            quarantine = q.quarantine_totals(self.store)
        except Exception as e:
            store = {"ok": False, "error": first_line(e)}
            quarantine = None
        ingest = self.ingest.health() if self.ingest is not None else None
        ok = store["ok"] and (ingest is None or ingest["ok"])
        status_code = 200 if ok else 503
        if getattr(request.state, "user", None) is None:
            return JSONResponse({"ok": ok, "store": "ok" if store["ok"] else "down",
                                 "ingest": None if ingest is None else _ingest_state(ingest)},
                                status_code=status_code, headers={"Cache-Control": "no-store"})
        return JSONResponse({"ok": ok, "store": store, "ingest": ingest, "quarantine": quarantine},
                            status_code=status_code, headers={"Cache-Control": "no-store"})

    async def metrics(self, request: Request) -> Response:
        """For Prometheus: the ingest's counters and histograms and the retention's
        (dashboard/metrics.py) in the text format. Open on a dashboard without the login wall
        (loopback, where every page is open: these are numbers, no error text, no device
        ids); with the wall, a login: a session cookie, or HTTP Basic with a dashboard user
        (Prometheus's ``basic_auth``), throttled as the login page is, of an admin (403 for
        person and therapist logins)."""
        if self.d.auth_required:
            user = getattr(request.state, "user", None)
            if user is None:
                refused, user = await self._basic_auth(request)
                if refused is not None:
                    return refused
            who = await run_in_threadpool(load_viewer, self.store, user, True)
            if not who.is_admin:
                return Response("the metrics are for admin logins\n", status_code=403,
                                media_type="text/plain", headers={"Cache-Control": "no-store"})
        collector = DashboardCollector(self.ingest, self.d.retention)
        body = await run_in_threadpool(exposition, collector)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    async def _basic_auth(self, request: Request) -> tuple[Response | None, str | None]:
        """(None, user name) when the request's HTTP Basic credentials are a dashboard login,
        else (the 401, or 429 while the throttle makes the sender wait; None)."""
        challenge = {"WWW-Authenticate": 'Basic realm="rollsense metrics", charset="UTF-8"',
                     "Cache-Control": "no-store"}
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            username, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if scheme.lower() != "basic" or not sep:
            return Response("login required (a session, or HTTP Basic with a dashboard user)\n",
                            status_code=401, media_type="text/plain", headers=challenge), None
        who = request.client.host if request.client else "?"
        wait_s = self.d.throttle.wait_s(username, who)
        if wait_s > 0:
            return Response("too many wrong logins: try again later\n", status_code=429,
                            media_type="text/plain", headers={"Retry-After": str(math.ceil(wait_s))}), None
        if not await run_in_threadpool(check_login, self.store, username, password):
            self.d.throttle.failed(username, who)
            return Response("wrong user name or password\n", status_code=401,
                            media_type="text/plain", headers=challenge), None
        self.d.throttle.succeeded(username, who)
        return None, username

    def broker_state(self, request: Request) -> JSONResponse:
        """The broker banner's words for an open page ('' while the broker answers)."""
        return JSONResponse({"problem": broker_problem(self.ingest)}, headers={"Cache-Control": "no-store"})


def _ingest_state(health: dict) -> str:
    """The ingest's state without details: ok, or the part that is down."""
    if health.get("ok"):
        return "ok"
    if "workers" in health:  # an IngestGroup: its command connection, then each worker
        if health.get("down"):
            return health["down"]
        return next((w.get("down") or "down" for w in health["workers"] if not w.get("ok")), "down")
    return health.get("down") or "down"

