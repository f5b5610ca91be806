"""The device's people file (issue 22): kept in the state dir, written atomically, the last
person remembered across restarts, a damaged file set aside with one log line (never a
crash); and an interrupted session keeps who rolled and which side."""

from __future__ import annotations

import json
import logging

import pytest

from firmware.core.metrics import MetricsSettings
from firmware.core.protocols import load_routine
from firmware.core.session import Session
from firmware.core.summary import SessionTags
from firmware.edge.journal import Journal
from firmware.edge.people import PEOPLE_FILE, People, Person

ANN = {"id": "ann", "name": "Ann", "body_mass_kg": 60.0, "units": "metric"}
BO = {"id": "bo", "name": "Bo", "body_mass_kg": None, "units": "imperial"}
CY = {"id": "cy", "name": "Cy", "body_mass_kg": 95.5, "units": "metric"}


def test_people_and_the_current_one_survive_a_restart(tmp_path):
    people = People(tmp_path)
    assert len(people) == 0 and people.current is None
    people.replace([ANN, BO])
    assert people.choose("bo") == Person("bo", "Bo", None, "imperial")
    again = People(tmp_path)
    assert [p.to_dict() for p in again.people] == [ANN, BO]
    assert again.current.id == "bo" and again.number("bo") == 2
    assert sorted(x.name for x in tmp_path.iterdir()) == [PEOPLE_FILE]  # no temp file left
    assert (tmp_path / PEOPLE_FILE).stat().st_mode & 0o777 == 0o600
    data = json.loads((tmp_path / PEOPLE_FILE).read_text())
    assert data == {"version": 1, "people": [ANN, BO], "current": "bo"}


def test_replace_keeps_the_current_person_while_listed(tmp_path):
    people = People(tmp_path)
    people.replace([ANN, BO])
    people.choose("ann")
    people.replace([BO, ANN])  # reordered: still Ann
    assert people.current.id == "ann" and people.number("ann") == 2
    people.replace([BO])  # Ann removed: nobody chosen
    assert people.current is None
    people.replace([ANN, BO], "bo", keep_current=False)
    assert People(tmp_path).current.id == "bo"
    with pytest.raises(KeyError):
        people.choose("zed")
    assert people.choose(None) is None and People(tmp_path).current is None


def test_cycling_goes_round_and_says_the_number(tmp_path):
    people = People(tmp_path)
    assert people.cycle() is None
    people.replace([ANN, BO, CY])
    got = [people.cycle() for _ in range(4)]
    assert [(n, p.id) for n, p in got] == [(1, "ann"), (2, "bo"), (3, "cy"), (1, "ann")]
    assert People(tmp_path).current.id == "ann"


@pytest.mark.parametrize("text", [
    "{not json", "[]", '{"people": 3}', '{"people": [{"id": "a b", "name": "x"}]}',
    '{"people": [{"id": "a", "name": "x"}, {"id": "a", "name": "y"}]}', "\udcff",
])
def test_a_damaged_file_is_set_aside_with_one_log_line(tmp_path, caplog, text):
    path = tmp_path / PEOPLE_FILE
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with caplog.at_level(logging.WARNING, logger="rollsense.people"):
        people = People(tmp_path)
    assert len(people) == 0 and people.current is None
    assert people.set_aside.read_bytes() == text.encode("utf-8", "surrogateescape")  # kept whole
    assert not path.exists()
    lines = [r.getMessage() for r in caplog.records if r.name == "rollsense.people"]
    assert len(lines) == 1 and "moved it aside" in lines[0], lines
    people.replace([ANN])  # and the device goes on: a new file
    assert [p.id for p in People(tmp_path).people] == ["ann"]


def test_a_current_person_no_longer_listed_is_nobody(tmp_path):
    (tmp_path / PEOPLE_FILE).write_text(json.dumps({"version": 1, "people": [ANN], "current": "zed"}))
    people = People(tmp_path)
    assert [p.id for p in people.people] == ["ann"] and people.current is None


def test_a_failed_write_is_one_line_and_the_people_stay_in_memory(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state dir should be")
    people = People(blocker)  # reading: absent (a file's child); writing: fails
    with caplog.at_level(logging.WARNING, logger="rollsense.people"):
        people.replace([ANN, BO])
    assert [p.id for p in people.people] == ["ann", "bo"]
    assert len([r for r in caplog.records if "not written" in r.getMessage()]) == 1


def test_without_a_state_dir_people_live_in_memory():
    people = People(None)
    people.replace([ANN, BO])
    assert people.cycle()[1].id == "ann" and people.path is None


def _journal_with_running_session(path, *, checkpoint: bool) -> Journal:
    journal = Journal(path)
    tags = SessionTags(person_id="ann", side="right", program_id="lower-body", program_step=1,
                       soreness_before=6)
    journal.start_session("run1", "quads-roller", "roller", "2026-01-01T10:00:00.000Z")
    journal.record_event("run1", {"event_type": "session_started", "t_s": 0.0,
                                  "protocol": "quads-roller", **tags.fields()})
    if checkpoint:
        session = Session(session_id="run1", routine=load_routine("quads-roller"),
                          settings=MetricsSettings(tool="roller"), tags=tags)
        journal.checkpoint("run1", session.checkpoint())
    journal.flush()
    return journal


@pytest.mark.parametrize("checkpoint", [False, True])
def test_a_power_cut_keeps_who_and_which_side(tmp_path, checkpoint):
    """Recovered from the last checkpoint, or (cut before the first one) from the
    session_started event the loop writes at once."""
    _journal_with_running_session(tmp_path / "j.db", checkpoint=checkpoint).close()
    journal = Journal(tmp_path / "j.db")  # the next start
    try:
        (sid,) = journal.recover_interrupted("power loss")
        summary = journal.session(sid)["summary"]
    finally:
        journal.close()
    assert summary["interrupted"] == "power loss" and summary["completed"] is False
    assert (summary["person_id"], summary["side"], summary["program_id"], summary["program_step"]) == (
        "ann", "right", "lower-body", 1)
    assert summary["soreness"] == {"before": 6, "after": None}


def test_an_interrupted_session_without_tags_has_them_null(tmp_path):
    journal = Journal(tmp_path / "j.db")
    journal.start_session("old", "quads-roller", "roller", "2026-01-01T10:00:00.000Z")
    journal.flush()
    journal.close()
    journal = Journal(tmp_path / "j.db")
    try:
        (sid,) = journal.recover_interrupted("power loss")
        summary = journal.session(sid)["summary"]
    finally:
        journal.close()
    assert summary["person_id"] is None and summary["side"] is None
    assert summary["soreness"] == {"before": None, "after": None}
