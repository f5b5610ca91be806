"""The dashboard web UI: a Starlette app serving server-rendered pages (live view, session,
history, devices, login), JSON/CSV exports, and a Server-Sent-Events stream of live data fed
by the MQTT ingest. Charts are hand-written SVG in ``static/charts.js``; no external assets.

    ingest listener (MQTT thread) -> LiveHub -> asyncio queues -> /api/live SSE -> browser
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import re
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dashboard import queries as q
from dashboard.auth import (
    COOKIE,
    COOKIE_MAX_AGE_S,
    CookieSigner,
    GuardMiddleware,
    LoginThrottle,
    check_login,
    end_session,
    ensure_logins_table,
    safe_next,
    start_session,
    wait_text,
)
from dashboard.cues import CORRECTIVE, cue_text, cue_why
from dashboard.live import LiveHub, sse
from dashboard.render import (
    broker_problem,
    esc,
    fmt_duration,
    fmt_when,
    form_data,
    layout,
    not_found,
    plural,
    routine_choices,
    routine_title,
)
from firmware.common import units
from firmware.common.errors import first_line

STATIC_DIR = Path(__file__).parent / "static"
PAIR_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 5.0  # how long Start/Stop wait for the device's reply
OFFLINE_TEXT = "the device is offline: switch it on and wait until this page says online"
DEVICE_ID_RE = re.compile(r"^[a-z0-9-]{1,64}$")
CODE_RE = re.compile(r"^[0-9]{6}$")
SSE_KEEPALIVE_S = 10.0



# ================================================================= the app


class Dashboard:
    """The route handlers, sharing the store, the ingest, the hub and the signer."""

    def __init__(self, store, ingest, *, auth_required: bool, secret_key: str, secure_cookies: bool = False,
                 clock=None) -> None:
        self.store = store
        self.ingest = ingest
        self.auth_required = auth_required
        self.secure_cookies = secure_cookies
        self.signer = CookieSigner(secret_key)
        self.throttle = LoginThrottle(clock) if clock is not None else LoginThrottle()
        ensure_logins_table(store)
        self.hub = LiveHub()
        self.discipline = q.DisciplineCache()
        if ingest is not None:
            ingest.add_listener(self.hub.on_ingest)

    # ------------------------------------------------------------ health
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

    # ------------------------------------------------------------ quarantine (admin)
    def quarantine_page(self, request: Request) -> HTMLResponse:
        """Messages from devices that failed their schema: kept aside, never stored."""
        rows = q.quarantine(self.store)
        totals = q.quarantine_totals(self.store)
        body_rows = "".join(
            f'<tr><td>{esc(r["device_id"])}</td><td>{esc(r["kind"])}</td><td>{esc(r["reason"])}</td>'
            f'<td class="num">{esc(r["times"])}</td><td>{esc(fmt_when(r["first_seen"]))}</td>'
            f'<td>{esc(fmt_when(r["last_seen"]))}</td>'
            f'<td><details><summary>{esc(r["size"])} bytes on {esc(r["topic"])}</summary>'
            f'<pre class="payload">{esc(r["payload"])}</pre></details></td></tr>'
            for r in rows
        ) or '<tr><td colspan="7" class="muted">Nothing quarantined: every message fitted its schema.</td></tr>'
        body = f"""
<h1>Quarantine</h1>
<section class="card"><p class="muted">Messages from devices that did not fit their schema
(DESIGN §3.2, §3.3): acknowledged, kept aside here, never stored. One row per device, kind and
reason; {plural(totals["messages"], "message", "messages")} in all.</p>
<div class="scroll"><table class="table" id="quarantine">
<thead><tr><th>Device</th><th>Kind</th><th>Reason</th><th class="num">Times</th><th>First seen</th>
<th>Last seen</th><th>Last payload</th></tr></thead><tbody>{body_rows}</tbody></table></div></section>"""
        return layout(request, "Quarantine", body, active="devices")

    # ------------------------------------------------------------ live
    def overview(self, request: Request) -> HTMLResponse:
        devices = q.list_devices(self.store, paired_only=True)
        if not devices:
            body = (
                '<section class="card empty"><h1>No paired tools yet</h1>'
                "<p>Run <code>rollsense pair</code> on the Raspberry Pi of your roller, ball or stick, "
                'then enter its id and the 6-digit code on the <a href="/devices">Devices</a> page.</p></section>'
            )
            return layout(request, "Live", body, active="live")
        cards = []
        for d in devices:
            snap = self.hub.snapshot(d["device_id"])
            status = snap.get("status") or d.get("status") or "unknown"
            cards.append(
                f'<a class="card device-card" href="/device/{esc(d["device_id"])}" data-device-id="{esc(d["device_id"])}">'
                f'<div class="row"><h2>{esc(d.get("name") or d["device_id"])}</h2>'
                f'<span class="pill status {esc(status)}">{esc(status)}</span></div>'
                f'<p class="activity muted">{plural(d["sessions"], "session", "sessions")} · last seen {esc(fmt_when(d.get("last_seen")))}</p>'
                f'<p class="last small">{esc(running_line(snap) or last_line(self.store, d["device_id"]))}</p>'
                '<div class="bar"><span class="fill"></span></div></a>'
            )
        body = f'<h1>Your tools</h1><section class="grid cards">{"".join(cards)}</section>'
        titles = dict(routine_choices())
        return layout(request, "Live", body, active="live", script="overview", data={"titles": titles})

    def live(self, request: Request) -> HTMLResponse:
        device_id = request.path_params["device_id"]
        device = q.get_device(self.store, device_id)
        if device is None or not device["paired"]:
            return not_found(request, f"No paired device '{device_id}'. Pair it on the Devices page first.")
        snap = self.hub.snapshot(device_id)
        status = snap.get("status") or device.get("status") or "unknown"
        choices = routine_choices(device.get("info"))  # the device's own routines when it lists them
        options = "".join(f'<option value="{esc(pid)}">{esc(title)}</option>' for pid, title in choices)
        recent = q.sessions(self.store, device_id=device_id, limit=5)
        recent_rows = "".join(
            f'<li><a href="/session/{esc(r["session_id"])}">{esc(routine_title(r["protocol"]))}</a>'
            f'<span class="muted"> · {esc(fmt_when(r["started_at"]))} · {fmt_duration(r["duration_s"])} · {plural(r["passes"], "pass", "passes")}</span></li>'
            for r in recent
        ) or '<li class="muted">No sessions yet.</li>'
        body = f"""
