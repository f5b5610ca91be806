"""Issue 5: a condition in sensor time reaches its cue within 50 ms over the whole
sampler -> metrics -> coach path (simulated user, fake chips, real drivers, Sampler,
CoachingLoop loop). What is measured for each cue is documented in bench/latency.py.

Seeds 1 and 3 of the benchmark's three, two trials each, to keep the test short; seed 3's
first lift-off was the worst case (58 ms) while the Sampler's drains slipped to 60 ms."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import latency  # noqa: E402


@pytest.fixture(scope="module")
def measured():
    return latency.measure_cue_latency(rates_hz=(1000, 200), seeds=(1, 3), trials=2)


@pytest.mark.parametrize("rate_hz", [1000, 200])
@pytest.mark.parametrize("cue", latency.CONDITIONS)
def test_cue_within_50_ms(measured, rate_hz, cue):
    rate = next(r for r in measured["rates"] if r["rate_hz"] == rate_hz)
    rows = rate["conditions"][cue]["rows"]
    assert rows, f"no {cue} trial at {rate_hz} Hz"
    for row in rows:
        assert row["found"], f"{cue} never cued for the condition at t0={row['t0_s']} s"
        assert row["latency_ms"] <= latency.GOAL_CUE_MS, row


def test_over_pressure_waits_for_the_limit():
    """Control: the same user without the injected force never hears over_pressure."""
    from firmware.app.simulate import scenario

    cues, _ = latency.run_device(latency.Injected(scenario("quads-roller", "good", 1)),
                                 "quads-roller", 200, 30.0)
    assert cues, "the device loop produced no cues at all"
    assert not [c for c in cues if c["name"] == "over_pressure"]
