"""Share links (issue 23): one session, or a person's sessions over a range of days, read
without a login through a link that expires and can be revoked.

A link is ``/share/<token>``, the token ``<share id>.<expires at>.<signature>``: an
HMAC-SHA256 (keyed from the dashboard's secret) over the id and the expiry, so neither can be
changed, and a random share id that means something only while its row says so::

    shares(share_id, created_by, person_id, session_id, since, until, expires_at, revoked,
           created_at)
        session_id set: one session; else the person's sessions on the local days
        since .. until (ISO dates, inclusive); expires_at: Unix seconds; revoked: 0/1

``open_share`` checks the signature, then the row, then the expiry (on the injected wall
clock) and the revoked flag, and says which: a link that was never made is "unknown" (404), an
expired or revoked one says so (410).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date

from firmware.common.errors import ConfigError
from firmware.common.wire import utc_now_iso

EXPIRY_DAYS = (1, 7, 30)
DAY_S = 24 * 3600
RANGE_MAX_DAYS = 366
SHARE_TABLES = (
    "CREATE TABLE IF NOT EXISTS shares(share_id TEXT PRIMARY KEY, created_by TEXT, person_id TEXT, "
    "session_id TEXT, since TEXT, until TEXT, expires_at BIGINT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, "
    "created_at TEXT NOT NULL)",
)
SHARE_COLUMNS = "share_id, created_by, person_id, session_id, since, until, expires_at, revoked, created_at"


def ensure_share_tables(store) -> None:
    for sql in SHARE_TABLES:
        store.execute(sql)


class ShareSigner:
    """Signs and checks share tokens with a key of their own (from the dashboard's secret)."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(("rollsense-share:" + secret_key).encode()).digest()

    def _sig(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def token(self, share_id: str, expires_at: int) -> str:
        body = f"{share_id}.{int(expires_at)}"
        return f"{body}.{self._sig(body)}"

    def read(self, token: str) -> tuple[str, int] | None:
        """(share id, expires at) of a token this key signed, else None."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        if not hmac.compare_digest(parts[2], self._sig(f"{parts[0]}.{parts[1]}")):
            return None
        return parts[0], int(parts[1])


@dataclass(frozen=True)
class Share:
    share_id: str
    created_by: str | None
    person_id: str | None
    session_id: str | None
    since: date | None
    until: date | None
    expires_at: int
    revoked: bool
    created_at: str

    @property
    def scope_words(self) -> str:
        if self.session_id:
            return "one session"
        return f"sessions {self.since.isoformat()} to {self.until.isoformat()}"


def _share(row: dict) -> Share:
    return Share(row["share_id"], row["created_by"], row["person_id"], row["session_id"],
                 date.fromisoformat(row["since"]) if row["since"] else None,
                 date.fromisoformat(row["until"]) if row["until"] else None,
                 int(row["expires_at"]), bool(row["revoked"]), row["created_at"])


def expiry_days(text: str) -> int:
    """A form's expiry choice: 1, 7 or 30 days; ConfigError otherwise."""
    if text.strip() not in {str(d) for d in EXPIRY_DAYS}:
        raise ConfigError("the link lasts 1, 7 or 30 days: choose one")
    return int(text)


def day_range(since_text: str, until_text: str) -> tuple[date, date]:
    """The range form's two days (YYYY-MM-DD); ConfigError (one line) if either is not a day,
    they are the wrong way round, or span more than a year."""
    try:
        since, until = date.fromisoformat(since_text.strip()), date.fromisoformat(until_text.strip())
    except ValueError:
        raise ConfigError("give both days as dates (YYYY-MM-DD)") from None
    if until < since:
        raise ConfigError("the last day comes before the first")
    if (until - since).days >= RANGE_MAX_DAYS:
        raise ConfigError(f"share at most {RANGE_MAX_DAYS} days at once")
    return since, until


def create_share(store, *, created_by: str | None, person_id: str | None, now_s: float, days: int,
                 session_id: str | None = None, since: date | None = None, until: date | None = None) -> Share:
    """Store a new share (the caller has checked who may) and return it."""
    if days not in EXPIRY_DAYS:
        raise ConfigError("the link lasts 1, 7 or 30 days: choose one")
    if session_id is None and (since is None or until is None or person_id is None):
        raise ConfigError("share one session, or one person's days")
    share_id = secrets.token_urlsafe(12).replace(".", "_")
    expires_at = int(now_s) + days * DAY_S
    store.execute(
        f"INSERT INTO shares({SHARE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (share_id, created_by, person_id, session_id, since.isoformat() if since else None,
         until.isoformat() if until else None, expires_at, 0, utc_now_iso()))
    return get_share(store, share_id)


def get_share(store, share_id: str) -> Share | None:
    rows = store.query(f"SELECT {SHARE_COLUMNS} FROM shares WHERE share_id = ?", (share_id,))
    return _share(rows[0]) if rows else None


def list_shares(store, created_by: str | None = None) -> list[Share]:
    """Shares newest first: one login's (``created_by``), or all (None)."""
    sql = f"SELECT {SHARE_COLUMNS} FROM shares"
    params: tuple = ()
    if created_by is not None:
        sql += " WHERE created_by = ?"
        params = (created_by,)
    return [_share(r) for r in store.query(sql + " ORDER BY created_at DESC, share_id", params)]


def revoke_share(store, share_id: str) -> bool:
    return store.execute("UPDATE shares SET revoked = 1 WHERE share_id = ?", (share_id,)) == 1


def open_share(store, signer: ShareSigner, token: str, now_s: float) -> tuple[str, Share | None]:
    """("ok", share), ("expired", share), ("revoked", share) or ("unknown", None)."""
    read = signer.read(token)
    if read is None:
        return "unknown", None
    share = get_share(store, read[0])
    if share is None or share.expires_at != read[1]:
        return "unknown", None
    if share.revoked:
        return "revoked", share
    if now_s >= share.expires_at:
        return "expired", share
    return "ok", share
