"""The people page (issue 22): the household's or clinic's people (body mass, units, sessions,
streak, last session, a left/right asymmetry worth noticing), a form to add a person and one
to edit each, and after every change the people sent to the paired devices
(dashboard.people_sync), with what became of it on each device."""

from __future__ import annotations

import asyncio
import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from dashboard import queries as q
from dashboard.access import link_client, therapists, unlink_client, viewer
from dashboard.actions import push_answer, pushed_card
from dashboard.context import Dashboard, Pages
from dashboard.people_sync import OFFLINE, PeopleSync
from dashboard.person_words import asymmetry_sentences
from dashboard.render import esc, fmt_when, form_data, layout
from firmware.common import units
from firmware.common.errors import ConfigError
from firmware.common.units import plural
from firmware.core.commands import MAX_PEOPLE, NAME_MAX, UNITS

MASS_KG = (20.0, 300.0)  # what a device takes (firmware.core.commands.BODY_MASS)
UNITS_WORDS = {"metric": "metric (cm/s, N, kg)", "imperial": "imperial (in/s, lbf, lb)",
               "kgf": "metric with kgf (cm/s, kgf, kg)"}
FIELDS = ("name", "body_mass", "units")


def mass_range(units_name: str) -> str:
    lo, hi = MASS_KG
    unit = units.MASS_UNIT.get(units_name, "kg")
    if unit == "lb":  # the lb that stay inside the kg range
        return f"{math.ceil(lo / units.KG_PER_LB)} to {math.floor(hi / units.KG_PER_LB)} lb"
    return f"{lo:.0f} to {hi:.0f} kg"


def read_person_form(form: dict) -> tuple[dict, dict]:
    """The person form's fields -> (``{name, body_mass_kg, units}``, ``{field: error}``), each
    error in a user's words; the body mass is typed in the units chosen on the same form
    (kg, or lb when imperial)."""
    errors: dict[str, str] = {}
    name = " ".join(form.get("name", "").split())
    if not name:
        errors["name"] = "Enter a name."
    elif len(name) > NAME_MAX:
        errors["name"] = f"A name is at most {NAME_MAX} characters."
    units_name = form.get("units", "metric")
    if units_name not in UNITS:
        errors["units"] = "Choose metric, imperial or metric with kgf."
        units_name = "metric"
    mass_text = form.get("body_mass", "").strip().replace(",", ".")
    mass_kg = None
    if mass_text:
        try:
            value = float(mass_text)
        except ValueError:
            value = math.nan
        mass_kg = units.mass_kg(value, units_name) if math.isfinite(value) else None
        if mass_kg is None or not MASS_KG[0] <= round(mass_kg, 6) <= MASS_KG[1]:
            errors["body_mass"] = f"Body mass must be a number from {mass_range(units_name)}, or empty."
    return {"name": name, "body_mass_kg": mass_kg, "units": units_name}, errors


def store_error_field(message: str) -> str:
    """Which form field a store's ConfigError is about ("" when none)."""
    for prefix, field in (("name", "name"), ("body_mass_kg", "body_mass"), ("units", "units")):
        if message.startswith(prefix):
            return field
    return ""


