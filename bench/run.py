"""Run every benchmark (one subprocess each, time-bounded), collect their numbers and write
``bench/RESULTS.md``: measured value against goal, the alternative beside ours where there
is one, and notes on the machine the numbers came from.

    python bench/run.py [--json] [--quick] [--out PATH] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
GOAL_CUE_MS = 50.0
# The local server over its Unix socket as the current OS user (peer authentication; `make
# deps` creates that role), as the test suite connects: a fresh Debian asks a password over TCP.
PG_URL = os.environ.get("ROLLSENSE_BENCH_PG", "postgresql:///postgres?host=/var/run/postgresql")

# name -> (script, full args, quick args, timeout s full, timeout s quick)
BENCHES: dict[str, tuple[str, list[str], list[str], float, float]] = {
    "bus": ("bus.py", [], ["--seconds", "1"], 300, 60),
    "metrics": ("metrics.py", [], ["--seconds", "5", "--runs", "3"], 600, 60),
    "latency": ("latency.py", [], ["--quick"], 900, 120),
    "soak": ("soak.py", [], ["--quick"], 1500, 120),
    # three hours: the allocator's warm-up takes about one (bench/soak.py)
    "soak_sessions": ("soak.py", ["--minutes", "180", "--session-minutes", "5"],
                      ["--quick", "--session-minutes", "2"], 3600, 120),
    "fleet": ("fleet.py", [], ["--quick"], 480, 90),
    "fleet_bridged": ("fleet.py", ["--bridged", "100,200,400"], ["--quick", "--bridged", "5"], 900, 90),
    "fuzz": ("fuzz.py", [], ["--examples", "200"], 300, 120),
    "fuzz_device": ("fuzz_device.py", [], ["--payloads", "300"], 300, 120),
    "memory": ("memory.py", [], ["--quick"], 900, 120),
    "device_cpu": ("device_cpu.py", [], ["--quick"], 900, 240),
    "pi_factor": ("pi_factor.py", [], ["--quick"], 120, 60),
}


# ---------------------------------------------------------------------------- running

def _supports(script: Path, flag: str) -> bool:
    try:
        out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                             text=True, timeout=60, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return False
    return flag in out.stdout


def run_bench(name: str, quick: bool) -> dict:
    """Run one benchmark with ``--json``; {"ok", "seconds", "result" | "error"}."""
    script, full, fast, timeout_full, timeout_quick = BENCHES[name]
    path = BENCH / script
    if not path.exists():
        return {"ok": False, "seconds": 0.0, "error": f"bench/{script} is missing"}
    args = list(fast if quick else full)
    if quick and args and args[0].startswith("--") and not _supports(path, args[0]):
        args = []  # the script has no such option: run it as it is
    timeout = timeout_quick if quick else timeout_full
    t0 = time.monotonic()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    proc = subprocess.Popen([sys.executable, str(path), "--json", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        return {"ok": False, "seconds": round(time.monotonic() - t0, 1),
                "error": f"timed out after {timeout:.0f} s"}
    seconds = round(time.monotonic() - t0, 1)
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["(no output)"])[-1]
        return {"ok": False, "seconds": seconds, "error": f"exit {proc.returncode}: {last}"}
    try:
        return {"ok": True, "seconds": seconds, "started": started, "result": json.loads(out)}
    except ValueError:
        return {"ok": False, "seconds": seconds, "error": "output was not JSON"}


# ---------------------------------------------------------------------------- machine notes

def _cmd_first_line(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (p.stdout or p.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _postgres_version() -> str:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=5) as conn:
            return "server " + conn.execute("SHOW server_version").fetchone()[0]
    except Exception as e:  # a note, not a failure
        return f"unavailable ({str(e).splitlines()[0][:60]})"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    mosq = _cmd_first_line(["mosquitto", "-h"])
    m = re.search(r"version\s+([\d.]+)", mosq)
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(),
        "python": platform.python_version(), "numpy": _version("numpy"),
        "paho_mqtt": _version("paho-mqtt"), "psycopg": _version("psycopg"),
        "mosquitto": m.group(1) if m else mosq, "postgresql": _postgres_version(),
        "kernel": platform.release(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg": os.getloadavg(),
    }


# ---------------------------------------------------------------------------- goals

def _f(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _met(flag: bool | None) -> str:
    return "-" if flag is None else ("met" if flag else "**not met**")


def _bus_rows(r: dict) -> list[list[str]]:
    g, rows = r["goal"], r["rows"]
    rate, max_tr, max_x = g["rate_hz"], g["max_transactions_per_sample"], g["max_bytes_x_payload"]
    ours = next(x for x in rows if x["driver"].startswith("rollsense") and x["rate_hz"] == rate)
    peer = next((x for x in rows if not x["driver"].startswith("rollsense")
                 and x["rate_hz"] == rate and x["bus_hz"] == ours["bus_hz"]), None)
    name = peer["driver"].split(" get_")[0] if peer else ""
    out = [
        [f"bus transactions per IMU sample ({rate} Hz, half-FIFO drain)",
         _f(ours["transactions_per_sample"], 3), f"≤ {max_tr}",
         _met(ours["transactions_per_sample"] <= max_tr),
         f"{name}: {_f(peer['transactions_per_sample'], 2)}" if peer else "-"],
        [f"bus bytes per sample / 12-byte payload ({rate} Hz)", _f(ours["bytes_x_payload"], 2),
         f"≤ {max_x}x", _met(ours["bytes_x_payload"] <= max_x),
         f"{name}: {_f(peer['bytes_x_payload'], 2)}x" if peer else "-"],
    ]
    for x in rows:
        if "coaching" in x["driver"] and "count read first" not in x["driver"]:
            older = [y for y in rows if y["rate_hz"] == x["rate_hz"] and "coaching" in y["driver"]
                     and "count read first" in y["driver"]]
            peer_here = next((y for y in rows if not y["driver"].startswith("rollsense")
                              and y["rate_hz"] == x["rate_hz"] and y["bus_hz"] == x["bus_hz"]), None)
            per_drain = x.get("transactions_per_drain")
            alt = [f"count read first (before issue 25's one read): {_f(y['transactions_per_drain'], 2)} "
                   f"({_f(y['transactions_per_sample'], 3)})" for y in older]
            if peer_here:
                alt.append(f"{peer_here['driver'].split(' get_')[0]}: "
                           f"{_f(peer_here['transactions_per_sample'], 2)} per sample")
            out.append([f"bus transactions as the coaching loop drains (every 40 ms), "
                        f"{x['rate_hz']} Hz: per drain (per sample)",
                        f"{_f(per_drain, 2)} ({_f(x['transactions_per_sample'], 3)})",
                        "≤ 1 per drain (the floor)", _met(per_drain is not None and per_drain <= 1.0),
                        "; ".join(alt) or "-"])
    return out


def _find_number(obj: Any, pattern: str) -> float | None:
    """First number under a key matching ``pattern`` (depth-first), for scripts whose JSON
    this file does not own."""
    rx = re.compile(pattern, re.I)
    if isinstance(obj, dict):
        for k, v in obj.items():
            if rx.search(k) and isinstance(v, int | float) and not isinstance(v, bool):
                return float(v)
        for v in obj.values():
            found = _find_number(v, pattern)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = _find_number(v, pattern)
            if found is not None:
                return found
    return None


def _metrics_rows(r: dict) -> list[list[str]]:
    """bench/metrics.py (METRICS owns it): metrics engine alone per block size, and with the
    coach."""
    goal = r.get("goal_realtime_x", 2000.0)
    alone = [c for c in r["cases"] if not c.get("coach")]
    coached = [c for c in r["cases"] if c.get("coach")]
    first = alone[0]
    others = "; ".join(f"{c['case'].split(' (')[0]}: {_f(c['realtime_x'], 0)}x" for c in alone[1:])

    def shown(c: dict) -> str:
        median = c.get("median_realtime_x")
        return f"{_f(c['realtime_x'], 0)}x" + (
            f" (median run {_f(median, 0)}x)" if median is not None else "")

    rows = [[f"metrics engine alone, real-time factor at {r['rate_hz']:g} Hz, one core "
             f"({first['case'].split(' (')[0]})", shown(first),
             f"≥ {goal:g}x", _met(first["realtime_x"] >= goal), others or "-"]]
    rows += [[f"{c['case']}, real-time factor at {r['rate_hz']:g} Hz, one core", shown(c),
              f"≥ {goal:g}x", _met(c["realtime_x"] >= goal),
              f"coach: {_f(c['us_per_block'] - first['us_per_block'], 1)} µs per block"]
             for c in coached]
    return rows


def _latency_rows(r: dict) -> list[list[str]]:
    rows = []
    for rate in r["cue"]["rates"]:
        worst = max(rate["conditions"].items(),
                    key=lambda kv: kv[1]["latency_ms"]["max"] or math.inf)
        missed = sum(c["missed"] for c in rate["conditions"].values())
        op = rate["conditions"]["over_pressure"]
        p99 = op["latency_ms"].get("p99")
        rows.append([f"condition → cue, sensor time, {rate['rate_hz']} Hz (worst cue; chip clocks "
                     "off nominal within ±1 %)",
                     f"{_f(rate['worst_ms'])} ms ({worst[0]}); over_pressure max "
                     f"{_f(op['latency_ms']['max'])} ms"
                     + (f", p99 {_f(p99)} ms" if p99 is not None else "")
                     + (f", on the loop clock {_f(op['poll_ms']['max'])} ms" if op["poll_ms"]["max"] is not None else "")
                     + (f"; {missed} missed" if missed else ""),
                     "≤ 50 ms", _met(rate["met"]), "-"])
    d = r["dashboard"]
    p99 = max(d["telemetry"]["p99_ms"], d["event"]["p99_ms"])
    rows.append(["device → dashboard p99 (Mosquitto, loopback)",
                 f"{_f(p99)} ms (telemetry {_f(d['telemetry']['p99_ms'])}, events "
                 f"{_f(d['event']['p99_ms'])})", "≤ 50 ms", _met(d["met"]), "-"])
    return rows


def _soak_rows(r: dict) -> list[list[str]]:
    how = (f"{r['sessions']} sessions of {r['session_minutes']:g} min" if r.get("session_minutes")
           else "one session")
    return [[f"device RSS over {r['minutes']} simulated min at {r['rate_hz']:g} Hz, {how} (the simulator's subtracted)",
             f"max {_f(r['rss_max_mb'])} MB, slope {_f(r['rss_slope_mb_per_h'], 2)} MB/h",
             f"≤ {r['goal']['rss_max_mb']:g} MB, flat (≤ {r['goal']['slope_max_mb_per_h']:g} MB/h)",
             _met(r["met"]),
             f"with the simulator: max {_f(r.get('process_rss_max_mb', r['rss_max_mb']))} MB; live "
             f"Python objects {_blocks(r)}"],
            [f"device process's own CPU per simulated hour in the soak, {how} (the simulator's subtracted)",
             f"{_f(r.get('device_cpu_s_per_sim_hour'))} s", "-", "-",
             f"with simulating the chips and the user: {_f(r['cpu_s_per_sim_hour'])} s"]]


def _blocks(r: dict) -> str:
    """The soak's live Python objects over the run (results saved before it: unknown)."""
    if "python_blocks_slope_per_h" not in r:
        return "not measured"
    return (f"{r['python_blocks_start']} -> {r['python_blocks_end']} blocks "
            f"({r['python_blocks_slope_per_h']:+d}/h)")


