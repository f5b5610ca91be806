"""Issue 5: a condition in sensor time reaches its cue within 50 ms over the whole
sampler -> metrics -> coach path (simulated user, fake chips, real drivers, Sampler,
CoachingLoop loop). What is measured for each cue is documented in bench/latency.py.

Four of the benchmark's ten seeds, two trials each, to keep the test short: each seed's chip
runs off nominal (within the MPU-6050's ±1 %), so its frames drift across the loop's polls
as a real chip's do (a chip at exactly its nominal rate measured one phase only)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import latency  # noqa: E402


@pytest.fixture(scope="module")
def measured():
    return latency.measure_cue_latency(rates_hz=(1000, 200), seeds=(1, 2, 3, 9), trials=2)


def test_the_chips_clocks_are_off_nominal_and_out_of_phase():
    clocks = [latency.chip_clock(seed) for seed in (1, 2, 3, 9)]
    assert all(0 < abs(ppm) <= latency.CHIP_RATE_TOLERANCE_PPM for ppm, _ in clocks)
    assert len({round(phase, 4) for _, phase in clocks}) == 4


@pytest.mark.parametrize("rate_hz", [1000, 200])
@pytest.mark.parametrize("cue", latency.CONDITIONS)
def test_cue_within_50_ms(measured, rate_hz, cue):
    rate = next(r for r in measured["rates"] if r["rate_hz"] == rate_hz)
    rows = rate["conditions"][cue]["rows"]
    assert rows, f"no {cue} trial at {rate_hz} Hz"
    for row in rows:
        assert row["found"], f"{cue} never cued for the condition at t0={row['t0_s']} s"
        assert row["latency_ms"] <= latency.GOAL_CUE_MS, row


@pytest.mark.parametrize("rate_hz", [1000, 200])
def test_over_pressure_is_performed_within_50_ms_on_the_loop_clock(measured, rate_hz):
    """The immediate-safety cue, timed when the loop performed it (what the user hears): at
    200 Hz with one FIFO read per 40 ms drain too (issue 25)."""
    rate = next(r for r in measured["rates"] if r["rate_hz"] == rate_hz)
    for row in rate["conditions"]["over_pressure"]["rows"]:
        assert row["found"] and row["poll_ms"] <= latency.GOAL_CUE_MS, row


def test_over_pressure_waits_for_the_limit():
    """Control: the same user without the injected force never hears over_pressure."""
    from firmware.app.simulate import scenario

    cues, _ = latency.run_device(latency.Injected(scenario("quads-roller", "good", 1)),
                                 "quads-roller", 200, 30.0)
    assert cues, "the device loop produced no cues at all"
    assert not [c for c in cues if c["name"] == "over_pressure"]