class PeoplePages(Pages):
    """``/people`` (GET: the list; POST: add a person) and ``/people/{id}`` (POST: edit one).
    ``command_timeout_s``: how long a change waits for each device's answer."""

    def __init__(self, d: Dashboard, *, command_timeout_s: float) -> None:
        super().__init__(d)
        self.command_timeout_s = command_timeout_s
        self.sync = PeopleSync(d.store, d.ingest, d.hub)

    # -- handlers
    async def add(self, request: Request) -> HTMLResponse:
        form = await form_data(request)
        fields, errors = read_person_form(form)
        if not errors and len(await run_in_threadpool(self.store.people)) >= MAX_PEOPLE:
            errors[""] = f"A device holds at most {MAX_PEOPLE} people: edit a person instead of adding one."
        if not errors:
            try:
                await run_in_threadpool(lambda: self.store.add_person(**fields))
            except ConfigError as e:
                errors[store_error_field(str(e))] = str(e)
        if errors:
            return await run_in_threadpool(self.people_page, request, None, form, errors, None, 400)
        return await self._changed(request, f"Added {fields['name']}.")

    async def edit(self, request: Request) -> HTMLResponse:
        person_id = request.path_params["person_id"]
        form = await form_data(request)
        if await run_in_threadpool(self.store.person, person_id) is None:
            return await run_in_threadpool(self.people_page, request, None, None, {"": f"No person with id {person_id!r}."},
                                           None, 404)
        fields, errors = read_person_form(form)
        if not errors:
            try:
                await run_in_threadpool(lambda: self.store.update_person(person_id, **fields))
            except ConfigError as e:
                errors[store_error_field(str(e))] = str(e)
        if errors:
            return await run_in_threadpool(self.people_page, request, None, form | {"person_id": person_id},
                                           errors, None, 400)
        return await self._changed(request, f"Saved {fields['name']}.")

    async def _changed(self, request: Request, message: str) -> HTMLResponse:
        """Send the people to every paired device, wait for their answers, show the page."""
        pushed = await run_in_threadpool(self.sync.push_all, self.device_status)
        await asyncio.gather(*(self._answer(p) for p in pushed if p["cmd_id"]))
        return await run_in_threadpool(self.people_page, request, message, None, None, pushed, 200)

    async def _answer(self, push: dict) -> None:
        await push_answer(self.hub, self.sync, push, self.command_timeout_s)

    async def link_therapist(self, request: Request) -> HTMLResponse:
        """The admin links a person to a therapist login (issue 23)."""
        return await self._therapist_change(request, link_client, "Linked {person} to {therapist}.")

    async def unlink_therapist(self, request: Request) -> HTMLResponse:
        return await self._therapist_change(request, unlink_client, "{person} is no longer {therapist}'s client.")

    async def _therapist_change(self, request: Request, change, said: str) -> HTMLResponse:
        form = await form_data(request)
        therapist, person_id = form.get("therapist", ""), form.get("person", "")
        try:
            await run_in_threadpool(change, self.store, therapist, person_id)
        except ConfigError as e:
            error = str(e)
            return await run_in_threadpool(lambda: self.people_page(request, status_code=400,
                                                                    therapist_error=error))
        person = await run_in_threadpool(self.store.person, person_id)
        message = said.format(person=person["name"] if person else person_id, therapist=therapist)
        return await run_in_threadpool(self.people_page, request, message)

    def device_status(self, device: dict) -> str:
        """online / offline / unknown: the latest status the ingest saw, else the stored one."""
        return self.hub.snapshot(device["device_id"]).get("status") or device.get("status") or "unknown"

    # -- the page
    def people_page(self, request: Request, message: str | None = None, form: dict | None = None,
                    errors: dict | None = None, pushed: list | None = None, status_code: int = 200,
                    therapist_error: str = "") -> HTMLResponse:
        errors = errors or {}
        editing = (form or {}).get("person_id")
        who = viewer(request)  # issue 23: the people this login may see; the forms are the admin's
        people = [p for p in q.people_overview(self.store) if who.may_see_person(p["id"])]
        rows = "".join(self._row(p) for p in people if p["id"] is not None) or (
            '<tr><td colspan="5" class="muted">Nobody yet: add the people who roll, below.</td></tr>')
        edits = "".join(self._edit(p, form if editing == p["id"] else None, errors if editing == p["id"] else {})
                        for p in people if p["id"] is not None)
        nobody = next((p for p in people if p["id"] is None), None)
        nobody_note = (f'<p class="muted small">{plural(nobody["sessions"], "session", "sessions")} '
                       'with nobody chosen: in <a href="/history">History</a>.</p>') if nobody else ""
        general = errors.get("") if errors else ""
        note = ""
        if message:
            note = f'<p id="people-msg" class="msg ok" role="status">{esc(message)}</p>'
        elif general:
            note = f'<p id="people-msg" class="msg error" role="alert">{esc(general)}</p>'
        add_form = form if form is not None and not editing else None
        if not who.is_admin:
            body = f"""
<h1>{"Clients" if who.role == "therapist" else "People"}</h1>
<section class="card"><div class="scroll"><table class="table" id="people">
<thead><tr><th>Name</th><th class="num">Sessions</th><th>Streak</th><th>Last session</th><th>Left / right</th></tr></thead>
<tbody>{rows}</tbody></table></div></section>"""
            return layout(request, "People", body, active="people", status_code=status_code)
        body = f"""
<h1>People</h1>{note}{pushed_card(pushed)}
<section class="card"><h2>Who rolls</h2><p class="muted small">Each person's sessions, streak and left/right
balance; body mass sets their force targets; forces show in their units.</p>
<div class="scroll"><table class="table" id="people">
<thead><tr><th>Name</th><th class="num">Sessions</th><th>Streak</th><th>Last session</th><th>Left / right</th></tr></thead>
<tbody>{rows}</tbody></table></div>{nobody_note}</section>
{f'<section class="card" id="edit-people"><h2>Edit a person</h2>{edits}</section>' if edits else ""}
<section class="card"><h2>Add a person</h2>
{person_form("/people", "add", add_form or {}, errors if add_form is not None else {}, "Add")}</section>
{self._devices_card()}
{therapists_card(self.store, people, therapist_error)}"""
        return layout(request, "People", body, active="people", status_code=status_code)

    def _row(self, p: dict) -> str:
        unit = p["units"] or "metric"
        flags = [s for a in q.asymmetry(self.store, p["id"]) for s in asymmetry_sentences(a)]
        more = f' <a href="/person/{esc(p["id"])}">and {len(flags) - 1} more</a>' if len(flags) > 1 else ""
        balance = (f'<span class="flag">{esc(flags[0])}</span>{more}' if flags
                   else '<span class="muted">even</span>' if p["sessions"] else '<span class="muted">–</span>')
        return (f'<tr data-person-id="{esc(p["id"])}"><td><a href="/person/{esc(p["id"])}">{esc(p["name"])}</a>'
                f'<br><span class="muted small"><span class="mass">{esc(units.mass_for(p["body_mass_kg"], unit))}</span>'
                f' · <span class="units">{esc(unit)}</span></span></td>'
                f'<td class="num sessions">{p["sessions"]}</td>'
                f'<td class="streak">{plural(p["streak"]["current_days"], "day", "days")}</td>'
                f'<td class="last">{esc(fmt_when(p["last_started_at"]))}</td><td class="balance">{balance}</td></tr>')

    def _edit(self, p: dict, form: dict | None, errors: dict) -> str:
        """A person's edit form, folded (open when it holds what they typed and an error)."""
        unit = p["units"] or "metric"
        values = form or {"name": p["name"], "body_mass": units.mass_number(p["body_mass_kg"], unit), "units": unit}
        return (f'<details id="edit-{esc(p["id"])}"{" open" if form is not None else ""}><summary>{esc(p["name"])}</summary>'
                f'{person_form("/people/" + p["id"], "edit-" + p["id"], values, errors, "Save")}</details>')

    def _devices_card(self) -> str:
        devices = q.list_devices(self.store, paired_only=True)
        if not devices:
            return ('<section class="card"><h2>On the devices</h2><p class="muted">No paired device yet: '
                    '<a href="/devices">pair one</a> and the people are sent to it.</p></section>')
        versions = self.sync.versions()
        try:
            from_store = self.sync.current_version()
        except ConfigError as e:
            from_store = None
            problem = str(e)
        rows = ""
        for d in devices:
            v = versions.get(d["device_id"], {})
            if from_store is None:
                state = f"not sent: {problem}"
            elif v.get("version") == from_store:
                state = "has everyone as shown here"
            elif v.get("error"):
                state = f"refused: {v['error']}"
            elif self.device_status(d) == "offline":
                state = OFFLINE
            else:
                state = "not yet: sent when it next comes online"
            rows += (f'<tr data-device-id="{esc(d["device_id"])}"><td>{esc(d.get("name") or d["device_id"])}</td>'
                     f'<td>{esc(self.device_status(d))}</td><td class="people-state">{esc(state)}</td></tr>')
        return ('<section class="card"><h2>On the devices</h2><div class="scroll"><table class="table" id="device-people">'
                '<thead><tr><th>Device</th><th>Status</th><th>People</th></tr></thead>'
                f'<tbody>{rows}</tbody></table></div></section>')



