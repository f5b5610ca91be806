"""Share links' pages (issue 23; the tokens and the table: dashboard/sharing.py).

    POST /shares                  make a link: one session (``session``) or a person's days
                                  (``person``, ``since``, ``until``), lasting ``days`` 1/7/30
    GET  /shares                  the login's links (an admin: everyone's), each with Revoke
    POST /shares/{id}/revoke      end a link (its maker or an admin)
    GET  /share/{token}           the shared session, or the person's sessions of those days,
                                  read only, no login, no navigation; prints as an A4 report
    GET  /share/{token}/session/{session_id}   one session of a shared range

Who may share: an admin anything; a person their own sessions and days (access.SHARER, and
``Viewer.may_change_person`` here); a therapist nothing. A link made for what the maker may
not see answers as if it were not there (404).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dashboard import queries as q
from dashboard.access import viewer
from dashboard.context import Dashboard, Pages
from dashboard.person_page import sessions_card, sides_card, soreness_card
from dashboard.person_words import muscle_name
from dashboard.render import esc, fmt_duration, form_data, gone, layout, not_found
from dashboard.session_pages import session_body
from dashboard.sharing import (
    create_share,
    day_range,
    expiry_days,
    get_share,
    list_shares,
    open_share,
    revoke_share,
)
from firmware.common.errors import ConfigError
from firmware.common.units import plural

GONE_WORDS = {
    "expired": ("This link has expired", "Links to shared sessions last 1, 7 or 30 days. Ask for a new one."),
    "revoked": ("This link was withdrawn", "Whoever shared it has revoked it. Ask them for a new one."),
}


def no_store(resp: HTMLResponse) -> HTMLResponse:
    """A shared page is not kept by the browser or a proxy: once revoked, it is gone."""
    resp.headers["Cache-Control"] = "no-store"
    return resp


def when_words(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).astimezone().strftime("%a %d %b %Y, %H:%M")


class SharePages(Pages):
    """The share routes on the shared Dashboard ``d``; ``wall_clock`` (Unix seconds, injectable)
    decides when a link has expired."""

    def __init__(self, d: Dashboard, wall_clock) -> None:
        super().__init__(d)
        self.signer = d.share_signer
        self.wall_clock = wall_clock

    def link(self, request: Request, share) -> str:
        return str(request.base_url).rstrip("/") + "/share/" + self.signer.token(share.share_id, share.expires_at)

    # -- making, listing, revoking
    async def create(self, request: Request) -> Response:
        form = await form_data(request)
        who = viewer(request)
        try:
            days = expiry_days(form.get("days", ""))
            if form.get("session"):
                sid = form["session"]
                row = await run_in_threadpool(q.session, self.store, sid)
                if row is None or not who.may_change_person(row.get("person_id")):
                    return await run_in_threadpool(not_found, request, "No such session from a paired device.")
                share = await run_in_threadpool(lambda: create_share(
                    self.store, created_by=who.username, person_id=row.get("person_id"), session_id=sid,
                    now_s=self.wall_clock(), days=days))
            else:
                pid = form.get("person", "")
                if not who.may_change_person(pid) or await run_in_threadpool(self.store.person, pid) is None:
                    return await run_in_threadpool(not_found, request, "No such person.")
                since, until = day_range(form.get("since", ""), form.get("until", ""))
                share = await run_in_threadpool(lambda: create_share(
                    self.store, created_by=who.username, person_id=pid, since=since, until=until,
                    now_s=self.wall_clock(), days=days))
        except ConfigError as e:
            return await run_in_threadpool(self.shares_page, request, str(e), 400)
        return RedirectResponse(f"/shares?made={quote(share.share_id)}", status_code=303)

    def shares_page(self, request: Request, error: str = "", status_code: int = 200) -> HTMLResponse:
        who = viewer(request)
        shares = list_shares(self.store, None if who.is_admin else who.username)
        made = request.query_params.get("made")
        now = self.wall_clock()
        names = {p["id"]: p["name"] for p in self.store.people()}
        rows = ""
        for s in shares:
            state = "revoked" if s.revoked else "expired" if now >= s.expires_at else f"until {when_words(s.expires_at)}"
            live = state.startswith("until")
            link = (f'<a class="share-link" href="{esc(self.link(request, s))}">{esc(self.link(request, s))}</a>'
                    if live else "")
            revoke = (f'<form method="post" action="/shares/{esc(quote(s.share_id))}/revoke" class="inline">'
                      '<button type="submit" class="danger">Revoke</button></form>') if live else ""
            rows += (f'<tr data-share-id="{esc(s.share_id)}"{" class=new" if s.share_id == made else ""}>'
                     f'<td>{esc(names.get(s.person_id, "nobody chosen") if s.person_id else "nobody chosen")}'
                     f'<br><span class="muted small">{esc(s.scope_words)}</span></td>'
                     f'<td class="state">{esc(state)}</td><td>{link}</td><td>{revoke}</td></tr>')
        rows = rows or '<tr><td colspan="4" class="muted">No links yet: share from a session or a person\'s page.</td></tr>'
        note = ""
        if error:
            note = f'<p class="msg error" role="alert" id="share-msg">Not shared: {esc(error)}</p>'
        elif made and any(s.share_id == made for s in shares):
            note = ('<p class="msg ok" role="status" id="share-msg">Link made: copy it from the table. Anyone '
                    'with it can read what it shares, without a login, until it expires or you revoke it.</p>')
        body = f"""<h1>Shared links</h1>{note}