def _device_cpu_rows(r: dict) -> list[list[str]]:
    """bench/device_cpu.py: the device's own CPU at each rate (the simulator replayed out of
    the measured run), start-up to the first coached block, RSS then."""
    rows = []
    f = r["pi_zero2_factor"]
    for x in r["rates"]:
        k = x["rate_hz"] == 1000
        rows.append([f"device process's own CPU at {x['rate_hz']:g} Hz (no simulator): % of one core",
                     f"{_f(x['device_cpu_pct_core'], 2)} % ({_f(x['device_cpu_s_per_hour'])} s per sensor hour)",
                     f"≤ {r['goal']['cpu_pct_1khz']:g} %" if k else "-",
                     _met(r["met"]["cpu_1khz"]) if k else "-",
                     f"Pi Zero 2 W (x{f:g}, projected): ~{_f(x['pi_zero2_pct_core'])} % of a core"])
    s = r["startup"]
    rows.append(["`rollsense run` (as the unit starts it, no simulator) start-up to the first coached block",
                 f"{_f(s['startup_s'], 2)} s (CPU {_f(s['startup_cpu_s'], 2)} s)",
                 f"< {r['goal']['startup_s']:g} s", _met(r["met"]["startup"]), "-"])
    parts = s.get("memory_parts_mb", {})
    rows.append(["`rollsense run` (as the unit starts it, no simulator) RSS at the first coached block",
                 f"{_f(s['rss_start_mb'])} MB", f"< {r['goal']['rss_start_mb']:g} MB",
                 _met(r["met"]["rss_start"]),
                 (f"the fixed stack alone ({', '.join(s['fixed_stack'])}): {_f(s['rss_floor_mb'])} MB, "
                  f"the device's own share {_f(s['rss_own_mb'])} MB; " if "rss_floor_mb" in s else "")
                 + (f"where it is (MB): {', '.join(f'{k} {v}' for k, v in parts.items())}"
                    if parts else "")])
    return rows


