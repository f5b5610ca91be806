"""One person's page (issue 22), ``/person/{id}``: their streak, minutes per week, sessions
(routine, side, when, duration, passes, mean force in their units, soreness before and after),
each muscle left against right over the last four weeks with the asymmetries worth noticing
said in words, and their soreness per muscle and side over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse

from dashboard import queries as q
from dashboard.access import viewer
from dashboard.context import Pages
from dashboard.person_words import asymmetry_sentences, muscle_name
from dashboard.render import esc, fmt_duration, fmt_when, layout, not_found, routine_title
from dashboard.share_forms import share_form_card
from dashboard.spot_map import spot_map_card
from dashboard.spots import person_spots
from firmware.common import units
from firmware.common.units import plural

SIDE_WORDS = {"left": "left", "right": "right", None: "–"}


def rating(value) -> str:
    return "–" if value is None else str(value)


def soreness_text(soreness: dict) -> str:
    """"7 → 4", "7 → –", "–" (neither rated)."""
    before, after = soreness.get("before"), soreness.get("after")
    if before is None and after is None:
        return "–"
    return f"{rating(before)} → {rating(after)}"


class PersonPage(Pages):
    """``/person/{id}``."""

    def person_page(self, request: Request) -> HTMLResponse:
        person_id = request.path_params["person_id"]
        person = self.store.person(person_id)
        if person is None:
            return not_found(request, f"No person '{person_id}'.")
        unit = person["units"] or "metric"
        today = datetime.now().astimezone().date()
        rows = q.person_sessions(self.store, person_id)
        st = q.streaks(rows, today=today)
        weekly = q.weekly_minutes(rows, today=today)
        asym = q.asymmetry(self.store, person_id, today=today)
        since = today - timedelta(days=7 * q.ASYMMETRY_WEEKS - 1)
        sides = q.muscle_sides(self.store, person_id, since=since, until=today)
        sore = q.soreness_trend(self.store, person_id)
        suffix = f"?person={quote(person_id, safe='')}"
        share = share_form_card("range", person_id, today) if viewer(request).may_change_person(person_id) else ""
        body = f"""
<section class="live-head"><div><h1 id="person-name">{esc(person["name"])}</h1>
<p class="muted">Body mass {esc(units.mass_for(person["body_mass_kg"], unit))} · {esc(unit)} units ·
{plural(len(rows), "session", "sessions")} · <a href="/history{suffix}">in History</a> · <a href="/person/{esc(quote(person_id, safe=''))}/plan">their plan</a> · <a href="/person/{esc(quote(person_id, safe=''))}/prescription">prescription</a> · <a href="/person/{esc(quote(person_id, safe=''))}/adherence">adherence</a> · <a href="/people">all people</a></p></div>
<div class="exports"><a class="button" href="/api/history.csv{suffix}" download>CSV</a>
<a class="button" href="/api/history.json{suffix}" download>JSON</a></div></section>
<section class="grid tiles">
<div class="card tile streak"><span class="label">Current streak</span><span class="value" id="streak-current">{plural(st["current_days"], "day", "days")}</span></div>
<div class="card tile"><span class="label">Longest streak</span><span class="value" id="streak-longest">{plural(st["longest_days"], "day", "days")}</span></div>
<div class="card tile"><span class="label">Active days</span><span class="value">{st["active_days"]}</span></div>
<div class="card tile"><span class="label">This week</span><span class="value" id="week-minutes">{weekly[-1]["minutes"]:.0f} min</span></div>
</section>
<section class="card"><h2>Minutes per week</h2><div id="weekly-chart" class="chart small"></div></section>
{sides_card(asym, sides, unit)}
{spot_map_card(person_spots(self.store, person_id, now=datetime.now(UTC)), unit)}
{soreness_card(sore)}
{sessions_card(rows, unit)}{share}"""
        data = {"weekly_minutes": weekly,
                "soreness": [{"label": f"{muscle_name(s['muscle'])}{', ' + s['side'] if s['side'] else ''}",
                              "ratings": s["ratings"]} for s in sore]}
        return layout(request, person["name"], body, active="people", script="person", data=data)


def sides_card(asym: list[dict], sides: list[dict], unit: str) -> str:
    """Each muscle left against right over the last four weeks, the gaps worth noticing in
    words above the table."""
    sentences = [s for a in asym for s in asymmetry_sentences(a)]
    flagged = {a["muscle"] for a in asym if a["flagged"]}
    notes = ("<ul id=\"asymmetry\" class=\"flags\">" + "".join(f"<li>{esc(s)}</li>" for s in sentences) + "</ul>"
             if sentences else '<p class="muted" id="asymmetry">Left and right within 20 % of each other '
             'over the last 4 weeks.</p>' if any(a for a in asym) else "")
    body, muscle = "", None
    for r in sides:
        if r["muscle"] != muscle:  # one heading row per muscle, its sides below it
            muscle = r["muscle"]
            body += (f'<tr class="group{" flagged" if muscle in flagged else ""}"><th colspan="5" scope="rowgroup">'
                     f'{esc(muscle_name(muscle))}</th></tr>')
        body += (f'<tr data-muscle="{esc(r["muscle"])}" data-side="{esc(r["side"] or "")}">'
                 f'<td class="side">{SIDE_WORDS.get(r["side"], "–")}</td>'
                 f'<td class="num time" data-seconds="{r["time_s"]:.1f}">{fmt_duration(r["time_s"])}</td>'
                 f'<td class="num passes">{r["passes"]}</td><td class="num force">{esc(units.force_for(r["mean_force_n"], unit))}</td>'
                 f'<td class="num targets">{r["targets_met"]} of {r["targets_total"]}</td></tr>')
    body = body or '<tr><td colspan="5" class="muted">Nothing rolled in the last 4 weeks.</td></tr>'
    return f"""<section class="card"><h2>Left and right <span class="muted small">· last 4 weeks</span></h2>{notes}