def person_form(action: str, key: str, values: dict, errors: dict, button: str) -> str:
    """A person's form (name, body mass in the chosen units, units), each field's error next
    to it. ``key`` makes the ids unique on the page."""

    def error(field: str) -> tuple[str, str]:
        if not errors.get(field):
            return "", ""
        return (f' aria-invalid="true" aria-describedby="{key}-{field}-error"',
                f'<span class="msg error field-error" id="{key}-{field}-error">{esc(errors[field])}</span>')

    chosen = values.get("units") if values.get("units") in UNITS else "metric"
    options = "".join(f'<option value="{u}"{" selected" if u == chosen else ""}>{esc(UNITS_WORDS[u])}</option>'
                      for u in UNITS)
    name_attr, name_err = error("name")
    mass_attr, mass_err = error("body_mass")
    units_attr, units_err = error("units")
    return f"""<form method="post" action="{esc(action)}" class="inline person-form" id="{key}-form">
<label>Name <input name="name" id="{key}-name" maxlength="{NAME_MAX}" required autocomplete="off"
value="{esc(values.get("name", ""))}"{name_attr}>{name_err}</label>
<label>Body mass (kg, or lb if imperial) <input name="body_mass" id="{key}-body_mass" inputmode="decimal"
autocomplete="off" value="{esc(values.get("body_mass", ""))}"{mass_attr}>{mass_err}</label>
<label>Units <select name="units" id="{key}-units"{units_attr}>{options}</select>{units_err}</label>
<button type="submit" class="primary">{button}</button></form>"""