<section class="card"><div class="scroll"><table class="table" id="shares">
<thead><tr><th>Whose, what</th><th>Lasts</th><th>Link</th><th></th></tr></thead><tbody>{rows}</tbody></table></div></section>"""
        return layout(request, "Shared links", body, active="shares", status_code=status_code)

    async def revoke(self, request: Request) -> Response:
        share_id = request.path_params["share_id"]
        who = viewer(request)
        share = await run_in_threadpool(get_share, self.store, share_id)
        if share is None or not (who.is_admin or share.created_by == who.username):
            return await run_in_threadpool(not_found, request, "No such link.")
        await run_in_threadpool(revoke_share, self.store, share_id)
        return RedirectResponse("/shares", status_code=303)

    # -- the shared pages (no login)
    def _open(self, request: Request):
        state, share = open_share(self.store, self.signer, request.path_params["token"], self.wall_clock())
        if state == "unknown":
            return None, gone(request, "No such link", "This link is not one this dashboard made.", 404)
        if state != "ok":
            return None, gone(request, *GONE_WORDS[state])
        return share, None

    def shared(self, request: Request) -> HTMLResponse:
        return no_store(self._shared(request))

    def _shared(self, request: Request) -> HTMLResponse:
        share, refusal = self._open(request)
        if refusal is not None:
            return refusal
        if share.session_id:
            return self._session(request, share, share.session_id)
        return self._range(request, share)

    def shared_session(self, request: Request) -> HTMLResponse:
        return no_store(self._shared_session(request))

    def _shared_session(self, request: Request) -> HTMLResponse:
        share, refusal = self._open(request)
        if refusal is not None:
            return refusal
        sid = request.path_params["session_id"]
        allowed = {share.session_id} if share.session_id else {
            r["session_id"] for r in q.person_sessions(self.store, share.person_id, since=share.since, until=share.until)}
        if sid not in allowed:
            return gone(request, "Not found", "This link does not share that session.", 404)
        return self._session(request, share, sid)

    def _head(self, request: Request, share, title: str, what: str) -> str:
        return (f'<section class="card share-head" id="share-head"><h1>{esc(title)}</h1>'
                f'<p class="muted">{esc(what)} · shared read-only · link valid until {esc(when_words(share.expires_at))}'
                '</p><p class="no-print"><button type="button" class="print-button" data-print>Print or save as PDF'
                '</button></p></section>')

    def _session(self, request: Request, share, sid: str) -> HTMLResponse:
        detail = q.session_detail(self.store, sid)
        if detail is None:
            return gone(request, "Not found", "The shared session is no longer on this dashboard.", 404)
        person = self.store.person(detail["session"].get("person_id") or "") if detail["session"].get("person_id") else None
        body, data = session_body(detail, actions=False)
        who = person["name"] if person else "A session"
        head = self._head(request, share, who, "one session")
        return layout(request, f"Shared · {who}", head + body, script="session", data=data, nav=False)

    def _range(self, request: Request, share) -> HTMLResponse:
        person = self.store.person(share.person_id)
        if person is None:
            return gone(request, "Not found", "The person shared is no longer on this dashboard.", 404)
        unit = person["units"] or "metric"
        rows = q.person_sessions(self.store, share.person_id, since=share.since, until=share.until)
        weekly = q.weekly_minutes(rows, today=share.until)
        sides = q.muscle_sides(self.store, share.person_id, since=share.since, until=share.until)
        ids = {r["session_id"] for r in rows}
        sore = [s | {"ratings": [r for r in s["ratings"] if r["session_id"] in ids]}
                for s in q.soreness_trend(self.store, share.person_id)]
        sore = [s for s in sore if s["ratings"]]
        token = request.path_params["token"]
        minutes = sum(r["duration_s"] for r in rows)
        head = self._head(request, share, person["name"],
                          f"{share.since.isoformat()} to {share.until.isoformat()} · {plural(len(rows), 'session', 'sessions')}"
                          f" · {fmt_duration(minutes)} in all")
        body = f"""{head}
<section class="card"><h2>Minutes per week</h2><div id="weekly-chart" class="chart small"></div></section>
{sides_card([], sides, unit)}
{soreness_card(sore)}
{sessions_card(rows, unit, href=lambda sid: f"/share/{quote(token)}/session/{quote(sid)}")}"""
        data = {"weekly_minutes": weekly,
                "soreness": [{"label": f"{muscle_name(s['muscle'])}{', ' + s['side'] if s['side'] else ''}",
                              "ratings": s["ratings"]} for s in sore]}
        return layout(request, f"Shared · {person['name']}", body, script="person", data=data, nav=False)
