"""Benchmark of replay memory: peak RSS of `rollsense replay` against the recording's length
(1, 10, 30 and 60 minutes at 1 kHz), streamed as it does now, beside the same recording read
whole first (``read_recording``, still there for tools that want every sample) and the numbers
of the whole-file replay before issue 21 (commit 4b6ead8, measured on the same machine).

    python bench/memory.py [--json] [--quick] [--minutes M ...]

The recordings are generated once per run into a temporary directory, one pass of the
simulator for all of them (a quads-roller user rolling for the longest length; each shorter
file is the start of the same session), written as ``rollsense simulate`` writes, in chunks.
That generation is measured too (peak RSS, ground truth included), since it must not hold the
recording either. Every process is measured from outside, by ``os.wait4`` on its own pid
(``ru_maxrss``: the peak resident set, imports included). The streamed and whole-file summaries
must be identical, session id aside; the run says so.

Goal (issue 21): at most 80 MB for 60 minutes at 1 kHz, flat in the length (a Pi Zero 2 W has
512 MB in all).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from device.sim import sample_blocks  # noqa: E402
from firmware.app.simulate import scenario  # noqa: E402
from firmware.edge.recording import RecordingWriter  # noqa: E402

RATE_HZ = 1000.0
MINUTES = (1.0, 10.0, 30.0, 60.0)
QUICK_MINUTES = (0.5, 2.0)
GOAL_MB = 80.0
ROUTINE = "quads-roller"
# `rollsense replay` peak RSS before issue 21 (whole file in memory), commit 4b6ead8, this
# machine, the same generator's recordings: minutes -> MB (about 0.4 KB a sample)
BEFORE_MB = {1.0: 67.8, 10.0: 291.9, 30.0: 790.7, 60.0: 1534.6}

# what `rollsense replay` imports before it reads a byte: the floor under every number here
IMPORTS = "import firmware.app.cli, firmware.app.subcommands.offline"
# the whole-file alternative: every sample read first, then the same blocks into a Session
WHOLE = IMPORTS + """
import json, sys
from firmware.app.replay import _session, iter_blocks
from firmware.edge.recording import read_recording
rec = read_recording(sys.argv[1])
session = _session(sys.argv[1], rec.meta, protocol=None, tool=None, radius_m=None,
                   routines_dir=None, profile=None, session_id="bench")
for b in iter_blocks(rec.block):
    session.feed(b)
print(json.dumps(session.summary()))
"""


def generate(out_dir: Path, minutes: list[float]) -> list[Path]:
    """One simulated session, rolling for the longest length, written at RATE_HZ to one file
    per length (each the start of the same session); the ground truth computed as
    ``rollsense simulate`` does. Returns the paths, shortest first."""
    longest = max(minutes) * 60.0
    user = scenario(ROUTINE, "good", 1, rolling_s=longest)
    meta = {"tool": user.tool, "radius_m": f"{user.radius_m:g}", "protocol": ROUTINE,
            "session_id": "bench", "rate_hz": f"{RATE_HZ:g}"}
    paths = [out_dir / f"replay-{m:g}min.csv" for m in sorted(minutes)]
    writers = [RecordingWriter(p, meta) for p in paths]
    ends = [m * 60.0 for m in sorted(minutes)]
    try:
        for block in sample_blocks(user, RATE_HZ, seed=1, duration_s=longest):
            for writer, end in zip(writers, ends, strict=True):
                if block.t_s[0] < end:
                    writer.write(block.slice(0, int((block.t_s < end).sum())))
    finally:
        for writer in writers:
            writer.close()
    json.dumps(user.truth)  # what `rollsense simulate` writes beside the recording
    return paths


def measured(argv: list[str]) -> tuple[float, float, str]:
    """(peak RSS in MB, wall seconds, stdout) of a child process, from os.wait4 on its pid."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:3])}...: exit {proc.returncode}: {err.read()[-500:]}")
        return usage.ru_maxrss / 1024.0, wall, out.read()


def _same(a: str, b: str) -> bool:
    """The two summaries agree in every field but the session id."""
    sa, sb = json.loads(a), json.loads(b)
    sa.pop("session_id", None)
    sb.pop("session_id", None)
    return sa == sb