<div class="scroll"><table class="table" id="sides"><thead><tr><th>Side</th><th class="num">Time</th>
<th class="num">Passes</th><th class="num">Mean force</th><th class="num">Targets met</th></tr></thead>
<tbody>{body}</tbody></table></div></section>"""


def soreness_card(sore: list[dict]) -> str:
    """Soreness before and after, per muscle and side, oldest first (a chart of the "before"
    ratings above the table)."""
    if not sore:
        return ('<section class="card"><h2>Soreness</h2><p class="muted" id="soreness">No soreness rated yet: '
                'rate it 0–10 before and after a session.</p></section>')
    body = "".join(
        f'<tr data-muscle="{esc(s["muscle"])}" data-side="{esc(s["side"] or "")}"><td>{esc(muscle_name(s["muscle"]))}</td>'
        f'<td>{SIDE_WORDS.get(s["side"], "–")}</td><td class="ratings">'
        + ", ".join(f'<span class="rating">{esc(_day(r["started_at"]))}: {esc(soreness_text(r))}</span>'
                    for r in s["ratings"]) + "</td></tr>"
        for s in sore)
    return f"""<section class="card"><h2>Soreness <span class="muted small">· 0–10, before → after</span></h2>
<div id="soreness-chart" class="chart small"></div>
<div class="scroll"><table class="table" id="soreness"><thead><tr><th>Muscle</th><th>Side</th><th>Ratings, oldest first</th></tr></thead>
<tbody>{body}</tbody></table></div></section>"""


def _day(iso: str | None) -> str:
    dt = q.parse_ts(iso)
    return dt.astimezone().strftime("%d %b") if dt else "–"


def sessions_card(rows: list[dict], unit: str, href=None) -> str:
    """The sessions table; ``href`` (session id -> its link): a shared page's links (issue 23)."""
    href = href or (lambda sid: f"/session/{sid}")
    body = "".join(
        f'<tr data-session-id="{esc(r["session_id"])}"><td><a href="{esc(href(r["session_id"]))}">'
        f'{esc(routine_title(r["protocol"]))}</a><br><span class="muted small"><span class="side">'
        f'{r["side"] or ""}</span>{" · " if r["side"] else ""}<time datetime="{esc(r["started_at"])}">'
        f'{esc(fmt_when(r["started_at"]))}</time></span></td>'
        f'<td class="num duration" data-seconds="{r["duration_s"]:.1f}">{fmt_duration(r["duration_s"])}</td>'
        f'<td class="num passes">{r["passes"]}</td><td class="num force">{esc(units.force_for(r["force_mean_n"], unit))}</td>'
        f'<td class="soreness">{esc(soreness_text(r["soreness"]))}</td></tr>'
        for r in rows
    ) or '<tr><td colspan="5" class="muted">No sessions yet: choose this person when starting a routine.</td></tr>'
    return f"""<section class="card"><h2>Sessions</h2><div class="scroll"><table class="table person-sessions" id="sessions">
<thead><tr><th>Routine, side, when</th><th class="num">Time</th><th class="num">Passes</th>
<th class="num">Mean force</th><th>Sore&shy;ness</th></tr></thead><tbody>{body}</tbody></table></div></section>"""