<section class="live-head">
  <div><h1 id="routine">Waiting for a routine</h1>
  <p class="muted"><span id="device-name">{esc(device.get("name") or device_id)}</span> · <span id="phase">idle</span></p></div>
  <span id="status" class="pill status {esc(status)}">{esc(status)}</span>
</section>
<section class="card cue-card" id="cue-card"><div id="cue" class="cue">Ready when you are</div>
  <div id="cue-sub" class="muted">Start a routine on the tool, or below.</div></section>
<section class="card progress-card">
  <div class="row"><div><span class="big" id="elapsed">0:00</span><span class="muted"> of <span id="target">–</span></span></div>
  <div class="muted"><span id="remaining">–</span> left</div></div>
  <div class="bar big-bar"><span class="fill" id="progress"></span></div>
</section>
<section class="grid gauges">
  <div class="card"><h2>Speed</h2><div id="speed-gauge" class="gauge"></div></div>
  <div class="card"><h2>Pressure</h2><div id="force-gauge" class="gauge"></div><p id="force-bands" class="muted small"></p></div>
</section>
<section class="grid tiles">
  <div class="card tile"><span class="label">Passes</span><span class="value" id="passes">0</span></div>
  <div class="card tile"><span class="label">Distance</span><span class="value" id="distance">–</span></div>
  <div class="card tile"><span class="label">Hold</span><span class="value" id="hold">–</span></div>
  <div class="card tile"><span class="label">Spots</span><span class="value" id="spots">–</span></div>
</section>
<section class="grid two">
  <div class="card"><h2>Start a routine</h2>
    <form id="start-form" class="inline" method="post" action="/api/device/{esc(device_id)}/start">
      <select name="protocol" id="protocol" aria-label="Routine">{options}</select>
      <button type="submit" class="primary">Start</button></form>
    <p id="start-msg" class="muted" role="status"></p>
    <form id="stop-form" class="inline" method="post" action="/api/device/{esc(device_id)}/stop">
      <button type="submit" class="danger">Stop the routine</button></form>
    <p id="stop-msg" class="muted" role="status"></p></div>
  <div class="card"><h2>Recent sessions</h2><ul class="plain" id="recent">{recent_rows}</ul></div>
