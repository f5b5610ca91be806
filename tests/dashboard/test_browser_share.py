"""Share links in Debian's Chromium (issue 23): a person shares one session, and a range of
days, from their own pages; the link opens logged out, read only, without navigation or
buttons; Chromium prints it as an A4 PDF holding the person's name and the routine, with the
charts; after the link's expiry (an injected wall clock) or once revoked it answers 410 with a
page saying so, and a link the dashboard never made answers 404."""

from __future__ import annotations

import io
import time
from datetime import datetime, timedelta

import pypdf

from dashboard import access, web
from dashboard.render import routine_title
from dashboard.sharing import DAY_S
from tests.dashboard.test_access import PASSWORD, seed
from tests.dashboard.test_queries import local_noon
from tests.dashboard.test_web import serve

TODAY = datetime.now().astimezone().date()


def log_in(page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(base + "/")


def make_link(page, days: str) -> str:
    page.select_option("#share-days", days)
    page.click("#share-form button[type=submit]")
    page.wait_for_selector("#share-msg.ok")
    return page.locator("#shares tr.new a.share-link").get_attribute("href")


def pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(p.extract_text() or "" for p in reader.pages)


def test_a_shared_session_and_range_open_logged_out_print_as_a4_and_end(chromium, store, axe):
    now = [time.time()]
    store.set_device_paired("home-roller", True)
    store.add_person("Ann Ash", 60.0, person_id="ann")
    store.add_person("Ben Birch", 80.0, person_id="ben")
    app = web.create_app(store, None, auth_required=True, secret_key="k-share", wall_clock=lambda: now[0])
    access.add_login(store, "ann-login", PASSWORD, role="person", person_id="ann")
    recent = seed(store, "ann", started_at=local_noon(TODAY - timedelta(days=1)))
    older = seed(store, "ann", started_at=local_noon(TODAY - timedelta(days=10)), protocol="calf-stick")
    outside = seed(store, "ann", started_at=local_noon(TODAY - timedelta(days=40)))
    bens = seed(store, "ben")
    title = routine_title("quads-roller")
    owner = chromium.new_context(viewport={"width": 1280, "height": 900})
    stranger = chromium.new_context(viewport={"width": 1280, "height": 900})  # no login
    try:
        with serve(app) as (host, port):
            base = f"http://{host}:{port}"
            mine = owner.new_page()
            log_in(mine, base, "ann-login")
            mine.goto(f"{base}/session/{recent}")
            session_link = make_link(mine, "1")
            mine.goto(f"{base}/person/ann")
            mine.fill("#share-since", (TODAY - timedelta(days=14)).isoformat())
            mine.fill("#share-until", TODAY.isoformat())
            range_link = make_link(mine, "30")
            assert axe(mine) == []  # the links page
            assert session_link.startswith(base + "/share/") and range_link.startswith(base + "/share/")

            page = stranger.new_page()
            page.goto(session_link)
            assert page.locator("#share-head h1").inner_text() == "Ann Ash"
            assert page.locator("main h1").nth(1).inner_text() == title
            assert page.locator("nav a").count() == 0 and page.locator("form").count() == 0
            page.locator("#speed-chart svg").wait_for()  # the charts, drawn as on the session page
            assert axe(page) == [] and resp_headers(page, session_link).get("cache-control") == "no-store"
            pages, text = pdf_text(page.pdf(format="A4", print_background=True))
            assert 1 <= pages <= 6 and "Ann Ash" in text and title in text
            assert "Print or save as PDF" not in text  # no buttons on paper
            size = pypdf.PdfReader(io.BytesIO(page.pdf(format="A4"))).pages[0].mediabox
            assert abs(float(size.width) - 595.3) < 1.5 and abs(float(size.height) - 841.9) < 1.5  # A4 in points

            page.goto(range_link)
            rows = page.locator("#sessions tbody tr[data-session-id]")
            assert {rows.nth(i).get_attribute("data-session-id") for i in range(rows.count())} == {recent, older}
            assert outside not in page.content() and bens not in page.content() and "Ben Birch" not in page.content()
            page.click(f'tr[data-session-id="{older}"] a')
            page.locator("#speed-chart svg").wait_for()
            assert page.locator("main h1").nth(1).inner_text() == routine_title("calf-stick")
            pages, text = pdf_text(page.pdf(format="A4"))
            assert pages >= 1 and "Ann Ash" in text
            assert page.goto(range_link + f"/session/{bens}").status == 404

            now[0] += 2 * DAY_S  # the 1-day link has expired; the 30-day one has not
            resp = page.goto(session_link)
            assert resp.status == 410 and page.locator("#gone h1").inner_text() == "This link has expired"
            assert page.goto(range_link).status == 200

            mine.goto(f"{base}/shares")
            share_id = range_link.rsplit("/", 1)[1].split(".")[0]
            mine.click(f'tr[data-share-id="{share_id}"] button')
            mine.wait_for_url(f"{base}/shares")
            assert mine.locator(f'tr[data-share-id="{share_id}"] .state').inner_text() == "revoked"
            resp = page.goto(range_link)
            assert resp.status == 410 and page.locator("#gone h1").inner_text() == "This link was withdrawn"
            tampered = range_link[:-1] + ("0" if range_link[-1] != "0" else "1")
            assert page.goto(tampered).status == 404 and page.locator("#gone h1").inner_text() == "No such link"
    finally:
        owner.close()
        stranger.close()


def resp_headers(page, url: str) -> dict:
    return page.request.get(url).headers
