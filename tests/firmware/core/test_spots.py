"""The summary's ``spots`` (issue 23) on an independent motion model (tests/physics/linger.py):
a person who slows down over two spots gives two dwell peaks (per visit) and two speed dips at
those positions, within a bin; the same answer streamed in Blocks of any size as whole."""

from __future__ import annotations

import math

import numpy as np
import pytest

from device.sim import sample_blocks
from firmware.app.simulate import scenario
from firmware.common.model import Block
from firmware.core.metrics import MetricsEngine, MetricsSettings
from firmware.core.metrics.spots import (
    BIN_M,
    FINE_M,
    MAX_FINE,
    S_DT,
    S_ENTRIES,
    S_FORCE_DT,
    S_FORCE_T,
    S_SPEED_DT,
    SpotBins,
)
from tests.physics.linger import Linger, dwell_truth, linger_session
from tests.physics.roller import RollSpec, sense

SPEC = RollSpec(tool="roller", radius_m=0.075, rate_hz=400.0, force_mean_n=200.0, seed=3)
LINGER = Linger(spots_m=(0.08, 0.17))


@pytest.fixture(scope="module")
def session():
    return linger_session(SPEC, LINGER)


def spots_of(block: Block, *, up_known: bool = True, step: int | None = None) -> dict:
    settings = MetricsSettings(tool="roller", radius_m=0.075,
                               axis_xyz=SPEC.axis_xyz if up_known else None,
                               up_sign=1 if up_known else None)
    engine = MetricsEngine(settings)
    n = len(block.t_s)
    step = step or n
    for i in range(0, n, step):
        sl = slice(i, i + step)
        engine.update(Block(block.t_s[sl], block.gyro_rad_s[sl], block.accel_m_s2[sl], block.force_n[sl]))
    engine.finish()
    return engine.summary()["spots"]


def peaks(bins: list[dict], key, count: int = 2) -> list[float]:
    """x_m of the `count` highest local maxima of key(bin) over the bins inside the passes."""
    inner = [b for b in bins if 0.02 < b["x_m"] < 0.22]
    vals = [key(b) for b in inner]
    local = [i for i in range(len(inner))
             if (i == 0 or vals[i] >= vals[i - 1]) and (i == len(inner) - 1 or vals[i] >= vals[i + 1])]
    local.sort(key=lambda i: -vals[i])
    return sorted(inner[i]["x_m"] for i in local[:count])


def test_two_spots_give_two_dwell_peaks_and_speed_dips_within_a_bin(session):
    block, truth = session
    spots = spots_of(block)
    assert spots["origin"] == "pass_start" and spots["bin_m"] == BIN_M
    per_visit = peaks(spots["bins"], lambda b: b["dwell_s"] / max(b["visits"], 1))
    dwell = peaks(spots["bins"], lambda b: b["dwell_s"])
    slow = peaks(spots["bins"], lambda b: -b["speed_mps"])
    for found in (per_visit, dwell, slow):
        assert len(found) == 2
        for x, want in zip(found, truth["spots_m"], strict=True):
            assert abs(x - want) <= BIN_M, (found, truth["spots_m"])
    # the dwell per bin is the motion's (time over each bin), within the bin-edge blur
    want = dwell_truth(LINGER, BIN_M)
    got = {b["x_m"]: b["dwell_s"] for b in spots["bins"]}
    for x in (0.075, 0.165):
        assert got[x] == pytest.approx(want[x], rel=0.25)
    # every pass visits the bins below the lowest turnaround
    assert all(b["visits"] == pytest.approx(2 * len(LINGER.tops_m), abs=2)
               for b in spots["bins"] if 0.03 < b["x_m"] < 0.22)
    assert all(b["force_n"] == pytest.approx(SPEC.force_mean_n, abs=30) for b in spots["bins"]
               if 0.03 < b["x_m"] < 0.22)


def test_up_from_the_first_pass_gives_the_same_positions(session):
    block, _ = session
    a = spots_of(block)
    b = spots_of(block, up_known=False)
    assert [x["x_m"] for x in a["bins"]] == [x["x_m"] for x in b["bins"]]