</section>"""
        data = {"device_id": device_id, "snapshot": snap, "status": status, "titles": dict(choices)}
        return layout(request, f"Live · {device_id}", body, active="live", script="live", data=data)

    async def live_stream(self, request: Request) -> Response:
        device_id = request.path_params.get("device_id")
        allowed = await run_in_threadpool(q.paired_ids, self.store)
        if device_id is not None and device_id not in allowed:
            return JSONResponse({"error": "not a paired device"}, status_code=404)
        stored = {d["device_id"]: d.get("status") for d in await run_in_threadpool(q.list_devices, self.store)}
        queue = self.hub.subscribe(device_id)
        hub = self.hub

        async def stream():
            try:
                yield b"retry: 2000\n\n"
                for dev in [device_id] if device_id else sorted(allowed):
                    snap = hub.snapshot(dev)
                    status = snap.get("status") or stored.get(dev)
                    if status:
                        yield sse("status", {"device_id": dev, "status": status})
                    if "telemetry" in snap:
                        yield sse("telemetry", {"device_id": dev, **snap["telemetry"]})
                while not hub.closed:
                    try:
                        msg = await asyncio.wait_for(queue.get(), SSE_KEEPALIVE_S)
                    except TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                    if msg is None:
                        break
                    dev = msg["device_id"]
                    if device_id is None and dev not in allowed:
                        continue
                    payload = msg["payload"] if isinstance(msg["payload"], dict) else {"value": msg["payload"]}
                    yield sse(msg["kind"], {"device_id": dev, **payload})
            finally:
                hub.unsubscribe(queue)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def start_routine(self, request: Request) -> Response:
        form = await form_data(request)
        protocol = form.get("protocol", "").strip()
        if not re.fullmatch(r"[a-z0-9-]{1,64}", protocol):
            return JSONResponse({"ok": False, "error": "choose a routine"}, status_code=400)
        return await self.device_command(request, "start", {"protocol": protocol})

    async def stop_routine(self, request: Request) -> Response:
        """The live page's Stop: the device stops its running routine (kept as interrupted)."""
        return await self.device_command(request, "stop", {"reason": "stopped from the dashboard"})

    async def device_command(self, request: Request, name: str, payload: dict) -> Response:
        """Send command ``name`` to the paired device of the path and answer with the device's
        own reply: ``ok`` only on its ``status: ok``; its ``error`` line (a user's words) when it
        refuses; "the device did not answer" after COMMAND_TIMEOUT_S. A device whose status is
        offline is refused at once, nothing sent."""
        device_id = request.path_params["device_id"]
        device = await run_in_threadpool(q.get_device, self.store, device_id)
        if device is None or not device["paired"]:
            return JSONResponse({"ok": False, "error": "this device is not paired"}, status_code=403)
        if self.ingest is None:
            return JSONResponse({"ok": False, "error": "the dashboard has no broker connection"}, status_code=503)
        if self.device_status(device) == "offline":
            return JSONResponse({"ok": False, "error": OFFLINE_TEXT}, status_code=409)
        cmd_id = await run_in_threadpool(self.ingest.send_command, device_id, name, payload)
        result = await run_in_threadpool(self.hub.wait_result, cmd_id, COMMAND_TIMEOUT_S)
        if result is None:
            error = f"the device did not answer within {COMMAND_TIMEOUT_S:.0f} s: is it switched on?"
            return JSONResponse({"ok": False, "id": cmd_id, "error": error}, status_code=504)
        if result.get("status") != "ok":
            return JSONResponse({"ok": False, "id": cmd_id, "error": result.get("error") or "refused"}, status_code=409)
        return JSONResponse({"ok": True, "id": cmd_id, "data": result.get("data") or {}})

    def device_status(self, device: dict) -> str:
        """online / offline / unknown: the latest status the ingest saw, else the stored one."""
        return self.hub.snapshot(device["device_id"]).get("status") or device.get("status") or "unknown"

    # ------------------------------------------------------------ session page
    def session_page(self, request: Request) -> HTMLResponse:
        sid = request.path_params["session_id"]
        detail = q.session_detail(self.store, sid)
        if detail is None:
            return not_found(request, f"No session '{sid}' from a paired device.")
        s, summary = detail["session"], detail["summary"]
        speed = summary.get("speed_mps") or {}
        force = summary.get("force_n") or {}
        holds = summary.get("holds") or []
        state = "completed" if s["completed"] else ("interrupted: " + str(s["interrupted"]) if s["interrupted"] else "not completed")
        tiles = [
            ("Duration", fmt_duration(s["duration_s"]), "duration"),
            ("Passes", units.count(s["passes"]), "passes"),
            ("Distance", units.distance(summary.get("distance_m")), "distance"),
            ("Mean speed", units.speed(speed.get("mean")), "speed"),
            ("Mean force", units.force(force.get("mean")), "force"),
            ("Holds", units.count(len(holds)), "holds"),
        ]
        tile_html = "".join(
            f'<div class="card tile"><span class="label">{label}</span><span class="value {cls}">{esc(value)}</span></div>'
            for label, value, cls in tiles
        )
        targets = summary.get("targets") or []
        target_rows = "".join(  # worded as the terminal and the replay table word them
            f'<tr class="{"met" if met else "missed"}"><td>{esc(name)}</td>'
            f'<td>{esc(goal)}</td><td>{esc(actual)}</td>'
            f'<td>{"✓ met" if met else "✗ missed"}</td></tr>'
            for name, goal, actual, met in (units.target_line(t) for t in targets if isinstance(t, dict))
        ) or '<tr><td colspan="4" class="muted">This session has no targets.</td></tr>'
        discipline = detail["speed_in_band"]
        notes = detail.get("notes") or {}  # parts of the charts that are missing, in words
        series_note = "".join(f'<p class="muted small chart-note" id="{i}">{esc(notes["series"])}</p>'
                              for i in ("series-note",) if notes.get("series"))
        passes_note = "".join(f'<p class="muted small chart-note" id="{i}">{esc(notes["passes"])}</p>'
                              for i in ("passes-note",) if notes.get("passes"))
        body = f"""
<section class="live-head"><div><h1>{esc(routine_title(s["protocol"]))}</h1>
<p class="muted">{esc(s.get("device_name") or s["device_id"])} · {esc(fmt_when(s["started_at"]))} · {esc(s.get("tool") or "")} · {esc(state)}</p></div>
<div class="exports"><a class="button" href="/api/session/{esc(sid)}.csv" download>CSV</a>
<a class="button" href="/api/session/{esc(sid)}.json" download>JSON</a></div></section>
<section class="grid tiles six" id="summary" data-session-id="{esc(sid)}">{tile_html}</section>
<section class="card"><h2>Speed <span class="muted small">{"· " + format(discipline, ".0%") + " of passes in the target band" if discipline is not None else ""}</span></h2>
{series_note}<div id="speed-chart" class="chart"></div></section>
<section class="card"><h2>Pressure</h2><div id="force-chart" class="chart"></div>{_direction_note(detail)}</section>{_holds_card(detail)}
<section class="grid two">
<div class="card"><h2>Pass lengths</h2>{passes_note}<div id="pass-chart" class="chart small"></div></div>
<div class="card"><h2>Coverage along the muscle</h2><div id="coverage-chart" class="chart small"></div></div>
</section>
<section class="card"><h2>Holds and passes on the timeline</h2><div id="timeline" class="chart timeline"></div></section>
{_cue_card(detail)}
<section class="card"><h2>Targets</h2><table class="table targets"><thead><tr><th>Target</th><th>Goal</th><th>You</th><th></th></tr></thead>
<tbody>{target_rows}</tbody></table></section>"""
        data = {k: detail[k] for k in ("series", "speed_band_mps", "force_band_n", "force_max_n", "passes", "holds", "coverage", "duration_s", "notes")}
        data.update({k: detail.get(k) for k in ("force_bands_n", "pass_forces", "hold_band_s", "still_max_mps")})
        data["cues"] = [c | {"text": cue_text(c["cue"]), "corrective": c["cue"] in CORRECTIVE} for c in detail.get("cues") or []]
        return layout(request, "Session", body, active="history", script="session", data=data)

    # ------------------------------------------------------------ history
    def _history_filter(self, request: Request) -> tuple[str | None, list[dict]]:
        """The ?device= filter (only a paired device counts) and the paired devices."""
        devices = q.list_devices(self.store, paired_only=True)
        wanted = request.query_params.get("device") or None
        return (wanted if any(d["device_id"] == wanted for d in devices) else None), devices

    def history_page(self, request: Request) -> HTMLResponse:
        device_id, devices = self._history_filter(request)
        h = q.history(self.store, self.discipline, device_id=device_id)
        st = h["streaks"]
        suffix = f"?device={quote(device_id)}" if device_id else ""
        picker = ""
        if len(devices) > 1:
            options = '<option value="">All tools</option>' + "".join(
                f'<option value="{esc(d["device_id"])}"{" selected" if d["device_id"] == device_id else ""}>'
                f'{esc(d.get("name") or d["device_id"])}</option>' for d in devices)
            picker = (f'<form method="get" action="/history" class="inline" id="device-filter"><select name="device" '
                      f'aria-label="Tool">{options}</select><button type="submit">Show</button></form>')
        rows = "".join(
            f'<tr data-session-id="{esc(r["session_id"])}"><td><a href="/session/{esc(r["session_id"])}">{esc(routine_title(r["protocol"]))}</a></td>'
            f'<td class="device">{esc(r.get("device_name") or r["device_id"])}</td>'
            f'<td class="started"><time datetime="{esc(r["started_at"])}">{esc(fmt_when(r["started_at"]))}</time></td>'
            f'<td class="duration num" data-seconds="{r["duration_s"]:.1f}">{fmt_duration(r["duration_s"])}</td>'
            f'<td class="passes num">{r["passes"]}</td>'
            f'<td class="completed">{"✓" if r["completed"] else "–"}</td></tr>'
            for r in h["sessions"]
        ) or '<tr><td colspan="6" class="muted">No sessions yet: finish a routine and it appears here.</td></tr>'

        def count_table(items, key, label):
            body = "".join(
                f'<tr><td>{esc(routine_title(i[key]) if key == "protocol" else i[key])}</td><td class="num">{i["sessions"]}</td><td class="num">{i["minutes"]:.0f}</td></tr>'
                for i in items
            ) or '<tr><td colspan="3" class="muted">–</td></tr>'
            return f'<table class="table"><thead><tr><th>{label}</th><th class="num">Sessions</th><th class="num">Minutes</th></tr></thead><tbody>{body}</tbody></table>'

        streak_word = "day" if st["current_days"] == 1 else "days"
        body = f"""
<section class="live-head"><div><h1>History</h1><p class="muted">{plural(len(h["sessions"]), "session", "sessions")} · {plural(round(h["total_minutes"]), "minute", "minutes")} in all</p></div>
<div class="exports">{picker}<a class="button" href="/api/history.csv{suffix}" download>CSV</a><a class="button" href="/api/history.json{suffix}" download>JSON</a></div></section>
<section class="grid tiles">
<div class="card tile streak"><span class="label">Current streak</span><span class="value" id="streak-current">{st["current_days"]} {streak_word}</span>
<span class="muted small">{"rolled today" if st["today"] else "roll today to keep it going" if st["current_days"] else "start one today"}</span></div>
<div class="card tile"><span class="label">Longest streak</span><span class="value" id="streak-longest">{st["longest_days"]} {"day" if st["longest_days"] == 1 else "days"}</span></div>
<div class="card tile"><span class="label">Active days</span><span class="value">{st["active_days"]}</span></div>
<div class="card tile"><span class="label">This week</span><span class="value">{h["weekly_minutes"][-1]["minutes"]:.0f} min</span></div>
</section>
<section class="card"><h2>Minutes per week</h2><div id="weekly-chart" class="chart small"></div></section>
<section class="grid two">
<div class="card"><h2>Speed discipline <span class="muted small">· % of passes in the target speed band</span></h2><div id="discipline-chart" class="chart small"></div></div>
<div class="card"><h2>Mean pressure <span class="muted small">· N per session</span></h2><div id="force-trend" class="chart small"></div></div>
</section>
<section class="card"><h2>Sessions</h2><div class="scroll"><table class="table sessions" id="sessions">
<thead><tr><th>Routine</th><th>Device</th><th>Started</th><th class="num">Duration</th><th class="num">Passes</th><th>Done</th></tr></thead>
<tbody>{rows}</tbody></table></div></section>
<section class="grid two">
<div class="card"><h2>By routine</h2>{count_table(h["by_protocol"], "protocol", "Routine")}</div>
<div class="card"><h2>By muscle</h2>{count_table(h["by_muscle"], "muscle", "Muscle")}</div>
</section>"""
        data = {"weekly_minutes": h["weekly_minutes"],  # trends by date and muscle (a line each)
                "trends": [t | {"muscle": q.muscle_of(t.get("protocol")).split(" (")[0]} for t in h["trends"]]}
        return layout(request, "History", body, active="history", script="history", data=data)

    # ------------------------------------------------------------ exports
    def session_export(self, request: Request) -> Response:
        sid, fmt = request.path_params["session_id"], request.path_params["fmt"]
        if fmt not in ("json", "csv"):
            return JSONResponse({"error": "use .json or .csv"}, status_code=404)
        row = q.session(self.store, sid)
        if row is None:
            return JSONResponse({"error": f"no session {sid!r} from a paired device"}, status_code=404)
        samples = q.telemetry(self.store, sid)
        name = f"rollsense-session-{sid}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "json":
            doc = {
                "session": {k: row[k] for k in ("session_id", "device_id", "protocol", "tool", "started_at", "duration_s", "passes", "completed")},
                "summary": row["summary"],
                "events": q.events(self.store, sid),
                "telemetry": samples,
            }
            return Response(json.dumps(doc, indent=1, default=str), media_type="application/json", headers=headers)
        return Response(session_csv(row, samples), media_type="text/csv; charset=utf-8", headers=headers)

    def history_export(self, request: Request) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ("json", "csv"):
            return JSONResponse({"error": "use .json or .csv"}, status_code=404)
        device_id, _ = self._history_filter(request)
        h = q.history(self.store, self.discipline, device_id=device_id)
        name = f"rollsense-history-{device_id}" if device_id else "rollsense-history"
        headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
        if fmt == "json":
            doc = {k: h[k] for k in ("by_protocol", "by_muscle", "weekly_minutes", "streaks", "trends", "total_minutes")}
            doc["sessions"] = [{k: v for k, v in r.items() if k != "summary"} | {"summary": r["summary"]} for r in h["sessions"]]
            return Response(json.dumps(doc, indent=1, default=str), media_type="application/json", headers=headers)
        return Response(history_csv(h["sessions"]), media_type="text/csv; charset=utf-8", headers=headers)

    # ------------------------------------------------------------ devices and pairing
    def devices_page(self, request: Request, message: str = "", ok: bool = True, status_code: int = 200,
                     form: dict | None = None) -> HTMLResponse:
        devices = q.list_devices(self.store)
        rows = "".join(
            f'<tr data-device-id="{esc(d["device_id"])}"><td>{esc(d["device_id"])}'
            f'{"<br><span class=muted>" + esc(d["name"]) + "</span>" if d.get("name") else ""}</td>'
            f'<td><span class="pill status {esc(d.get("status") or "unknown")}">{esc(d.get("status") or "unknown")}</span></td>'
            f'<td class="paired">{"paired" if d["paired"] else "not paired"}</td><td class="num">{d["sessions"]}</td>'
            f'<td>{esc(fmt_when(d.get("last_seen")))}</td>'
            f'<td>{_forget_form(d["device_id"]) if d["paired"] else ""}</td></tr>'
            for d in devices
        ) or '<tr><td colspan="6" class="muted">No device has connected to the broker yet.</td></tr>'
        form = form or {}
        note = f'<p id="pair-msg" class="msg {"ok" if ok else "error"}" role="status">{esc(message)}</p>' if message else ""
        body = f"""
<h1>Devices</h1>
<section class="card"><h2>Pair a tool</h2>
<p class="muted">On the tool's Raspberry Pi run <code>rollsense pair</code>. It shows a 6-digit code for 10 minutes. Enter the device id and that code here.</p>
<form method="post" action="/devices/pair" class="inline" id="pair-form">
<label>Device id <input name="device_id" id="device_id" required pattern="[a-z0-9\\-]+" value="{esc(form.get("device_id", ""))}" autocomplete="off" placeholder="e.g. roller-1"></label>
<label>Code <input name="code" id="code" required inputmode="numeric" pattern="[0-9]{{6}}" maxlength="6" autocomplete="off" placeholder="123456"></label>
<label>Name (optional) <input name="name" id="name" maxlength="60" value="{esc(form.get("name", ""))}" placeholder="e.g. Ana's roller, room 2"></label>
<button type="submit" class="primary">Pair</button></form>{note}</section>
<section class="card"><h2>Seen on the broker</h2>{_quarantine_note(self.store)}<div class="scroll"><table class="table" id="devices">
<thead><tr><th>Id</th><th>Status</th><th>Pairing</th><th class="num">Sessions</th><th>Last seen</th><th></th></tr></thead>
<tbody>{rows}</tbody></table></div></section>"""
        return layout(request, "Devices", body, active="devices", status_code=status_code)

    async def pair(self, request: Request) -> HTMLResponse:
        form = await form_data(request)
        device_id = form.get("device_id", "").strip().lower()
        code = form.get("code", "").strip().replace(" ", "")
        if not DEVICE_ID_RE.match(device_id) or not CODE_RE.match(code):
            return await run_in_threadpool(
                self.devices_page, request, "Enter the device id (a-z, 0-9, -) and the 6-digit code it shows.", False, 400, form)
        if self.ingest is None:
            return await run_in_threadpool(self.devices_page, request, "The dashboard has no broker connection.", False, 503, form)
        cmd_id = await run_in_threadpool(self.ingest.send_command, device_id, "pair", {"code": code})
        result = await run_in_threadpool(self.hub.wait_result, cmd_id, PAIR_TIMEOUT_S)
        if result is None:
            msg = f"No answer from '{device_id}' within {PAIR_TIMEOUT_S:.0f} s. Is it switched on and online?"
            return await run_in_threadpool(self.devices_page, request, msg, False, 504, form)
        if result.get("status") != "ok":
            msg = f"Pairing refused: {result.get('error') or 'wrong or expired code'}. Check the code on the device."
            return await run_in_threadpool(self.devices_page, request, msg, False, 403, form)
        await run_in_threadpool(mark_paired, self.store, device_id, True)
        name = " ".join(form.get("name", "").split())[:60]
        if name:
            await run_in_threadpool(self.store.execute, "UPDATE devices SET name = ? WHERE device_id = ?", (name, device_id))
        return await run_in_threadpool(self.devices_page, request, f"Paired with '{device_id}'.", True, 200, {})

    async def forget(self, request: Request) -> Response:
        device_id = request.path_params["device_id"]
        await run_in_threadpool(mark_paired, self.store, device_id, False)
        return RedirectResponse("/devices", status_code=303)

    # ------------------------------------------------------------ login
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
        wait_s = self.throttle.wait_s(username, who)
        if wait_s > 0:
            resp = await run_in_threadpool(self.login_page, request, wait_text(wait_s), 429)
            resp.headers["Retry-After"] = str(math.ceil(wait_s))
            return resp
        ok = bool(username and password) and await run_in_threadpool(check_login, self.store, username, password)
        if not ok:
            self.throttle.failed(username, who)
            return await run_in_threadpool(self.login_page, request, "Wrong user name or password.", 401)
        self.throttle.succeeded(username, who)
        await run_in_threadpool(end_session, self.store, getattr(request.state, "session_id", None))
        session_id = await run_in_threadpool(start_session, self.store, username)
        resp = RedirectResponse(safe_next(form.get("next")), status_code=303)
        resp.set_cookie(COOKIE, self.signer.sign(session_id), max_age=COOKIE_MAX_AGE_S, httponly=True,
                        samesite="lax", secure=self.secure_cookies or request.url.scheme == "https")
        return resp

    def logout_page(self, request: Request) -> Response:
        """GET /logout logs nobody out (another site's <img> can make a GET): a button that
        POSTs, which the same-origin check guards."""
        if not getattr(request.state, "user", None):
            return RedirectResponse("/login" if self.auth_required else "/", status_code=303)
        body = """<section class="card login"><h1>Log out</h1>
<form method="post" action="/logout" id="logout-form"><button type="submit" class="primary">Log out</button></form></section>"""
        return layout(request, "Log out", body)

    def logout(self, request: Request) -> Response:
        """Ends the session on the server: its cookie, wherever a copy is, opens nothing."""
        end_session(self.store, getattr(request.state, "session_id", None))
        resp = RedirectResponse("/login" if self.auth_required else "/", status_code=303)
        resp.delete_cookie(COOKIE, httponly=True, samesite="lax",
                           secure=self.secure_cookies or request.url.scheme == "https")
        return resp


