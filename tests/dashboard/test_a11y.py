"""Phone and accessibility (issue 19 §3) in Debian's Chromium: axe-core (pinned, installed by
`make deps`) finds no serious or critical violation on any page, no page scrolls sideways at
390 px, a value never wraps apart from its unit, chart axes never repeat a label, and the
web-app manifest installs with its icons."""

from __future__ import annotations

import json
import re
import struct
import uuid
from datetime import UTC, datetime

from tests.dashboard.test_browser import PASSWORD, Publisher, site
from tests.dashboard.test_queries import iso, seed_session, summary_payload


def seeded_pages(s) -> dict[str, str]:
    """Every page of the dashboard with something on it: name -> path."""
    store, dev = s["store"], s["device"]
    store.set_device_paired(dev.device_id, True)
    store.set_device_paired("roller-a", True)
    sid = seed_session(store, "roller-a", duration_s=95.0, passes=14)
    seed_session(store, "roller-a", duration_s=40.0, passes=5, protocol="calf-stick", tool="stick")
    store.add_person("Ann", 61.0, person_id="ann")  # issue 22: the people pages
    for side, seconds, before in (("left", 90.0, 6), ("right", 50.0, 4)):
        summary = summary_payload(f"s-ann-{side}", started_at=iso(datetime.now(UTC)), duration_s=seconds,
                                  protocol="calf-stick", tool="stick")
        store.save_session("roller-a", summary | {"person_id": "ann", "side": side,
                                                  "soreness": {"before": before, "after": None}})
    return {"overview": "/", "live": f"/device/{dev.device_id}", "session": f"/session/{sid}",
            "history": "/history", "devices": "/devices", "quarantine": "/admin/quarantine",
            "people": "/people", "person": "/person/ann"}


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


def visit_each(s, page, pages: dict):
    """Log in, then open each of ``pages`` (name -> path) in turn, the live one with a device
    sending values; yields the name of the page now open."""
    log_in(page, s["base"])
    for name, path in pages.items():
        if name == "live":
            live_values(s, page, path).join(10)
        else:
            page.goto(s["base"] + path)
        yield name


def test_axe_runs_on_the_login_page(page, broker, tmp_path, axe):
    """The pinned axe-core loads into a dashboard page despite its Content-Security-Policy."""
    with site(broker, tmp_path, auth=True) as s:
        page.goto(s["base"] + "/login")
        assert axe(page) == []
        assert page.evaluate("() => axe.version") == "4.10.3"


def test_axe_finds_no_serious_violation_on_any_page(page, broker, tmp_path, axe):
    with site(broker, tmp_path, auth=True) as s:
        pages = seeded_pages(s)
        found = {}
        page.goto(s["base"] + "/login")
        found["login"] = axe(page)
        page.emulate_media(color_scheme="dark")
        found["login (dark)"] = axe(page)
        page.emulate_media(color_scheme="light")
        for name in visit_each(s, page, pages):
            found[name] = axe(page)
            if name == "session":  # each chart says what it shows, for a screen reader
                assert re.fullmatch(r"Speed · .*\(cm/s\): \d+ points from 0:00 to 0:\d\d, lowest [\d.]+, "
                                    r"highest [\d.]+, target 4 to 12",
                                    page.locator("#speed-chart svg").get_attribute("aria-label"))
                labels = page.eval_on_selector_all(".chart svg", "els => els.map(e => e.getAttribute('aria-label'))")
                assert len(labels) >= 3 and all(labels), labels
            page.emulate_media(color_scheme="dark")
            found[name + " (dark)"] = axe(page)
            page.emulate_media(color_scheme="light")
        bad = {k: v for k, v in found.items() if v}
        assert bad == {}, "\n".join(f"{k}: {x}" for k, v in bad.items() for x in v)


def test_chart_axes_never_repeat_a_label(page, broker, tmp_path):
    """A small range (a piriformis session's speeds, a few seconds of coverage, a short
    session's clock) gets labels that are all different, each with the decimals it needs."""
    with site(broker, tmp_path, auth=False) as s:
        page.goto(s["base"] + "/history")
        labels = page.evaluate("""() => {
          const box = (id) => { const c = document.createElement('section'); c.className = 'card';
            c.innerHTML = `<h2>${id}</h2><div id="${id}" class="chart"></div>`;
            document.querySelector('main').appendChild(c); return document.getElementById(id); };
          const read = (id, cls) => [...document.querySelectorAll(`#${id} text.${cls}`)].map((t) => t.textContent);
          const pts = [];
          for (let i = 0; i <= 40; i++) pts.push([i * 0.1, 0.02 + 0.17 * Math.abs(Math.sin(i / 6))]);
          RS.lineChart(box('slow'), { points: pts, unit: 'm/s', yMin: 0 });
          RS.barChart(box('bars'), { labels: ['1', '2', '3'], values: [0.12, 0.31, 0.07], unit: 's' });
          RS.timeline(box('tl'), { duration: 3.2, holds: [], passes: [0.4, 1.5, 2.9] });
          return { y: read('slow', 'tick-y'), x: read('slow', 'tick-x'), bars: read('bars', 'tick-y'),
                   tl: read('tl', 'tick-x') };
        }""")
        for axis, texts in labels.items():
            assert len(texts) >= 2 and len(set(texts)) == len(texts), (axis, texts)
        assert labels["y"] == ["0.00", "0.05", "0.10", "0.15", "0.20"]
        assert labels["x"][:2] == ["0:00", "0:01"]
        # in dark colours the labels turn light grey (axe does not judge SVG text)
        page.emulate_media(color_scheme="dark")
        fills = page.evaluate("() => [...document.querySelectorAll('#slow text.tick-y, #tl text.tick-x')]"
                              ".map((t) => getComputedStyle(t).fill)")
        assert set(fills) == {"rgb(151, 163, 176)"}, fills


