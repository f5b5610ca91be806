"""Issue 19 §1, in Debian's Chromium: every page shows the stored record, whatever live
telemetry was lost. A session that ends during a broker outage shows as ended once its
summary is stored (live page, overview card); a session page draws its charts over the
whole session from the summary's per-second series, and lists the summary's passes."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

from tests.dashboard.test_browser import Publisher, _no_console_errors, site  # noqa: F401 (fixture)
from tests.dashboard.test_queries import iso, seed_session


def wait_stored(store, sid: str, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        rows = store.query("SELECT session_id, passes FROM sessions WHERE session_id = ?", (sid,))
        if rows:
            return rows[0]
        assert time.monotonic() < deadline, f"session {sid} was not stored"
        time.sleep(0.05)


def test_a_session_that_ends_during_a_broker_outage_shows_ended_once_stored(page, fresh_broker, tmp_path):
    with site(fresh_broker, tmp_path, auth=False) as s:
        dev, base, store = s["device"], s["base"], s["store"]
        store.set_device_paired(dev.device_id, True)
        overview = page.context.new_page()
        overview.goto(base + "/")
        page.goto(f"{base}/device/{dev.device_id}")
        page.wait_for_function("() => document.getElementById('status').textContent === 'online'")
        sid = "outage-" + uuid.uuid4().hex[:8]
        pub = Publisher(dev, sid, n=30)
        for t in pub.samples:
            t["cue"] = "switch_direction"
        pub.start()
        page.wait_for_function("() => document.getElementById('cue').textContent === 'Switch direction'")
        assert page.evaluate("document.body.dataset.session") == "active"
        card = overview.locator(f'.device-card[data-device-id="{dev.device_id}"]')
        overview.wait_for_function(
            "(id) => document.querySelector(`.device-card[data-device-id='${id}'] .activity`)"
            ".textContent.startsWith('quads roller ·')", arg=dev.device_id)
        pub.join(15)
        fresh_broker.stop()  # the session finishes while the dashboard is cut off
        pub.finish(passes=3)
        fresh_broker.start()
        wait_stored(store, sid)
        page.wait_for_function("() => document.getElementById('phase').textContent.startsWith('ended')")
        assert page.locator("#cue").inner_text() == "Done — well rolled!"
        assert page.evaluate("document.body.dataset.session") == "ended"
        assert page.locator("#passes").inner_text() == "3"
        overview.wait_for_function(
            "(id) => document.querySelector(`.device-card[data-device-id='${id}']`).dataset.session === 'ended'",
            arg=dev.device_id)
        assert " · ended (completed) · 0:04 · 3 passes" in card.locator(".activity").inner_text()
        # a page opened afterwards shows it ended too, not the last live telemetry
        page.reload()
        page.wait_for_function("() => document.getElementById('phase').textContent.startsWith('ended')")
        assert page.locator("#cue").inner_text() != "Switch direction"
        assert page.locator("#elapsed").inner_text() != "0:02"
        assert page.locator("#remaining").is_hidden()  # no "– left" once it ended
        assert page.locator("#target").is_hidden()  # nor "of –" (no telemetry told the target)
        overview.reload()
        assert "Switch" not in overview.locator(".device-card").first.inner_text()
        assert "quads roller ·" not in card.locator(".activity").inner_text()
        page.goto(base + "/devices")
        row = page.locator(f'#devices tr[data-device-id="{dev.device_id}"]')
        assert row.locator("td.num").inner_text() == "1"
        overview.close()


def real_summary(sid: str, started_at: str) -> dict:
    """A quads-roller session as the device builds it (firmware Session over the simulated
    user): with its series_1hz and pass_list."""
    from tests.firmware.core.test_session import replay

    summary = replay("quads-roller")
    summary.update(session_id=sid, started_at=started_at)
    return summary


def x_labels_s(page, chart: str) -> list[int]:
    labels = page.locator(f"#{chart} svg text").evaluate_all("(ns) => ns.map((n) => n.textContent)")
    out = []
    for text in labels:
        m = re.fullmatch(r"(\d+):(\d\d)", text)
        if m:
            out.append(int(m.group(1)) * 60 + int(m.group(2)))
    return out


def test_session_page_charts_and_counts_come_from_the_stored_summary(page, broker, tmp_path):
    with site(broker, tmp_path, auth=False) as s:
        dev, base, store = s["device"], s["base"], s["store"]
        store.set_device_paired(dev.device_id, True)
        sid = "whole-" + uuid.uuid4().hex[:8]
        pub = Publisher(dev, sid, n=20)  # the dashboard hears the first 2 s live, then nothing
        pub.start()
        pub.join(15)
        summary = real_summary(sid, iso(datetime.now(UTC)))
        assert summary["passes"] > 5 and summary["duration_s"] > 40
        dev.journal.start_session(sid, "quads-roller", "roller", summary["started_at"])
        dev.journal.finish_session(sid, summary)  # no pass events: only the summary lists them
        dev.link.wake()
        assert wait_stored(store, sid)["passes"] == summary["passes"]
        page.goto(f"{base}/session/{sid}")
        # (b) the charts span the whole session, with data up to its end
        duration = summary["duration_s"]
        for chart in ("speed-chart", "force-chart"):
            assert page.locator(f"#{chart} path.series").count() == 1
            assert max(x_labels_s(page, chart)) >= duration - 20, chart
        last_t = page.evaluate("() => RS.pageData().series.filter((p) => p.speed !== null).pop().t")
        assert last_t >= duration - 2
        assert page.locator("#series-note").count() == 0  # nothing missing
        # (c) the counts are the summary's
        assert page.locator("#summary .passes").inner_text() == str(summary["passes"])
        assert page.locator("#pass-chart rect.bar").count() == summary["passes"]
        assert page.locator("#timeline line.pass-tick").count() == summary["passes"]
        assert page.locator("#timeline rect.hold").count() == len(summary["holds"])
        assert page.locator("#summary .holds").inner_text() == str(len(summary["holds"]))

        # an older summary (no series, no pass list) says in words what the charts miss
        old = seed_session(store, dev.device_id, duration_s=60.0, passes=12)
        page.goto(f"{base}/session/{old}")
        assert "0:00–0:20 of 1:00" in page.locator("#series-note").inner_text()
        assert page.locator("#passes-note").inner_text().startswith("12 passes in all")
        assert page.locator("#pass-chart rect.bar").count() == 0


SAID = "() => document.getElementById('live-note')?.textContent"  # the polite status, read out


def test_the_live_page_says_a_session_ended_not_that_it_waits_for_one(page, broker, tmp_path):
    """Finding: after a session the heading said "Waiting for a routine" right above
    "<device> · ended · completed" and "Done — well rolled!". The heading names the session
    that ended, live and on a page opened afterwards; a screen reader hears the start and the
    end once each (a polite status), and no "Started" is left standing once it has ended."""
    heading = page.get_by_role("heading", level=1)
    with site(broker, tmp_path, auth=False) as s:
        dev, base, store = s["device"], s["base"], s["store"]
        store.set_device_paired(dev.device_id, True)
        page.goto(f"{base}/device/{dev.device_id}")
        page.wait_for_function("() => document.getElementById('status').textContent === 'online'")
        assert heading.inner_text() == "Waiting for a routine"
        page.click("#start-form button[type=submit]")
        page.wait_for_function("() => document.getElementById('start-msg').textContent.startsWith('Started')")
        sid = "heading-" + uuid.uuid4().hex[:8]
        pub = Publisher(dev, sid, n=20)
        pub.start()
        page.wait_for_function("() => document.body.dataset.session === 'active'")
        assert heading.inner_text() == "Quads on the foam roller"
        page.wait_for_function("() => document.getElementById('force-gauge').dataset.value !== ''")
        said = [page.evaluate(SAID)]
        pub.finish(passes=3)
        wait_stored(store, sid)
        page.wait_for_function("() => document.body.dataset.session === 'ended'")
        assert heading.inner_text() == "Last session: Quads on the foam roller"
        assert page.locator("#phase").inner_text() == "ended · completed"
        assert page.locator("#cue").inner_text() == "Done — well rolled!"
        said.append(page.evaluate(SAID))
        assert said == ["Quads on the foam roller started", "Quads on the foam roller completed. Session saved."]
        assert page.get_by_role("status").filter(has_text="Session saved").get_attribute("id") == "live-note"
        assert page.locator("#start-msg").inner_text() == ""
        # the gauges no longer show the last live reading as if it were now (as after a reload)
        for gauge in ("#speed-gauge", "#force-gauge"):
            assert page.locator(f"{gauge} .gauge-value").text_content() == "–"
            assert page.locator(gauge).get_attribute("data-tone") == ""
        page.reload()  # opened afterwards: the same heading, and no news announced
        page.wait_for_function("() => document.body.dataset.session === 'ended'")
        assert heading.inner_text() == "Last session: Quads on the foam roller"
        assert page.locator("#live-note").inner_text() == ""
        nxt = Publisher(dev, "heading-next-" + uuid.uuid4().hex[:8], n=10)  # the next one begins
        nxt.start()
        page.wait_for_function("() => document.body.dataset.session === 'active'")
        assert heading.inner_text() == "Quads on the foam roller"
        assert page.locator("#live-note").inner_text() == "Quads on the foam roller started"
        nxt.join(15)
