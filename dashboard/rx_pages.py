"""The therapist's pages (issue 23): ``/person/{id}/prescription`` (a programme, the
numbers of each of its routines, the days; every save a new version, checked as a routine
file is, sent to the devices) and ``/person/{id}/adherence`` (a week per row: sessions done
against prescribed, targets met, soreness, time per muscle and side, and a small chart).

Who may see a person is asked of ``dashboard.access.may_see`` only.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dashboard import adherence as ad
from dashboard import plans as pl
from dashboard import prescriptions as rx
from dashboard import queries as q
from dashboard.access import may_see
from dashboard.actions import push_answer, pushed_card
from dashboard.context import Pages
from dashboard.person_words import muscle_name
from dashboard.plan_pages import form_lists
from dashboard.render import esc, fmt_duration, fmt_when, layout, not_found
from firmware.common.errors import ConfigError
from firmware.core.prescription import base_routine_dict, routine_filename

SIDE_WORDS = {"left": "left", "right": "right", None: "–"}


def _num_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:g}"


def routine_fieldset(rid: str, shown, problems: list[str]) -> str:
    """One routine's numbers: a fieldset, its problems (one line each) inside it."""
    base = base_routine_dict(rid)
    mine = [p for p in problems if p.startswith(routine_filename(rid) + ":")]
    inputs = []
    for f in rx.fields_of(base):
        value = shown(rid, base, f.key)
        bad = any(f": {f.key}:" in p or f": {f.key}." in p for p in mine)
        invalid = ' aria-invalid="true"' if bad else ""
        name = f"{rid}|{f.key}"
        if f.kind == "band":
            lo, hi = (value + [None, None])[:2] if isinstance(value, list) else (None, None)
            inputs.append(
                f'<div class="rx-field band" data-key="{esc(f.key)}"><span class="rx-label" id="{esc(name)}|l">'
                f'{esc(f.label)} <span class="muted small">({esc(f.unit)})</span></span><span class="pair">'
                f'<label>from<input name="{esc(name)}|lo" value="{esc(_num_text(lo))}" inputmode="decimal"'
                f' aria-describedby="{esc(name)}|l"{invalid}></label>'
                f'<label>to<input name="{esc(name)}|hi" value="{esc(_num_text(hi))}" inputmode="decimal"'
                f' aria-describedby="{esc(name)}|l"{invalid}></label></span></div>')
        else:
            inputs.append(
                f'<div class="rx-field" data-key="{esc(f.key)}"><label>{esc(f.label)} '
                f'<span class="muted small">({esc(f.unit)})</span><input name="{esc(name)}" '
                f'value="{esc(_num_text(value))}" inputmode="decimal"{invalid}></label></div>')
    errs = ("<ul class=\"flags rx-problems\">" + "".join(f"<li>{esc(p)}</li>" for p in mine) + "</ul>"
            if mine else "")
    return (f'<fieldset class="rx-routine" data-routine="{esc(rid)}"><legend>{esc(base.get("title") or rid)} '
            f'<span class="muted small">· {esc(rid)} · {esc(str(base.get("mode", "")))}</span></legend>{errs}'
            f'<p class="muted small">Blank: left out (a force band in newtons or as a fraction of body weight; '
            f'the body-weight one wins when the person gave a body mass).</p>{"".join(inputs)}</fieldset>')


