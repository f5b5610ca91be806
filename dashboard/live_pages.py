"""The live pages: the overview of the paired tools, one tool's live view, and the
Server-Sent-Events stream that feeds both from the LiveHub."""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from dashboard import queries as q
from dashboard.access import viewer
from dashboard.context import Pages
from dashboard.live import UNKNOWN, info_person, sse
from dashboard.plans import known_programs
from dashboard.render import (
    esc,
    fmt_duration,
    fmt_when,
    layout,
    not_found,
    routine_choices,
    routine_title,
)
from dashboard.start_form import programs_for, start_data, start_fields
from firmware.common.units import plural

SSE_KEEPALIVE_S = 10.0


class LivePages(Pages):
    """``/``, ``/device/{id}`` and ``/api/live[/{id}]``."""

    def overview(self, request: Request) -> Response:
        who = viewer(request)
        if not who.may_use_device(None):  # a therapist: their clients are on the People page
            return RedirectResponse("/people", status_code=303)
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
            snap = self.hub.snapshot_for(d["device_id"], sees(who, d))
            status = snap.get("status") or d.get("status") or "unknown"
            cards.append(
                f'<a class="card device-card" href="/device/{esc(d["device_id"])}" data-device-id="{esc(d["device_id"])}">'
                f'<div class="row"><h2>{esc(d.get("name") or d["device_id"])}</h2>'
                f'<span class="pill status {esc(status)}">{esc(status)}</span></div>'
                f'<p class="activity muted">{plural(self._count(who, d), "session", "sessions")} · last seen {esc(fmt_when(d.get("last_seen")))}</p>'
                f'<p class="last small">{esc(running_line(snap) or last_line(self.store, d["device_id"], who.person_ids))}</p>'
                '<div class="bar"><span class="fill"></span></div></a>'
            )
        body = f'<h1>Your tools</h1><section class="grid cards">{"".join(cards)}</section>'
        titles = dict(routine_choices())
        return layout(request, "Live", body, active="live", script="overview", data={"titles": titles})

    def _count(self, who, device: dict) -> int:
        """A device card's session count: all of them for an admin, else the login's own."""
        if who.person_ids is None:
            return device["sessions"]
        return len(q.sessions(self.store, device_id=device["device_id"], limit=None, person_in=who.person_ids))

    def live(self, request: Request) -> HTMLResponse:
        device_id = request.path_params["device_id"]
        device = q.get_device(self.store, device_id)
        if device is None or not device["paired"]:
            return not_found(request, f"No paired device '{device_id}'. Pair it on the Devices page first.")
        who = viewer(request)
        snap = self.hub.snapshot_for(device_id, sees(who, device))
        status = snap.get("status") or device.get("status") or "unknown"
        choices = routine_choices(device.get("info"))  # the device's own routines when it lists them
        options = "".join(f'<option value="{esc(pid)}">{esc(title)}</option>' for pid, title in choices)
        info = device.get("info") or {}
        tool = info.get("tool") if isinstance(info.get("tool"), str) else None
        programs = programs_for(known_programs(), tool)  # issue 22: who, side, programme, soreness
        current = info.get("person") if isinstance(info.get("person"), str) else None
        # a person starts as themselves only (issue 23)
        people = [p for p in self.store.people() if who.is_admin or p["id"] == who.person_id]
        fields = start_fields(people, current if who.is_admin else who.person_id, programs, tool)
        recent = q.sessions(self.store, device_id=device_id, limit=5, person_in=who.person_ids)
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
  <p id="live-note" class="sr-only" role="status"></p>
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
      <div class="start-more">{fields}</div>
      <button type="submit" class="primary">Start</button></form>
    <p id="start-msg" class="muted" role="status"></p>
    <form id="stop-form" class="inline" method="post" action="/api/device/{esc(device_id)}/stop">
      <button type="submit" class="danger">Stop the routine</button></form>
    <p id="stop-msg" class="muted" role="status"></p></div>
  <div class="card"><h2>Recent sessions</h2><ul class="plain" id="recent">{recent_rows}</ul></div>
</section>"""
        data = {"device_id": device_id, "snapshot": snap, "status": status, "titles": dict(choices),
                **start_data(programs, tool)}
        return layout(request, f"Live · {device_id}", body, active="live", script="live", data=data)

    async def live_stream(self, request: Request) -> Response:
        device_id = request.path_params.get("device_id")
        allowed = await run_in_threadpool(q.paired_ids, self.store)
        if device_id is not None and device_id not in allowed:
            return JSONResponse({"error": "not a paired device"}, status_code=404)
        stored = {d["device_id"]: d for d in await run_in_threadpool(q.list_devices, self.store)}
        who = viewer(request)
        queue = self.hub.subscribe(device_id)
        hub = self.hub
        # the state as the stream subscribed (taken now, not when the body starts: what comes
        # after is in the queue, so nothing falls between the two)
        first = [b"retry: 2000\n\n"]
        for dev in [device_id] if device_id else sorted(allowed):
            snap = hub.snapshot_for(dev, sees(who, stored.get(dev)))
            status = snap.get("status") or (stored.get(dev) or {}).get("status")
            if status:
                first.append(sse("status", {"device_id": dev, "status": status}))
            if "telemetry" in snap:
                first.append(sse("telemetry", {"device_id": dev, **snap["telemetry"]}))

        async def stream():
            try:
                for frame in first:
                    yield frame
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
                    if msg["kind"] != "status" and not sees(who, stored.get(dev))(msg["owner"]):
                        continue  # another person's live data (issue 23): status only
                    payload = msg["payload"] if isinstance(msg["payload"], dict) else {"value": msg["payload"]}
                    yield sse(msg["kind"], {"device_id": dev, **payload})
            finally:
                hub.unsubscribe(queue)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


def sees(who, device: dict | None):
    """Whether ``who`` may see a device's live data that was live for a person (issue 23):
    only while the device's current person is one of theirs (an admin: always; a person:
    themselves). UNKNOWN (the hub heard no info yet) goes by the info the store keeps."""
    stored = info_person((device or {}).get("info"))
    return lambda owner: who.may_see_person(stored if owner is UNKNOWN else owner)


def running_line(snap: dict) -> str:
    """'Running now: <routine>' while the device's live telemetry says a routine runs (the
    hub drops it once the session's summary is stored), else ''."""
    t = snap.get("telemetry")
    if not isinstance(t, dict) or snap.get("status") == "offline" or t.get("phase") in ("complete", "stepped_off", "stopped"):
        return ""
    return f"Running now: {routine_title(t.get('protocol'))}"


def last_line(store, device_id: str, person_in=None) -> str:
    """'Last: <routine> · <when> · <duration>' for a device card, or a nudge to start
    (``person_in``: of these people's sessions only)."""
    last = q.sessions(store, device_id=device_id, limit=1, person_in=person_in)
    if not last:
        return "No sessions yet: start a routine on the tool."
    r = last[0]
    return f"Last: {routine_title(r['protocol'])} · {fmt_when(r['started_at'])} · {fmt_duration(r['duration_s'])}"

