"""The calibration file: round trip, atomic versioned writes with history, one clear line per bad file."""

from __future__ import annotations

import json
import os

import pytest

from calibration.store import (
    FORMAT,
    HISTORY_KEEP,
    AxisCalibration,
    Calibration,
    ForceCalibration,
    GyroCalibration,
    RadiusCalibration,
    RawForce,
    history_paths,
    load_calibration,
    metrics_overrides,
    save_calibration,
)
from firmware.common.errors import ConfigError

FULL = Calibration(
    gyro=GyroCalibration((0.01, -0.02, 0.03), 0.0011, 5.0, "2026-01-01T00:00:00Z"),
    axis=AxisCalibration((0.0, 1.0, 0.0), -1, 0.99, -3.2, "2026-01-01T00:01:00Z"),
    radius=RadiusCalibration(0.074, 0.5, 6.75, "roller", "2026-01-01T00:02:00Z"),
    force=ForceCalibration("linear", "counts", 8000.0, 0.3, 0.01, ((9000.0, 49.0), (10000.0, 98.1)),
                           scale_n_per_raw=0.049),
)


def test_round_trip_and_revisions(tmp_path):
    path = tmp_path / "calibration.json"
    first = save_calibration(path, FULL)
    assert first.revision == 1 and first.saved_at.endswith("Z")
    loaded = load_calibration(path)
    assert loaded == first
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT and doc["axis"]["up_sign"] == -1
    second = save_calibration(path, Calibration(gyro=FULL.gyro))
    assert second.revision == 2
    assert load_calibration(path).axis is None


def test_file_is_readable_by_the_daemon_user(tmp_path):
    path = tmp_path / "calibration.json"
    save_calibration(path, FULL)
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o640)  # an admin's choice of mode is kept
    save_calibration(path, FULL)
    assert path.stat().st_mode & 0o777 == 0o640


def test_previous_versions_are_kept(tmp_path):
    path = tmp_path / "calibration.json"
    for i in range(HISTORY_KEEP + 3):
        save_calibration(path, Calibration(radius=RadiusCalibration(0.01 + i / 100, 0.5, 1.0)))
    hist = history_paths(path)
    assert len(hist) == HISTORY_KEEP
    assert [p.name for p in hist[:2]] == ["calibration.json.1", "calibration.json.2"]
    assert load_calibration(path).revision == HISTORY_KEEP + 3
    assert [load_calibration(p).revision for p in hist] == list(range(HISTORY_KEEP + 2, 2, -1))
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temp files left


def test_write_is_atomic_when_the_disk_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "calibration.json"
    save_calibration(path, FULL)
    before = path.read_bytes()

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        save_calibration(path, Calibration())
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["calibration.json"]


def test_metrics_overrides():
    assert metrics_overrides(FULL) == {"gyro_bias_rad_s": (0.01, -0.02, 0.03), "axis_xyz": (0.0, 1.0, 0.0),
                                       "up_sign": -1, "radius_m": 0.074}
    assert metrics_overrides(Calibration()) == {}


def test_missing_file(tmp_path):
    assert load_calibration(tmp_path / "none.json", missing_ok=True) == Calibration()
    with pytest.raises(ConfigError, match=r"none.json: no calibration file; run `rollsense calibrate gyro`"):
        load_calibration(tmp_path / "none.json")


def test_force_calibration_fits_the_driver_hook():
    f = FULL.force
    assert f.newtons(8000.0 + 1000.0) == pytest.approx(49.0)
    assert RawForce().newtons(1.234) == 1.234


def good_doc() -> dict:
    return json.loads(json.dumps({
        "format": FORMAT, "revision": 2, "saved_at": "x",
        "gyro": {"bias_rad_s": [0.01, 0.0, 0.0], "noise_rad_s": 0.001, "duration_s": 5.0},
        "axis": {"axis_xyz": [0, 1, 0], "up_sign": 1, "planarity": 0.99, "rotation_rad": 3.0},
        "radius": {"radius_m": 0.075, "distance_m": 0.5, "rotation_rad": 6.6, "tool": None},
        "force": {"model": "fsr-power", "raw_unit": "V", "tare_raw": 0.0, "fit_rms_n": 0.2,
                  "fit_max_rel": 0.01, "points": [[1.0, 10.0], [2.0, 30.0]], "a": 1e4, "b": 1.2,
                  "supply_v": 3.3, "divider_ohm": 1000.0},
    }))


def mutate(path: str, value):
    doc = good_doc()
    *parents, key = path.split(".")
    target = doc
    for p in parents:
        target = target[p]
    if value is KeyError:
        del target[key]
    else:
        target[key] = value
    return json.dumps(doc)


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("[]", "must be a JSON object"),
    (mutate("format", "rollsense-calibration/2"),
     "format: must be 'rollsense-calibration/1' (got 'rollsense-calibration/2')"),
    (mutate("extra", 1), "extra: unknown key"),
    (mutate("revision", -1), "revision: must be a non-negative integer (got -1)"),
    (mutate("gyro.bias_rad_s", [0.1, 0.2]), "gyro.bias_rad_s: must be 3 numbers [x, y, z] (got [0.1, 0.2])"),
    (mutate("gyro.bias_rad_s", [0.1, "a", 0]), "gyro.bias_rad_s: must be a finite number (got 'a')"),
    (mutate("gyro.bias_rad_s", [3.0, 0, 0]), "gyro.bias_rad_s: over 1 rad/s is not a gyro bias (got [3.0, 0, 0])"),
    (mutate("gyro.noise_rad_s", KeyError), "gyro.noise_rad_s: missing"),
    (mutate("gyro.colour", "red"), "gyro.colour: unknown key"),
    (mutate("axis.axis_xyz", [0, 2, 0]), "axis.axis_xyz: must be a unit vector (got length 2.0000)"),
    (mutate("axis.up_sign", 0), "axis.up_sign: must be one of 1, -1 (got 0)"),
    (mutate("axis.up_sign", True), "axis.up_sign: must be one of 1, -1 (got True)"),
    (mutate("radius.radius_m", 0.0), "radius.radius_m: must be positive (got 0.0)"),
    (mutate("radius.radius_m", 0.9), "radius.radius_m: must be between 0.0 and 0.5 (got 0.9)"),
    (mutate("radius", [1]), "radius: must be an object (got [1])"),
    (mutate("radius.tool", "wheel"), "radius.tool: must be one of roller, ball, stick (got 'wheel')"),
    (mutate("force.model", "cubic"), "force.model: must be one of linear, fsr-power (got 'cubic')"),
    (mutate("force.a", KeyError), "force.a: required for model 'fsr-power'"),
    (mutate("force.points", [[1.0]]), "force.points: must be a list of [raw, force_n] pairs (got [[1.0]])"),
    (mutate("force.fit_rms_n", float("nan")), "force.fit_rms_n: must be a finite number (got nan)"),
])
def test_bad_file_one_clear_line(tmp_path, text, message):
    path = tmp_path / "calibration.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_calibration(path)
    assert str(e.value) == f"{path}: {message}"


def test_good_doc_loads(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(good_doc()))
    cal = load_calibration(path)
    assert cal.force.model == "fsr-power" and cal.radius.tool is None and cal.revision == 2


def test_saving_never_replaces_a_corrupt_file(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text("{ not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        save_calibration(path, FULL)
    assert path.read_text() == "{ not json"