class RxPages(Pages):
    """``/person/{id}/prescription`` (GET, POST) and ``/person/{id}/adherence``. ``today``:
    a function giving the local date (injectable)."""

    def __init__(self, d, sync: rx.RxSync, status_of, command_timeout_s: float, today=None) -> None:
        super().__init__(d)
        self.sync = sync
        self.status_of = status_of
        self.command_timeout_s = command_timeout_s
        self.today = today or (lambda: datetime.now().astimezone().date())

    def _person(self, request: Request) -> dict | None:
        pid = request.path_params["person_id"]
        return self.store.person(pid) if may_see(request, pid) else None

    # -- /person/{id}/prescription
    def rx_page(self, request: Request, *, problems: list[str] | None = None, posted: dict | None = None,
                pushed: list | None = None, status_code: int = 200) -> HTMLResponse:
        person = self._person(request)
        pid = request.path_params["person_id"]
        if person is None:
            return not_found(request, f"No person '{pid}'.")
        programs = pl.known_programs()
        have = rx.latest(self.store, pid)
        chosen = (posted or {}).get("program") or request.query_params.get("program") or (
            have["program_id"] if have else "")
        if chosen not in programs:
            chosen = sorted(programs)[0] if programs else ""
        program = programs.get(chosen)
        problems = problems or []
        if posted is not None:
            def shown(rid, base, key):  # what was typed, as the validator saw it
                return posted["overrides"].get(rid, {}).get(key)
            days = set(posted["weekdays"])
        else:
            current = have if have and have["program_id"] == chosen else None

            def shown(rid, base, key):
                return rx.shown_value(current, base, rid, key)
            days = set(have["weekdays"]) if have and have["program_id"] == chosen else set()
        choose = "".join(f'<option value="{esc(p.id)}"{" selected" if p.id == chosen else ""}>{esc(p.title)}</option>'
                         for p in sorted(programs.values(), key=lambda p: p.title))
        boxes = "".join(
            f'<label><input type="checkbox" name="weekday" value="{pl.WEEKDAYS[d]}"{" checked" if d in days else ""}>'
            f'{pl.WEEKDAY_NAMES[d][:3]}<span class="sr-only"> ({pl.WEEKDAY_NAMES[d]})</span></label>' for d in range(7))
        fieldsets = "".join(routine_fieldset(r, shown, problems) for r in rx.program_routines(program)) if program else ""
        errors = ('<div class="msg error" role="alert" id="rx-errors"><p>Not saved: every problem, one line each '
                  '(as a routine file would be told):</p><ul>' + "".join(f"<li>{esc(p)}</li>" for p in problems)
                  + "</ul></div>") if problems else ""
        saved = request.query_params.get("saved")
        if pushed is None and saved and have and saved == str(have["version"]):
            pushed = self._pushed_states(pid, have["version"])
        note = (f'<p class="msg ok" role="status" id="rx-saved">Saved as version {esc(saved)}.</p>'
                if saved and not problems else "")
        qpid = esc(quote(pid, safe=""))
        body = f"""
<section class="live-head"><div><h1>{esc(person["name"])}'s prescription</h1>
<p class="muted">The numbers the devices coach {esc(person["name"])} with. <a href="/person/{qpid}/adherence">Adherence</a> ·
<a href="/person/{qpid}">{esc(person["name"])}'s page</a></p></div></section>
{pushed_card(pushed)}
<section class="card"><form method="get" action="/person/{qpid}/prescription" id="rx-program">
<label>Programme<select name="program">{choose}</select></label>
<button type="submit">Show its routines</button></form></section>
<section class="card rx-form">{errors}{note}
<form method="post" action="/person/{qpid}/prescription" id="rx-form">
<input type="hidden" name="program" value="{esc(chosen)}">
<fieldset class="days"><legend>Plan: the days of the week</legend>{boxes}</fieldset>
{fieldsets}
<button type="submit" class="primary">Save as a new version</button></form></section>
{self._versions_card(pid)}"""
        return layout(request, f"Prescription · {person['name']}", body, active="people", status_code=status_code)

    def _pushed_states(self, pid: str, version: int) -> list[dict]:
        """What each paired device did with ``version`` just saved, from the store: sent (it
        confirmed), refused (its reason), offline, or no answer yet (sent again when it comes
        back)."""
        confirmed = self.sync.confirmed(pid)
        out = []
        for d in q.list_devices(self.store, paired_only=True):
            row = confirmed.get(d["device_id"], {})
            if row.get("version") == version:
                state = "sent"
            elif row.get("error"):
                state = f"refused: {row['error']}"
            elif self.status_of(d) == "offline":
                state = rx.OFFLINE
            else:
                state = "no answer yet: will be sent again when it comes back online"
            out.append({"device": d, "cmd_id": None, "state": state})
        return out

    def _versions_card(self, pid: str) -> str:
        found = rx.versions(self.store, pid)
        if not found:
            return '<section class="card"><h2>Versions</h2><p class="muted" id="rx-versions">None yet.</p></section>'
        programs = pl.known_programs()
        latest = found[0]["version"]
        devices = q.list_devices(self.store, paired_only=True)
        confirmed = self.sync.confirmed(pid)
        rows = "".join(
            f'<tr data-version="{v["version"]}"><td class="num">v{v["version"]}</td><td>{esc(fmt_when(v["created_at"]))}</td>'
            f'<td>{esc(v["by"] or "–")}</td><td>{esc(programs[v["program_id"]].title if v["program_id"] in programs else v["program_id"])}'
            f'</td><td>{esc(pl.weekdays_words(v["weekdays"]))}</td></tr>' for v in found)
        dev_rows = ""
        for d in devices:
            row = confirmed.get(d["device_id"], {})
            state = ("has the latest" if row.get("version") == latest else
                     f"refused: {row['error']}" if row.get("error") else
                     f"has v{row['version']}; " if row.get("version") else "")
            if row.get("version") != latest and not row.get("error"):
                state += (rx.OFFLINE if self.status_of(d) == "offline" else "not yet: sent when it next comes online")
            dev_rows += (f'<tr data-device-id="{esc(d["device_id"])}"><td>{esc(d.get("name") or d["device_id"])}</td>'
                         f'<td class="rx-state">{esc(state)}</td></tr>')
        return f"""<section class="card"><h2>Versions</h2><div class="scroll"><table class="table" id="rx-versions">
<thead><tr><th class="num">Version</th><th>Made</th><th>By</th><th>Programme</th><th>Days</th></tr></thead><tbody>{rows}</tbody></table></div>
<h3>On the devices</h3><div class="scroll"><table class="table" id="rx-devices"><thead><tr><th>Device</th><th>Version {latest}</th></tr></thead>
<tbody>{dev_rows or '<tr><td colspan="2" class="muted">No paired devices.</td></tr>'}</tbody></table></div></section>"""

    async def rx_save(self, request: Request) -> Response:
        pid = request.path_params["person_id"]
        person = await run_in_threadpool(self._person, request)
        if person is None:
            return await run_in_threadpool(self.rx_page, request)
        form = await form_lists(request)
        first = {k: v[0] for k, v in form.items() if v}
        programs = pl.known_programs()
        program = programs.get(first.get("program", ""))
        if program is None:
            return await run_in_threadpool(lambda: self.rx_page(
                request, problems=[f"program: {first.get('program', '')[:40]!r} is not a programme this dashboard knows"],
                status_code=400))
        try:
            weekdays = pl.parse_weekdays(form.get("weekday", []))
        except ConfigError as e:
            weekdays, day_problem = (), [f"plan: {e}"]
        else:
            day_problem = []
        overrides = rx.form_overrides(first, rx.program_routines(program))
        by = getattr(request.state, "user", None)
        try:
            if day_problem:
                raise ConfigError(day_problem[0])
            saved = await run_in_threadpool(rx.save_version, self.store, pid, program.id, weekdays, overrides,
                                            by, self.today())
        except ConfigError as e:
            problems = day_problem or list(getattr(e, "problems", [str(e)]))
            posted = {"program": program.id, "weekdays": weekdays, "overrides": overrides}
            return await run_in_threadpool(lambda: self.rx_page(request, problems=problems, posted=posted,
                                                                status_code=400))
        pushed = await run_in_threadpool(self.sync.push, pid, self.status_of)
        await asyncio.gather(*(self._answer(p) for p in pushed if p["cmd_id"]))
        # Post/Redirect/Get: a reload shows the page again and saves nothing twice; the
        # devices' answers are in the store (device_prescriptions), where the page reads them
        return RedirectResponse(f"/person/{quote(pid)}/prescription?saved={saved['version']}", status_code=303)

    async def _answer(self, push: dict) -> None:
        await push_answer(self.hub, self.sync, push, self.command_timeout_s)

    # -- /person/{id}/adherence
    def adherence_page(self, request: Request) -> HTMLResponse:
        person = self._person(request)
        pid = request.path_params["person_id"]
        if person is None:
            return not_found(request, f"No person '{pid}'.")
        versions = rx.versions(self.store, pid)
        weeks = ad.weekly(q.person_sessions(self.store, pid), versions, pl.known_programs(), self.today())
        qpid = esc(quote(pid, safe=""))
        if versions:
            v = versions[0]
            programs = pl.known_programs()
            title = programs[v["program_id"]].title if v["program_id"] in programs else v["program_id"]
            head = (f'Following version {v["version"]} ({esc(title)}, {esc(pl.weekdays_words(v["weekdays"]))}) '
                    f'since {esc(fmt_when(v["created_at"]).replace("Today", "today", 1))}{", by " + esc(v["by"]) if v["by"] else ""}.')
        else:
            head = "No prescription yet: what was done is shown, nothing was prescribed."
        body = f"""
<section class="live-head"><div><h1>{esc(person["name"])}: adherence</h1>
<p class="muted" id="rx-current">{head} <a href="/person/{qpid}/prescription">Prescription</a> ·
<a href="/person/{qpid}">{esc(person["name"])}'s page</a></p></div></section>
<section class="card"><h2>Sessions done against prescribed</h2>{_chart(weeks)}{_weeks_table(weeks)}</section>
{_time_table(weeks)}"""
        return layout(request, f"Adherence · {person['name']}", body, active="people")



