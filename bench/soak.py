"""Device soak: resident memory and CPU of the device process over a long session at 1 kHz
on simulated hardware, accelerated.

The whole device runs in this process as it would on the Pi: simulated user -> fake chips ->
real drivers -> Sampler -> CoachingLoop loop (metrics, coach, journal on disk, and by default the
Link to a private Mosquitto), on a ManualClock that the loop's sleeps advance, so it runs as
fast as the CPU allows. The routine is quads-roller with its rolling target raised so one
session lasts the whole run. RSS (from /proc/self/statm) is sampled every simulated minute;
the process also holds the simulator (its modules, the simulated user's hour of script and the
fake chips), which a Pi does not: its memory is measured as it is set up (RSS before and after)
and subtracted, so the RSS rows are the device's alone (the process's are in the JSON).
CPU: the whole process's, and the device's alone: less the CPU spent inside the fake chips'
bus (``SimCpuBus``: where the fake chips catch up with the clock and the simulated user is
sampled), measured with the loop thread's CPU clock around every bus call. (bench/device_cpu.py
splits the device's own CPU by stage, with the bus replayed from a recording instead.)

With ``--session-minutes M`` the same time is rolled as back-to-back sessions of M minutes
(the way a device is used: many short sessions a day), each ended as a stop would end it, for
up to MAX_MINUTES_SESSIONS. bench/run.py runs three hours of 5-minute sessions: in the first
hour RSS rises by 1-3 MB while live Python objects barely do (the allocator's own warm-up:
obmalloc arenas and glibc's free lists settling), and it then levels off, so an hour-long run
overstates the long-term slope.

    python bench/soak.py [--json] [--minutes 60] [--rate-hz 1000] [--quick] [--no-link]
                         [--session-minutes M]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL_RSS_MB = 60.0
GOAL_SLOPE_MB_PER_H = 1.0  # "flat": growth after warm-up at most this per simulated hour
WARMUP_MIN = 2  # minutes left out of the slope (imports, first allocations, caches)
MAX_ROLLING_S = 3600.0  # the routine validator's largest rolling target
MAX_MINUTES = 60  # rolling time < session time, so the routine never completes within this
MAX_MINUTES_SESSIONS = 600  # with --session-minutes each session is shorter than that anyway
ROUTINE = "quads-roller"


def rss_mb() -> float:
    """Resident set size of this process, MB (from /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


class SimCpuBus:
    """In front of the fake chips' bus: passes every call on and adds up the calling thread's
    CPU inside it (``ns``), the simulator's share of the process's CPU."""

    METHODS = ("i2c_rdwr", "read_i2c_block_data", "write_i2c_block_data", "read_byte_data",
               "write_byte_data")

    def __init__(self, fake) -> None:
        self.fake, self.ns = fake, 0

    def __getattr__(self, name: str):
        fn = getattr(self.fake, name)
        if name not in self.METHODS:
            return fn

        def timed(*args, **kwargs):
            t0 = time.thread_time_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ns += time.thread_time_ns() - t0

        return timed


def long_routine_dir(tmp: Path, rolling_min_s: float) -> Path:
    """A user routine directory holding quads-roller with a rolling target of ``rolling_min_s``."""
    from firmware.core.protocols import ROUTINES_DIR

    text = (ROUTINES_DIR / f"{ROUTINE}.toml").read_text()
    text, n = re.subn(r"(?m)^rolling_min_s\s*=.*$", f"rolling_min_s = {rolling_min_s:.1f}", text)
    if n != 1:
        raise RuntimeError("could not set rolling_min_s in the routine file")
    d = tmp / "routines"
    d.mkdir()
    (d / f"{ROUTINE}.toml").write_text(text)
    return d


class MinuteProbe:
    """The loop's display: samples RSS and CPU every simulated minute; stops at the end. With
    ``session_s``, also ends each session (``session_stop``) after that many sensor seconds."""

    def __init__(self, minutes: int, stop: threading.Event, sim_cpu_s=lambda: 0.0,
                 session_s: float | None = None) -> None:
        self.minutes, self.stop, self.sim_cpu_s = minutes, stop, sim_cpu_s
        self.session_s = session_s
        self.samples: list[dict] = []
        self._next_min = 0
        self._t_first: float | None = None
        self.session_stop = stop
        self._t_session: float | None = None

    def new_session(self) -> threading.Event:
        """The stop event of the next session (the whole run's when sessions are not split)."""
        if self.session_s is not None:
            self.session_stop, self._t_session = threading.Event(), None
        return self.session_stop

    def update(self, telemetry: dict) -> None:
        t = telemetry.get("t_s")
        if t is None:
            return
        if self._t_first is None:
            self._t_first = t
        if self._t_session is None:
            self._t_session = t
        if self.session_s is not None and t - self._t_session >= self.session_s:
            self.session_stop.set()
        elapsed_min = (t - self._t_first) / 60.0
        if elapsed_min >= self._next_min:
            self.samples.append({"minute": self._next_min, "rss_mb": rss_mb(), "cpu_s": cpu_s(),
                                 "blocks": sys.getallocatedblocks(),
                                 "sim_cpu_s": self.sim_cpu_s(), "passes": telemetry.get("passes")})
            self._next_min += 1
            if self._next_min > self.minutes:
                self.stop.set()
                self.session_stop.set()

    def cue(self, name: str, t_s: float) -> None:
        pass

    def message(self, text: str) -> None:
        pass


def soak(minutes: int = 60, rate_hz: float = 1000.0, link: bool = True, seed: int = 1,
         journal_cache_kib: int | None = None, session_minutes: float | None = None) -> dict:
    """Run ``minutes`` simulated minutes: one session, or back-to-back sessions of
    ``session_minutes`` each; RSS/CPU per minute and the verdict."""
    from device.hardware import open_hardware
    from firmware.app.loop import CoachingLoop, DeviceParts
    from firmware.app.wiring import COACHING_DRAIN_S, sim_calibration
    from firmware.common.clock import ManualClock, MonotonicClock
    from firmware.core.metrics import MetricsSettings
    from firmware.edge.broker import PrivateBroker
    from firmware.edge.journal import Journal
    from firmware.edge.link import Link
    from firmware.edge.sampler import Sampler

    tmp = Path(tempfile.mkdtemp(prefix="rollsense-soak-"))
    broker = lnk = journal = hw = None
    start_rss, start_cpu, wall0 = rss_mb(), cpu_s(), time.monotonic()
    try:
        session_s = minutes * 60.0
        routines = long_routine_dir(tmp, MAX_ROLLING_S)  # never reached within the run
        clock = ManualClock()
        rss_before_sim = rss_mb()
        from firmware.app.simulate import scenario  # here: its memory is the simulator's
        user = scenario(ROUTINE, "good", seed, rolling_s=session_s + 120)
        hw = open_hardware("sim", clock=clock, source=user, sample_rate_hz=rate_hz)
        sim_rss = rss_mb() - rss_before_sim
        sim_bus = hw.bus._smbus = SimCpuBus(hw.bus._smbus)
        sampler = Sampler(hw.imu, hw.force, clock, drain_interval_s=COACHING_DRAIN_S)
        journal = Journal(tmp / "journal.db")
        if journal_cache_kib is not None:  # an experiment: how much growth is SQLite's cache
            for db in (journal._db, journal._relaxed, journal._ckpt):
                db.execute(f"PRAGMA cache_size=-{int(journal_cache_kib)}")
        if link:
            broker = PrivateBroker(tmp / "broker").start()
            lnk = Link("soak-device", broker.url, journal, MonotonicClock(), info={"bench": "soak"})
            lnk.start()
        stop = threading.Event()
        probe = MinuteProbe(minutes, stop, lambda: sim_bus.ns / 1e9,
                            None if session_minutes is None else session_minutes * 60.0)
        app = CoachingLoop(device_id="soak-device",
                        parts=DeviceParts(sampler=sampler, clock=clock, journal=journal,
                                          link=lnk, display=probe),
                        settings=MetricsSettings(tool=user.tool, **sim_calibration(user)),
                        routines_dir=routines, state_dir=tmp)
        sampler.start()
        passes = []  # of each session (not its summary: the bench must not hold what grows)
        while not stop.is_set():
            passes.append(app.run_routine(ROUTINE, probe.new_session()).get("passes") or 0)
        link_stats = dict(lnk.stats) if lnk else None
        sampler_stats = dict(sampler.stats)
    finally:
        for closer in (getattr(lnk, "stop", None), getattr(journal, "close", None),
                       getattr(hw, "close", None), getattr(broker, "close", None)):
            if closer is not None:
                closer()
        shutil.rmtree(tmp, ignore_errors=True)
    return report(probe.samples, minutes, rate_hz, link, journal_cache_kib, start_rss, start_cpu,
                  time.monotonic() - wall0, passes, sampler_stats, link_stats, sim_rss,
                  session_minutes)


def report(samples, minutes, rate_hz, link, cache_kib, start_rss, start_cpu, wall_s, passes,
           sampler_stats, link_stats, sim_rss=0.0, session_minutes=None) -> dict:
    process_rss = np.array([s["rss_mb"] for s in samples])
    rss = process_rss - sim_rss  # the device's alone
    mins = np.array([s["minute"] for s in samples], float)
    warm = mins >= min(WARMUP_MIN, max(mins.max() - 1, 0))
    slope = float(np.polyfit(mins[warm] / 60.0, rss[warm], 1)[0]) if warm.sum() >= 2 else float("nan")
    blocks = np.array([s["blocks"] for s in samples], float)
    blocks_slope = (float(np.polyfit(mins[warm] / 60.0, blocks[warm], 1)[0]) if warm.sum() >= 2
                    else float("nan"))
    cpu_run = samples[-1]["cpu_s"] - samples[0]["cpu_s"]
    sim_run = samples[-1]["sim_cpu_s"] - samples[0]["sim_cpu_s"]
    sim_h = (mins[-1] - mins[0]) / 60.0
    out = {
        "minutes": minutes, "rate_hz": rate_hz, "link": link, "journal_cache_kib": cache_kib,
        "process_start_rss_mb": round(start_rss, 2),
        "simulator_rss_mb": round(sim_rss, 2),
        "process_rss_max_mb": round(float(process_rss.max()), 2),
        "rss_start_mb": round(float(rss[0]), 2), "rss_end_mb": round(float(rss[-1]), 2),
        "rss_max_mb": round(float(rss.max()), 2),
        "rss_slope_mb_per_h": round(slope, 3),
        # live Python objects (sys.getallocatedblocks): flat while RSS grows is the allocator
        # keeping memory (fragmentation), not objects kept
        "python_blocks_start": int(blocks[0]), "python_blocks_end": int(blocks[-1]),
        "python_blocks_slope_per_h": round(blocks_slope),
        "cpu_s_per_sim_hour": round(cpu_run / sim_h, 1) if sim_h > 0 else None,
        "sim_cpu_s_per_sim_hour": round(sim_run / sim_h, 1) if sim_h > 0 else None,
        "device_cpu_s_per_sim_hour": round((cpu_run - sim_run) / sim_h, 1) if sim_h > 0 else None,
        "cpu_total_s": round(cpu_s() - start_cpu, 1),
        "wall_s": round(wall_s, 1),
        "speedup_x": round(sim_h * 3600 / wall_s, 1) if wall_s > 0 else None,
        "samples_read": sampler_stats["samples"], "gaps": sampler_stats["gaps"],
        "sessions": len(passes), "session_minutes": session_minutes,
        "passes": sum(passes),
        "telemetry_sent": (link_stats or {}).get("telemetry_sent"),
        "outbox_published": (link_stats or {}).get("outbox_published"),
        "rss_mb_by_minute": [round(float(x), 2) for x in rss],
        "goal": {"rss_max_mb": GOAL_RSS_MB, "slope_max_mb_per_h": GOAL_SLOPE_MB_PER_H,
                 "warmup_min": WARMUP_MIN},
    }
    out["met"] = bool(out["rss_max_mb"] <= GOAL_RSS_MB and abs(slope) <= GOAL_SLOPE_MB_PER_H)
    return out


def table(r: dict) -> str:
    sessions = (f"{r['sessions']} sessions of {r['session_minutes']:g} min" if r.get("session_minutes")
                else "one session")
    return (f"soak {r['minutes']} simulated min at {r['rate_hz']:g} Hz, {sessions} (link: {r['link']}): "
            f"the device's RSS start {r['rss_start_mb']} MB, end {r['rss_end_mb']} MB, max "
            f"{r['rss_max_mb']} MB (the process {r['process_rss_max_mb']} MB less the simulator's "
            f"{r['simulator_rss_mb']} MB), slope {r['rss_slope_mb_per_h']} MB/h; live Python objects "
            f"{r['python_blocks_start']} -> {r['python_blocks_end']} blocks "
            f"({r['python_blocks_slope_per_h']:+d}/h); CPU {r['cpu_s_per_sim_hour']} s per simulated "
            f"hour, the device alone {r['device_cpu_s_per_sim_hour']} s (the simulator "
            f"{r['sim_cpu_s_per_sim_hour']} s); wall {r['wall_s']} s ({r['speedup_x']}x); met: {r['met']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--minutes", type=int, default=60,
                        help=f"simulated minutes (default 60; at most {MAX_MINUTES}, "
                             f"{MAX_MINUTES_SESSIONS} with --session-minutes)")
    parser.add_argument("--rate-hz", type=float, default=1000.0, help="IMU sample rate")
    parser.add_argument("--quick", action="store_true", help="5 simulated minutes")
    parser.add_argument("--no-link", action="store_true", help="without the MQTT link")
    parser.add_argument("--session-minutes", type=float, default=None,
                        help="back-to-back sessions this long (default: one session)")
    parser.add_argument("--journal-cache-kib", type=int, default=None,
                        help="SQLite page cache of the journal's connections (default: SQLite's)")
    args = parser.parse_args(argv)
    minutes = 5 if args.quick else args.minutes
    most = MAX_MINUTES if args.session_minutes is None else MAX_MINUTES_SESSIONS
    if not 1 <= minutes <= most:
        parser.error(f"--minutes must be 1..{most}" + (" with --session-minutes" if args.session_minutes else ""))
    if args.session_minutes is not None and not 0 < args.session_minutes <= MAX_MINUTES:
        parser.error(f"--session-minutes must be more than 0 and at most {MAX_MINUTES}")
    r = soak(minutes, args.rate_hz, link=not args.no_link, journal_cache_kib=args.journal_cache_kib,
             session_minutes=args.session_minutes)
    print(json.dumps(r, indent=2) if args.json else table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
