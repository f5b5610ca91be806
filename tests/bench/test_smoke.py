"""Smoke runs of every benchmark with tiny sizes: each produces its numbers and leaves no
broker, process, temporary directory or database behind. The full runs are `python bench/run.py`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import fleet  # noqa: E402
import run  # noqa: E402


def _bench(script: str, *args: str, tmp: Path, timeout: float = 120) -> dict:
    env = {**os.environ, "TMPDIR": str(tmp)}
    out = subprocess.run([sys.executable, str(BENCH / script), "--json", *args], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def _left_behind(tmp: Path) -> list[str]:
    """Files under ``tmp`` and live processes whose command line mentions it."""
    left = [str(p) for p in tmp.iterdir()]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(tmp) in cmd:
                left.append(f"pid {proc.name}: {cmd[:120]}")
    return left


def test_soak_reports_rss_and_cpu(tmp_path):
    r = _bench("soak.py", "--minutes", "1", tmp=tmp_path)
    assert len(r["rss_mb_by_minute"]) == 2  # minute 0 and minute 1
    assert 10 < r["rss_start_mb"] <= r["rss_max_mb"] < 1000
    # the rows are the device's: the simulator's memory (its script, fake chips) subtracted
    assert r["simulator_rss_mb"] > 0
    assert abs(r["process_rss_max_mb"] - r["simulator_rss_mb"] - r["rss_max_mb"]) < 0.02
    assert r["cpu_s_per_sim_hour"] > 0
    assert r["samples_read"] >= 60 * 1000 - 100 and r["gaps"] == 0
    assert r["telemetry_sent"] > 0  # the link was up
    assert r["sessions"] == 1
    assert _left_behind(tmp_path) == []


def test_soak_back_to_back_sessions(tmp_path):
    r = _bench("soak.py", "--minutes", "1", "--session-minutes", "0.4", "--no-link", tmp=tmp_path)
    assert r["sessions"] == 3 and r["session_minutes"] == 0.4  # 0.4 + 0.4 + the rest of the minute
    assert 0 < r["python_blocks_start"] and 0 < r["python_blocks_end"]
    assert len(r["rss_mb_by_minute"]) == 2 and r["samples_read"] >= 60 * 1000 - 100
    assert _left_behind(tmp_path) == []


def test_soak_says_how_long_it_can_run(tmp_path):
    """One session is at most an hour (the longest rolling target); sessions, ten hours."""
    for args, said in ((["--minutes", "61"], "--minutes must be 1..60"),
                       (["--minutes", "601", "--session-minutes", "5"], "1..600 with --session-minutes"),
                       (["--session-minutes", "0"], "--session-minutes must be more than 0")):
        out = subprocess.run([sys.executable, str(BENCH / "soak.py"), *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and said in out.stderr and "Traceback" not in out.stderr


def test_latency_to_dashboard_through_mosquitto(tmp_path, monkeypatch):
    import latency

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    d = latency.measure_dashboard_latency(seconds=1.0)
    for kind in ("telemetry", "event"):
        assert d[kind]["sent"] > 0 and d[kind]["received"] == d[kind]["sent"]
        assert 0 < d[kind]["p50_ms"] <= d[kind]["p99_ms"] <= d[kind]["max_ms"] < 5000
    assert _left_behind(tmp_path) == []


def test_fleet_small_steps_and_cleanup(tmp_path):
    r = _bench("fleet.py", "--quick", tmp=tmp_path, timeout=90)
    assert [s["k"] for s in r["steps"]] == [5, 10]
    for s in r["steps"]:
        assert s["sessions_stored"] + s["sessions_lost"] == s["k"]
        assert s["received"]["session"] >= s["sessions_stored"]
        assert s["p99_ms"] is not None and s["p99_ms"] > 0
    with psycopg.connect(fleet.PG_URL, autocommit=True) as conn:
        rows = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (r["database"],)).fetchall()
    assert rows == [], "the benchmark database was not dropped"
    assert _left_behind(tmp_path) == []


def test_fleet_bridged_beside_direct(tmp_path):
    """The same K direct and through a site broker bridged to the centre: both store every
    session once, the bridged one's brokers both busy, and the row says the ratio."""
    r = _bench("fleet.py", "--quick", "--bridged", "5", tmp=tmp_path, timeout=90)
    (row,) = r["rows"]
    for kind in ("direct", "bridged"):
        s = row[kind]
        assert s["bridged"] == (kind == "bridged")
        assert s["sessions_stored"] == 5 and s["sessions_lost"] == s["sessions_duplicated"] == 0
    assert row["bridged"]["cpu_share"]["site_broker"] is not None
    assert row["p99_ratio"] == round(row["bridged"]["p99_ms"] / row["direct"]["p99_ms"], 2)
    text = run.markdown({"fleet_bridged": {"ok": True, "seconds": 1.0, "result": r}},
                        run.machine(), quick=True)
    assert "bridged site → centre, K=5" in text and "× direct" in text
    assert _left_behind(tmp_path) == []


