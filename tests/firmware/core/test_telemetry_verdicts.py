"""Telemetry carries the coach's verdicts (issue 19: the dashboard's gauges colour from them,
so they agree with the cue) and, for the calf, both direction bands; for a hold, the window
and the still threshold. A simulated user on the real metrics and coach."""

from __future__ import annotations

from device.sim import sample_block
from firmware.app.replay import iter_blocks
from firmware.app.simulate import scenario
from firmware.app.wiring import sim_calibration
from firmware.core.metrics import MetricsSettings
from firmware.core.protocols import load_routine
from firmware.core.session import Session
from firmware.core.summary import clean_json


def run(protocol: str, name: str, seconds: float = 90.0):
    """(telemetry, last cue) after every 0.1 s block of a simulated user."""
    user = scenario(protocol, name, 1)
    routine = load_routine(protocol)
    session = Session(session_id="t", routine=routine,
                      settings=MetricsSettings(tool=routine.tool, **sim_calibration(user)))
    for block in iter_blocks(sample_block(user, seconds, seed=1), 0.1):
        session.feed(block)
        yield clean_json(session.telemetry())
        if session.finished:
            return


def test_a_too_fast_user_is_high_on_speed_while_the_cue_says_slow_down():
    seen = [(t["cue"], t["speed_state"]) for t in run("quads-roller", "too-fast") if t.get("phase") != "complete"]
    during = {state for cue, state in seen if cue == "slow_down"}
    assert during == {"high"}, during
    assert "ok" in {state for _, state in seen}  # before the first cue: ok, not high


def test_calf_telemetry_has_both_bands_and_the_way_the_stick_goes():
    telemetry = list(run("calf-stick", "good", 30.0))
    last = telemetry[-1]
    assert last["force_band_up_n"] == [100.0, 200.0] and last["force_band_down_n"] == [20.0, 90.0]
    assert {t["direction"] for t in telemetry} >= {"up", "down"}
    assert {t["force_state"] for t in telemetry} >= {"ok"}


def test_hold_telemetry_has_the_window_and_the_still_threshold():
    last = list(run("piriformis-ball", "good", 20.0))[-1]
    assert last["hold_band_s"] == [30.0, 60.0] and last["still_max_mps"] == 0.01
    assert last["speed_state"] is None and "force_band_up_n" not in last
