"""Benchmark of the metrics engine: seconds of 1 kHz sensor data processed per CPU second
(streaming in device-sized blocks, and batch), and peak memory.

    python bench/metrics.py [--json] [--seconds S]

Numbers, not pass/fail. Bounded in time: each case runs on S seconds of simulated data
(default 60) and repeats until ~1 s of CPU is spent (at most 5 repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from device.sim import sample_block, scenario  # noqa: E402
from firmware.metrics import MetricsEngine, MetricsSettings  # noqa: E402

RATE_HZ = 1000.0
GOAL_X = 2000.0


def _data(seconds: float):
    user = scenario("quads-roller", "moved-hold", 1)
    block = sample_block(user, RATE_HZ, seed=1, duration_s=min(seconds, user.end_s))
    settings = MetricsSettings(tool=user.tool, radius_m=user.radius_m)
    return block, settings


def _feed(block, settings, size: int | None) -> None:
    engine = MetricsEngine(settings)
    if size is None:
        engine.update(block)
    else:
        for start in range(0, len(block), size):
            engine.update(block.slice(start, start + size))
    engine.summary()


def _time_case(block, settings, size: int | None) -> float:
    """CPU seconds per run (best of a few runs)."""
    if size is not None:
        blocks = [block.slice(i, i + size) for i in range(0, len(block), size)]
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 5 and (spent < 1.0 or runs < 2):
        engine = MetricsEngine(settings)
        t0 = time.process_time()
        if size is None:
            engine.update(block)
        else:
            for b in blocks:
                engine.update(b)
        engine.summary()
        cpu = time.process_time() - t0
        best, spent, runs = min(best, cpu), spent + cpu, runs + 1
    return best


def _peak_memory_bytes(block, settings, size: int | None) -> int:
    tracemalloc.start()
    _feed(block, settings, size)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def run(seconds: float) -> dict:
    block, settings = _data(seconds)
    data_s = float(block.t_s[-1] - block.t_s[0])
    cases = []
    for label, size in (
        ("stream 20 ms blocks (20 samples)", 20),
        ("stream 100 ms blocks (100 samples)", 100),
        ("stream 1 s blocks (1000 samples)", 1000),
        ("batch (whole recording)", None),
    ):
        cpu_s = _time_case(block, settings, size)
        blocks = 1 if size is None else -(-len(block) // size)
        cases.append(
            {
                "case": label,
                "block_samples": size or len(block),
                "realtime_x": data_s / cpu_s,
                "us_per_block": cpu_s / blocks * 1e6,
                "us_per_sample": cpu_s / len(block) * 1e6,
                "peak_tracemalloc_bytes": _peak_memory_bytes(block, settings, size),
            }
        )
    return {
        "rate_hz": RATE_HZ,
        "data_s": data_s,
        "samples": len(block),
        "goal_realtime_x": GOAL_X,
        "cases": cases,
        "streaming_20ms_meets_goal": cases[0]["realtime_x"] >= GOAL_X,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of 1 kHz data per case")
    a = ap.parse_args(argv)
    result = run(a.seconds)
    if a.json:
        print(json.dumps(result, indent=1))
        return 0
    print(
        f"metrics engine, {result['samples']} samples = {result['data_s']:.1f} s at "
        f"{RATE_HZ:g} Hz (goal {GOAL_X:g}x real time)"
    )
    print(
        f"{'case':38s} {'x real time':>12s} {'us/block':>10s} {'us/sample':>10s} {'peak MiB':>9s}"
    )
    for c in result["cases"]:
        print(
            f"{c['case']:38s} {c['realtime_x']:12.0f} {c['us_per_block']:10.1f} "
            f"{c['us_per_sample']:10.2f} {c['peak_tracemalloc_bytes'] / 2**20:9.2f}"
        )
    print(f"max RSS {result['max_rss_bytes'] / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
