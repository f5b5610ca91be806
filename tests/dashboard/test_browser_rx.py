"""The therapist's pages (issue 23) in Debian's Chromium: the prescription form keeps a good
version and shows it again, a bad value is refused with the routine file's own line beside
the form and the field marked; the adherence page shows the week's numbers and its chart;
axe finds nothing serious and nothing scrolls sideways at 375 px."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dashboard import prescriptions as rx
from dashboard import web
from dashboard.store import open_store
from tests.dashboard.test_browser_plan import fits_375
from tests.dashboard.test_people import tagged
from tests.dashboard.test_web import serve

TODAY = date.today()


@pytest.fixture(autouse=True)
def _no_console_errors(no_console_errors):
    yield


@pytest.fixture
def site(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    s.set_device_paired("home-roller", True)
    s.add_person("Ann", 60.0, person_id="ann")
    app = web.create_app(s, None, auth_required=False, secret_key="rx-test", today=lambda: TODAY)
    with serve(app) as addr:
        yield {"store": s, "base": f"http://{addr[0]}:{addr[1]}"}
    s.close()


def field(page, rid: str, key: str, end: str = ""):
    return page.locator(f'input[name="{rid}|{key}{"|" + end if end else ""}"]')


def test_prescription_form_good_and_bad_values(page, site, axe):
    store, base = site["store"], site["base"]
    page.goto(base + "/person/ann/prescription?program=lower-body")
    assert field(page, "quads-roller", "targets.speed.pass_s", "lo").input_value() == "2"  # the file's
    assert axe(page) == []
    fits_375(page)

    # bad: a pass time band upside down -> the file's own line, nothing kept
    page.get_by_role("checkbox", name="Mon").check()
    field(page, "quads-roller", "targets.speed.pass_s", "lo").fill("5")
    page.get_by_role("button", name="Save as a new version").click()
    page.wait_for_selector("#rx-errors")
    lines = page.locator("#rx-errors li").all_inner_texts()
    assert lines == ["quads-roller.toml: targets.speed.pass_s: low 5 > high 4"]
    box = page.locator('fieldset[data-routine="quads-roller"]')
    assert box.locator(".rx-problems li").all_inner_texts() == lines  # beside its fields too
    assert field(page, "quads-roller", "targets.speed.pass_s", "lo").get_attribute("aria-invalid") == "true"
    assert field(page, "quads-roller", "targets.speed.pass_s", "lo").input_value() == "5"  # kept as typed
    assert rx.versions(store, "ann") == []
    assert axe(page) == []

    # good: a slower pass and a lighter calf on the way down
    field(page, "quads-roller", "targets.speed.pass_s", "lo").fill("3")
    field(page, "quads-roller", "targets.speed.pass_s", "hi").fill("6")
    field(page, "calf-stick", "targets.force_down.n", "hi").fill("70")
    page.get_by_role("button", name="Save as a new version").click()
    page.wait_for_selector("#rx-saved")
    assert page.locator("#rx-saved").inner_text() == "Saved as version 1."
    (v1,) = rx.versions(store, "ann")
    assert v1["routines"]["quads-roller"]["targets"]["speed"]["pass_s"] == [3.0, 6.0]
    assert v1["routines"]["calf-stick"]["targets"]["force_down"]["n"] == [20.0, 70.0]
    assert v1["weekdays"] == (0,) and v1["program_id"] == "lower-body"
    assert field(page, "quads-roller", "targets.speed.pass_s", "hi").input_value() == "6"  # shown again
    assert page.locator('#rx-versions tr[data-version="1"]').count() == 1
    assert axe(page) == []
    fits_375(page)


def test_adherence_page(page, site, axe):
    store, base = site["store"], site["base"]
    monday = TODAY - timedelta(days=TODAY.weekday())
    rx.save_version(store, "ann", "lower-body", tuple(range(7)), {}, None, today=monday)
    store.execute("UPDATE prescriptions SET created_at = ?", (f"{monday.isoformat()}T12:00:00.000Z",))
    store.save_session("home-roller", tagged("a1", monday, side="left", before=5))
    store.set_soreness_after("a1", 2)
    page.goto(base + "/person/ann/adherence")
    week = page.locator("#adherence tbody tr").first
    days = (TODAY - monday).days + 1
    assert week.locator(".done").inner_text() == f"1 of {6 * days}"
    assert week.locator(".soreness").inner_text() == "5 → 2"
    assert page.locator("#adherence-chart rect").count() == 12  # prescribed and done, six weeks
    assert "1 of" in page.locator("#adherence-chart").get_attribute("aria-label")
    assert page.locator('#muscle-time tr[data-muscle="quadriceps"][data-side="left"]').count() == 1
    assert axe(page) == []
    fits_375(page)
