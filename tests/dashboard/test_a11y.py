"""Phone and accessibility (issue 19 §3) in Debian's Chromium: axe-core (pinned, installed by
`make deps`) finds no serious or critical violation on any page, no page scrolls sideways at
390 px, a value never wraps apart from its unit, chart axes never repeat a label, and the
web-app manifest installs with its icons."""

from __future__ import annotations

import uuid

from tests.dashboard.test_browser import PASSWORD, Publisher, site
from tests.dashboard.test_queries import seed_session


def seeded_pages(s) -> dict[str, str]:
    """Every page of the dashboard with something on it: name -> path."""
    store, dev = s["store"], s["device"]
    store.set_device_paired(dev.device_id, True)
    store.set_device_paired("roller-a", True)
    sid = seed_session(store, "roller-a", duration_s=95.0, passes=14)
    seed_session(store, "roller-a", duration_s=40.0, passes=5, protocol="calf-stick", tool="stick")
    return {"overview": "/", "live": f"/device/{dev.device_id}", "session": f"/session/{sid}",
            "history": "/history", "devices": "/devices", "quarantine": "/admin/quarantine"}


def log_in(page, base: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", "ana")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(base + "/")


def live_values(s, page, path: str) -> Publisher:
    """The live page with a device rolling: its gauges and numbers filled in."""
    pub = Publisher(s["device"], "a11y-" + uuid.uuid4().hex[:8], n=15)
    pub.start()
    page.goto(s["base"] + path)
    page.wait_for_function("() => document.getElementById('speed-gauge').dataset.value !== ''")
    return pub


def test_axe_runs_on_the_login_page(page, broker, tmp_path, axe):
    """The pinned axe-core loads into a dashboard page despite its Content-Security-Policy."""
    with site(broker, tmp_path, auth=True) as s:
        page.goto(s["base"] + "/login")
        assert axe(page) == []
        assert page.evaluate("() => axe.version") == "4.10.3"

