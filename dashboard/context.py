"""What the dashboard's route handlers share: the store, the ingest, the live hub, the
login machinery. One ``Dashboard`` per app (``app.state.dashboard``); each group of pages
(live, sessions and history, exports, devices, login, health) is a ``Pages`` on it, so a
page's handlers sit together in a module of their own and reach the rest through ``d``.
"""

from __future__ import annotations

import time

from dashboard import queries as q
from dashboard.access import ensure_access_tables
from dashboard.auth import CookieSigner, LoginThrottle, ensure_logins_table
from dashboard.live import LiveHub
from dashboard.plans import ensure_plan_tables
from dashboard.prescriptions import ensure_rx_tables
from dashboard.sharing import ShareSigner, ensure_share_tables


class Dashboard:
    """The state the route handlers share: the store, the ingest, the hub and the signer."""

    def __init__(self, store, ingest, *, auth_required: bool, secret_key: str, secure_cookies: bool = False,
                 clock=None, wall_clock=None) -> None:
        self.store = store
        self.ingest = ingest
        self.auth_required = auth_required
        self.secure_cookies = secure_cookies
        self.signer = CookieSigner(secret_key)
        self.throttle = LoginThrottle(clock) if clock is not None else LoginThrottle()
        ensure_logins_table(store)
        ensure_plan_tables(store)  # issue 22
        ensure_access_tables(store)  # issue 23: roles, therapists' clients
        ensure_share_tables(store)  # issue 23: share links
        self.share_signer = ShareSigner(secret_key)
        self.wall_clock = wall_clock or time.time  # Unix seconds: when a share link expires
        ensure_rx_tables(store)  # issue 23
        self.hub = LiveHub()
        self.retention = None  # dashboard.retention.TelemetryRetention, for /metrics
        self.discipline = q.DisciplineCache()
        if ingest is not None:
            ingest.add_listener(self.hub.on_ingest)


class Pages:
    """A group of route handlers on the shared Dashboard ``d``."""

    def __init__(self, d: Dashboard) -> None:
        self.d = d

    @property
    def store(self):
        return self.d.store

    @property
    def ingest(self):
        return self.d.ingest

    @property
    def hub(self) -> LiveHub:
        return self.d.hub
