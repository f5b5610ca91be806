"""The simulator's app side (firmware/app/simulate.py): ``rollsense simulate`` files (recording
plus ground truth, never overwritten) and simulated users for any routine, a user's own too."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device.sim import ACCEL_LSB_M_S2, GYRO_LSB_RAD_S, sample_block
from firmware.app.simulate import protocol_sim_for, scenario, scenario_for, simulate_to_file
from firmware.common.errors import ConfigError
from firmware.core.protocols import ROUTINES_DIR, load_routine
from firmware.edge.recording import read_recording


def test_simulate_to_file_writes_recording_and_truth_and_never_overwrites(tmp_path):
    out = tmp_path / "calf.csv.gz"
    rec_path, truth_path = simulate_to_file("calf-stick", "reversed", 11, out, rate_hz=500)
    assert truth_path == tmp_path / "calf.csv.gz.truth.json"
    rec = read_recording(rec_path)
    truth = json.loads(truth_path.read_text())
    assert rec.meta["tool"] == "stick" and rec.meta["radius_m"] == 0.015
    assert rec.meta["up"] == 1 and len(rec.meta["axis"]) == 3
    assert (rec.meta["seed"], rec.meta["scenario"], rec.meta["protocol"]) == (
        "11",
        "reversed",
        "calf-stick",
    )
    assert truth["scenario"] == "reversed" and truth["pass_count"] == len(truth["passes"])
    assert 1 / np.median(np.diff(rec.block.t_s)) == pytest.approx(500, rel=0.01)
    lsb = rec.block.gyro_rad_s / GYRO_LSB_RAD_S
    assert np.abs(lsb - np.round(lsb)).max() < 0.01  # quantised (to the file's precision)
    acc = rec.block.accel_m_s2 / ACCEL_LSB_M_S2
    assert np.abs(acc - np.round(acc)).max() < 0.01
    before = out.read_bytes()
    with pytest.raises(ConfigError, match="overwrite"):
        simulate_to_file("calf-stick", "good", 12, out)
    assert out.read_bytes() == before
    out.unlink()
    with pytest.raises(ConfigError, match="overwrite"):  # the truth file is protected too
        simulate_to_file("calf-stick", "good", 12, out)


def test_scenario_for_a_built_in_routine_is_its_scenario():
    a = sample_block(scenario_for(load_routine("calf-stick"), "reversed", 4), 100.0)
    b = sample_block(scenario("calf-stick", "reversed", 4), 100.0)
    np.testing.assert_array_equal(a.gyro_rad_s, b.gyro_rad_s)
    np.testing.assert_array_equal(a.force_n, b.force_n)


def test_a_user_routine_is_simulated_from_the_same_tool_and_kind_scaled(tmp_path):
    calf = (ROUTINES_DIR / "calf-stick.toml").read_text()
    (tmp_path / "my-calves.toml").write_text(calf.replace("tool = \"stick\"", "tool = \"roller\"")
                                             .replace("radius_m = 0.015", "radius_m = 0.05"))
    routine = load_routine("my-calves", tmp_path)
    p = protocol_sim_for(routine)
    assert (p.tool, p.radius_m, p.mode) == ("roller", 0.05, "roll")
    assert p.force_up_n > p.force_down_n  # direction-dependent force, as the calf-stick one
    lo_up, hi_up = routine.force_band_n(None, +1).lo, routine.force_band_n(None, +1).hi
    assert lo_up <= p.force_up_n <= hi_up
    user = scenario_for(routine, "good", 2)
    assert user.tool == "roller" and user.radius_m == 0.05 and user.meta["protocol"] == "my-calves"
    truth = user.truth
    band = routine.targets.pass_length_m
    assert all(band.lo <= q["length_m"] <= band.hi for q in truth["passes"])
    with pytest.raises(ConfigError, match="unknown scenario"):
        scenario_for(routine, "sloppy", 1)