def _device_cpu_detail(r: dict) -> list[str]:
    stages = list(r["rates"][0]["cpu_s_per_hour"])
    rows = [[st, *(_f(x["cpu_s_per_hour"].get(st, 0.0), 2) for x in r["rates"])] for st in stages]
    rows.append(["instrumentation (subtracted)",
                 *(_f(-x["instrumentation_s_per_hour"], 2) for x in r["rates"])])
    rows.append(["**device total**", *(_f(x["device_cpu_s_per_hour"], 2) for x in r["rates"])])
    rows.append(["Pi Zero 2 W, % of a core (projected)",
                 *(_f(x["pi_zero2_pct_core"]) for x in r["rates"])])
    rows.append(["replayed bus + ManualClock (not the device)",
                 *(_f(sum(x["excluded_cpu_s_per_hour"].values()), 2) for x in r["rates"])])
    s = r["startup"]
    out = [f"CPU seconds per hour of sensor time by stage, {r['minutes']:g} sensor minutes per "
           f"rate after {r['warmup_s']:g} s of warm-up; the bus answered from a recording of the "
           "same session on the fake chips, so no simulated user or fake chip runs in the "
           "measured process (bench/device_cpu.py's docstring says how each stage is timed).", "",
           *_table(["stage", *(f"{x['rate_hz']:g} Hz" for x in r["rates"])], rows), "",
           f"Start-up (median of {len(s['startup_s_all'])} fresh `rollsense run --protocol "
           "quads-roller` processes as systemd starts them, the I2C bus answered over a socket by "
           "fake chips in the bench's process, gpiozero's mock pins: bench/device_child.py): "
           f"{s['startup_s_all']} s; {s['modules']} "
           f"modules loaded; the simulator imported: {s['imports_sim']}, the dashboard: "
           f"{s['imports_dashboard']}. RSS over the measured run: "
           + "; ".join(f"{x['rate_hz']:g} Hz {x['rss_window_start_mb']} -> {x['rss_window_end_mb']} MB"
                       for x in r["rates"]) + ".",
           f"Pi Zero 2 W factor x{r['pi_zero2_factor']:g}: {r['pi_zero2_factor_source']}."]
    return out


def _pi_factor_rows(r: dict) -> list[list[str]]:
    """bench/pi_factor.py: the published Pi timing over the same workload here."""
    p = r["pure_python"]
    return [["Pi Zero 2 W factor: a Zero 2 W core's CPU time over this machine's (pure Python, "
             "a published Pi 3 B+ timing at 1.4 GHz scaled to 1.0 GHz)",
             f"x{_f(r['factor'])} ({_f(p['ms_per_iteration_pi_zero2_projected'])} ms against "
             f"{_f(p['ms_per_iteration_here'], 2)} ms here per iteration)", "-", "-",
             f"x{_f(r['factor_if_throttled'])} if the Pi 3 B+ ran at 1.2 GHz; numpy: no "
             "published Pi timing, no ratio"]]


def _pi_factor_detail(r: dict) -> list[str]:
    n = r["numpy"]
    return [f"Factor x{_f(r['factor'])}, used by device_cpu's Pi Zero 2 W projection (which "
            f"measures it again in its own run). {r['source']}.", "",
            f"numpy, a {n['block_samples']}-sample block of small-array calls: "
            f"{_f(n['us_per_block_here'], 2)} µs here; run `python bench/pi_factor.py --json` on "
            "a Pi Zero 2 W to measure both ratios on the board. Python "
            f"{r['python_here']}, numpy {r['numpy_here']} here."]


def _memory_rows(r: dict) -> list[list[str]]:
    """bench/memory.py: `rollsense replay` peak RSS at the longest length, streamed; the
    whole-file read and the replay before issue 21 beside it."""
    last = r["rows"][-1]
    before = f"; before issue 21 (whole file): {_f(last['before_mb'])} MB" if last.get("before_mb") else ""
    growth = f"{_f(r['stream_growth_mb'])} MB more than at {r['rows'][0]['minutes']:g} min"
    same = "" if r["all_same_summary"] else "; **streamed and whole summaries differ**"
    return [[f"`rollsense replay` peak RSS, {last['minutes']:g} min recording at {r['rate_hz']:g} Hz",
             f"{_f(last['stream_mb'])} MB ({growth})", f"≤ {r['goal_mb']:g} MB at 60 min, flat",
             _met(r["met"] and r["all_same_summary"]),
             f"read whole first: {_f(last['whole_mb'])} MB{before}{same}"]]