def test_no_page_scrolls_sideways_on_a_phone(page, broker, tmp_path):
    with site(broker, tmp_path, auth=True) as s:
        pages = seeded_pages(s)
        page.set_viewport_size({"width": 390, "height": 844})
        wide = {}
        page.goto(s["base"] + "/login")
        wide["login"] = page.evaluate("document.documentElement.scrollWidth")
        for name in visit_each(s, page, pages):
            page.wait_for_timeout(50)
            wide[name] = page.evaluate("document.documentElement.scrollWidth")
        assert {k: v for k, v in wide.items() if v > 390} == {}
        # the History page's export buttons keep their shape (they stretched tall)
        page.goto(s["base"] + "/history")
        for a in page.locator(".exports a").all():
            assert a.bounding_box()["height"] < 60, a.inner_text()
        # every column of the sessions and devices tables is on screen, not cut off
        for path, table in (("/history", "#sessions"), ("/devices", "#devices")):
            page.goto(s["base"] + path)
            cut = page.evaluate("""(sel) => [...document.querySelectorAll(`${sel} th, ${sel} td`)]
              .filter((c) => getComputedStyle(c).display !== 'none' && c.getBoundingClientRect().right > 390)
              .map((c) => c.textContent.trim())""", table)
            assert cut == [], (path, cut)


ONE_LINE = """() => [...document.querySelectorAll('.tile .value, .big, td.num, .table td')]
  .filter((e) => /^[\\d.,–-]+ ?(cm\\/s|cm|N|s|m|min|%)$/.test(e.textContent.trim()))
  .map((e) => { const r = document.createRange(); r.selectNodeContents(e);
    return [e.textContent.trim(), new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size]; })"""


def test_a_value_never_wraps_apart_from_its_unit(page, broker, tmp_path):
    with site(broker, tmp_path, auth=False) as s:
        store = s["store"]
        store.set_device_paired("roller-a", True)
        summary = summary_payload("s-fast-" + uuid.uuid4().hex[:6], started_at=iso(datetime.now(UTC)), duration_s=75.0)
        summary["speed_mps"] = {"mean": 0.221, "p95": 0.31}
        summary["force_n"] = {"mean": 1234.0, "peak": 1500.0}
        store.save_session("roller-a", summary)
        for width in (1280, 1024, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{s['base']}/session/{summary['session_id']}")
            values = page.evaluate(ONE_LINE)
            assert ["22.1 cm/s", 1] in values, values
            assert [v for v in values if v[1] != 1] == [], (width, values)


def test_the_web_app_manifest_installs_with_its_icons(page, broker, tmp_path):
    """Every page links the manifest; Chromium fetches and parses it (DevTools'
    Page.getAppManifest) without errors, and every icon it names is served at its size."""
    with site(broker, tmp_path, auth=True) as s:
        pages = seeded_pages(s)
        page.goto(s["base"] + "/login")  # before logging in: the manifest and icons are open
        cdp = page.context.new_cdp_session(page)
        got = cdp.send("Page.getAppManifest")
        assert got["url"] == s["base"] + "/static/manifest.webmanifest"
        assert got["errors"] == [], got["errors"]
        doc = json.loads(got["data"])
        served = page.request.get(got["url"])
        assert served.headers["content-type"] == "application/manifest+json"
        assert doc["name"] and doc["short_name"] == "rollsense"
        assert doc["start_url"] == "/" and doc["display"] == "standalone" and doc["theme_color"]
        sizes = {}
        for icon in doc["icons"]:
            resp = page.request.get(s["base"] + icon["src"])
            assert resp.ok and resp.headers["content-type"] == icon["type"], icon
            body = resp.body()
            if icon["type"] == "image/png":
                assert body[:8] == b"\x89PNG\r\n\x1a\n"
                w, h = struct.unpack(">II", body[16:24])
                assert icon["sizes"] == f"{w}x{h}", icon
                sizes.setdefault(icon.get("purpose", "any"), set()).add(icon["sizes"])
        assert sizes["any"] == {"192x192", "512x512"} and "512x512" in sizes["maskable"]
        log_in(page, s["base"])
        for name, path in pages.items():
            page.goto(s["base"] + path)
            assert page.locator('link[rel="manifest"]').get_attribute("href") == "/static/manifest.webmanifest", name
            assert page.locator('meta[name="theme-color"]').count() == 1, name
