"""``rollsense calibrate show``: every section in words, missing ones with the command to run."""

from __future__ import annotations

import io

import pytest

from calibration.show import show_calibration
from calibration.store import save_calibration
from firmware.common.errors import ConfigError
from tests.calibration.test_store import FULL


def test_show_full(tmp_path):
    path = tmp_path / "calibration.json"
    save_calibration(path, FULL)
    save_calibration(path, FULL)
    out = io.StringIO()
    assert show_calibration(path, out) == 0
    text = out.getvalue()
    assert f"calibration {path}: revision 2" in text
    assert "gyro    bias [+0.01000, -0.02000, +0.03000] rad/s (max 1.72 deg/s)" in text
    assert "axis    [+0.000, +1.000, +0.000], up = - rotation" in text
    assert "radius  74.0 mm (roller) from 0.5 m" in text
    assert "force   linear: F = 0.049 N/counts x (raw - 8000)" in text
    assert "force   linear: F = 0.049 N/counts x (raw - 8000); fit RMS 0.30 N, worst 1.0% over 2 weights," in text
    assert "history 1 previous version: calibration.json.1" in text
    save_calibration(path, FULL)
    out = io.StringIO()
    show_calibration(path, out)
    assert "history 2 previous versions: calibration.json.1, calibration.json.2" in out.getvalue()


def test_show_partial_and_missing(tmp_path):
    path = tmp_path / "calibration.json"
    out = io.StringIO()
    assert show_calibration(path, out) == 0
    assert "none yet; start with: rollsense calibrate gyro" in out.getvalue()
    from calibration.store import Calibration

    save_calibration(path, Calibration(gyro=FULL.gyro))
    out = io.StringIO()
    show_calibration(path, out)
    assert "axis    not calibrated: rollsense calibrate axis" in out.getvalue()
    assert "force   not calibrated: rollsense calibrate force --weights-kg" in out.getvalue()


def test_show_bad_file(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text('{"format": "nope"}')
    with pytest.raises(ConfigError, match="format: must be"):
        show_calibration(path, io.StringIO())
