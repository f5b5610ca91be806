"""The session page (one session's charts, holds, cues and targets) and the history page
(streaks, weekly minutes, trends, every session)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse

from dashboard import queries as q
from dashboard.access import viewer
from dashboard.context import Pages
from dashboard.cues import CORRECTIVE, cue_text
from dashboard.plan_pages import soreness_card
from dashboard.render import esc, fmt_duration, fmt_when, layout, not_found, routine_title
from dashboard.session_cards import cue_card, direction_note, holds_card
from dashboard.share_forms import share_form_card
from firmware.common import units
from firmware.common.units import plural


def history_filter(store, request: Request) -> tuple[str | None, list[dict]]:
    """The ?device= filter (only a paired device counts) and the paired devices."""
    devices = q.list_devices(store, paired_only=True)
    wanted = request.query_params.get("device") or None
    return (wanted if any(d["device_id"] == wanted for d in devices) else None), devices


def person_filter(store, request: Request) -> tuple[str | None, bool, list[dict]]:
    """The ?person= filter: (the person id or None for everyone, whether the id given is
    nobody known, everyone). Everyone is everyone the login may see (issue 23): a person the
    login may not see is as unknown as nobody."""
    who = viewer(request)
    people = [p for p in store.people() if who.may_see_person(p["id"])]
    wanted = request.query_params.get("person") or None
    known = wanted is None or any(p["id"] == wanted for p in people)
    return (wanted if known else None), not known, people


def history_query(device_id: str | None, person_id: str | None) -> str:
    params = [f"{k}={quote(v, safe='')}" for k, v in (("device", device_id), ("person", person_id)) if v]
    return "?" + "&".join(params) if params else ""


def session_body(detail: dict, *, actions: bool = True, extra: str = "") -> tuple[str, dict]:
    """One session's page body and its charts' data. ``actions``: the exports and the
    soreness form (a shared page has neither: ``actions`` False shows the ratings only);
    ``extra``: a card after the tiles (the share form)."""
    s, summary = detail["session"], detail["summary"]
    sid = s["session_id"]
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
    exports = (f'<div class="exports"><a class="button" href="/api/session/{esc(sid)}.csv" download>CSV</a>\n'
               f'<a class="button" href="/api/session/{esc(sid)}.json" download>JSON</a>'
               '<button type="button" class="print-button" data-print>Print</button></div>') if actions else ""
    sore = soreness_card(s) if actions else soreness_line(s)
    body = f"""
<section class="live-head"><div><h1>{esc(routine_title(s["protocol"]))}</h1>
<p class="muted">{esc(s.get("device_name") or s["device_id"])} · {esc(fmt_when(s["started_at"]))} · {esc(s.get("tool") or "")} · {esc(state)}</p></div>
{exports}</section>
<section class="grid tiles six" id="summary" data-session-id="{esc(sid)}">{tile_html}</section>{sore}{extra}
<section class="card"><h2>Speed <span class="muted small">{"· " + format(discipline, ".0%") + " of passes in the target band" if discipline is not None else ""}</span></h2>
{series_note}<div id="speed-chart" class="chart"></div></section>
<section class="card"><h2>Pressure</h2><div id="force-chart" class="chart"></div>{direction_note(detail)}</section>{holds_card(detail)}
<section class="grid two">
<div class="card"><h2>Pass lengths</h2>{passes_note}<div id="pass-chart" class="chart small"></div></div>
<div class="card"><h2>Coverage along the muscle</h2><div id="coverage-chart" class="chart small"></div></div>
</section>
<section class="card"><h2>Holds and passes on the timeline</h2><div id="timeline" class="chart timeline"></div></section>
{cue_card(detail)}
<section class="card"><h2>Targets</h2><table class="table targets"><thead><tr><th>Target</th><th>Goal</th><th>You</th><th></th></tr></thead>
<tbody>{target_rows}</tbody></table></section>"""
    data = {k: detail[k] for k in ("series", "speed_band_mps", "force_band_n", "force_max_n", "passes", "holds", "coverage", "duration_s", "notes")}
    data.update({k: detail.get(k) for k in ("force_bands_n", "pass_forces", "hold_band_s", "still_max_mps")})
    data["cues"] = [c | {"text": cue_text(c["cue"]), "corrective": c["cue"] in CORRECTIVE} for c in detail.get("cues") or []]
    return body, data


def soreness_line(session: dict) -> str:
    """The soreness ratings, read only (a shared page)."""
    sore = session.get("soreness") or {}
    if sore.get("before") is None and sore.get("after") is None:
        return ""
    words = " · ".join(f"{label} {sore[key]} of 10" for key, label in (("before", "before"), ("after", "after"))
                       if sore.get(key) is not None)
    return f'<section class="card" id="soreness"><h2>Soreness</h2><p>{esc(words)}</p></section>'


class SessionPages(Pages):
    """``/session/{id}`` and ``/history``."""

    def session_page(self, request: Request) -> HTMLResponse:
        sid = request.path_params["session_id"]
        detail = q.session_detail(self.store, sid)
        if detail is None:
            return not_found(request, f"No session '{sid}' from a paired device.")
        who = viewer(request)
        extra = share_form_card("session", sid) if who.may_change_person(detail["session"].get("person_id")) else ""
        body, data = session_body(detail, actions=True, extra=extra)
        return layout(request, "Session", body, active="history", script="session", data=data)

    def history_page(self, request: Request) -> HTMLResponse:
        device_id, devices = history_filter(self.store, request)
        person_id, unknown, people = person_filter(self.store, request)
        if unknown:
            return not_found(request, f"No person '{request.query_params.get('person')}'.")
        h = q.history(self.store, self.d.discipline, device_id=device_id, person_id=person_id,
                      person_in=viewer(request).person_ids)
        st = h["streaks"]
        suffix = history_query(device_id, person_id)
        selects = ""
        if len(devices) > 1:
            options = '<option value="">All tools</option>' + "".join(
                f'<option value="{esc(d["device_id"])}"{" selected" if d["device_id"] == device_id else ""}>'
                f'{esc(d.get("name") or d["device_id"])}</option>' for d in devices)
            selects += f'<select name="device" aria-label="Tool">{options}</select>'
        if people:  # issue 22: everyone's, or one person's
            options = '<option value="">All people</option>' + "".join(
                f'<option value="{esc(p["id"])}"{" selected" if p["id"] == person_id else ""}>{esc(p["name"])}</option>'
                for p in people)
            selects += f'<select name="person" aria-label="Person">{options}</select>'
        picker = (f'<form method="get" action="/history" class="inline" id="device-filter">{selects}'
                  '<button type="submit">Show</button></form>') if selects else ""
        names = {p["id"]: p["name"] for p in people}
        rows = "".join(
            f'<tr data-session-id="{esc(r["session_id"])}"><td><a href="/session/{esc(r["session_id"])}">{esc(routine_title(r["protocol"]))}</a>'
            f'{_who(names, r)}</td>'
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



def _who(names: dict, row: dict) -> str:
    """Who rolled, and which side, under a history row's routine (issue 22); '' when neither."""
    who = names.get(row.get("person_id")) if row.get("person_id") else None
    parts = [p for p in (who, row.get("side")) if p]
    return f'<br><span class="muted small who">{esc(", ".join(parts))}</span>' if parts else ""
