"""The dashboard's health for monitors (``/healthz``) and the broker banner's words for open
pages (``/api/broker``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from dashboard import queries as q
from dashboard.context import Pages
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

