"""The Plan pages (issue 22): ``/plan`` (today, per person: due, done, skipped, muscles that
wait), ``/person/{id}/plan`` (the days of the week each programme is planned on), and the
soreness-after rating of a session (``POST /session/{id}/soreness``, its card on the session
page: ``soreness_card``)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dashboard import plans as pl
from dashboard import queries as q
from dashboard.access import viewer
from dashboard.context import Pages
from dashboard.render import esc, layout, not_found
from dashboard.render import form_lists as render_form_lists
from firmware.common.errors import ConfigError
from firmware.core.commands import SORENESS_MAX

PLAN_FORM_MAX_FIELDS = 1000  # a checkbox per programme and day


async def form_lists(request: Request) -> dict[str, list[str]]:
    """The plan form's body as lists of values (a checkbox per programme and day)."""
    return await render_form_lists(request, PLAN_FORM_MAX_FIELDS)


def soreness_card(session: dict, error: str = "") -> str:
    """The session page's soreness card: before (as rated when starting) and a 0-10 radio
    group for after, posted to ``/session/{id}/soreness``."""
    sid, sore = session["session_id"], session.get("soreness") or {}
    before, after = sore.get("before"), sore.get("after")
    said = (f'Before: <strong id="soreness-before">{before}</strong> of 10. ' if before is not None else "")
    said += (f'After: <strong id="soreness-after">{after}</strong> of 10.' if after is not None
             else "After: not rated yet.")
    radios = "".join(
        f'<label><input type="radio" name="soreness_after" value="{n}"{" checked" if n == after else ""}>{n}</label>'
        for n in range(SORENESS_MAX + 1))
    msg = f'<p class="msg error" role="alert">{esc(error)}</p>' if error else ""
    return f"""
<section class="card" id="soreness"><h2>Soreness</h2><p>{said}</p>{msg}
<form method="post" action="/session/{esc(quote(sid))}/soreness" id="soreness-form">
<fieldset class="rating"><legend>How sore is it now? 0 none, 10 worst</legend>{radios}</fieldset>
<button type="submit" class="primary">Save soreness</button></form></section>"""


