"""The forms that make a share link (issue 23): on a session's page (this session) and on a
person's page (their sessions over some days). Both post to ``/shares``."""

from __future__ import annotations

from datetime import date, timedelta

from dashboard.render import esc
from dashboard.sharing import EXPIRY_DAYS

RANGE_DEFAULT_DAYS = 28


def expiry_select(key: str) -> str:
    options = "".join(f'<option value="{d}"{" selected" if d == 7 else ""}>{d} {"day" if d == 1 else "days"}</option>'
                      for d in EXPIRY_DAYS)
    return f'<label>Link lasts <select name="days" id="{key}-days">{options}</select></label>'


def share_form_card(kind: str, target_id: str, today: date | None = None) -> str:
    """``kind`` "session" (``target_id`` a session id) or "range" (a person id: from, to)."""
    if kind == "session":
        fields = f'<input type="hidden" name="session" value="{esc(target_id)}">'
        what = "Share this session with a read-only link (no login needed; you can revoke it)."
    else:
        today = today or date.today()
        since = today - timedelta(days=RANGE_DEFAULT_DAYS - 1)
        fields = (f'<input type="hidden" name="person" value="{esc(target_id)}">'
                  f'<label>From <input type="date" name="since" id="share-since" value="{since.isoformat()}" required></label>'
                  f'<label>To <input type="date" name="until" id="share-until" value="{today.isoformat()}" required></label>')
        what = "Share these days' sessions with a read-only link (no login needed; you can revoke it)."
    return f"""<section class="card share-card" id="share"><h2>Share</h2><p class="muted small">{what}
 <a href="/shares">Your links</a></p>
<form method="post" action="/shares" class="inline" id="share-form">{fields}{expiry_select("share")}
<button type="submit" class="primary">Make a link</button></form></section>"""