def _fleet_rows(r: dict) -> list[list[str]]:
    zero_loss = r.get("best_k_zero_loss_any_latency") or 0
    tried = max((s["k"] for s in r["steps"]), default=0)
    return [["devices per broker with zero lost or duplicated sessions",
             f"{zero_loss}" + (" (the largest size tried)" if zero_loss == tried else ""),
             f"≥ {r['goal_k']}", _met(zero_loss >= r["goal_k"]), "-"],
            [f"… and delivery p99 < {r['goal_p99_ms']:g} ms",
             f"{r['best_k']} ({r['stopped']})", f"≥ {r['goal_k']}", _met(r["met"]),
             _bystander(r)]]


def _fleet_bridged_rows(r: dict) -> list[list[str]]:
    """Per size: the bridged run (devices on a site broker, ingest at the centre) against the
    direct one measured just before it."""
    out = []
    for row in r["rows"]:
        d, b = row["direct"], row["bridged"]
        clean = b["sessions_lost"] == b["sessions_duplicated"] == 0
        out.append([f"bridged site → centre, K={row['k']}: sessions lost, duplicated; p99 against direct",
                    f"{b['sessions_lost']}, {b['sessions_duplicated']}; p99 {_f(b['p99_ms'])} ms = "
                    f"{_f(row['p99_ratio'], 2)} × direct ({_f(d['p99_ms'])} ms)",
                    "0, 0", _met(clean),
                    f"broker CPU cores: centre {_f(_cpu(b, 'broker'), 2)}, site "
                    f"{_f(_cpu(b, 'site_broker'), 2)} (direct: {_f(_cpu(d, 'broker'), 2)})"])
    return out


def _bystander(r: dict) -> str:
    """The broker's own QoS 1 delivery at the first size that missed the latency goal."""
    failing = next((s for s in r["steps"] if not s["ok"] and s["k"] > r["best_k"]), None)
    if failing is None or _probe(failing, 1) is None:
        return "-"
    return (f"the broker alone at K={failing['k']}: events p99 {_f(_probe(failing, 0))} ms at "
            f"QoS 0, {_f(_probe(failing, 1))} ms at QoS 1 (a bystander subscriber)")


def _fuzz_rows(r: dict) -> list[list[str]]:
    clean = r["crashes"] == r["stalls"] == r["null_rows"] == r["pages_500"] == r["redelivered"] == 0
    stored = r["stored"]
    t = r.get("telemetry_check_us") or {}
    rows = [["device → dashboard fuzz through a real broker to the ingest "
             f"({r['store']}): crashes, stalls, NULL rows, pages answering 500, redelivered",
             f"{r['crashes']}, {r['stalls']}, {r['null_rows']}, {r['pages_500']} (of {r['pages']} pages), "
             f"{r['redelivered']} over {r['payloads']} payloads",
             "0 each", _met(clean),
             f"{r['quarantined']} quarantined; stored {stored['sessions']} sessions, "
             f"{stored['events']} events, {stored['telemetry']} telemetry samples"]]
    if t:
        added = t["lean"] - t["json_loads"]
        rows.append([f"telemetry check per message at the edge ({t['bytes']} B): added to json.loads",
                     f"{added:.1f} µs", "≤ 3.7 µs (10% of the ingest's ~37 µs per telemetry message)",
                     _met(added <= 3.7),
                     f"lean check {t['lean']} µs, json.loads alone {t['json_loads']} µs; "
                     f"the strict decoder + schema {t['strict']} µs"])
    return rows


def _fuzz_device_rows(r: dict) -> list[list[str]]:
    clean = r["crashes"] == r["stalls"] == r["bad_replies"] == 0
    return [["dashboard → device fuzz through a real broker to a device's link (acks, every "
             "command): crashes, stalls, refusals not in a user's words",
             f"{r['crashes']}, {r['stalls']}, {r['bad_replies']} over {r['payloads']} payloads",
             "0 each", _met(clean),
             f"{r['commands']} commands, {r['acks']} acks; {r['refused']} refused with a reply or "
             f"dropped as bad acks; payloads up to {r['max_packet'] // 1024} KiB"]]


ROWS = {"device_cpu": _device_cpu_rows, "bus": _bus_rows, "metrics": _metrics_rows, "latency": _latency_rows, "memory": _memory_rows,
        "soak": _soak_rows, "soak_sessions": _soak_rows, "fleet": _fleet_rows, "fleet_bridged": _fleet_bridged_rows,
        "fuzz": _fuzz_rows,
        "fuzz_device": _fuzz_device_rows, "pi_factor": _pi_factor_rows}


# ---------------------------------------------------------------------------- markdown

def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _bus_detail(r: dict) -> list[str]:
    rows = [[x["driver"], x["rate_hz"], f"{x['bus_hz'] // 1000}k", _f(x["achieved_hz"], 0),
             _f(x["transactions_per_sample"], 3), _f(x["bytes_x_payload"], 2),
             f"{x['bus_load']:.1%}", _f(x["mixed_samples_pct"]), x["fifo_overflows"]]
            for x in r["rows"]]
    return _table(["driver", "rate Hz", "bus", "got Hz", "transactions/sample", "bytes x payload",
                   "bus load", "mixed %", "FIFO overflows"], rows)


