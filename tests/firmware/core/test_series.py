"""The summary's per-second series (firmware/core/series.py): one point per second of sensor
time, means of the Blocks in it, gaps left as gaps, bounded size; and a whole routine's
series through Session, as the device and `rollsense replay` build it."""

from __future__ import annotations

import json
import math

import pytest

from firmware.common.wire import dumps
from firmware.core.series import MAX_POINTS, SeriesBuilder
from tests.firmware.core.test_session import replay


def test_one_point_per_second_with_the_means_of_its_blocks_and_the_last_position_and_phase():
    b = SeriesBuilder()
    for i in range(100):  # 4 s of 40 ms Blocks from sensor time 10 s
        t = 10.0 + 0.04 * i
        b.add(t, 0.01 * (t // 1 - 9), 100.0 + (t // 1 - 10), 0.001 * i, "ready" if t < 11 else "active")
    s = b.to_json()
    assert s["t0_s"] == 10.0 and s["period_s"] == 1
    assert s["t_s"] == [0, 1, 2, 3]
    assert s["speed_mps"] == [0.01, 0.02, 0.03, 0.04]
    assert s["force_n"] == [100.0, 101.0, 102.0, 103.0]
    assert s["position_m"][-1] == pytest.approx(0.099)
    assert [s["phases"][k] for k in s["phase"]] == ["ready", "active", "active", "active"]


def test_a_sensor_gap_leaves_seconds_out_and_missing_force_is_null():
    b = SeriesBuilder()
    for t in (0.0, 0.5, 1.0, 5.2, 6.1):
        b.add(t, 0.05, math.nan, 0.1, "active")
    s = b.to_json()
    assert s["t_s"] == [0, 1, 5, 6]
    assert s["force_n"] == [None] * 4


def test_to_json_includes_the_open_second_and_does_not_change_the_builder():
    b = SeriesBuilder()
    b.add(0.0, 0.05, 10.0, 0.0, "active")
    b.add(0.5, 0.07, 20.0, 0.01, "active")
    assert b.to_json()["speed_mps"] == [0.06]
    b.add(0.9, 0.09, 30.0, 0.02, "active")
    assert b.to_json()["speed_mps"] == [0.07]


def test_a_long_session_halves_its_rate_and_stays_small():
    b = SeriesBuilder()
    for i in range(int(2 * 3600 / 0.04)):  # two hours of 40 ms Blocks, busy values
        t = 0.04 * i
        b.add(t, 0.123456 + (i % 7) * 0.01, 234.5678 + i % 13, -0.345678 + (i % 50) * 0.001, "active")
    s = b.to_json()
    assert len(s["t_s"]) <= MAX_POINTS and s["period_s"] == 4
    assert s["t_s"][-1] >= 2 * 3600 - 8
    assert len({len(s[k]) for k in ("t_s", "speed_mps", "force_n", "position_m", "phase")}) == 1
    assert len(json.dumps(s, separators=(",", ":"))) < 60_000


def test_a_30_minute_series_is_well_under_the_dashboards_session_limit():
    from dashboard.schema import MAX_BYTES

    b = SeriesBuilder()
    for i in range(int(1800 / 0.04)):
        t = 0.04 * i
        b.add(t, 0.123456, 234.5678, -0.345678, "active")
    s = b.to_json()
    assert len(s["t_s"]) == 1800 and s["period_s"] == 1
    assert len(json.dumps(s, separators=(",", ":"))) < MAX_BYTES["session"] / 2


def test_a_routines_summary_carries_the_whole_series_and_its_passes():
    summary = replay("quads-roller")
    s = summary["series_1hz"]
    assert s["t_s"][0] == 0 and s["t_s"][-1] >= summary["duration_s"] - 2
    assert len(s["t_s"]) >= summary["duration_s"] - 2  # no gaps in simulated data
    assert "active" in s["phases"]
    assert max(v for v in s["speed_mps"] if v is not None) > 0.02
    passes = summary["pass_list"]
    assert len(passes["length_m"]) == summary["passes"] > 5
    assert sum(passes["length_m"]) == pytest.approx(summary["distance_m"], abs=0.01)
    assert set(passes["direction"]) <= {-1, 0, 1}
    json.dumps(summary, allow_nan=False)


def test_replay_json_carries_the_series_and_the_pass_list(tmp_path, capsys):
    from firmware.app.cli import main

    rec = tmp_path / "quads.csv"
    assert main(["simulate", "--protocol", "quads-roller", "--out", str(rec)]) == 0
    capsys.readouterr()
    assert main(["replay", str(rec), "--protocol", "quads-roller", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    s = summary["series_1hz"]
    assert s["period_s"] == 1 and s["t_s"][-1] >= summary["duration_s"] - 2
    assert len({len(s[k]) for k in ("t_s", "speed_mps", "force_n", "position_m", "phase")}) == 1
    assert len(summary["pass_list"]["length_m"]) == summary["passes"] > 0
    # the dashboard accepts it as it is
    from dashboard.schema import parse

    assert parse("session", json.dumps(summary).encode())["series_1hz"]["t_s"] == s["t_s"]


def test_the_dashboard_refuses_a_malformed_or_oversized_series():
    from dashboard.schema import parse
    from firmware.common.errors import WireError

    base = {"session_id": "s1", "protocol": "quads-roller", "tool": "roller", "duration_s": 10.0, "completed": True}
    ok = {**base, "series_1hz": {"t_s": [0, 1], "speed_mps": [0.05, None], "phase": [0, 0], "phases": ["active"]}}
    assert parse("session", json.dumps(ok).encode())["series_1hz"]["speed_mps"] == [0.05, None]
    for bad in ({"t_s": [0, "1"]}, {"t_s": list(range(MAX_POINTS + 1))}, {"t_s": [0], "phase": [-1]}):
        with pytest.raises(WireError):
            parse("session", json.dumps({**base, "series_1hz": bad}).encode())
    with pytest.raises(WireError):
        parse("session", json.dumps({**base, "pass_list": {"direction": [2]}}).encode())


@pytest.mark.parametrize("period_s", [1.0, 0.5, 0.3])
def test_the_encoded_series_is_the_same_json_at_every_step_and_through_halvings(period_s):
    b = SeriesBuilder(period_s=period_s, max_points=20)
    for i in range(2000):  # halves several times; gaps, null force and positions, new phases
        t = 0.04 * i + (3.0 if i > 700 else 0.0)
        force = math.nan if i % 97 < 30 else 100.0 + i % 13
        position = math.nan if i < 40 else -0.3 + (i % 50) * 0.001
        b.add(t, 0.123456 + (i % 7) * 0.01, force, position, ("ready", "active", "paused")[(i // 300) % 3])
        if i % 7 == 0 or i > 1990:
            assert dumps(b.to_json(encoded=True)) == dumps(b.to_json())
    assert b.period_s >= period_s * 8  # halved three times at least