def running_line(snap: dict) -> str:
    """'Running now: <routine>' while the device's live telemetry says a routine runs (the
    hub drops it once the session's summary is stored), else ''."""
    t = snap.get("telemetry")
    if not isinstance(t, dict) or snap.get("status") == "offline" or t.get("phase") in ("complete", "stepped_off", "stopped"):
        return ""
    return f"Running now: {routine_title(t.get('protocol'))}"


def last_line(store, device_id: str) -> str:
    """'Last: <routine> · <when> · <duration>' for a device card, or a nudge to start."""
    last = q.sessions(store, device_id=device_id, limit=1)
    if not last:
        return "No sessions yet: start a routine on the tool."
    r = last[0]
    return f"Last: {routine_title(r['protocol'])} · {fmt_when(r['started_at'])} · {fmt_duration(r['duration_s'])}"


def _direction_note(detail: dict) -> str:
    """Under the pressure chart of a direction-dependent routine (calf): both bands, and how
    many passes each way were inside their own band."""
    bands = detail.get("force_bands_n")
    if not bands:
        return ""
    parts = []
    for way, word in (("up", "firm"), ("down", "light")):
        lo, hi = bands[way]
        judged = [p for p in detail.get("pass_forces") or [] if p["direction"] == way]
        inside = sum(1 for p in judged if p["ok"])
        parts.append(f'<li class="band-{way}">{way.capitalize()} ({word}): {lo:.0f}–{units.force(hi)}'
                     f' · {inside} of {plural(len(judged), "pass", "passes")} in this band</li>')
    return ('<ul class="plain small" id="direction-bands">' + "".join(parts) + "</ul>"
            '<p class="muted small">Each pass is judged against the band of its own direction '
            "(marks: its mean pressure, green inside its band, amber outside).</p>")