def _latency_detail(r: dict) -> list[str]:
    cue = r["cue"]
    lines = [f"Drain interval {1000 * cue['drain_s']:.0f} ms (`COACHING_DRAIN_S`), loop poll "
             f"{1000 * cue['poll_s']:.0f} ms (`CoachingLoop.poll_s`). Sensor = block end − moment the "
             "condition is confirmed by design (see `bench/latency.py`); loop = same on the loop's "
             "clock when the cue was performed."
             + (f" Each seed's fake MPU-6050 runs off its nominal rate (within the datasheet's "
                f"±{cue['chip_rate_tolerance_ppm'] / 1e4:g} % on the gyro PLL) and starts at a seeded "
                "phase of the polls: "
                + ", ".join(f"{p:+d}" for p in cue["chip_rate_error_ppm"]) + " ppm; timed "
                "conditions are confirmed on the chip's own clock."
                if cue.get("chip_rate_error_ppm") else ""), ""]
    blocks = ", ".join(f"{_f(r.get('mean_block_interval_ms'))} ms at {r['rate_hz']} Hz"
                       for r in cue["rates"])
    slipped = any((r.get("mean_block_interval_ms") or 0) > 1100 * cue["drain_s"]
                  for r in cue["rates"])
    lines += [f"Mean interval between Blocks in these runs: {blocks}"
              + (". Some drains waited a third 20 ms poll (60 ms), which bounds the worst cue "
                 "latency." if slipped else
                 " (the drain cadence held). A cue can only be given at a Block end, so the "
                 "drain interval bounds the latency of an immediate cue such as over_pressure."),
              "", "Negative values: for timed cues the coach counts a condition from the update "
              "before the one that first showed it (at most one update early, never late).", ""]
    rows = []
    for rate in cue["rates"]:
        for name, c in rate["conditions"].items():
            lat, poll = c["latency_ms"], c["poll_ms"]
            rows.append([rate["rate_hz"], name, c["trials"], c["missed"], _f(lat["p50"]),
                         _f(lat.get("p99")), _f(lat["max"]), _f(poll["p50"]), _f(poll.get("p99")),
                         _f(poll["max"])])
    lines += _table(["rate Hz", "cue", "trials", "missed", "sensor p50 ms", "sensor p99 ms",
                     "sensor max ms", "loop p50 ms", "loop p99 ms", "loop max ms"], rows)
    d = r["dashboard"]
    lines += ["", f"Device → dashboard over {d['seconds']:g} s:", ""]
    lines += _table(["kind", "received/sent", "p50 ms", "p99 ms", "max ms"],
                    [[k, f"{d[k]['received']}/{d[k]['sent']}", _f(d[k]["p50_ms"]),
                      _f(d[k]["p99_ms"]), _f(d[k]["max_ms"])] for k in ("telemetry", "event")])
    return lines


def _metrics_detail(r: dict) -> list[str]:
    rows = [[c["case"], _f(c["realtime_x"], 0), _f(c.get("median_realtime_x"), 0),
             _f(c["us_per_block"], 1), _f(c["us_per_sample"], 3),
             _f(c["peak_tracemalloc_bytes"] / 2**20 if c["peak_tracemalloc_bytes"] else None, 2)]
            for c in r["cases"]]
    setup = ""
    if "frame_s" in r:
        setup = (f" Frames of {r['frame_s'] * 1e3:g} ms, estimator every "
                 f"{r['estimate_every_s']:g} s of sensor time.")
    return [f"{r['samples']} samples ({r['data_s']:.0f} s at {r['rate_hz']:g} Hz), CPU time "
            "(process_time): the best of up to 50 runs and the median run (other tenants of this "
            "virtual machine slow some runs down; the best is the cost of the code); from "
            f"`bench/metrics.py`.{setup}", "",
            *_table(["case", "x real time (best)", "median", "µs per block", "µs per sample",
                     "peak MiB"], rows)]