class PlanPages(Pages):
    """``/plan``, ``/person/{id}/plan`` and ``/session/{id}/soreness``. ``today`` (a function
    giving the local date) is injectable for tests."""

    def __init__(self, d, today=None) -> None:
        super().__init__(d)
        self.today = today or (lambda: datetime.now().astimezone().date())

    # -- /plan
    def plan_page(self, request: Request) -> HTMLResponse:
        today = self.today()
        who = viewer(request)  # issue 23: the people this login may see
        days = [day for day in pl.household_day(self.store, today) if who.may_see_person(day.person["id"])]
        if not days:
            body = ('<section class="card empty"><h1>No people yet</h1><p>Add the people who roll on the '
                    '<a href="/people">People</a> page, then plan their programmes here.</p></section>')
            return layout(request, "Plan", body, active="plan")
        cards = "".join(self._person_card(day) for day in days)
        body = (f'<section class="live-head"><div><h1>Plan for today</h1><p class="muted">'
                f'{esc(pl.WEEKDAY_NAMES[today.weekday()])} {today.day} {today.strftime("%B %Y")}</p></div></section>'
                f'<section class="grid two">{cards}</section>')
        return layout(request, "Plan", body, active="plan")

    def _person_card(self, day: pl.PersonDay) -> str:
        pid = day.person["id"]

        def items(lines: list[str], empty: str, cls: str) -> str:
            inner = "".join(f"<li>{esc(x)}</li>" for x in lines) or f'<li class="muted">{esc(empty)}</li>'
            return f'<ul class="plain {cls}">{inner}</ul>'

        due = [f"{p.program.title}: " + ("done" if p.complete else f"{len(p.done)} of {p.total} steps done"
                                         if p.done else "not started") for p in day.due]
        done = [p.words() for p in day.due if p.done] + [p.words() + " (not planned today)" for p in day.extra]
        programs = pl.known_programs()
        planned = [f"{programs[p['program_id']].title}: {pl.weekdays_words(p['weekdays'])}" for p in day.plans]
        return f"""
<div class="card plan-person" data-person-id="{esc(pid)}"><h2>{esc(day.person["name"])}</h2>
<h3>Due today</h3>{items(due, "Nothing planned for today.", "due")}
<h3>Done today</h3>{items(done, "No programme step done yet today.", "done")}
<h3>Skipped</h3>{items(day.skipped_lines(), "Nothing skipped this past week.", "skipped")}
<h3>Waiting</h3>{items(day.neglect_lines(), "Every planned muscle rolled on time.", "neglect")}
<p class="muted small">{esc("; ".join(planned) or "No programmes planned.")}
 <a href="/person/{esc(quote(pid))}/plan">Change {esc(day.person["name"])}'s plan</a></p></div>"""

    # -- /person/{id}/plan
    def person_plan_page(self, request: Request, *, error: str = "", status_code: int = 200) -> HTMLResponse:
        pid = request.path_params["person_id"]
        person = self.store.person(pid)
        if person is None:
            return not_found(request, f"No person '{pid}'.")
        have = {p["program_id"]: set(p["weekdays"]) for p in pl.plans(self.store, pid)}
        groups = []
        for program in sorted(pl.known_programs().values(), key=lambda p: p.title):
            boxes = "".join(
                f'<label><input type="checkbox" name="{esc(program.id)}" value="{pl.WEEKDAYS[d]}"'
                f'{" checked" if d in have.get(program.id, ()) else ""}>{pl.WEEKDAY_NAMES[d][:3]}'
                f'<span class="sr-only"> ({esc(pl.WEEKDAY_NAMES[d])})</span></label>'
                for d in range(7))
            tools = ", ".join(program.tools)
            groups.append(f'<fieldset class="days" data-program="{esc(program.id)}"><legend>{esc(program.title)} '
                          f'<span class="muted small">· {len(program.steps)} steps · {esc(tools)}</span></legend>'
                          f'{boxes}</fieldset>')
        msg = f'<p class="msg error" role="alert" id="plan-error">{esc(error)}</p>' if error else ""
        saved = request.query_params.get("saved") == "1" and not error
        note = '<p class="msg ok" role="status" id="plan-saved">Plan saved.</p>' if saved else ""
        body = f"""
<section class="live-head"><div><h1>{esc(person["name"])}'s plan</h1>
<p class="muted">Tick the days each programme is planned on. <a href="/plan">Today's plan</a></p></div></section>
<section class="card plan-form">{msg}{note}
<form method="post" action="/person/{esc(quote(pid))}/plan" id="plan-form">{"".join(groups)}
<button type="submit" class="primary">Save the plan</button></form></section>"""
        return layout(request, f"Plan · {person['name']}", body, active="plan", status_code=status_code)

    async def person_plan_save(self, request: Request) -> Response:
        pid = request.path_params["person_id"]
        person = await run_in_threadpool(self.store.person, pid)
        if person is None:
            return await run_in_threadpool(self.person_plan_page, request)
        form = await form_lists(request)
        programs = pl.known_programs()
        unknown = sorted(set(form) - set(programs))
        try:
            if unknown:
                raise ConfigError(f"{unknown[0][:40]!r} is not a programme this dashboard knows")
            days = {pid_: pl.parse_weekdays(form.get(pid_, [])) for pid_ in programs}
        except ConfigError as e:
            error = f"Not saved: {e}"
            return await run_in_threadpool(
                lambda: self.person_plan_page(request, error=error, status_code=400))

        def save() -> None:
            for program_id, weekdays in days.items():
                pl.set_plan(self.store, pid, program_id, weekdays, self.today())

        await run_in_threadpool(save)
        return RedirectResponse(f"/person/{quote(pid)}/plan?saved=1", status_code=303)

    # -- /session/{id}/soreness
    async def soreness_save(self, request: Request) -> Response:
        sid = request.path_params["session_id"]
        session = await run_in_threadpool(q.session, self.store, sid)
        if session is None:
            return await run_in_threadpool(not_found, request, f"No session '{sid}' from a paired device.")
        form = await form_lists(request)
        text = (form.get("soreness_after") or [""])[0].strip()
        value = int(text) if text.isdigit() and len(text) <= 2 else None
        if value is None or value > SORENESS_MAX:
            error = f"Not saved: soreness after must be a whole number from 0 to {SORENESS_MAX}"
            body = (f'<section class="card"><h1>Soreness not saved</h1></section>{soreness_card(session, error)}'
                    f'<p><a href="/session/{esc(quote(sid))}">Back to the session</a></p>')
            return layout(request, "Soreness", body, active="history", status_code=400)
        await run_in_threadpool(self.store.set_soreness_after, sid, value)
        return RedirectResponse(f"/session/{quote(sid)}#soreness", status_code=303)
