"""The people pages in Debian's Chromium (issue 22): adding a person (their body mass typed in
their units), a bad value refused next to its field, editing one, the people sent to the paired
device (the real link on the private Mosquitto) and said so; a person's page whose numbers agree
with the stored sessions, in the person's units; both pages pass axe-core and fit a 375 px phone."""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboard import queries as q
from dashboard.person_words import asymmetry_sentences
from firmware.common import units
from tests.dashboard.test_browser import site
from tests.dashboard.test_people import tagged
from tests.firmware.edge.test_link import wait_until

PHONE = {"width": 375, "height": 812}
TODAY = datetime.now().astimezone().date()


def scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_people_are_added_refused_and_edited_in_chromium(page, broker, tmp_path, axe, no_console_errors):
    with site(broker, tmp_path, auth=False) as s:
        store, dev = s["store"], s["device"]
        store.set_device_paired(dev.device_id, True)
        page.goto(s["base"] + "/people")
        assert page.locator("nav a.on").inner_text() == "People"
        page.fill("#add-name", "Ann")
        page.fill("#add-body_mass", "132")
        page.select_option("#add-units", "imperial")
        page.click("#add-form button[type=submit]")
        page.wait_for_selector("#people-msg")
        assert page.locator("#people-msg").inner_text() == "Added Ann."
        ann = store.people()[0]
        assert abs(ann["body_mass_kg"] - 132 * units.KG_PER_LB) < 1e-9 and ann["units"] == "imperial"
        row = page.locator(f'tr[data-person-id="{ann["id"]}"]')
        assert row.locator(".mass").inner_text() == "132 lb"
        assert page.locator(f'#pushed li[data-device-id="{dev.device_id}"] .push-state').inner_text() == "sent"
        assert [a["people"][0]["name"] for n, a in dev.commands if n == "set_profile"] == ["Ann"]

        page.fill("#add-name", "Cy")
        page.fill("#add-body_mass", "12")
        page.click("#add-form button[type=submit]")
        error = page.locator("#add-body_mass-error")
        error.wait_for()
        assert error.inner_text() == "Body mass must be a number from 20 to 300 kg, or empty."
        assert page.locator("#add-body_mass").get_attribute("aria-invalid") == "true"
        assert page.locator("#add-body_mass").input_value() == "12" and page.locator("#add-name").input_value() == "Cy"
        assert len(store.people()) == 1
        assert axe(page) == []  # the page with an error on it too

        page.click(f'#edit-{ann["id"]} summary')
        page.fill(f'#edit-{ann["id"]}-name', "Ann B")
        assert page.locator(f'#edit-{ann["id"]}-body_mass').input_value() == "132"  # in her units
        page.fill(f'#edit-{ann["id"]}-body_mass', "61.5")
        page.select_option(f'#edit-{ann["id"]}-units', "metric")
        page.click(f'#edit-{ann["id"]}-form button[type=submit]')
        page.wait_for_selector("#people-msg")
        assert page.locator("#people-msg").inner_text() == "Saved Ann B."
        assert row.locator(".mass").inner_text() == "61.5 kg"
        assert store.person(ann["id"])["body_mass_kg"] == 61.5
        wait_until(lambda: len([1 for n, _ in dev.commands if n == "set_profile"]) == 2, what="second set_profile")
        assert axe(page) == []
        page.set_viewport_size(PHONE)
        page.goto(s["base"] + "/people")
        assert scroll_width(page) <= PHONE["width"]


def test_a_persons_page_agrees_with_the_stored_sessions_in_their_units(page, broker, tmp_path, axe,
                                                                        no_console_errors):
    with site(broker, tmp_path, auth=False) as s:
        store = s["store"]
        store.set_device_paired("home-roller", True)
        store.add_person("Bo", 90.0, units="imperial", person_id="bo")
        for i, (side, seconds, force_n, before) in enumerate(
                [("left", 95.0, 201.0, 6), ("right", 60.0, 150.0, 7), ("left", 80.0, 190.0, 4)]):
            store.save_session("home-roller", tagged(f"b{i}", TODAY - timedelta(days=i), person="bo", side=side,
                                                     protocol="calf-stick", duration_s=seconds, passes=10 + i,
                                                     force_mean_n=force_n, before=before))
        store.set_soreness_after("b0", 2)
        stored = q.person_sessions(store, "bo")
        page.goto(s["base"] + "/person/bo")
        assert page.locator("#person-name").inner_text() == "Bo"
        shown = page.locator("#sessions tbody tr")
        assert shown.count() == len(stored) == 3
        for i, r in enumerate(stored):
            tr = shown.nth(i)
            assert tr.get_attribute("data-session-id") == r["session_id"]
            assert tr.locator("td.force").inner_text() == units.force_for(r["force_mean_n"], "imperial")
            assert tr.locator("td.force").inner_text().endswith(" lbf")
            assert tr.locator("td.passes").inner_text() == str(r["passes"])
            assert float(tr.locator("td.duration").get_attribute("data-seconds")) == r["duration_s"]
            assert tr.locator(".side").inner_text() == r["side"]
        assert shown.nth(0).locator("td.soreness").inner_text() == "6 → 2"
        left = page.locator('#sides tr[data-side="left"]')
        assert left.locator("td.passes").inner_text() == str(10 + 12)
        # duration-weighted mean force of the left sessions, in lbf
        assert left.locator("td.force").inner_text() == units.force_for((201 * 95 + 190 * 80) / 175, "imperial")
        (calf,) = q.asymmetry(store, "bo")
        assert page.locator("#asymmetry li").all_inner_texts() == asymmetry_sentences(calf) == [
            "right calf: 66 % less time than left over 4 weeks",
            "right calf: 50 % fewer passes than left over 4 weeks",
            f"right calf: {round(calf['apart']['mean_force_n'] * 100)} % lower mean force than left over 4 weeks"]
        assert page.locator("#streak-current").inner_text() == "3 days"
        page.wait_for_selector("#weekly-chart svg")
        page.wait_for_selector("#soreness-chart svg")
        assert axe(page) == []
        page.set_viewport_size(PHONE)
        page.reload()
        page.wait_for_selector("#weekly-chart svg")
        assert scroll_width(page) <= PHONE["width"]
        cut = page.evaluate("""() => [...document.querySelectorAll('#sessions th, #sessions td, #sides th, #sides td')]
          .filter((c) => getComputedStyle(c).display !== 'none' && c.getBoundingClientRect().right > 375)
          .map((c) => c.textContent.trim())""")
        assert cut == []