def _soak_detail(r: dict) -> list[str]:
    by = r["rss_mb_by_minute"]
    step = max(1, len(by) // 12)
    shown = ", ".join(f"{i}: {v}" for i, v in list(enumerate(by))[::step])
    how = (f", {r['sessions']} back-to-back sessions of {r['session_minutes']:g} min"
           if r.get("session_minutes") else ", one session")
    return [f"{r['minutes']} simulated minutes at {r['rate_hz']:g} Hz{how}, link to Mosquitto: "
            f"{r['link']}; {r['samples_read']} samples, {r['gaps']} gaps, {r['passes']} passes; "
            f"wall {r['wall_s']} s ({r['speedup_x']}x real time).",
            f"RSS at start of process {r['process_start_rss_mb']} MB; the simulator's "
            f"{r.get('simulator_rss_mb', 0)} MB (measured as it is set up) subtracted, the device's at "
            f"minute 0 {r['rss_start_mb']} MB, end {r['rss_end_mb']} MB, max {r['rss_max_mb']} MB; slope "
            f"after a {r['goal']['warmup_min']}-minute warm-up {r['rss_slope_mb_per_h']} MB/h.",
            f"RSS (MB) by simulated minute: {shown}.",
            f"CPU per simulated hour: the whole process {r['cpu_s_per_sim_hour']} s; the device "
            f"alone {r.get('device_cpu_s_per_sim_hour')} s (drivers, Sampler, metrics, coach, "
            "journal with SQLite and fsync, the link), the simulated user and fake chips' "
            f"{r.get('sim_cpu_s_per_sim_hour')} s (timed around every call into the fake bus) "
            "subtracted."]


def _late(step: dict) -> int:
    """Publishes behind their slot (``publisher_late_ticks`` in results saved before it)."""
    return step.get("publisher_late", step.get("publisher_late_ticks"))


def _cpu(step: dict, key: str) -> float | None:
    """A step's CPU share; results saved before the worker processes had one "ingest"."""
    cpu = step.get("cpu_share", {})
    return cpu.get(key, cpu.get("ingest") if key == "ingest_workers" else None)


def _probe(step: dict, qos: int, q: str = "p99_ms") -> float | None:
    return step.get("broker_probe", {}).get(f"qos{qos}", {}).get(q)


def _memory_detail(r: dict) -> list[str]:
    rows = [[f"{x['minutes']:g}", f"{x['samples']}", _f(x["file_mb"]), _f(x["stream_mb"]),
             _f(x["stream_s"]), _f(x["whole_mb"]), _f(x["whole_s"]),
             _f(x["before_mb"]) if x.get("before_mb") else "-", "yes" if x["same_summary"] else "**no**"]
            for x in r["rows"]]
    g = r["generate"]
    return [f"Peak RSS (`ru_maxrss` of each process, from `os.wait4`) of `rollsense replay FILE "
            f"--json` on simulated {r['routine']} recordings at {r['rate_hz']:g} Hz, streamed in "
            "chunks through the device's engine; beside it the same replay with the file read whole "
            "first (`read_recording`), and the whole-file replay before issue 21 (commit 4b6ead8, "
            f"about {_f(r['before_kb_per_sample'], 2)} KB a sample); from `bench/memory.py`. What "
            f"`rollsense replay` imports before it reads a byte takes {_f(r['imports_mb'])} MB of "
            "these.", "",
            *_table(["minutes", "samples", "file MB", "streamed MB", "s", "read whole MB", "s",
                     "before MB", "same summary"], rows), "",
            f"Generating the {g['minutes']:g}-minute recording as `rollsense simulate` does (the "
            f"simulator and the writer in chunks, the ground truth too): peak {_f(g['peak_mb'])} MB, "
            f"{_f(g['seconds'])} s."]


def _fleet_detail(r: dict) -> list[str]:
    lines = [f"Devices: {r['devices']}; {r['telemetry_hz']:g} Hz telemetry, events, one "
             f"{r['session_s']:g} s session each, the sessions starting within "
             f"{_f(r.get('start_spread_s'), 1)} s; ingest: 2 worker processes (shared "
             "subscription, `--ingest-workers 2`) handing what they stored to the dashboard "
             f"process, PostgreSQL; open-file limit {r['ulimit_n']}. Latency = publish → a "
             "listener in the dashboard process (where the live view listens) is told (events "
             "and sessions stored by then; telemetry queued for its worker's batched write). "
             "Broker alone = the same events timed by a bystander process subscribed at QoS 0 "
             "and at QoS 1, PUBACKing at once: what the broker itself takes, ingest aside.", ""]
    rows = [[s["k"], s["device_procs"], f"{s['sessions_stored']}/{s['sessions_expected']}",
             s["sessions_lost"], s["sessions_duplicated"], _f(s["p50_ms"]), _f(s["p99_ms"]),
             "/".join(_f(s["p99_ms_by_kind"].get(k)) for k in ("telemetry", "event", "session")),
             f"{_f(_probe(s, 0))}/{_f(_probe(s, 1))}",
             f"{s['received']['telemetry']}/{s['sent']['telemetry']}",
             _f(s.get("offered_msgs_per_s"), 0),
             "/".join(_f(_cpu(s, k), 2)
                      for k in ("ingest_workers", "dashboard", "devices", "broker", "postgres")),
             _f(s.get("loadavg_1min"), 2), _late(s),
             "yes" if s["ok"] else "no"] for s in r["steps"]]
    lines += _table(["K", "device procs", "sessions stored", "lost", "duplicated", "p50 ms",
                     "p99 ms", "p99 ms telemetry/events/sessions",
                     "broker alone: events p99 ms QoS 0/1", "telemetry recv/sent",
                     "offered msg/s", "CPU cores workers/dashboard/devices/broker/postgres",
                     "load avg", "late publishes", "ok"], rows)
    lines += ["", "CPU cores = CPU seconds per wall second of each party during the step "
              "(postgres: every postgres process on the host, other users' included)."]
    lines += ["", f"Largest K with zero lost or duplicated sessions at any latency: "
              f"{r.get('best_k_zero_loss_any_latency')}."]
    return lines


DETAILS = {"bus": _bus_detail, "metrics": _metrics_detail, "latency": _latency_detail, "soak": _soak_detail,
           "soak_sessions": _soak_detail,
           "memory": _memory_detail, "device_cpu": _device_cpu_detail,
           "fleet": _fleet_detail, "pi_factor": _pi_factor_detail}


def _get(results: dict, name: str) -> dict | None:
    res = results.get(name)
    return res["result"] if res and res.get("ok") else None


FUZZ_NOTE = "- Device → dashboard: "  # its notes' prefix (update_markdown replaces them)


def _fuzz_notes(r: dict) -> list[str]:
    out = []
    if not r["crashes"] == r["stalls"] == r["null_rows"] == r["pages_500"] == r["redelivered"] == 0:
        out.append(f"{FUZZ_NOTE}the fuzz found problems: {'; '.join(r.get('problems', []))[:600]}")
    t = r.get("telemetry_check_us") or {}
    if t and t["lean"] - t["json_loads"] > 3.7:
        out.append(f"{FUZZ_NOTE}the telemetry check adds {t['lean'] - t['json_loads']:.1f} µs to "
                   f"json.loads ({t['json_loads']} µs) per message: most of it is the JSON Schema "
                   "validation itself (fastjsonschema's generated code, ~3-4 µs for the six fields "
                   "the store and the pages read); the size, NUL, surrogate and depth checks on the "
                   "raw bytes cost about 1 µs. The strict decoder the other topics use would add "
                   f"{t['strict'] - t['json_loads']:.1f} µs. Timings of a few µs move by ±2 µs on "
                   "this shared machine between runs.")
    return out


def notes(results: dict) -> list[str]:
    """What limits each goal that was not met, from this run's own numbers."""
    out: list[str] = []
    fuzz = _get(results, "fuzz")
    if fuzz:
        out += _fuzz_notes(fuzz)
    bus = _get(results, "bus")
    if bus:
        slow = [x for x in bus["rows"] if "coaching" in x["driver"] and "count read first" not in x["driver"]
                and x.get("transactions_per_drain", 2.0) > 1.0]
        for x in slow:
            out.append(f"- Bus at {x['rate_hz']} Hz as the coaching loop drains (every 40 ms, "
                       f"{x['rate_hz'] * 0.04:.0f} samples a drain): "
                       f"{_f(x.get('transactions_per_drain'), 2)} transactions a drain, over the floor "
                       "of one (the count rides in front of the frames in one burst).")
    met = _get(results, "metrics")
    if met and met["cases"][0]["realtime_x"] < met.get("goal_realtime_x", 2000):
        c0, cb = met["cases"][0], met["cases"][-1]
        out.append(f"- Metrics speed: {_f(c0['us_per_block'], 1)} µs per "
                   f"{c0['block_samples']}-sample block, {_f(cb['us_per_sample'], 3)} µs per "
                   "sample in one batch. The live path costs a few µs per Block; the rest is the "
                   "estimator, a fixed number of numpy calls per group of frames "
                   "(`estimate_every_s`): a longer group is cheaper per second and later with "
                   "passes.")
    if met:
        alone = [c for c in met["cases"] if not c.get("coach")]
        for c in (c for c in met["cases"] if c.get("coach")):
            if c["realtime_x"] < met.get("goal_realtime_x", 2000):
                out.append(
                    f"- Metrics + coach at {c['block_samples']}-sample blocks: "
                    f"{_f(c['realtime_x'], 0)}x; metrics take {_f(alone[0]['us_per_block'], 1)} µs "
                    f"per block and the coach {_f(c['us_per_block'] - alone[0]['us_per_block'], 1)} "
                    "µs more. The coach is a table-driven state machine in plain Python that "
                    "runs its timers and checks on every Block, so that any cue is within 50 ms.")
    soak = _get(results, "soak")
    if soak:
        if not soak["met"]:
            out.append(f"- Soak: RSS max {soak['rss_max_mb']} MB, slope "
                       f"{soak['rss_slope_mb_per_h']} MB/h after warm-up (goal ≤ 60 MB and "
                       "≤ 1 MB/h). The Python heap barely grows (tracemalloc: the lists of "
                       "completed passes, ~0.1 MB/h); part of the rest is SQLite's page cache for "
                       "the growing journal filling up, which is bounded (2 MiB per connection by "
                       "default, three connections): compare "
                       "`python bench/soak.py --minutes 20 --journal-cache-kib 64` with "
                       "`--minutes 20`. A longer run would show whether the slope levels off.")
    lat = _get(results, "latency")
    if lat:
        for rate in lat["cue"]["rates"]:
            if not rate["met"]:
                bad = {n: c for n, c in rate["conditions"].items()
                       if c["missed"] or (c["latency_ms"]["max"] or 0) > GOAL_CUE_MS}
                txt = ", ".join(f"{n} max {_f(c['latency_ms']['max'])} ms"
                                + (f" ({c['missed']} missed)" if c["missed"] else "")
                                for n, c in bad.items())
                out.append(f"- Cue latency at {rate['rate_hz']} Hz: {txt}. A cue can only be "
                           "given at a Block end, so its latency is bounded by the interval "
                           "between drains; in these runs that interval averaged "
                           f"{_f(rate.get('mean_block_interval_ms'))} ms (drain "
                           f"{1000 * lat['cue']['drain_s']:.0f} ms).")
        d = lat["dashboard"]
        if not d["met"]:
            out.append(f"- Dashboard latency: telemetry p99 {_f(d['telemetry']['p99_ms'])} ms, events "
                       f"p99 {_f(d['event']['p99_ms'])} ms (events include the journal's fsync "
                       "and the QoS 1 round trip).")
    fl = _get(results, "fleet")
    if fl and not fl["met"]:
        failing = next((s for s in fl["steps"] if not s["ok"]), None)
        passing = [s for s in fl["steps"] if s["ok"]]
        if failing:
            last = passing[-1] if passing else None
            out.append(
                f"- Fleet: the first failing size is K={failing['k']} "
                f"({_f(failing.get('offered_msgs_per_s'), 0)} messages/s offered, p99 "
                f"{_f(failing['p99_ms'])} ms; telemetry "
                f"{_f(failing['p99_ms_by_kind'].get('telemetry'))}, events "
                f"{_f(failing['p99_ms_by_kind'].get('event'))}, sessions "
                f"{_f(failing['p99_ms_by_kind'].get('session'))} ms)"
                + (f", after K={last['k']} at p99 {_f(last['p99_ms'])} ms" if last else "")
                + ". At that size the broker itself is the slow leg: a bystander process that "
                "does nothing but subscribe to the same events got them at p50 "
                f"{_f(_probe(failing, 0, 'p50_ms'))} / p99 {_f(_probe(failing, 0))} ms at QoS 0 "
                f"and p50 {_f(_probe(failing, 1, 'p50_ms'))} / p99 {_f(_probe(failing, 1))} ms at "
                "QoS 1 (PUBACK at once, Receive Maximum 1000), against the ingest's events p99 "
                f"{_f(failing['p99_ms_by_kind'].get('event'))} ms, which adds the commit. "
                "Events are QoS 1 so that the PUBACK can wait for the commit (the delivery "
                f"promise). During the step the two worker processes used "
                f"{_f(_cpu(failing, 'ingest_workers'), 2)} of a core together, the dashboard "
                f"process {_f(_cpu(failing, 'dashboard'), 2)}, the simulated devices "
                f"{_f(_cpu(failing, 'devices'), 2)}, Mosquitto {_f(_cpu(failing, 'broker'), 2)} "
                f"and PostgreSQL {_f(_cpu(failing, 'postgres'), 2)}, load average "
                f"{_f(failing.get('loadavg_1min'), 2)} on {os.cpu_count()} cores: every party, "
                "the load generator included, shares the same two cores, so each wake-up of "
                "the QoS 1 round trips (device → broker → worker → PUBACK) can wait for a core. "
                "What was measured and changed on the way (bench/fleet.py's docstring and "
                "dashboard/ingest.py say more): ingest workers as processes, not threads of one "
                "process (one interpreter lock: K=1000 p99 ~300-1000 ms as threads, ~130-260 ms "
                "as processes); a Receive Maximum of two batches on the ingest's connection "
                "(Mosquitto otherwise keeps 20 un-PUBACKed messages per client, so events "
                "queued in the broker during each commit); status and info stored by the "
                "writer in batches, not one commit each in the MQTT thread; PostgreSQL batches "
                "in pipeline mode; telemetry on its own MQTT 3.1.1 connection (~37 µs of CPU "
                "per message against ~67 µs over MQTT v5, where paho builds a Properties object "
                "for every PUBLISH). Reading paho's packets through a 64 KiB buffer instead of "
                "its three or four recv() calls each, and a shorter interpreter switch interval, "
                "were tried and measured no gain. Sessions were never lost or duplicated up to "
                f"K={fl.get('best_k_zero_loss_any_latency')}: past the limit they arrive late, "
                "not lost. Lever: a broker host whose cores the devices and the ingest do not "
                "share (here the simulated devices alone used "
                f"{_f(_cpu(failing, 'devices'), 2)} of a core).")
    return out


def markdown(results: dict, mach: dict, quick: bool) -> str:
    rows: list[list[str]] = []
    for name, res in results.items():
        if not res["ok"]:
            rows.append([f"{name}", f"no number: {res['error']}", "-", "**not measured**", "-"])
            continue
        try:
            rows += ROWS[name](res["result"])
        except (KeyError, TypeError, ValueError, StopIteration) as e:
            rows.append([name, f"output not understood ({type(e).__name__}: {e})", "-",
                         "**not measured**", "-"])
    load = ", ".join(f"{x:.2f}" for x in mach["loadavg"])
    lines = [
        "# rollsense benchmark results",
        "",
        f"Generated by `python bench/run.py{' --quick' if quick else ''}` on {mach['date']}. "
        "Numbers, not pass/fail tests; each benchmark's own `--help` and docstring say exactly "
        "what it measures.",
        "",
        "## Goals",
        "",
        *_table(["what", "measured", "goal", "verdict", "alternative"], rows),
        "",
        "## Machine",
        "",
        f"- CPU: {mach['cpu']}, {mach['cores']} cores; kernel {mach['kernel']}",
        f"- Python {mach['python']}, numpy {mach['numpy']}, paho-mqtt {mach['paho_mqtt']}, "
        f"psycopg {mach['psycopg']}",
        f"- Mosquitto {mach['mosquitto']}, PostgreSQL {mach['postgresql']}",
        f"- Load average when the run started: {load} on {os.cpu_count()} cores. On a shared "
        "machine whatever else runs takes from the CPU-bound numbers (real-time factor, fleet "
        "size, delivery latency, soak wall time): a busy machine makes them pessimistic.",
        "",
    ]
    why = notes(results)
    if why:
        lines += ["## What limits the goals not met", "", *why, ""]
    for name, res in results.items():
        lines += [f"## {name}", ""]
        if not res["ok"]:
            lines += [f"Not measured: {res['error']}.", ""]
            continue
        when = f", started {res['started']}" if res.get("started") else ""
        lines.append(f"Ran in {res['seconds']} s{when}.")
        lines.append("")
        if name in DETAILS:
            try:
                lines += DETAILS[name](res["result"])
            except (KeyError, TypeError, ValueError) as e:
                lines.append(f"(details not understood: {type(e).__name__}: {e})")
        else:
            lines += ["```json", json.dumps(res["result"], indent=1)[:3000], "```"]
        lines.append("")
    return "\n".join(lines)


def update_markdown(old: str, results: dict, mach: dict, quick: bool) -> str:
    """``old`` RESULTS.md with the goal rows and the ``## name`` sections of ``results``
    replaced (appended when new), everything else kept: one benchmark re-run without the
    slow others."""
    fresh = markdown(results, mach, quick).splitlines()
    lines = old.rstrip("\n").splitlines()

    def goals(text: list[str]) -> tuple[int, int]:
        first = next(k for k in range(text.index("## Goals"), len(text)) if text[k].startswith("|"))
        last = next((k for k in range(first, len(text)) if not text[k].startswith("|")), len(text))
        return first, last

    def label(row: str) -> str:  # the row's stable words (sizes in parentheses vary)
        return row.split(" | ")[0].split("(")[0].strip()

    first, last = goals(lines)
    fresh_first, fresh_last = goals(fresh)
    new_rows = fresh[fresh_first + 2:fresh_last]
    labels = {label(row) for row in new_rows}
    old_rows = lines[first + 2:last]
    at = next((k for k, row in enumerate(old_rows) if label(row) in labels), len(old_rows))
    kept = [row for row in old_rows if label(row) not in labels]
    at = sum(1 for row in old_rows[:at] if label(row) not in labels)  # the rows stay where they were
    lines[first:last] = lines[first:first + 2] + kept[:at] + new_rows + kept[at:]
    why = "## What limits the goals not met"
    fresh_notes = [line for line in notes(results) if line.startswith(FUZZ_NOTE)]
    if "fuzz" in results:  # its notes are this run's; another benchmark's update keeps them
        lines = [line for line in lines if not line.startswith(FUZZ_NOTE)]
    if fresh_notes:
        if why not in lines:
            at = lines.index("## Machine")
            at = next((k for k in range(at + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
            lines[at:at] = [why, "", ""]
        at = lines.index(why) + 2
        lines[at:at] = fresh_notes
    elif why in lines:  # an empty section goes
        at = lines.index(why)
        until = next((k for k in range(at + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
        if not any(line.startswith("- ") for line in lines[at:until]):
            del lines[at:until]
    for name in results:
        section = fresh[fresh.index(f"## {name}"):]
        stop = next((k for k, line in enumerate(section[1:], 1) if line.startswith("## ")), len(section))
        section = section[:stop]
        if f"## {name}" in lines:
            at = lines.index(f"## {name}")
            until = next((k for k in range(at + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
            if until < len(lines) and section[-1] != "":
                section = [*section, ""]  # a blank line before the next section
            lines[at:until] = section
        else:
            lines += ["", *section]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the collected JSON")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--out", default=str(BENCH / "RESULTS.md"), help="markdown file to write")
    parser.add_argument("--only", nargs="*", choices=list(BENCHES), help="run only these")
    parser.add_argument("--update", action="store_true",
                        help="with --only: replace only these benchmarks' rows and sections in "
                             "the existing markdown, keep the rest as it is")
    parser.add_argument("--from-json", metavar="FILE",
                        help="write the markdown from a saved `run.py --json` output, run nothing")
    args = parser.parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        Path(args.out).write_text(markdown(saved["results"], saved["machine"],
                                           saved.get("quick", False)) + "\n")
        print(f"wrote {args.out}")
        return 0
    mach = machine()
    results: dict[str, dict] = {}
    for name in args.only or list(BENCHES):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run_bench(name, args.quick)
        status = "ok" if results[name]["ok"] else results[name]["error"]
        print(f"  {name}: {status} ({results[name]['seconds']} s)", file=sys.stderr, flush=True)
    if args.update and Path(args.out).exists():
        Path(args.out).write_text(update_markdown(Path(args.out).read_text(), results, mach, args.quick))
    else:
        Path(args.out).write_text(markdown(results, mach, args.quick) + "\n")
    if args.json:
        print(json.dumps({"machine": mach, "quick": args.quick, "results": results}, indent=2))
    else:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