def therapists_card(store, people: list[dict], error: str = "") -> str:
    """The admin's section (issue 23): each therapist login and their clients (unlink each),
    and a form linking a person to a therapist. Therapist logins are made on the dashboard
    machine (``rollsense dashboard --add-user NAME --role therapist``)."""
    names = {p["id"]: p["name"] for p in people if p["id"] is not None}
    rows = therapists(store)
    msg = f'<p class="msg error" role="alert" id="therapist-msg">{esc(error)}</p>' if error else ""
    if not rows:
        return (f'<section class="card" id="therapists"><h2>Therapists</h2>{msg}<p class="muted">No therapist '
                'logins yet: on the dashboard machine run <code>rollsense dashboard --add-user NAME --role '
                'therapist</code>.</p></section>')
    items = ""
    for t in rows:
        clients = "".join(
            f'<li data-person-id="{esc(pid)}">{esc(names.get(pid, pid))} '
            f'<form method="post" action="/people/therapists/unlink" class="inline">'
            f'<input type="hidden" name="therapist" value="{esc(t["username"])}">'
            f'<input type="hidden" name="person" value="{esc(pid)}">'
            f'<button type="submit" class="link" aria-label="Unlink {esc(names.get(pid, pid))} from {esc(t["username"])}">'
            'Unlink</button></form></li>' for pid in t["clients"]
        ) or '<li class="muted">No clients yet.</li>'
        items += f'<li data-therapist="{esc(t["username"])}"><strong>{esc(t["username"])}</strong><ul>{clients}</ul></li>'
    t_options = "".join(f'<option value="{esc(t["username"])}">{esc(t["username"])}</option>' for t in rows)
    p_options = "".join(f'<option value="{esc(pid)}">{esc(name)}</option>' for pid, name in names.items())
    return f"""<section class="card" id="therapists"><h2>Therapists</h2>{msg}
<p class="muted small">A therapist sees their clients' pages, sessions and exports, nothing else.</p>
<ul class="plain">{items}</ul>
<form method="post" action="/people/therapists/link" class="inline" id="link-form">
<label>Client <select name="person" id="link-person">{p_options}</select></label>
<label>Therapist <select name="therapist" id="link-therapist">{t_options}</select></label>
<button type="submit" class="primary">Link</button></form></section>"""