@pytest.mark.parametrize("step", [37, 1000, 4096])
def test_streaming_gives_the_same_spots_as_whole(session, step):
    block, _ = session
    assert spots_of(block, step=step) == spots_of(block)


def test_a_hold_on_the_roller_is_placed_where_it_was():
    """Roll up 12 cm, stay 8 s, roll back: one hold at about 12 cm from the pass start."""
    rate = 400.0
    t = np.arange(0.0, 20.0, 1 / rate)
    x = np.interp(t, [0, 2.6, 4.6, 12.6, 14.6, 20], [0, 0, 0.12, 0.12, 0.0, 0.0])
    v = np.gradient(x, t)
    block, _ = sense(SPEC, t, v, np.gradient(v, t), np.zeros(len(t)), 20.0, np.random.default_rng(1))
    spots = spots_of(block)
    assert len(spots["holds"]) == 1
    assert spots["holds"][0]["x_m"] == pytest.approx(0.12, abs=0.01)
    assert spots["holds"][0]["s"] >= 5.0


def test_a_balls_holds_are_placed_by_how_far_it_rolled_from_where_it_was_put_down():
    """upper-back-ball: three holds, the ball rolled 6-12 cm at a new heading between them;
    each hold's x_m is its straight-line distance from the first (the script's, within 1 cm)."""
    user = scenario("upper-back-ball", "good", 5)
    x = y = 0.0
    want = []
    for sg in user.segments:
        if sg.ds_m and sg.contact:
            x += sg.ds_m * math.cos(sg.heading_rad)
            y += sg.ds_m * math.sin(sg.heading_rad)
        if sg.kind == "hold":
            want.append(math.hypot(x, y))
    engine = MetricsEngine(MetricsSettings(tool="ball", radius_m=user.radius_m))
    for block in sample_blocks(user, 200.0):
        engine.update(block)
    engine.finish()
    spots = engine.summary()["spots"]
    assert spots["origin"] == "put_down" and spots["bins"] == []
    assert [h["x_m"] for h in spots["holds"]] == pytest.approx(want, abs=0.01)


def _bins_by_masks(sums: np.ndarray, sign: float, origin: float) -> list[dict]:
    """The reported bins as SpotBins.fields first made them: a mask per bin, numpy's median."""
    used = (sums[:, S_DT] > 0).nonzero()[0]
    centre_up = sign * ((used - MAX_FINE + 0.5) * FINE_M - origin)
    j = np.floor(centre_up / BIN_M).astype(np.int64)
    rows = sums[used]
    out = []
    for k in np.unique(j).tolist():
        r = rows[j == k].sum(axis=0)
        out.append({"x_m": round((k + 0.5) * BIN_M, 3), "dwell_s": round(float(r[S_DT]), 2),
                    "speed_mps": round(float(r[S_SPEED_DT] / r[S_DT]), 4),
                    "force_n": round(float(r[S_FORCE_DT] / r[S_FORCE_T]), 1) if r[S_FORCE_T] > 0 else None,
                    "visits": int(np.median(rows[j == k, S_ENTRIES]))})
    return out


@pytest.mark.parametrize("seed", range(12))
def test_the_bins_are_the_ones_a_mask_per_bin_gives(seed):
    """fields() takes each reported bin's fine bins as one slice of rows; the same numbers,
    to the last bit, as picking them with a mask (for either sign and any origin)."""
    rng = np.random.default_rng(seed)
    spots = SpotBins(MetricsSettings(tool="roller", radius_m=0.075))
    lo = MAX_FINE + int(rng.integers(-300, 100))
    span = int(rng.integers(1, 200))
    spots.sums[lo : lo + span] = rng.random((span, 5)) * [3.0, 0.2, 400.0, 3.0, 1.0]
    spots.sums[lo : lo + span, S_ENTRIES] = rng.integers(0, 9, span)
    spots.sums[lo + span // 3, S_DT] = 0.0  # a fine bin never visited, inside
    sign = float(rng.choice([-1.0, 1.0]))
    starts = rng.normal(0.0, 0.3, 5)
    got = spots.fields(sign, starts, starts + 0.2, np.array([1, -1, 1, -1, 1]), [])
    assert got["bins"] == _bins_by_masks(spots.sums, sign, float(np.median(starts[::2])))