def _pct(share) -> str:
    return "–" if share is None else f"{round(100 * share)} %"


def _avg(x) -> str:
    return "–" if x is None else f"{x:g}"


def _weeks_table(weeks: list[dict]) -> str:
    rows = "".join(
        f'<tr data-week="{w["week"]}"><th scope="row"><abbr title="ISO week {w["week"]}">{w["week"][-3:]}</abbr>'
        f'<br><span class="muted small">{w["monday"].day} {w["monday"].strftime("%b")}</span></th>'
        f'<td class="num done">{w["done"]} of {w["prescribed"]}</td><td class="num followed">{w["followed"]}</td>'
        f'<td class="num targets">{_pct(w["targets_share"])}<br><span class="muted small">{w["targets_met"]} of '
        f'{w["targets_total"]}</span></td><td class="num soreness">{_avg(w["sore_before"])} → {_avg(w["sore_after"])}</td></tr>'
        for w in reversed(weeks))
    return (f'<div class="scroll"><table class="table" id="adherence"><thead><tr><th>Week</th>'
            f'<th class="num">Done of due</th><th class="num">Coached with it</th><th class="num">Targets met</th>'
            f'<th class="num">Sore before → after</th></tr></thead><tbody>{rows}</tbody></table></div>')


def _chart(weeks: list[dict]) -> str:
    """Done (filled) against prescribed (outline) per week: a small SVG, its words in the
    table below it."""
    top = max([1] + [max(w["done"], w["prescribed"]) for w in weeks])
    width, height, bar = 300, 90, 300 / max(1, len(weeks))
    parts = []
    for i, w in enumerate(weeks):
        x = i * bar + bar * 0.2
        bw = bar * 0.6
        ph = 70 * w["prescribed"] / top
        dh = 70 * w["done"] / top
        parts.append(f'<rect x="{x:.1f}" y="{75 - ph:.1f}" width="{bw:.1f}" height="{ph:.1f}" fill="none" '
                     f'stroke="#5b6673" stroke-dasharray="3 2"/><rect x="{x + bw * 0.2:.1f}" y="{75 - dh:.1f}" '
                     f'width="{bw * 0.6:.1f}" height="{dh:.1f}" fill="#0f766e"/>'
                     f'<text x="{x + bw / 2:.1f}" y="88" font-size="9" text-anchor="middle" fill="#5b6673">'
                     f'{w["week"][-3:]}</text>')
    words = "; ".join(f'{w["week"]}: {w["done"]} of {w["prescribed"]}' for w in weeks)
    return (f'<svg id="adherence-chart" class="chart small" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="Sessions done (filled) of prescribed (outline) per week: {esc(words)}">{"".join(parts)}</svg>')


