"""Commands to a device from the live page (Start, Stop): sent through the ingest, answered
with the device's own reply."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dashboard import queries as q
from dashboard.access import viewer
from dashboard.context import Dashboard, Pages
from dashboard.plans import known_programs
from dashboard.render import esc, form_data
from dashboard.start_form import start_payload
from firmware.common.errors import ConfigError

OFFLINE_TEXT = "the device is offline: switch it on and wait until this page says online"


class DeviceActions(Pages):
    """``/api/device/{id}/start`` and ``/api/device/{id}/stop``. ``command_timeout_s``: how
    long Start/Stop wait for the device's reply."""

    def __init__(self, d: Dashboard, *, command_timeout_s: float) -> None:
        super().__init__(d)
        self.command_timeout_s = command_timeout_s

    async def start_routine(self, request: Request) -> Response:
        form = await form_data(request)
        device = await run_in_threadpool(q.get_device, self.store, request.path_params["device_id"])
        info = (device or {}).get("info") or {}
        tool = info.get("tool") if isinstance(info.get("tool"), str) else None
        people = [p["id"] for p in await run_in_threadpool(self.store.people)]
        who = viewer(request)
        if not who.is_admin:  # a person starts as themselves only (issue 23)
            form = form | {"person": who.person_id or ""}
            people = [who.person_id] if who.person_id else []
        try:  # who, which side, a programme, soreness before (issue 22): dashboard/start_form.py
            payload = start_payload(form, people=people, programs=known_programs(), tool=tool)
        except ConfigError as e:
            return JSONResponse({"ok": False, "error": str(e)}, status_code=400)
        return await self.device_command(request, "start", payload)

    async def stop_routine(self, request: Request) -> Response:
        """The live page's Stop: the device stops its running routine (kept as interrupted)."""
        return await self.device_command(request, "stop", {"reason": "stopped from the dashboard"})

    async def device_command(self, request: Request, name: str, payload: dict) -> Response:
        """Send command ``name`` to the paired device of the path and answer with the device's
        own reply: ``ok`` only on its ``status: ok``; its ``error`` line (a user's words) when it
        refuses; "the device did not answer" after ``command_timeout_s``. A device whose status is
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
        result = await run_in_threadpool(self.hub.wait_result, cmd_id, self.command_timeout_s)
        if result is None:
            error = f"the device did not answer within {self.command_timeout_s:.0f} s: is it switched on?"
            return JSONResponse({"ok": False, "id": cmd_id, "error": error}, status_code=504)
        if result.get("status") != "ok":
            return JSONResponse({"ok": False, "id": cmd_id, "error": result.get("error") or "refused"}, status_code=409)
        return JSONResponse({"ok": True, "id": cmd_id, "data": result.get("data") or {}})

    def device_status(self, device: dict) -> str:
        """online / offline / unknown: the latest status the ingest saw, else the stored one."""
        return self.hub.snapshot(device["device_id"]).get("status") or device.get("status") or "unknown"


async def push_answer(hub, sync, push: dict, timeout_s: float) -> None:
    """Wait for a device's answer to a pushed command (``push``: ``{"device", "cmd_id"}``,
    from people_sync or prescriptions) and say it in ``push["state"]``: "sent", "refused:
    <its reason>", or no answer (sent again when the device comes back). ``sync.on_ingest``
    records the answer."""
    result = await run_in_threadpool(hub.wait_result, push["cmd_id"], timeout_s)
    if result is None:
        push["state"] = f"no answer within {timeout_s:.0f} s: will be sent again when it comes back online"
        return
    await run_in_threadpool(sync.on_ingest, "result", push["device"]["device_id"], result)
    push["state"] = "sent" if result.get("status") == "ok" else f"refused: {result.get('error') or 'no reason given'}"


def pushed_card(pushed: list | None) -> str:
    """The "Sent to the devices" card: what became of a pushed change (people, a
    prescription) on each paired device; "" when nothing was pushed."""
    if not pushed:
        return ""
    items = "".join(f'<li data-device-id="{esc(p["device"]["device_id"])}"><strong>'
                    f'{esc(p["device"].get("name") or p["device"]["device_id"])}</strong>: '
                    f'<span class="push-state">{esc(p["state"])}</span></li>' for p in pushed)
    return f'<section class="card" id="pushed"><h2>Sent to the devices</h2><ul>{items}</ul></section>'
