"""bench/run.py --only fuzz --update: the fuzz's rows, note and section replace their old
selves in RESULTS.md; every other benchmark's row and section stays as it was."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import run  # noqa: E402

MACHINE = {"date": "today", "cpu": "cpu", "cores": 2, "kernel": "k", "python": "3", "numpy": "1",
           "paho_mqtt": "2", "psycopg": "3", "mosquitto": "2", "postgresql": "15", "loadavg": [0.0, 0.0, 0.0]}
OLD = """# rollsense benchmark results

## Goals

| what | measured | goal | verdict | alternative |
|---|---|---|---|---|
| bus transactions per IMU sample (200 Hz, half-FIFO drain) | 0.047 | ≤ 0.05 | met | - |

## Machine

- CPU: cpu

## bus

Ran in 1 s.
"""


def fuzz_result(added_us: float, crashes: int = 0) -> dict:
    return {"ok": True, "seconds": 9.0, "result": {
        "payloads": 10481, "crashes": crashes, "stalls": 0, "quarantined": 9400, "null_rows": 0,
        "pages": 100, "pages_500": 0, "redelivered": 0, "store": "sqlite",
        "stored": {"sessions": 26, "events": 17, "telemetry": 40},
        "telemetry_check_us": {"bytes": 591, "json_loads": 12.0, "lean": 12.0 + added_us, "strict": 35.0}}}


def test_update_replaces_only_the_fuzz_rows_note_and_section():
    once = run.update_markdown(OLD, {"fuzz": fuzz_result(5.0, crashes=1)}, MACHINE, False)
    twice = run.update_markdown(once, {"fuzz": fuzz_result(1.0)}, MACHINE, False)
    for text in (once, twice):
        assert "| bus transactions per IMU sample (200 Hz, half-FIFO drain) | 0.047 |" in text
        assert text.count("| device → dashboard fuzz") == 1 and text.count("| telemetry check") == 1
        assert text.count("## fuzz") == 1 and "## bus\n\nRan in 1 s." in text
    assert "**not met**" in once and "- Device → dashboard: the fuzz found problems" in once
    assert "**not met**" not in twice and "What limits" not in twice


def test_updating_another_benchmark_keeps_the_fuzz_note():
    """--only fuzz_device --update must not drop the device → dashboard note it did not re-run."""
    with_note = run.update_markdown(OLD, {"fuzz": fuzz_result(5.0)}, MACHINE, False)
    device = {"ok": True, "seconds": 30.0, "result": {
        "payloads": 10021, "commands": 8505, "acks": 1516, "crashes": 0, "stalls": 0,
        "refused": 9634, "bad_replies": 0, "max_packet": 1048576}}
    text = run.update_markdown(with_note, {"fuzz_device": device}, MACHINE, False)
    assert text.count("- Device → dashboard: the telemetry check adds") == 1
    assert "| dashboard → device fuzz" in text and "| 0, 0, 0 over 10021 payloads |" in text
    assert text.count("## fuzz_device") == 1 and text.count("## fuzz\n") == 1
