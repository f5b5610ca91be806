"""Plans (issue 22): the plans table on SQLite and PostgreSQL, and the pure day of a person
with an injected ``today``: what is due, the steps done across tools and the next one, what
was skipped and which muscles wait."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dashboard import plans as pl
from dashboard.store import open_store
from firmware.common.errors import ConfigError
from tests.dashboard.test_people import tagged
from tests.dashboard.test_queries import local_noon

TODAY = date(2026, 3, 20)  # a Friday
FRI, MON = 4, 0
LOWER = pl.known_programs()["lower-body"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'dash.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = open_store(url)
    pl.ensure_plan_tables(s)
    s.set_device_paired("home-roller", True)
    s.set_device_paired("home-stick", True)
    yield s
    s.close()


def rows_at(day: date, *items) -> list[dict]:
    return [{"started_at": local_noon(day), "protocol": p, "program_id": prog, "program_step": step,
             "completed": done} for p, prog, step, done in items]


def test_plans_are_stored_changed_and_removed(store):
    ensure_twice = pl.ensure_plan_tables  # an old store opened again: no error
    ensure_twice(store)
    pl.set_plan(store, "ann", "lower-body", [MON, FRI])
    pl.set_plan(store, "ann", "hips", [2])
    pl.set_plan(store, "bob", "lower-body", [FRI])
    assert [(p["program_id"], p["weekdays"]) for p in pl.plans(store, "ann")] == [("hips", (2,)),
                                                                                  ("lower-body", (0, 4))]
    pl.set_plan(store, "ann", "lower-body", [6], today=TODAY)
    assert pl.plans(store, "ann")[1]["weekdays"] == (6,)
    assert pl.plans(store, "ann")[1]["since"] == date.today()  # a changed plan keeps its day
    pl.set_plan(store, "bob", "hips", [6], today=TODAY)
    assert pl.plans(store, "bob")[0]["since"] == TODAY
    pl.set_plan(store, "ann", "hips", [])
    assert [(p["person_id"], p["program_id"]) for p in pl.plans(store)] == [
        ("ann", "lower-body"), ("bob", "hips"), ("bob", "lower-body")]
    with pytest.raises(ConfigError, match="programme id"):
        pl.set_plan(store, "ann", "Lower Body", [1])
    with pytest.raises(ConfigError, match="is not a day"):
        pl.parse_weekdays(["mon", "funday"])
    assert pl.parse_weekdays(["fri", "Mon", "mon"]) == (0, 4)


def test_a_reminder_is_remembered_once_per_person_and_day(store):
    assert pl.mark_sent(store, "ann", TODAY, "due") is True
    assert pl.mark_sent(store, "ann", TODAY, "due") is False
    assert pl.was_sent(store, "ann", TODAY, "due")
    assert not pl.was_sent(store, "ann", TODAY + timedelta(days=1), "due")
    assert pl.mark_sent(store, "bob", TODAY, "due") is True


def test_progress_across_tools_names_the_next_tool():
    # the roller did both quads (steps 0, 1), the stick the left IT band (2) and a stopped right one
    rows = rows_at(TODAY, ("quads-roller", "lower-body", 0, True), ("quads-roller", "lower-body", 1, True),
                   ("it-band-stick", "lower-body", 2, True), ("it-band-stick", "lower-body", 3, False))
    day = pl.person_day({"id": "ann", "name": "Ann"}, [{"person_id": "ann", "program_id": "lower-body",
                                                        "weekdays": (FRI,)}], {"lower-body": LOWER}, rows, TODAY)
    (p,) = day.due
    assert p.done == (0, 1, 2) and p.next_step.index == 3
    assert p.words() == "Lower body: 3 of 6 steps; next: the stick — IT band, right"
    assert day.not_done == (p,)
    assert day.reminder_text() == "Lower body is due today (3 of 6 steps done; calf not rolled yet)"
    done = rows + rows_at(TODAY, *[(r, "lower-body", i, True) for i, r in
                                  ((3, "it-band-stick"), (4, "calf-stick"), (5, "calf-stick"))])
    day = pl.person_day({"id": "ann"}, day.plans, {"lower-body": LOWER}, done, TODAY)
    assert day.due[0].complete and day.due[0].words() == "Lower body: 6 of 6 steps; all done"
    assert day.reminder_text() == ""


def test_skipped_days_and_neglected_muscles():
    plan = [{"person_id": "ann", "program_id": "lower-body", "weekdays": (MON, FRI)}]
    # last Friday (13th) done in part, Monday (16th) nothing; the calf last rolled on the 12th
    rows = rows_at(TODAY - timedelta(days=7), ("quads-roller", "lower-body", 0, True),
                   ("it-band-stick", "lower-body", 2, True))
    rows += rows_at(TODAY - timedelta(days=8), ("calf-stick", None, None, True))
    rows += rows_at(TODAY - timedelta(days=1), ("quads-roller", None, None, True))
    day = pl.person_day({"id": "ann"}, plan, {"lower-body": LOWER}, rows, TODAY)
    assert [(p.id, d) for p, d in day.skipped] == [("lower-body", date(2026, 3, 16))]
    assert day.skipped_lines() == ["Lower body skipped on Monday 16 Mar"]
    # the longest gap between Monday and Friday is 4 days: IT band (7) and calf (8) wait, quads (1) not
    assert day.neglect_lines() == ["calf not rolled for 8 days", "IT band not rolled for 7 days"]
    assert day.reminder_text() == ("Lower body is due today (calf not rolled for 8 days; "
                                   "IT band not rolled for 7 days)")
    # not planned today (Thursday): nothing due, nothing to remind
    thu = pl.person_day({"id": "ann"}, plan, {"lower-body": LOWER}, rows, TODAY - timedelta(days=1))
    assert thu.due == () and thu.reminder_text() == ""
    # a plan made on Tuesday the 17th: Monday the 16th was not skipped
    new = [{**plan[0], "since": date(2026, 3, 17)}]
    assert pl.person_day({"id": "ann"}, new, {"lower-body": LOWER}, rows, TODAY).skipped == ()


def test_never_rolled_and_a_programme_done_without_a_plan():
    hips = pl.known_programs()["hips"]
    plan = [{"person_id": "ann", "program_id": "lower-body", "weekdays": tuple(range(7))}]
    rows = rows_at(TODAY, ("piriformis-ball", "hips", 0, True))
    day = pl.person_day({"id": "ann"}, plan, {"lower-body": LOWER, "hips": hips}, rows, TODAY)
    assert day.neglect_lines() == ["calf not rolled yet", "IT band not rolled yet", "quads not rolled yet"]
    assert [p.words() for p in day.extra] == [f"Hips: 1 of {len(hips.steps)} steps; next: "
                                              f"{pl.step_words(hips.steps[1])}"]
    assert pl.weekdays_words(range(7)) == "every day" and pl.weekdays_words((0, 4)) == "Monday, Friday"


def test_household_day_reads_the_store(store):
    store.add_person("Ann", 60.0, person_id="ann")
    store.add_person("Bob", 80.0, person_id="bob")
    pl.set_plan(store, "ann", "lower-body", [FRI], today=TODAY - timedelta(days=14))
    for i, (sid, protocol, device) in enumerate((("a0", "quads-roller", "home-roller"),
                                                 ("a1", "quads-roller", "home-roller"))):
        summary = tagged(sid, TODAY, person="ann", protocol=protocol, program_id="lower-body", program_step=i)
        assert store.save_session(device, summary)
    ann, bob = pl.household_day(store, TODAY)
    assert ann.due[0].words() == "Lower body: 2 of 6 steps; next: the stick — IT band, left"
    assert ann.skipped_lines() == ["Lower body skipped on Friday 13 Mar"]
    assert bob.due == () and bob.reminder_text() == ""
