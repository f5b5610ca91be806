"""The dashboard's people pages (issue 22) on a SQLite store seeded through store.save_session:
the builder of set_profile's people (with each person's ``sore`` map, checked by the device's
own schema: never what a device refuses), a person's numbers in their units, the asymmetry in
words, the soreness trend, /people's forms, /person/{id}, the per-person exports and History
filter, and the 404s. The people reaching a device again when it comes back online is tested
through the real broker with the real device link."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import pytest

from dashboard import auth, people_sync, web
from dashboard import queries as q
from dashboard.people_pages import read_person_form
from dashboard.people_sync import profile_payload, sore_maps
from dashboard.person_words import asymmetry_sentences
from dashboard.store import open_store
from firmware.common import units
from firmware.common.errors import ConfigError
from firmware.core import commands
from tests.dashboard.test_people import tagged
from tests.dashboard.test_web import call, serve

TODAY = datetime.now().astimezone().date()


@pytest.fixture
def household(tmp_path):
    """Ann (60 kg, metric) and Bo (90 kg, imperial) on one paired roller: Ann rolled her calves
    both sides (the right 35 % shorter), Bo his left quads only."""
    s = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    s.set_device_paired("home-roller", True)
    s.add_person("Ann", 60.0, person_id="ann")
    s.add_person("Bo", 90.0, units="imperial", person_id="bo")
    s.save_session("home-roller", tagged("a1", TODAY - timedelta(days=3), person="ann", side="left",
                                         protocol="calf-stick", duration_s=100.0, passes=20, before=7))
    s.save_session("home-roller", tagged("a2", TODAY - timedelta(days=2), person="ann", side="right",
                                         protocol="calf-stick", duration_s=65.0, passes=20, before=5))
    s.save_session("home-roller", tagged("a3", TODAY - timedelta(days=1), person="ann", side="left",
                                         protocol="calf-stick", duration_s=60.0, passes=12, before=4))
    s.save_session("home-roller", tagged("b1", TODAY, person="bo", side="left", protocol="quads-roller",
                                         duration_s=70.0, passes=14, force_mean_n=222.4))
    s.set_soreness_after("a1", 3)
    yield s
    s.close()


# ---------------------------------------------------------------- what the devices get


def test_sore_maps_hold_the_last_before_rating_per_routine_and_side(household):
    assert sore_maps(household) == {"ann": {"calf-stick/left": 4, "calf-stick/right": 5}}
    household.save_session("home-roller", tagged("a4", TODAY, person="ann", side=None,
                                                 protocol="thoracic-roller", before=2))
    assert sore_maps(household)["ann"]["thoracic-roller"] == 2  # no side: the routine id alone


def test_the_people_carry_their_sore_map_in_the_devices_own_schema(household):
    payload = profile_payload(household)
    assert payload["people"][0]["sore"] == {"calf-stick/left": 4, "calf-stick/right": 5}
    assert "sore" not in payload["people"][1]  # Bo rated nothing
    commands.validate("set_profile", {"id": "x", **payload})
    before = people_sync.people_version(payload)
    household.save_session("home-roller", tagged("a5", TODAY, person="ann", side="right",
                                                 protocol="calf-stick", before=8))
    after = profile_payload(household)
    assert after["people"][0]["sore"]["calf-stick/right"] == 8
    assert people_sync.people_version(after) != before  # a new rating: the devices get it again


def test_more_people_than_a_device_holds_are_never_sent(household):
    for i in range(commands.MAX_PEOPLE - 1):
        household.add_person(f"Client {i}", person_id=f"c{i}")
    with pytest.raises(ConfigError, match="^the devices would refuse these people: people: must be a list of at most 16 people; "
                                          "this has 17$"):
        profile_payload(household)


# ---------------------------------------------------------------- a person's numbers


def test_a_person_reads_their_own_units():
    assert units.force_for(222.4, "imperial") == "50 lbf" and units.force_for(222.4, "metric") == "222 N"
    assert units.mass_for(90.0, "imperial") == "198.4 lb" and units.mass_for(90.0, "metric") == "90 kg"
    assert units.speed_for(0.0762, "imperial") == "3.0 in/s" and units.length_for(0.254, "imperial") == "10.0 in"
    assert units.mass_kg(150.0, "imperial") == pytest.approx(68.0388555)
    assert units.mass_for(None, "imperial") == units.force_for(None, "metric") == "–"
    # kgf on request: metric, with force in kilograms-force
    assert units.force_for(222.4, "kgf") == "22.7 kgf" and units.mass_for(90.0, "kgf") == "90 kg"
    assert units.speed_for(0.0762, "kgf") == "7.6 cm/s" and units.mass_kg(70.0, "kgf") == 70.0


def test_the_asymmetry_is_said_in_words(household):
    (calf,) = q.asymmetry(household, "ann", today=TODAY)
    assert asymmetry_sentences(calf) == ["right calf: 59 % less time than left over 4 weeks",
                                         "right calf: 38 % fewer passes than left over 4 weeks"]
    (quads,) = q.asymmetry(household, "bo", today=TODAY)
    assert asymmetry_sentences(quads) == ["right quadriceps: not rolled in 4 weeks (left: 1 session)"]


def test_the_soreness_trend_is_per_muscle_and_side_oldest_first(household):
    trend = q.soreness_trend(household, "ann")
    assert [(t["side"], [(r["before"], r["after"]) for r in t["ratings"]]) for t in trend] == [
        ("left", [(7, 3), (4, None)]), ("right", [(5, None)])]
    assert q.soreness_trend(household, "bo") == []


@pytest.mark.parametrize(("form", "errors"), [
    ({"name": "  Cy  ", "body_mass": "150", "units": "imperial"}, {}),
    ({"name": "", "body_mass": "", "units": "metric"}, {"name": "Enter a name."}),
    ({"name": "Cy", "body_mass": "15", "units": "imperial"},
     {"body_mass": "Body mass must be a number from 45 to 661 lb, or empty."}),
    ({"name": "Cy", "body_mass": "heavy", "units": "metric"},
     {"body_mass": "Body mass must be a number from 20 to 300 kg, or empty."}),
    ({"name": "Cy", "body_mass": "nan", "units": "metric"},
     {"body_mass": "Body mass must be a number from 20 to 300 kg, or empty."}),
    ({"name": "Cy", "body_mass": "", "units": "stone"}, {"units": "Choose metric, imperial or metric with kgf."}),
])
def test_the_person_form_says_what_is_wrong_in_a_users_words(form, errors):
    fields, found = read_person_form(form)
    assert found == errors
    if not errors:
        assert fields == {"name": "Cy", "body_mass_kg": pytest.approx(68.0388555), "units": "imperial"}


# ---------------------------------------------------------------- pages and exports over HTTP


def cells(page: str, table_id: str) -> list[str]:
    body = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return body


def test_the_person_page_shows_their_numbers_and_unknown_people_are_not_found(household):
    app = web.create_app(household, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        status, _, page = call(addr, "GET", "/person/bo")
        assert status == 200
        assert "Body mass 198.4 lb · imperial units" in page
        sessions = cells(page, "sessions")
        assert 'data-session-id="b1"' in sessions and 'data-session-id="a1"' not in sessions
        assert '<td class="num force">50 lbf</td>' in sessions  # 222.4 N in lbf
        status, _, page = call(addr, "GET", "/person/ann")
        assert "<li>right calf: 59 % less time than left over 4 weeks</li>" in page
        assert 'id="streak-current">3 days<' in page  # yesterday and the two days before
        assert '<td class="soreness">7 → 3</td>' in cells(page, "sessions")
        data = json.loads(page.split('id="page-data">', 1)[1].split("</script>", 1)[0])
        assert sum(w["minutes"] for w in data["weekly_minutes"]) == pytest.approx(225.0 / 60, abs=0.01)
        for path in ("/person/nobody", "/person/a%20b%3Cscript%3E"):
            status, _, page = call(addr, "GET", path)
            assert status == 404 and "Not found" in page
        assert call(addr, "GET", "/history?person=nobody")[0] == 404


def test_the_history_exports_are_per_person(household):
    app = web.create_app(household, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        status, headers, body = call(addr, "GET", "/api/history.csv?person=ann")
        assert status == 200 and 'filename="rollsense-history-ann.csv"' in headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(body)))
        assert [(r["session_id"], r["side"], r["soreness_before"], r["soreness_after"]) for r in rows] == [
            ("a3", "left", "4", ""), ("a2", "right", "5", ""), ("a1", "left", "7", "3")]
        status, _, body = call(addr, "GET", "/api/history.json?person=bo")
        doc = json.loads(body)
        assert status == 200 and [s["session_id"] for s in doc["sessions"]] == ["b1"]
        assert doc["total_minutes"] == pytest.approx(70.0 / 60, abs=0.01)
        status, _, body = call(addr, "GET", "/api/history.json")
        assert len(json.loads(body)["sessions"]) == 4  # everyone's
        for fmt in ("csv", "json"):
            status, _, body = call(addr, "GET", f"/api/history.{fmt}?person=nobody")
            assert status == 404 and json.loads(body) == {"error": "no person 'nobody'"}
        status, _, page = call(addr, "GET", "/history?person=bo")
        assert status == 200 and 'data-session-id="b1"' in page and 'data-session-id="a1"' not in page
        assert '<option value="bo" selected>Bo</option>' in page


def test_people_are_added_and_edited_with_errors_next_to_the_field(household):
    app = web.create_app(household, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        status, _, page = call(addr, "POST", "/people", form={"name": "Cy", "body_mass": "15", "units": "imperial"})
        assert status == 400
        assert ('aria-describedby="add-body_mass-error"><span class="msg error field-error" id="add-body_mass-error">'
                "Body mass must be a number from 45 to 661 lb, or empty.</span>") in page
        assert 'value="Cy"' in page  # what they typed stays
        assert len(household.people()) == 2
        status, _, page = call(addr, "POST", "/people", form={"name": "Cy", "body_mass": "150", "units": "imperial"})
        assert status == 200 and "Added Cy." in page
        cy = next(p for p in household.people() if p["name"] == "Cy")
        assert cy["body_mass_kg"] == pytest.approx(68.0388555) and cy["units"] == "imperial"
        assert '<span class="mass">150 lb</span>' in page
        status, _, page = call(addr, "POST", "/people/bo", form={"name": "Bo", "body_mass": "85", "units": "metric"})
        assert status == 200 and household.person("bo")["body_mass_kg"] == 85.0
        status, _, page = call(addr, "POST", "/people/bo", form={"name": "", "body_mass": "85", "units": "metric"})
        assert status == 400 and 'id="edit-bo-name-error">Enter a name.</span>' in page
        assert household.person("bo")["name"] == "Bo"
        assert call(addr, "POST", "/people/nobody", form={"name": "X"})[0] == 404


def test_a_seventeenth_person_is_refused_in_words(household):
    for i in range(commands.MAX_PEOPLE - 2):
        household.add_person(f"Client {i}", person_id=f"c{i}")
    app = web.create_app(household, None, auth_required=False, secret_key="k")
    with serve(app) as addr:
        status, _, page = call(addr, "POST", "/people", form={"name": "One more", "units": "metric"})
        assert status == 400 and "A device holds at most 16 people: edit a person instead of adding one." in page
    assert len(household.people()) == commands.MAX_PEOPLE


def test_the_people_forms_are_behind_the_login_and_the_same_origin_check(household):
    auth.add_user(household, "ana", "roll-slowly-2")
    app = web.create_app(household, None, auth_required=True, secret_key="k")
    with serve(app) as addr:
        host = f"{addr[0]}:{addr[1]}"
        status, headers, _ = call(addr, "POST", "/people", form={"name": "Mallory", "units": "metric"})
        assert status in (302, 303, 401) and len(household.people()) == 2  # not logged in
        assert call(addr, "GET", "/person/ann")[0] in (302, 303, 401)
        status, headers, _ = call(addr, "POST", "/login", form={"username": "ana", "password": "roll-slowly-2"})
        cookie = headers["set-cookie"].split(";", 1)[0]
        status, _, _ = call(addr, "POST", "/people", form={"name": "Mallory", "units": "metric"}, cookie=cookie,
                            headers={"Origin": "http://evil.example", "Host": host})
        assert status == 403 and len(household.people()) == 2  # cross-site: refused
        status, _, page = call(addr, "POST", "/people", form={"name": "Cy", "units": "metric"}, cookie=cookie,
                               headers={"Origin": f"http://{host}", "Host": host})
        assert status == 200 and "Added Cy." in page and len(household.people()) == 3
