"""The prescriptions a device keeps (issue 23): per person in the state dir, written whole,
read back after a restart, never rolled back by an older version, a damaged file left out."""

from __future__ import annotations

import json

import pytest

from firmware.common.errors import CommandRejected, ConfigError
from firmware.core.prescription import base_routine_dict, with_overrides
from firmware.edge.prescriptions import Prescriptions


def payload(version: int, pass_s=(1.0, 2.0), person: str = "ann") -> dict:
    quads = with_overrides(base_routine_dict("quads-roller"), {"targets.speed.pass_s": list(pass_s)})
    return {"person": person, "version": version, "by": "Dr Lee", "program": "lower-body",
            "routines": {"quads-roller": quads}}


def test_kept_in_the_state_dir_and_read_back_after_a_restart(tmp_path):
    rx = Prescriptions(tmp_path)
    assert rx.store(payload(2)) == {"person": "ann", "version": 2, "routines": ["quads-roller"],
                                    "program": "lower-body"}
    path = tmp_path / "prescriptions" / "ann.json"
    assert json.loads(path.read_text())["routines"]["quads-roller"]["targets"]["speed"]["pass_s"] == [1.0, 2.0]
    assert [p.name for p in path.parent.iterdir()] == ["ann.json"]  # no temp file left behind
    again = Prescriptions(tmp_path)
    assert again.versions() == {"ann": 2}
    assert again.get("ann").routines["quads-roller"].targets.speed.pass_s.as_list() == [1.0, 2.0]


def test_an_older_version_is_refused_and_the_same_one_is_answered(tmp_path):
    rx = Prescriptions(tmp_path)
    rx.store(payload(3))
    with pytest.raises(CommandRejected, match="ann already follows version 3; version 2 is older"):
        rx.store(payload(2, pass_s=(3.0, 4.0)))
    assert rx.store(payload(3))["version"] == 3
    assert rx.get("ann").routines["quads-roller"].targets.speed.pass_s.as_list() == [1.0, 2.0]


def test_a_bad_routine_is_refused_with_its_lines_and_nothing_is_kept(tmp_path):
    rx = Prescriptions(tmp_path)
    with pytest.raises(ConfigError) as e:
        rx.store(payload(1, pass_s=(5.0, 4.0)))
    assert e.value.problems == ["quads-roller.toml: targets.speed.pass_s: low 5 > high 4"]
    assert rx.get("ann") is None and not (tmp_path / "prescriptions" / "ann.json").exists()


def test_a_damaged_file_is_left_out_and_the_rest_are_read(tmp_path, caplog):
    Prescriptions(tmp_path).store(payload(1))
    (tmp_path / "prescriptions" / "bob.json").write_text("{not json")
    rx = Prescriptions(tmp_path)
    assert rx.versions() == {"ann": 1}
    assert "bob.json left out" in caplog.text