def _holds_card(detail: dict) -> str:
    """A hold routine's card: each hold against the hold window, and the spots done / wanted."""
    window = detail.get("hold_band_s")
    if not window:
        return ""
    lo, hi = window
    spots = detail.get("spots") or {}
    done, wanted = spots.get("done"), spots.get("wanted")
    rows = "".join(
        f'<tr><td class="num">{i}</td><td>{fmt_duration(h["start_s"])}</td><td class="num">{h["duration_s"]:.0f} s</td>'
        f'<td>{units.force(h.get("force_n"))}</td>'
        f'<td>{"✓ in the window" if lo <= h["duration_s"] <= hi else "too short" if h["duration_s"] < lo else "longer than the window"}</td></tr>'
        for i, h in enumerate((h for h in detail.get("holds") or [] if h.get("duration_s") is not None), 1)
    ) or '<tr><td colspan="5" class="muted">No still hold of 5 s or more.</td></tr>'
    spot_text = (f'{units.count(done)} of {units.count(wanted)} spots held' if wanted is not None
                 else "")
    return f"""<section class="card" id="holds-card"><h2>Holds <span class="muted small">· window {lo:g}–{hi:g} s per spot
· still means under {units.speed(detail.get("still_max_mps"))}</span></h2>
<p class="big" id="spots">{esc(spot_text)}</p>
<div id="hold-chart" class="chart small"></div>
<table class="table" id="holds"><thead><tr><th class="num">Hold</th><th>Started</th><th class="num">Held</th>
<th>Pressure</th><th>Window</th></tr></thead><tbody>{rows}</tbody></table></section>"""


