"""The Pi Zero 2 W factor: how many times more CPU time this program's work takes on one core
of a Raspberry Pi Zero 2 W (RP3A0: 4x Cortex-A53 at 1.0 GHz) than on one core of this machine,
found from a published timing of a pure-Python benchmark on a Raspberry Pi and the same
workload run here.

Published (``PUBLISHED``): Alex Dedyura's "Python CPU Benchmark"
(github.com/alexdedyura/cpu-benchmark) times 10,000 iterations of one pure-Python workload
(``dedyura_iteration``: 999 float x big-int products, 9,999 ``float(x) / c`` and 9,999
``c / x`` in ``range`` loops), single-threaded, and prints the average of 10 such runs. Its
issue #20 (2024-04-20) reports **245 s** on a **Raspberry Pi 3 Model B+** (BCM2837B0:
4x Cortex-A53 at 1.4 GHz, the Zero 2 W's core), Raspberry Pi OS with the 64-bit kernel
6.6.20+rpt-rpi-v8 (Bookworm's), **Python 3.11.2** (Bookworm's python3): 24.5 ms per iteration.

Clock: the Zero 2 W runs the same core at 1.0 GHz, so the Pi 3 B+ time is scaled by
1.4 / 1.0 (an in-order core on a loop that lives in its caches: time in proportion to the
clock). The 3 B+ lowers its clock to 1.2 GHz past 60 °C; a 41-minute run may have spent part of
it there, in which case the 1 GHz time is lower, down to x1.2 / 1.0: ``factor_if_throttled``.
The larger one is used (a CPU budget should not be optimistic).

Here: the same workload (written out again, the same operations and loop bounds) on this
process's thread CPU clock, best of ``repeats`` runs of ``iterations``; CPU time, not wall, so
that other load on a shared machine does not make this machine look slower and the factor
smaller. factor = published seconds per iteration x 1.4 / our seconds per iteration.

numpy: no published Pi Zero 2 W or Pi 3 timing of a numpy micro-benchmark was found (see
``NUMPY_PUBLISHED``). ``numpy_block`` times here the kind of small-array calls the device makes
per Block, so that running this file on a Pi Zero 2 W (``python bench/pi_factor.py --json`` on
the board) gives both ratios measured, not projected. Until then the pure-Python factor is used
for the whole program: bench/device_cpu.py's stage split puts most of the device's CPU in
interpreted code (the drivers and the sampler, the link with paho, the journal), and a numpy
call on arrays of tens of samples is dominated by its per-call dispatch (C code that branches
and chases pointers like the interpreter does), not by arithmetic throughput.

    python bench/pi_factor.py [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

PI_ZERO2_GHZ = 1.0
PUBLISHED = {
    "name": "alexdedyura/cpu-benchmark (pure Python)",
    "url": "https://github.com/alexdedyura/cpu-benchmark/issues/20",
    "workload_url": "https://github.com/alexdedyura/cpu-benchmark/blob/main/cpu-benchmark.py",
    "board": "Raspberry Pi 3 Model B+ (BCM2837B0, 4x Cortex-A53 at 1.4 GHz)",
    "board_ghz": 1.4,
    "board_ghz_throttled": 1.2,
    "os": "Raspberry Pi OS, 64-bit kernel 6.6.20+rpt-rpi-v8",
    "python": "3.11.2",
    "seconds": 245.0,  # the average of 10 runs
    "iterations": 10_000,  # per run
    "date": "2024-04-20",
}
NUMPY_PUBLISHED = None
NUMPY_NOTE = ("no published Pi Zero 2 W or Pi 3 timing of a numpy micro-benchmark was found "
              "(searched: OpenBenchmarking/Phoronix, numpy's asv results and issues, Pi "
              "benchmark round-ups); the pure-Python factor stands for the numpy calls too")
BLOCK_SAMPLES = 20  # a 1 kHz IMU drained every 20 ms


def dedyura_iteration() -> None:
    """One iteration of the published workload: the same three loops, the same operations."""
    c = 3.141592
    for n in range(1, 1000):
        c * 2**n  # a float times a growing int
    for n in range(1, 10000):
        float(n) / c
    for n in range(1, 10000):
        float(c) / n


def numpy_block(raw: np.ndarray, t: np.ndarray, scale: np.ndarray, tf: np.ndarray,
                force: np.ndarray) -> float:
    """Small-array numpy calls of the kind the sampler and the metrics make for one Block."""
    x = raw.astype(np.float64) * scale
    g = x[:, 3:] - x[:, 3:].mean(axis=0)
    speed = np.sqrt((g * g).sum(axis=1))
    f = np.interp(t, tf, force)
    return float(speed.max() + f.mean() + np.dot(speed, f))


def _best_cpu_s(fn, n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time()
        for _ in range(n):
            fn()
        best = min(best, time.thread_time() - t0)
    return best / n


def measure(iterations: int = 200, repeats: int = 3) -> dict:
    """Both workloads here; the factor from the published pure-Python figure."""
    ours = _best_cpu_s(dedyura_iteration, iterations, repeats)
    pub = PUBLISHED["seconds"] / PUBLISHED["iterations"]
    at_board = pub / ours
    factor = at_board * PUBLISHED["board_ghz"] / PI_ZERO2_GHZ
    throttled = at_board * PUBLISHED["board_ghz_throttled"] / PI_ZERO2_GHZ

    rng = np.random.default_rng(1)
    raw = rng.integers(-2000, 2000, size=(BLOCK_SAMPLES, 6), dtype=np.int16)
    scale = np.full(6, 1 / 16384.0)
    t = np.linspace(0.0, 0.02, BLOCK_SAMPLES)
    tf, force = np.array([0.0, 0.008, 0.016, 0.024]), np.array([10.0, 11.0, 12.0, 11.5])
    np_s = _best_cpu_s(lambda: numpy_block(raw, t, scale, tf, force), iterations * 20, repeats)

    source = (f"{PUBLISHED['name']}: {PUBLISHED['seconds']:g} s per {PUBLISHED['iterations']:,} "
              f"iterations on a {PUBLISHED['board']}, Python {PUBLISHED['python']} "
              f"({PUBLISHED['url']}), x {PUBLISHED['board_ghz']:g} GHz / {PI_ZERO2_GHZ:.1f} GHz for "
              f"the Zero 2 W's clock = {1e3 * pub * PUBLISHED['board_ghz']:.1f} ms per iteration, "
              f"against {1e3 * ours:.2f} ms here (the same workload, thread CPU, best of "
              f"{repeats} x {iterations}); x{throttled:.1f} if the Pi 3 B+ ran throttled at "
              f"{PUBLISHED['board_ghz_throttled']:g} GHz. numpy: {NUMPY_NOTE}")
    return {
        "factor": round(factor, 1),
        "factor_if_throttled": round(throttled, 1),
        "factor_at_pi3bplus_clock": round(at_board, 1),
        "used": "pure_python",
        "source": source,
        "pure_python": {"ms_per_iteration_here": round(1e3 * ours, 4),
                        "ms_per_iteration_published": round(1e3 * pub, 2),
                        "ms_per_iteration_pi_zero2_projected":
                            round(1e3 * pub * PUBLISHED["board_ghz"] / PI_ZERO2_GHZ, 2),
                        "iterations": iterations, "repeats": repeats, "published": PUBLISHED},
        "numpy": {"us_per_block_here": round(1e6 * np_s, 2), "block_samples": BLOCK_SAMPLES,
                  "published": NUMPY_PUBLISHED, "ratio": None, "note": NUMPY_NOTE},
        "python_here": platform.python_version(), "numpy_here": np.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--quick", action="store_true", help="40 iterations, not 200")
    args = parser.parse_args(argv)
    r = measure(40 if args.quick else 200)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        p, n = r["pure_python"], r["numpy"]
        print(f"pure Python: {p['ms_per_iteration_here']} ms per iteration here, "
              f"{p['ms_per_iteration_published']} ms on the Pi 3 B+ at 1.4 GHz, "
              f"{p['ms_per_iteration_pi_zero2_projected']} ms at the Zero 2 W's 1.0 GHz: "
              f"factor x{r['factor']} (x{r['factor_if_throttled']} if the Pi ran at 1.2 GHz)")
        print(f"numpy ({n['block_samples']}-sample block): {n['us_per_block_here']} µs here; "
              f"no ratio: {n['note']}")
        print(f"used: x{r['factor']} ({r['used']}). Source: {r['source']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