def run(minutes: list[float]) -> dict:
    rollsense = str(Path(sys.executable).with_name("rollsense"))
    replay = [rollsense] if Path(rollsense).exists() else [sys.executable, "-m", "firmware.app.cli"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="rollsense-memory-") as tmp:
        gen_mb, gen_s, out = measured([sys.executable, __file__, "--generate", tmp,
                                       "--minutes", *[f"{m:g}" for m in minutes]])
        paths = [Path(p) for p in json.loads(out)]
        imports_mb = measured([sys.executable, "-c", IMPORTS])[0]
        for m, path in zip(sorted(minutes), paths, strict=True):
            stream_mb, stream_s, stream_out = measured([*replay, "replay", str(path), "--json"])
            whole_mb, whole_s, whole_out = measured([sys.executable, "-c", WHOLE, str(path)])
            samples = round(m * 60.0 * RATE_HZ)
            rows.append({"minutes": m, "samples": samples, "file_mb": round(path.stat().st_size / 1e6, 1),
                         "stream_mb": round(stream_mb, 1), "stream_s": round(stream_s, 1),
                         "whole_mb": round(whole_mb, 1), "whole_s": round(whole_s, 1),
                         "before_mb": BEFORE_MB.get(m),
                         "same_summary": _same(stream_out, whole_out)})
            path.unlink()
    longest = rows[-1]
    flat = longest["stream_mb"] - rows[0]["stream_mb"]
    per_sample = [r for r in rows if r["before_mb"]]
    return {
        "rate_hz": RATE_HZ,
        "routine": ROUTINE,
        "goal_mb": GOAL_MB,
        "imports_mb": round(imports_mb, 1),
        "rows": rows,
        "generate": {"minutes": max(minutes), "peak_mb": round(gen_mb, 1), "seconds": round(gen_s, 1)},
        "stream_growth_mb": round(flat, 1),
        "before_kb_per_sample": (round((per_sample[-1]["before_mb"] - per_sample[0]["before_mb"]) * 1024
                                       / (per_sample[-1]["samples"] - per_sample[0]["samples"]), 2)
                                 if len(per_sample) > 1 else None),
        "met": longest["minutes"] >= 60.0 and longest["stream_mb"] <= GOAL_MB,
        "all_same_summary": all(r["same_summary"] for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="Example: python bench/memory.py --quick (a smoke run)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--quick", action="store_true", help=f"lengths {QUICK_MINUTES} min only")
    ap.add_argument("--minutes", type=float, nargs="+", help=f"recording lengths (default {MINUTES})")
    ap.add_argument("--generate", metavar="DIR", help=argparse.SUPPRESS)  # the generator's process
    a = ap.parse_args(argv)
    minutes = list(a.minutes or (QUICK_MINUTES if a.quick else MINUTES))
    if any(m <= 0 for m in minutes):
        ap.error("--minutes must be > 0")
    if a.generate:
        print(json.dumps([str(p) for p in generate(Path(a.generate), minutes)]))
        return 0
    result = run(minutes)
    if a.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"peak RSS of `rollsense replay` at {RATE_HZ:g} Hz (goal ≤ {GOAL_MB:g} MB at 60 min); "
          f"whole: the file read whole first; before: whole-file replay at 4b6ead8")
    print(f"{'minutes':>8s} {'samples':>9s} {'file MB':>8s} {'stream MB':>10s} {'s':>6s} "
          f"{'whole MB':>9s} {'s':>6s} {'before MB':>10s} {'same':>5s}")
    for r in result["rows"]:
        before = f"{r['before_mb']:10.1f}" if r["before_mb"] else f"{'-':>10s}"
        print(f"{r['minutes']:8g} {r['samples']:9d} {r['file_mb']:8.1f} {r['stream_mb']:10.1f} "
              f"{r['stream_s']:6.1f} {r['whole_mb']:9.1f} {r['whole_s']:6.1f} {before} "
              f"{'yes' if r['same_summary'] else 'NO':>5s}")
    print(f"imports alone (the floor): {result['imports_mb']} MB")
    g = result["generate"]
    print(f"generating {g['minutes']:g} min (simulator + writer + ground truth): peak {g['peak_mb']} MB, "
          f"{g['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