def _cue_card(detail: dict) -> str:
    """What the coach said and when, as a table (the marks on the timeline above)."""
    cues = [c for c in detail.get("cues") or [] if c.get("cue") not in ("start",)]
    rows = "".join(
        f'<tr class="cue-row{" corrective" if c["cue"] in CORRECTIVE else ""}" data-cue="{esc(c["cue"])}">'
        f'<td class="num"><time>{fmt_duration(c["t_s"]) if c.get("t_s") is not None else "–"}</time></td>'
        f'<td>{esc(cue_text(c["cue"]))}</td><td class="muted">{esc(cue_why(c))}</td></tr>'
        for c in cues
    ) or '<tr><td colspan="3" class="muted">The coach gave no cues in this session (or none were stored).</td></tr>'
    return f"""<section class="card"><h2>What the coach said</h2>
<div class="scroll"><table class="table" id="cues"><caption class="muted small">{plural(len(cues), "cue", "cues")},
times from the start of the session</caption><thead><tr><th class="num">Time</th><th>Cue</th><th>Why</th></tr></thead>
<tbody>{rows}</tbody></table></div></section>"""


def _ingest_state(health: dict) -> str:
    """The ingest's state without details: ok, or the part that is down."""
    if health.get("ok"):
        return "ok"
    if "workers" in health:  # an IngestGroup: its command connection, then each worker
        if health.get("down"):
            return health["down"]
        return next((w.get("down") or "down" for w in health["workers"] if not w.get("ok")), "down")
    return health.get("down") or "down"


