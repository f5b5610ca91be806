"""The devices page: the devices seen on the broker, pairing one by its code, forgetting
one, and the admin's quarantine page (messages from devices that the dashboard could not read:
they failed their schema, dashboard/schema.py)."""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dashboard import queries as q
from dashboard.context import Dashboard, Pages
from dashboard.render import esc, fmt_when, form_data, layout
from firmware.common import wire
from firmware.common.units import plural

# a device on this broker ("roller-1") or of a site bridged to it ("clinic-a.roller-1")
DEVICE_ID_RE = re.compile(f"^{wire.DEVICE_KEY_RE.pattern}$")
CODE_RE = re.compile(r"^[0-9]{6}$")


class DevicePages(Pages):
    """``/devices``, ``/devices/pair``, ``/devices/{id}/forget`` and ``/admin/quarantine``.
    ``pair_timeout_s``: how long a pairing waits for the device's reply."""

    def __init__(self, d: Dashboard, *, pair_timeout_s: float) -> None:
        super().__init__(d)
        self.pair_timeout_s = pair_timeout_s

    def quarantine_page(self, request: Request) -> HTMLResponse:
        """Messages from devices that failed their schema: kept aside, never stored. Said in a
        user's words: what they are, that nothing else uses them, and what to do."""
        rows = q.quarantine(self.store)
        totals = q.quarantine_totals(self.store)
        body_rows = "".join(
            f'<tr><td>{esc(r["device_id"])}</td><td>{esc(r["kind"])}</td><td>{esc(r["reason"])}</td>'
            f'<td class="num">{esc(r["times"])}</td><td>{esc(fmt_when(r["first_seen"]))}</td>'
            f'<td>{esc(fmt_when(r["last_seen"]))}</td>'
            f'<td><details><summary>{esc(r["size"])} bytes on {esc(r["topic"])}</summary>'
            f'<pre class="payload">{esc(r["payload"])}</pre></details></td></tr>'
            for r in rows
        ) or '<tr><td colspan="7" class="muted">Nothing set aside: every message from your devices could be read.</td></tr>'
        body = f"""
<h1>Quarantine</h1>
<section class="card"><p class="muted">Messages your devices sent that the dashboard could not read:
garbled, with a field missing, or with a value out of range. They are set aside here and left out
of sessions and history, so nothing else on the dashboard comes from them;
{plural(totals["messages"], "message", "messages")} in all, one row per device, kind and reason.</p>
<p class="muted">If a row keeps counting up, the device probably runs another release than this
dashboard: update the device and the dashboard to the same release of rollsense. Open a row's
last payload to see what arrived.</p>
<div class="scroll"><table class="table" id="quarantine">
<thead><tr><th>Device</th><th>Kind</th><th>Reason</th><th class="num">Times</th><th>First seen</th>
<th>Last seen</th><th>Last payload</th></tr></thead><tbody>{body_rows}</tbody></table></div></section>"""
        return layout(request, "Quarantine", body, active="devices")


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
<label>Device id <input name="device_id" id="device_id" required pattern="[a-z0-9\\-]+(\\.[a-z0-9\\-]+)?" value="{esc(form.get("device_id", ""))}" autocomplete="off" placeholder="e.g. roller-1"></label>
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
                self.devices_page, request, "Enter the device id (a-z, 0-9, -; a site's device as site.id) and the 6-digit code it shows.", False, 400, form)
        if self.ingest is None:
            return await run_in_threadpool(self.devices_page, request, "The dashboard has no broker connection.", False, 503, form)
        cmd_id = await run_in_threadpool(self.ingest.send_command, device_id, "pair", {"code": code})
        result = await run_in_threadpool(self.hub.wait_result, cmd_id, self.pair_timeout_s)
        if result is None:
            msg = f"No answer from '{device_id}' within {self.pair_timeout_s:.0f} s. Is it switched on and online?"
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


def _quarantine_note(store) -> str:
    """The devices page's link to the quarantine page (with how many messages it holds)."""
    n = q.quarantine_totals(store)["messages"]
    return (f'<p class="muted small"><a href="/admin/quarantine" id="quarantine-link">Quarantine</a>: '
            f'{plural(n, "message", "messages")} from devices that the dashboard could not read, set aside.</p>')


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

