"""Still detection and gyro bias on a real IMU recording (x-io Fusion example, NGIMU, ~100 Hz,
135 s, MIT; see tests/data/README.md): real sensor noise, real hand-held motion, irregular dt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware.common.model import Block
from firmware.core.metrics import DEG, MetricsEngine, MetricsSettings

DATA = Path(__file__).resolve().parents[2] / "data" / "xio-fusion" / "sensor_data.csv"
G_M_S2 = 9.80665


@pytest.fixture(scope="module")
def real():
    raw = np.loadtxt(DATA, delimiter=",", skiprows=1)
    t = raw[:, 0]
    gyro_dps = raw[:, 1:4]
    block = Block(t, gyro_dps * DEG, raw[:, 4:7] * G_M_S2, np.full(len(t), np.nan))
    engine = MetricsEngine(MetricsSettings(tool="ball", radius_m=0.075), trace=True)
    engine.update(block)
    engine.finish()
    trace = {k: np.concatenate(v) for k, v in engine.trace.items()}
    return t, gyro_dps, engine, trace


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    return list(zip(edges[::2], edges[1::2], strict=True))


def test_recording_is_real_and_irregular(real):
    t, gyro_dps, _, _ = real
    dt = np.diff(t)
    assert len(t) > 13000 and 95 < 1 / np.median(dt) < 105
    assert dt.max() > 2 * dt.min()  # timing is not perfectly regular
    assert np.abs(gyro_dps).max() > 100  # it does move


def test_still_flags_cover_the_quiet_samples(real):
    _, gyro_dps, _, trace = real
    low = (np.abs(gyro_dps) < 3.0).all(axis=1)
    still = trace["still"]
    assert still.mean() >= 0.60
    assert (still == low).mean() >= 0.80
    assert still[low].mean() >= 0.90  # nearly every quiet sample is still
    fast = np.abs(gyro_dps).max(axis=1) > 30.0
    assert still[fast].mean() <= 0.10  # and fast rotation is not


def test_rest_detector_finds_still_segments_on_real_noise(real):
    t, gyro_dps, _, trace = real
    rest = trace["rest"]
    low = (np.abs(gyro_dps) < 3.0).all(axis=1)
    segments = [(a, b) for a, b in _runs(rest) if t[b - 1] - t[a] >= 2.0]
    assert len(segments) >= 5
    assert rest.mean() >= 0.35
    assert low[rest].mean() >= 0.99  # rest never claims a moving sample


def test_bias_small_and_stable_across_still_segments(real):
    t, gyro_dps, engine, trace = real
    bias_dps = engine.bias_rad_s / DEG
    assert np.linalg.norm(bias_dps) < 0.1
    seg_means = np.array(
        [gyro_dps[a:b].mean(axis=0) for a, b in _runs(trace["rest"]) if t[b - 1] - t[a] >= 2.0]
    )
    assert np.abs(seg_means - bias_dps).max() < 0.1
    # the bias in use only changes inside rest segments
    used = trace["bias_rad_s"] / DEG
    changes = np.flatnonzero(np.abs(np.diff(used, axis=0)).max(axis=1) > 0) + 1
    assert trace["rest"][changes].all()