def _quarantine_note(store) -> str:
    """The devices page's link to the quarantine page (with how many messages it holds)."""
    n = q.quarantine_totals(store)["messages"]
    return (f'<p class="muted small"><a href="/admin/quarantine" id="quarantine-link">Quarantine</a>: '
            f'{plural(n, "message", "messages")} from devices that did not fit their schema.</p>')


def _forget_form(device_id: str) -> str:
    return (f'<form method="post" action="/devices/{esc(device_id)}/forget" class="inline">'
            '<button type="submit" class="link danger">Forget</button></form>')


def mark_paired(store, device_id: str, paired: bool = True) -> None:
    """Set ``devices.paired`` (creating the row if the device was never seen)."""
    if hasattr(store, "set_device_paired"):
        store.set_device_paired(device_id, paired)
        return
    if store.query("SELECT device_id FROM devices WHERE device_id = ?", (device_id,)):
        store.execute("UPDATE devices SET paired = ? WHERE device_id = ?", (int(paired), device_id))
    else:
        store.execute("INSERT INTO devices(device_id, paired) VALUES (?, ?)", (device_id, int(paired)))


SAMPLE_COLUMNS = ("t_s", "elapsed_s", "phase", "speed_mps", "velocity_mps", "position_m", "force_n", "contact",
                  "passes", "hold_s", "spots_done", "cue")
