"""Issue 21, item 6: replay, simulate and record hold the recording a chunk at a time, not whole.
Measured on real processes (peak RSS from ``os.wait4`` of the process itself), not timed.

The bound: `rollsense replay` of a 10-minute 1 kHz recording may use at most 40 MB above what
its imports alone take. Before streaming it took 292 MB in all on this machine (248 MB above
its 44 MB of imports; 428 MB on the machine of the issue), about 0.4 KB a sample, and grew
with the length; streamed it takes about 15 MB above the imports at any length
(`bench/memory.py`: 60 minutes within 80 MB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from device.sim import sample_block, sample_blocks
from firmware.app.cli import main
from firmware.app.simulate import scenario
from firmware.common.model import Block
from firmware.edge.recording import RecordingWriter, read_recording

ROOT = Path(__file__).resolve().parents[3]
IMPORTS = "import firmware.app.cli, firmware.app.subcommands.offline"  # what `rollsense replay` loads
CLI = "import sys; from firmware.app.cli import main; raise SystemExit(main(sys.argv[1:]))"
ABOVE_IMPORTS_MAX_MB = 40.0  # before streaming: 248 MB above the imports at 10 minutes


def _peak_mb(argv: list[str], out_path: Path) -> float:
    """Peak RSS (MB) of a child process, from os.wait4 on its own pid."""
    with open(out_path, "w") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, argv
    return usage.ru_maxrss / 1024.0


def test_replay_of_ten_minutes_at_1khz_stays_within_a_bound_the_whole_file_exceeded(tmp_path):
    minutes = 10.0
    user = scenario("quads-roller", "good", 1, rolling_s=minutes * 60)
    path = tmp_path / "ten.csv"
    meta = {"tool": user.tool, "radius_m": user.radius_m, "protocol": "quads-roller"}
    with RecordingWriter(path, meta) as writer:
        for block in sample_blocks(user, 1000.0, seed=1, duration_s=minutes * 60):
            writer.write(block)
    assert writer.samples == 600_000
    floor = _peak_mb([sys.executable, "-c", IMPORTS], tmp_path / "imports.out")
    peak = _peak_mb([sys.executable, "-c", CLI, "replay", str(path), "--json"], tmp_path / "summary.json")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["duration_s"] > 599 and summary["passes"] > 100
    assert peak - floor <= ABOVE_IMPORTS_MAX_MB, (peak, floor)


def test_sample_blocks_in_one_chunk_are_sample_blocks_samples_and_chunks_are_deterministic():
    whole = sample_block(scenario("calf-stick", "good", 3), 500.0, jitter_frac=0.3, drop_frac=0.02, seed=3)
    one = Block.concat(list(sample_blocks(scenario("calf-stick", "good", 3), 500.0, jitter_frac=0.3,
                                          drop_frac=0.02, seed=3, chunk=None)))
    for name in ("t_s", "gyro_rad_s", "accel_m_s2", "force_n"):
        np.testing.assert_array_equal(getattr(one, name), getattr(whole, name))
    chunked = [Block.concat(list(sample_blocks(scenario("calf-stick", "good", 3), 500.0, jitter_frac=0.3,
                                               drop_frac=0.02, seed=3, chunk=20_000))) for _ in range(2)]
    for name in ("t_s", "gyro_rad_s", "accel_m_s2", "force_n"):  # deterministic
        np.testing.assert_array_equal(getattr(chunked[0], name), getattr(chunked[1], name))
    assert abs(len(chunked[0]) - len(whole)) < 0.01 * len(whole)  # as many drops, elsewhere
    assert np.all(np.diff(chunked[0].t_s) > 0) and chunked[0].t_s[0] >= 0.0
    period = np.median(np.diff(chunked[0].t_s))
    assert abs(period * 500.0 - 1.0) < 0.01


def test_truth_in_chunks_is_the_one_grid_truth_for_a_long_script():
    user = scenario("quads-roller", "moved-hold", 2, rolling_s=300.0)  # ~6 minutes: 3 chunks
    truth = user.truth
    grid = np.arange(0.0, user.end_s, 1e-3)  # the truth before chunks, on one grid
    force = user.true_force(grid)
    on, contact = False, np.empty(len(grid), dtype=bool)
    for i, f in enumerate(force.tolist()):
        on = True if f > 15.0 else (False if f < 8.0 else on)
        contact[i] = on
    assert truth["contact_s"] == float(contact.sum() * 1e-3)
    assert truth["contact_peak_force_n"] == float(force[contact].max())
    assert abs(truth["contact_mean_force_n"] / float(force[contact].mean()) - 1) < 1e-12
    assert truth["holds"] and all(h["force_n"] > 0 for h in truth["holds"])


def test_record_writes_the_recording_as_it_goes(tmp_path, capsys):
    out = tmp_path / "rec.csv.gz"
    assert main(["record", "--sim", "--seconds", "1", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    rec = read_recording(out)
    assert f"wrote {len(rec.block)} samples" in said
    assert rec.block.t_s[-1] - rec.block.t_s[0] >= 1.0 and rec.warnings == ()
