"""The dashboard's side of issue 22 on SQLite and PostgreSQL: a summary's who / which side /
programme step / soreness are accepted (all optional, types checked) and stored as columns;
a store made by the previous version gets the columns when opened; the people table and its
methods; soreness after; and the queries the pages use: a person's sessions and streak, each
muscle left against right over a date range, and the asymmetries worth noticing."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta

import psycopg
import pytest

from dashboard import queries as q
from dashboard import schema
from dashboard.store import SESSION_TAG_COLUMNS, open_store
from firmware.common.errors import ConfigError, WireError
from tests.dashboard.test_queries import local_noon, summary_payload

TODAY = date(2026, 3, 20)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'dash.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = open_store(url)
    s.set_device_paired("home-roller", True)
    yield s
    s.close()


def tagged(sid: str, day: date, *, person="ann", side="left", protocol="quads-roller", **kw) -> dict:
    summary = summary_payload(sid, started_at=local_noon(day), protocol=protocol,
                              **{k: v for k, v in kw.items() if k in ("duration_s", "passes", "force_mean_n")})
    summary.update(person_id=person, side=side, program_id=kw.get("program_id"),
                   program_step=kw.get("program_step"),
                   soreness={"before": kw.get("before"), "after": None})
    return summary


# ---------------------------------------------------------------- the wire


def test_the_new_fields_are_optional_and_typed():
    base = summary_payload("s1", started_at="2026-01-01T10:00:00.000Z")
    assert schema.parse("session", json.dumps(base).encode())  # an old device's summary
    ok = {**base, "person_id": "ann", "side": "left", "program_id": "lower-body", "program_step": 3,
          "soreness": {"before": 7, "after": None}}
    assert schema.parse("session", json.dumps(ok).encode())["side"] == "left"
    nulls = {**base, "person_id": None, "side": None, "program_id": None, "program_step": None,
             "soreness": {"before": None, "after": None}}
    assert schema.parse("session", json.dumps(nulls).encode())
    for field, bad in (("person_id", "a b"), ("person_id", 7), ("side", "up"), ("program_id", "Lower"),
                       ("program_step", -1), ("program_step", 1.5), ("soreness", {"before": 11}),
                       ("soreness", {"after": "7"}), ("soreness", 5)):
        with pytest.raises(WireError):
            schema.parse("session", json.dumps({**base, field: bad}).encode())


def test_the_summary_view_types_the_new_fields():
    view = schema.summary_view({"person_id": "ann", "side": "right", "program_id": "hips",
                                "program_step": 1, "soreness": {"before": 3, "after": 2}})
    assert (view["person_id"], view["side"], view["program_id"], view["program_step"]) == (
        "ann", "right", "hips", 1)
    assert view["soreness"] == {"before": 3, "after": 2}
    old = schema.summary_view({"person_id": ["x"], "side": "up", "soreness": "sore"})
    assert (old["person_id"], old["side"], old["program_step"]) == (None, None, None)
    assert old["soreness"] == {"before": None, "after": None}


# ---------------------------------------------------------------- the store


def test_the_tags_are_columns_and_an_old_summary_still_stores(store):
    assert store.save_session("home-roller", tagged("s1", TODAY, program_id="lower-body",
                                                    program_step=2, before=6))
    assert store.save_session("home-roller", summary_payload("s2", started_at=local_noon(TODAY)))
    rows = {r["session_id"]: r for r in store.query(
        "SELECT session_id, person_id, side, program_id, program_step, soreness_before, soreness_after "
        "FROM sessions")}
    assert rows["s1"] == {"session_id": "s1", "person_id": "ann", "side": "left", "program_id": "lower-body",
                          "program_step": 2, "soreness_before": 6, "soreness_after": None}
    assert rows["s2"] == {"session_id": "s2", "person_id": None, "side": None, "program_id": None,
                          "program_step": None, "soreness_before": None, "soreness_after": None}
    row = q.session(store, "s1")
    assert (row["person_id"], row["side"], row["program_step"]) == ("ann", "left", 2)
    assert row["soreness"] == {"before": 6, "after": None} == row["summary"]["soreness"]


def test_soreness_after_is_set_on_the_dashboard(store):
    store.save_session("home-roller", tagged("s1", TODAY, before=7))
    assert store.set_soreness_after("s1", 3) is True
    assert q.session(store, "s1")["soreness"] == {"before": 7, "after": 3}
    assert store.set_soreness_after("s1", None) is True
    assert q.session(store, "s1")["soreness"]["after"] is None
    assert store.set_soreness_after("no-such", 3) is False
    for bad in (11, -1, 2.5, "3", True):
        with pytest.raises(ConfigError, match="soreness must be a whole number from 0 to 10"):
            store.set_soreness_after("s1", bad)


def test_people_are_added_listed_and_updated(store):
    ann = store.add_person("Ann", 60.0, person_id="ann")
    assert {k: ann[k] for k in ("id", "name", "body_mass_kg", "units")} == {
        "id": "ann", "name": "Ann", "body_mass_kg": 60.0, "units": "metric"}
    assert ann["created_at"].endswith("Z")
    bo = store.add_person("Bo", units="imperial")
    assert bo["id"].startswith("p-") and bo["body_mass_kg"] is None
    assert [p["name"] for p in store.people()] == ["Ann", "Bo"]
    assert store.update_person("ann", body_mass_kg=62.5, name="Ann B")["body_mass_kg"] == 62.5
    assert store.person("ann")["name"] == "Ann B" and store.person("zed") is None
    with pytest.raises(ConfigError, match="a person with id 'ann' already exists"):
        store.add_person("Another", person_id="ann")
    with pytest.raises(ConfigError, match="^body_mass_kg: must be a number from 20 to 300, or null$"):
        store.add_person("Tiny", 5.0)
    with pytest.raises(ConfigError, match="^units: must be metric, imperial or kgf, not 'stone'$"):
        store.update_person("ann", units="stone")
    with pytest.raises(ConfigError, match=r"^name: must be text of 1 to 40 characters \(no control characters, not only spaces\)$"):
        store.add_person("")
    with pytest.raises(ConfigError, match="a person has no field 'age'"):
        store.update_person("ann", age=40)
    with pytest.raises(KeyError):
        store.update_person("zed", name="Zed")
    assert store.person("ann")["units"] == "metric"  # a refused change changed nothing


# ---------------------------------------------------------------- an old store


OLD_SESSIONS = (  # the sessions table as the store made it before issue 22
    "CREATE TABLE sessions(session_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, protocol TEXT, "
    "tool TEXT, started_at TEXT, duration_s REAL, passes INTEGER, completed INTEGER, "
    "summary_json TEXT NOT NULL, received_at TEXT NOT NULL)")
OLD_ROW = ("INSERT INTO sessions VALUES ('old-1', 'home-roller', 'quads-roller', 'roller', "
           "'2026-03-19T12:00:00.000Z', 61.0, 18, 1, '{\"session_id\": \"old-1\"}', '2026-03-19T12:02:00.000Z')")


def _old_store(request, tmp_path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "old.db"
        with sqlite3.connect(path) as db:
            db.execute(OLD_SESSIONS)
            db.execute(OLD_ROW)
            db.execute("CREATE INDEX sessions_device_started ON sessions(device_id, started_at)")
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(OLD_SESSIONS)
        db.execute(OLD_ROW)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store_url(request, tmp_path):
    return _old_store(request, tmp_path)


def test_a_store_made_by_the_old_schema_gets_the_new_columns(old_store_url):
    store = open_store(old_store_url)
    try:
        columns = store._columns("sessions")
        assert {name for name, _ in SESSION_TAG_COLUMNS} <= columns
        store.set_device_paired("home-roller", True)
        (old,) = q.sessions(store)  # the old row reads, with no person
        assert old["session_id"] == "old-1" and old["person_id"] is None and old["side"] is None
        assert old["soreness"] == {"before": None, "after": None}
        store.save_session("home-roller", tagged("new-1", TODAY, before=5))
        assert [r["person_id"] for r in q.sessions(store)] == ["ann", None]
        assert store.set_soreness_after("old-1", 4) and q.session(store, "old-1")["soreness"]["after"] == 4
        store.add_person("Ann", person_id="ann")
    finally:
        store.close()
    again = open_store(old_store_url)  # opening it again changes nothing
    try:
        assert again.person("ann")["name"] == "Ann" and len(again.query("SELECT * FROM sessions")) == 2
    finally:
        again.close()


# ---------------------------------------------------------------- the queries


def _household(store) -> None:
    """Ann: quads left and right, calves left only; thoracic (no side). Bo: one quads session.
    One session nobody was chosen for."""
    day = TODAY
    rows = [
        tagged("a1", day - timedelta(days=2), side="left", duration_s=60.0, passes=20, force_mean_n=200.0),
        tagged("a2", day - timedelta(days=2), side="right", duration_s=40.0, passes=12, force_mean_n=150.0),
        tagged("a3", day - timedelta(days=1), side="left", duration_s=60.0, passes=20, force_mean_n=100.0),
        tagged("a4", day, side="right", duration_s=80.0, passes=26, force_mean_n=150.0),
        tagged("a5", day, side="left", protocol="calf-stick", duration_s=60.0, passes=15, force_mean_n=90.0),
        tagged("a6", day, side=None, protocol="thoracic-roller", duration_s=90.0, passes=25),
        tagged("a7", day - timedelta(days=40), side="left", duration_s=600.0, passes=200),  # > 4 weeks ago
        tagged("b1", day - timedelta(days=1), person="bo", side="left", duration_s=70.0),
        tagged("n1", day, person=None, side=None, duration_s=30.0),
    ]
    for s in rows:
        store.save_session("home-roller", s)


def test_a_persons_sessions_and_streak(store):
    _household(store)
    assert {r["session_id"] for r in q.person_sessions(store, "ann", since=TODAY - timedelta(days=7))} == {
        "a1", "a2", "a3", "a4", "a5", "a6"}
    assert {r["session_id"] for r in q.person_sessions(store, "ann", since=TODAY, until=TODAY)} == {
        "a4", "a5", "a6"}
    assert [r["session_id"] for r in q.person_sessions(store, "ann", limit=1)] in (["a4"], ["a5"], ["a6"])
    assert [r["session_id"] for r in q.person_sessions(store, None)] == ["n1"]
    assert [r["session_id"] for r in q.sessions(store, person_id="bo")] == ["b1"]
    assert [r["session_id"] for r in q.sessions(store, person_id=q.NO_PERSON)] == ["n1"]
    assert len(q.sessions(store)) == 9  # the all-people view keeps everyone's
    streak = q.person_streak(store, "ann", today=TODAY)
    assert (streak["current_days"], streak["today"]) == (3, True)
    bo = q.person_streak(store, "bo", today=TODAY)
    assert (bo["current_days"], bo["today"]) == (1, False)  # yesterday counts until today ends
    assert q.person_streak(store, "zed", today=TODAY)["current_days"] == 0


def test_each_muscle_left_against_right_over_a_date_range(store):
    _household(store)
    rows = q.muscle_sides(store, "ann", since=TODAY - timedelta(days=27), until=TODAY)
    got = {(r["muscle"], r["side"]): r for r in rows}
    assert list(got) == [("calf (gastrocnemius, soleus)", "left"), ("quadriceps", "left"),
                         ("quadriceps", "right"), ("thoracic paraspinals", None)]
    left, right = got["quadriceps", "left"], got["quadriceps", "right"]
    assert (left["sessions"], left["time_s"], left["passes"]) == (2, 120.0, 40)
    assert left["mean_force_n"] == 150.0  # (200 * 60 + 100 * 60) / 120
    assert (right["sessions"], right["time_s"], right["passes"], right["mean_force_n"]) == (2, 120.0, 38, 150.0)
    assert (left["targets_met"], left["targets_total"]) == (4, 4)
    everything = q.muscle_sides(store, "ann")  # no range: a7 too
    assert next(r for r in everything if r["side"] == "left" and r["muscle"] == "quadriceps")["sessions"] == 3


def test_an_asymmetry_worth_noticing_is_flagged(store):
    _household(store)
    found = {a["muscle"]: a for a in q.asymmetry(store, "ann", today=TODAY)}
    assert set(found) == {"quadriceps", "calf (gastrocnemius, soleus)"}  # the spine has no sides
    quads = found["quadriceps"]
    assert quads["apart"] == {"time_s": 0.0, "passes": 0.05, "mean_force_n": 0.0}
    assert not quads["flagged"] and quads["flags"] == []  # a7 (40 days ago) is outside the 4 weeks
    calves = found["calf (gastrocnemius, soleus)"]
    assert calves["flagged"] and calves["flags"] == ["time_s", "passes"]  # the right calf not rolled
    assert calves["right"]["sessions"] == 0 and calves["apart"]["mean_force_n"] is None
    store.save_session("home-roller", tagged("a8", TODAY, side="left", duration_s=60.0, passes=20,
                                             force_mean_n=150.0))
    quads = {a["muscle"]: a for a in q.asymmetry(store, "ann", today=TODAY)}["quadriceps"]
    assert quads["flagged"] and quads["flags"] == ["time_s", "passes"]  # 180 s against 120 s: 33 % apart
    assert quads["apart"]["time_s"] == pytest.approx(1 / 3, abs=1e-3)


def test_the_people_overview_for_a_clinic(store):
    store.add_person("Ann", 60.0, person_id="ann")
    store.add_person("Bo", 90.0, person_id="bo")
    store.add_person("Cy", person_id="cy")
    _household(store)
    view = {p["id"]: p for p in q.people_overview(store, today=TODAY)}
    assert list(view) == ["ann", "bo", "cy", None]
    assert (view["ann"]["sessions"], view["bo"]["sessions"], view["cy"]["sessions"], view[None]["sessions"]) == (
        7, 1, 0, 1)
    assert view["ann"]["streak"]["current_days"] == 3 and view["cy"]["last_started_at"] is None
    assert view["bo"]["minutes"] == pytest.approx(70 / 60, abs=0.01)