def _time_table(weeks: list[dict]) -> str:
    keys = sorted({k for w in weeks for k in w["time_s"]}, key=lambda k: (k[0], k[1] or ""))
    if not keys:
        return ('<section class="card"><h2>Time per muscle and side</h2><p class="muted" id="muscle-time">'
                'Nothing of the programme rolled in these weeks.</p></section>')
    shown = [w for w in weeks if w["time_s"]][-3:]  # the last weeks with any: fits 375 px
    head = "".join(f'<th class="num"><abbr title="ISO week {w["week"]}">{w["week"][-3:]}</abbr></th>' for w in shown)
    rows = "".join(
        f'<tr data-muscle="{esc(m)}" data-side="{esc(s or "")}"><th scope="row">{esc(muscle_name(m))}, {SIDE_WORDS.get(s, "–")}</th>'
        + "".join(f'<td class="num" data-seconds="{w["time_s"].get((m, s), 0.0):.1f}">'
                  f'{fmt_duration(w["time_s"].get((m, s), 0.0))}</td>' for w in shown) + "</tr>"
        for m, s in keys)
    return (f'<section class="card"><h2>Time per muscle and side</h2><div class="scroll"><table class="table" id="muscle-time">'
            f'<thead><tr><th>Muscle, side</th>{head}</tr></thead><tbody>{rows}</tbody></table></div></section>')