def test_memory_replay_rss_streamed_beside_whole(tmp_path):
    r = _bench("memory.py", "--quick", tmp=tmp_path)
    assert [x["minutes"] for x in r["rows"]] == [0.5, 2.0]
    assert r["all_same_summary"]  # streamed and read whole: the same summary
    for x in r["rows"]:
        assert r["imports_mb"] < x["stream_mb"] < 500 and x["whole_mb"] > 10
    assert r["generate"]["peak_mb"] > 10
    text = run.markdown({"memory": {"ok": True, "seconds": 1.0, "result": r}}, run.machine(), quick=True)
    assert "`rollsense replay` peak RSS" in text and "read whole first" in text
    assert _left_behind(tmp_path) == []


def test_run_writes_results_table(tmp_path):
    out = tmp_path / "RESULTS.md"
    p = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick", "--only", "bus",
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    text = out.read_text()
    assert "bus transactions per IMU sample" in text
    assert "mpu6050-raspberrypi" in text  # the alternative beside ours
    assert "Python " in text and "Mosquitto " in text and "PostgreSQL " in text
    assert "not measured" not in text


def test_missing_benchmark_is_reported_not_hidden():
    results = {"metrics": {"ok": False, "seconds": 0.0, "error": "bench/metrics.py is missing"}}
    text = run.markdown(results, run.machine(), quick=True)
    assert "bench/metrics.py is missing" in text and "**not measured**" in text


def test_device_cpu_stages_startup_and_cleanup(tmp_path):
    r = _bench("device_cpu.py", "--minutes", "0.2", "--rates", "1000", "--startup-runs", "1",
               tmp=tmp_path, timeout=180)
    x = r["rates"][0]
    assert x["samples"] > 0 and x["gaps"] == 0 and x["bus_calls_replayed"] > 0
    assert x["cpu_s_per_hour"]["drivers+sampler"] > 0 and x["cpu_s_per_hour"]["metrics"] > 0
    assert x["cpu_s_per_hour"]["link"] > 0  # the link was up and sent telemetry
    assert 0 < x["device_cpu_s_per_hour"] < x["process_cpu_s_per_hour"]
    assert 95 <= x["accounted_pct"] <= 105  # every CPU second of the process lands in a stage
    s = r["startup"]
    # CPU to the first block: at most its wall time on every core (the link's threads run beside
    # the loop; a start-up that never waits uses about its wall time)
    assert 0 < s["startup_cpu_s"] <= s["startup_s"] * os.cpu_count() and s["startup_s"] < 60
    assert s["rss_start_mb"] > 10
    assert s["imports_dashboard"] is False
    assert s["imports_sim"] is False  # the device's own path: its chips answered from outside
    assert s["imports_fake_chips"] is False  # nor the fake chips' module
    assert abs(s["rss_anon_mb"] + s["rss_file_mb"] - s["rss_start_mb"]) < 0.5
    # the floor: the fixed stack imported in a fresh interpreter, nothing of rollsense
    assert s["fixed_stack"][0] == "numpy" and 10 < s["rss_floor_mb"] < s["rss_start_mb"]
    assert s["rss_own_mb"] > 0.5  # rollsense's code and running hold something of their own
    parts = s["memory_parts_mb"]  # a second run, its modules imported part by part first
    assert parts["numpy"] > 1 and parts["rollsense code"] > 0.5
    assert abs(sum(parts.values()) - s["rss_start_mb"]) < 3
    # the Pi Zero 2 W projection: the factor measured in this run, with its source
    f = r["pi_factor"]["factor"]
    assert r["pi_zero2_factor"] == f and "cpu-benchmark/issues/20" in r["pi_zero2_factor_source"]
    assert abs(x["pi_zero2_pct_core"] - x["device_cpu_s_per_hour"] * f / 36) <= 0.06
    assert _left_behind(tmp_path) == []


def test_pi_factor_published_over_here(tmp_path):
    """The factor is the published Pi time per iteration, scaled to 1 GHz, over this machine's
    for the same workload; the bench says where the figure comes from and that numpy has none."""
    r = _bench("pi_factor.py", "--quick", tmp=tmp_path, timeout=60)
    p = r["pure_python"]
    assert p["ms_per_iteration_published"] == 24.5 and p["ms_per_iteration_pi_zero2_projected"] == 34.3
    assert 0 < p["ms_per_iteration_here"] < 34.3
    assert abs(r["factor"] - 34.3 / p["ms_per_iteration_here"]) <= 0.06 + 0.001 * r["factor"]
    assert r["factor_if_throttled"] < r["factor"]  # the 1.2 GHz reading of the same timing
    assert "https://github.com/alexdedyura/cpu-benchmark/issues/20" in r["source"]
    assert "Python 3.11.2" in r["source"] and "1.4 GHz" in r["source"]
    assert r["numpy"]["ratio"] is None and r["numpy"]["us_per_block_here"] > 0
    assert "no published" in r["numpy"]["note"]
    text = run.markdown({"pi_factor": {"ok": True, "seconds": 1.0, "result": r}}, run.machine(),
                        quick=True)
    assert "Pi Zero 2 W factor" in text and "issues/20" in text and "not measured" not in text
    assert _left_behind(tmp_path) == []