SUMMARY_SCALARS = ("session_id", "device_id", "protocol", "tool", "started_at", "duration_s", "passes", "completed")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# backslash, controls (C0, DEL, C1), line/paragraph separators, and what splits or quotes a
# spreadsheet cell (, ; ")
_META_ESCAPE_RE = re.compile(r'[\\\x00-\x1f\x7f-\x9f\u2028\u2029,;"]')
_META_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def meta_text(value) -> str:
    """A value for a ``# key: value`` line, on that one line and in one spreadsheet cell:
    backslash, control characters, line separators and , ; " are escaped (``\\n``,
    ``\\u002c``), as devices send any string."""
    return _META_ESCAPE_RE.sub(lambda m: _META_SHORT.get(m.group(), f"\\u{ord(m.group()):04x}"), str(value))


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text, never runs: a text cell starting with = + - @
    tab or CR gets a leading ' (OWASP's CSV injection guard). Numbers, and text that is a
    plain number such as "-0.08", stay as they are; None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.startswith(FORMULA_START) and not NUMBER_RE.fullmatch(value):
        return "'" + value
    return value


def session_csv(row: dict, samples: list[dict]) -> str:
    """One session as CSV: ``# key: value`` summary lines (as in recordings), then one row per
    stored telemetry sample. Device strings are escaped (meta_text, csv_cell)."""
    buf = io.StringIO()
    for key in SUMMARY_SCALARS:
        buf.write(f"# {key}: {meta_text(row.get(key))}\n")
    summary = row["summary"]
    for key in ("distance_m", "contact_s"):
        if key in summary:
            buf.write(f"# {key}: {meta_text(summary[key])}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SAMPLE_COLUMNS)
    for s in samples:
        w.writerow([csv_cell(s.get(c)) for c in SAMPLE_COLUMNS])
    return buf.getvalue()


HISTORY_COLUMNS = ("session_id", "device_id", "protocol", "muscle", "tool", "started_at", "duration_s", "passes",
                   "completed", "distance_m", "speed_mean_mps", "force_mean_n", "targets_met", "targets_total")


def history_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_COLUMNS)
    for r in rows:
        w.writerow([csv_cell(r.get(c)) for c in HISTORY_COLUMNS])
    return buf.getvalue()


def create_app(store, ingest=None, *, auth_required: bool, secret_key: str, secure_cookies: bool = False,
               clock=None) -> Starlette:
    """The dashboard ASGI app. ``ingest`` (dashboard.ingest.Ingest or None) feeds the live view
    and carries commands; ``auth_required`` turns on the login wall; ``secret_key`` signs the
    session cookie; ``secure_cookies`` marks it Secure (served over HTTPS); ``clock`` (a
    monotonic seconds function) paces the login throttle. ``app.state.dashboard.hub.close()``
    ends open live streams."""
    if not secret_key:
        raise ValueError("create_app needs a secret_key to sign session cookies")
    d = Dashboard(store, ingest, auth_required=auth_required, secret_key=secret_key,
                  secure_cookies=secure_cookies, clock=clock)

    def sync(fn):
        async def endpoint(request: Request):
            return await run_in_threadpool(fn, request)
        return endpoint

    routes = [
        Route("/", sync(d.overview)),
        Route("/healthz", sync(d.healthz)),
        Route("/api/broker", sync(d.broker_state)),
        Route("/device/{device_id}", sync(d.live)),
        Route("/api/live", d.live_stream),
        Route("/api/live/{device_id}", d.live_stream),
        Route("/api/device/{device_id}/start", d.start_routine, methods=["POST"]),
        Route("/api/device/{device_id}/stop", d.stop_routine, methods=["POST"]),
        Route("/session/{session_id}", sync(d.session_page)),
        Route("/history", sync(d.history_page)),
        Route("/api/session/{session_id}.{fmt}", sync(d.session_export)),
        Route("/api/history.{fmt}", sync(d.history_export)),
        Route("/devices", sync(d.devices_page)),
        Route("/admin/quarantine", sync(d.quarantine_page)),
        Route("/devices/pair", d.pair, methods=["POST"]),
        Route("/devices/{device_id}/forget", d.forget, methods=["POST"]),
        Route("/login", sync(d.login_page)),
        Route("/login", d.login, methods=["POST"]),
        Route("/logout", sync(d.logout_page)),
        Route("/logout", sync(d.logout), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(GuardMiddleware, signer=d.signer, store=store, auth_required=auth_required)
    app.state.dashboard = d
    return app
