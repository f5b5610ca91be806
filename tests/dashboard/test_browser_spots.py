"""The map of tender spots (issue 23) end to end in Debian's Chromium: a simulated person who
lingers over two spots on the left quadriceps (scenario tender-spots, 8 and 17 cm up from where
the passes start) in three sessions, each run through the device's own session code (metrics,
coach, summary), journalled and delivered by the real link through the private Mosquitto to the
real ingest and store; their page shows those two spots on the left quads' strip, none on the
right (rolled without lingering), the outline coloured by the minutes rolled, passing axe-core
and fitting a 375 px phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard import spots as spot_finder
from device.sim import sample_blocks
from firmware.app.simulate import scenario
from firmware.core.metrics import MetricsSettings
from firmware.core.protocols import load_routine
from firmware.core.session import Session
from firmware.core.summary import SessionTags
from tests.dashboard.test_browser import site
from tests.dashboard.test_browser_people import PHONE, scroll_width
from tests.firmware.edge.test_link import wait_until

SPOTS_M = (0.08, 0.17)  # ProtocolSim.spots_m of quads-roller


def simulated_summary(sid: str, name: str, seed: int, side: str, started: datetime, before: int) -> dict:
    """One session of the simulated user through the device's session code."""
    user = scenario("quads-roller", name, seed)
    settings = MetricsSettings(tool=user.tool, radius_m=user.radius_m,
                               axis_xyz=tuple(user.body_axis(0)), up_sign=1)
    session = Session(session_id=sid, routine=load_routine("quads-roller"), settings=settings,
                      started_at=started.isoformat().replace("+00:00", "Z"),
                      tags=SessionTags(person_id="ann", side=side, soreness_before=before))
    for block in sample_blocks(user, 200.0, seed=seed):
        session.feed(block)
    return session.summary()


@pytest.fixture(scope="module")
def summaries():
    now = datetime.now(UTC)
    plan = [("t1", "tender-spots", 1, "left", 5), ("t2", "tender-spots", 2, "left", 5),
            ("t3", "tender-spots", 3, "left", 4), ("g1", "good", 4, "right", 2)]
    return [simulated_summary(sid, name, seed, side, now - timedelta(days=len(plan) - i), before)
            for i, (sid, name, seed, side, before) in enumerate(plan)]


def test_a_person_who_lingers_over_two_spots_gets_them_on_the_map(page, broker, tmp_path, axe, summaries,
                                                                   no_console_errors):
    with site(broker, tmp_path, auth=False) as s:
        store, dev = s["store"], s["device"]
        store.set_device_paired(dev.device_id, True)
        store.add_person("Ann", 61.0, person_id="ann")
        for summary in summaries:
            dev.journal.start_session(summary["session_id"], "quads-roller", "roller", summary["started_at"])
            dev.journal.finish_session(summary["session_id"], summary)
        dev.link.wake()
        wait_until(lambda: len(store.query("SELECT session_id FROM sessions WHERE spots_json IS NOT NULL")) == 4,
                   timeout_s=20, what="four sessions with spots stored")

        groups = spot_finder.person_spots(store, "ann", now=datetime.now(UTC))
        left = next(g for g in groups if g["side"] == "left")
        assert [sp["kind"] for sp in left["spots"]] == ["linger", "linger"]
        for sp, want in zip(left["spots"], SPOTS_M, strict=True):
            assert abs(sp["x_m"] - want) <= 0.03, left["spots"]
            assert sp["sessions"] == 3

        page.goto(s["base"] + "/person/ann")
        strip = page.locator('#tender-spots .spot-row[data-muscle="quads"][data-side="left"]')
        marks = [float(x) for x in strip.locator(".spot").evaluate_all("els => els.map(e => e.dataset.xM)")]
        assert marks == [sp["x_m"] for sp in left["spots"]]
        words = strip.locator(".spot-list li").all_inner_texts()
        assert len(words) == 2 and all("up from where the passes start, lingered on in 3 sessions" in w
                                       for w in words)
        assert words[0].startswith(f"{round(left['spots'][0]['x_m'] * 100)} cm")
        right = page.locator('#tender-spots .spot-row[data-muscle="quads"][data-side="right"]')
        assert right.locator(".spot").count() == 0
        assert "No tender spots found yet" in right.inner_text()
        # the outline: both quads rolled (coloured), the calf not; its text lists the spots
        minutes = {side: float(page.locator(f'#body-map g[data-muscle="quads"][data-side="{side}"]')
                               .get_attribute("data-minutes")) for side in ("left", "right")}
        want_left = sum(x["duration_s"] for x in summaries if x["side"] == "left") / 60
        assert minutes["left"] == pytest.approx(want_left, abs=0.1) and minutes["right"] > 0
        assert page.locator('#body-map g[data-muscle="calf"][data-side="left"]').get_attribute("data-minutes") == "0.0"
        assert page.locator("#body-map").get_attribute("role") == "img"
        desc = page.locator("#body-map-desc").text_content()
        assert desc.startswith("Quadriceps, left:") and words[0] in desc and "no tender spots found" in desc
        assert axe(page) == []
        page.set_viewport_size(PHONE)
        page.reload()
        assert scroll_width(page) <= PHONE["width"]
        assert page.locator("#body-map").bounding_box()["width"] <= PHONE["width"]
