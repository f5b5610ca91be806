"""The device process's own CPU, per hour of sensor time, split by stage; its start-up time to
the first coached block; its resident memory at start and after a run.

Steady CPU: the device runs in this process as ``rollsense run`` wires it
(``firmware.app.wiring.build_device``: the real drivers on the register-accurate fake chips,
Sampler, CoachingLoop with metrics and coach, the SQLite journal, the Link to a private
Mosquitto, the terminal display to /dev/null, the LED and buzzer on gpiozero's mock pins) on a
ManualClock that the loop's sleeps advance, one long quads-roller session. Every call into a
stage is timed with the calling thread's CPU clock (``time.thread_time_ns``), exclusive of the
stages it calls, so each nanosecond lands in exactly one stage:

- simulated user + fake chips: every call into the fake I2C bus (``device.fake.FakeI2CBus``:
  where the fake chips catch up with the clock and the simulated user is sampled) and the
  ManualClock's sleeps. Measured and **subtracted**: a real device has neither.
- drivers+sampler: ``Sampler.poll`` (the MPU-6050 and ADS1115 drivers, the I2C wrapper, the
  timebase, the force interpolation, the Block), less the fake bus inside it.
- metrics: ``MetricsEngine.update``; coach: the rest of ``Session.feed`` (``Coach.step``,
  the series); checkpoint: ``Session.checkpoint`` (the running summary, every 5 s);
  telemetry: ``CoachingLoop._telemetry`` (``Session.telemetry``, ``clean_json``) less the
  display and link calls inside it.
- journal: the Journal's methods called by the loop, plus its writer thread's CPU;
  link: ``Link.publish_telemetry``/``wake`` plus the link's own threads (its delivery thread
  and paho's network thread); display: ``TerminalDisplay``; outputs: ``perform`` (the cues).
- loop: whatever else the loop's thread spends (the rest of ``run_routine``).

The other threads are timed with their own CPU clocks (``time.pthread_getcpuclockid``). The
sum is checked against the process's CPU (``resource.getrusage``) over the same window, and
the instrumentation's own cost (calls x the measured cost of one timed empty call) is
subtracted. The window starts after ``WARMUP_S`` of sensor time (start-up is measured on its
own); the ManualClock runs sensor time as fast as the CPU allows, so threads that wake on
the wall clock (paho's keep-alive) are under-counted per sensor hour: they are idle anyway.

Start-up: ``rollsense run --protocol quads-roller`` as systemd starts it on a Pi, as a fresh
process (``bench/device_child.py``): the real ("pi") hardware path with the unit's
``Environment=`` lines, where only the I2C device file is replaced (the bus is answered over a
socket by the fake chips and the simulated user in this process, in real time) and the GPIO
chip (gpiozero's mock pins). So the simulator is not imported there, and its time and memory
are the device's own. Measured from just before the process is spawned to the first Block fed
to the coach, with its resident memory then (VmRSS, and its anonymous and file-backed parts);
the child is stopped at that moment. After each start-up a fresh interpreter with the same
environment imports only the stack the product owner fixed (Python, numpy, paho-mqtt,
gpiozero, sqlite3, smbus2) and reports its VmRSS: the floor under any device built on it, and
the start-up's RSS less that floor is the device's own share (the median of the pairs).

Pi Zero 2 W: the device's CPU per sensor hour is multiplied by a factor measured at run time by
``bench/pi_factor.py`` (its docstring says how): a published pure-Python timing on a
Raspberry Pi 3 B+ (the Zero 2 W's Cortex-A53), scaled to the Zero 2 W's 1.0 GHz, over the same
workload's CPU time here, in this process just before the sessions. At run time, not a
constant, because the ratio is to this machine and this Python: on another machine a constant
would be stale without a sign. The report gives the factor and its source.

    python bench/device_cpu.py [--json] [--minutes 5] [--rates 200,1000] [--quick]
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import marshal
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from smbus2 import i2c_msg

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from device_child import HEADER, recv_exact  # noqa: E402  (bench/, on the path just above)
from pi_factor import measure as measure_pi_factor  # noqa: E402  (bench/, on the path above)

I2C_M_RD = 0x0001  # smbus2's read flag on an i2c_msg
ROUTINE = "quads-roller"
WARMUP_S = 10.0  # sensor seconds left out of the steady window (first blocks, caches)
GOAL_CPU_PCT_1KHZ = 1.0  # steady CPU at 1 kHz, % of one core here
GOAL_STARTUP_S = 1.5  # process start to the first coached block, here
GOAL_RSS_START_MB = 45.0
# The stack the product owner fixed, imported and nothing else: the floor under the device's RSS
FIXED_STACK = ("numpy", "paho.mqtt.client", "gpiozero", "sqlite3", "smbus2")
STAGES = ("drivers+sampler", "metrics", "coach", "checkpoint", "telemetry", "journal", "link",
          "display", "outputs", "loop")
EXCLUDED = ("sim", "harness")


# ---------------------------------------------------------------------------- timing

class Meter:
    """Exclusive CPU time per stage on the loop's thread: a stack of open stages; each
    nanosecond of thread CPU is charged to the stage on top when it passes."""

    def __init__(self, base: str = "loop") -> None:
        self.ns: dict[str, int] = {}
        self.calls = 0
        self._stack = [base]
        self._last = time.thread_time_ns()
        self._owner = threading.get_ident()

    def _charge(self) -> None:
        now = time.thread_time_ns()
        top = self._stack[-1]
        self.ns[top] = self.ns.get(top, 0) + now - self._last
        self._last = now

    def wrap(self, fn, stage: str):
        meter = self

        def timed(*args, **kwargs):
            if threading.get_ident() != meter._owner:  # another thread: its own CPU clock
                return fn(*args, **kwargs)
            meter.calls += 1
            meter._charge()
            meter._stack.append(stage)
            try:
                return fn(*args, **kwargs)
            finally:
                meter._charge()
                meter._stack.pop()

        timed.__wrapped__ = fn
        return timed

    def snapshot(self) -> tuple[dict[str, int], int]:
        self._charge()
        return dict(self.ns), self.calls


def overhead_ns_per_call(n: int = 200_000) -> float:
    """The loop thread's CPU one timed call adds over the call itself (median of 5)."""
    m = Meter()

    def empty():
        return None

    timed = m.wrap(empty, "x")
    runs = []
    for _ in range(5):
        t0 = time.thread_time_ns()
        for _ in range(n):
            empty()
        t1 = time.thread_time_ns()
        for _ in range(n):
            timed()
        t2 = time.thread_time_ns()
        runs.append(((t2 - t1) - (t1 - t0)) / n)
    return sorted(runs)[2]


def thread_cpu_ns() -> dict[str, int]:
    """CPU of each live thread but this one, by name."""
    out: dict[str, int] = {}
    me = threading.get_ident()
    for t in threading.enumerate():
        if t.ident is None or t.ident == me:
            continue
        try:
            ns = time.clock_gettime_ns(time.pthread_getcpuclockid(t.ident))
        except (OSError, ProcessLookupError):
            continue
        out[t.name] = out.get(t.name, 0) + ns
    return out


def thread_stage(name: str) -> str:
    if name.startswith(("link-", "paho")) or "paho" in name:
        return "link"
    if name.startswith("journal"):
        return "journal"
    return "other threads"


def process_cpu_ns() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return int((r.ru_utime + r.ru_stime) * 1e9)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------------- bus tape

class RecordingBus:
    """In front of the fake chips' bus: passes every call on and keeps what it returned."""

    def __init__(self, fake) -> None:
        self.fake, self.tape = fake, []

    def i2c_rdwr(self, *msgs) -> None:
        self.fake.i2c_rdwr(*msgs)
        self.tape.append(("i2c_rdwr", [bytes(m) for m in msgs if m.flags & I2C_M_RD]))

    def read_i2c_block_data(self, addr, register, length, force=None):
        value = self.fake.read_i2c_block_data(addr, register, length)
        self.tape.append(("read_i2c_block_data", list(value)))
        return value

    def read_byte_data(self, addr, register, force=None):
        value = self.fake.read_byte_data(addr, register)
        self.tape.append(("read_byte_data", value))
        return value

    def write_i2c_block_data(self, addr, register, data, force=None) -> None:
        self.fake.write_i2c_block_data(addr, register, data)
        self.tape.append(("write_i2c_block_data", None))

    def write_byte_data(self, addr, register, value, force=None) -> None:
        self.fake.write_byte_data(addr, register, value)
        self.tape.append(("write_byte_data", None))

    def close(self) -> None:
        self.fake.close()


class ReplayBus:
    """Answers the drivers' calls from a RecordingBus's tape, in order, as an smbus2 ioctl
    would (no simulated user, no fake chip runs): the device's calls must come in the same
    order as they were recorded, or it raises."""

    def __init__(self, tape: list) -> None:
        self.tape, self.at = tape, 0

    def _next(self, name: str):
        kind, value = self.tape[self.at]
        if kind != name:
            raise RuntimeError(f"replay diverged at call {self.at}: {name} where {kind} was recorded")
        self.at += 1
        return value

    def i2c_rdwr(self, *msgs) -> None:
        datas = iter(self._next("i2c_rdwr"))
        for m in msgs:
            if m.flags & I2C_M_RD:
                data = next(datas)
                ctypes.memmove(m.buf, data, len(data))

    def read_i2c_block_data(self, addr, register, length, force=None):
        return list(self._next("read_i2c_block_data"))

    def read_byte_data(self, addr, register, force=None):
        return self._next("read_byte_data")

    def write_i2c_block_data(self, addr, register, data, force=None) -> None:
        self._next("write_i2c_block_data")

    def write_byte_data(self, addr, register, value, force=None) -> None:
        self._next("write_byte_data")

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------- steady CPU

def instrument(meter: Meter, built, clock) -> list:
    """Wrap the stages' methods (classes, this process only); returns what to undo."""
    from device.fake import FakeI2CBus
    from firmware.app.loop import CoachingLoop
    from firmware.common.clock import ManualClock
    from firmware.core.metrics import MetricsEngine
    from firmware.core.session import Session
    from firmware.edge.display import TerminalDisplay
    from firmware.edge.journal import Journal
    from firmware.edge.link import Link
    from firmware.edge.sampler import Sampler

    plan = [
        (FakeI2CBus, ("i2c_rdwr", "read_i2c_block_data", "write_i2c_block_data",
                      "read_byte_data", "write_byte_data"), "sim"),
        (ReplayBus, ("i2c_rdwr", "read_i2c_block_data", "write_i2c_block_data",
                     "read_byte_data", "write_byte_data"), "sim"),
        (ManualClock, ("sleep_s",), "harness"),
        (Sampler, ("poll",), "drivers+sampler"),
        (MetricsEngine, ("update",), "metrics"),
        (Session, ("feed",), "coach"),
        (Session, ("checkpoint",), "checkpoint"),
        (CoachingLoop, ("_telemetry",), "telemetry"),
        (Journal, ("record_event", "checkpoint", "finish_session", "start_session"), "journal"),
        (Link, ("publish_telemetry", "wake"), "link"),
        (TerminalDisplay, ("update", "cue", "message"), "display"),
        (type(built.outputs), ("perform",), "outputs"),
    ]
    undo = []
    for cls, names, stage in plan:
        for name in names:
            fn = cls.__dict__[name]
            undo.append((cls, name, fn))
            setattr(cls, name, meter.wrap(fn, stage))
    return undo


def steady(rate_hz: float, minutes: float, *, seed: int = 1) -> dict:
    """``minutes`` sensor minutes at ``rate_hz``, twice: first on the fake chips with the bus
    recorded, then the same session again with the bus answered from the recording (no
    simulated user, no fake chip) and the CPU measured per stage."""
    tape: list = []
    run_session(rate_hz, minutes, seed=seed, record=tape)
    r = run_session(rate_hz, minutes, seed=seed, replay=tape)
    r["bus_calls_replayed"] = len(tape)
    return r


def run_session(rate_hz: float, minutes: float, *, seed: int = 1, record: list | None = None,
                replay: list | None = None) -> dict:
    """One session of ``minutes`` sensor minutes at ``rate_hz``: CPU per stage per sensor hour."""
    from soak import MAX_ROLLING_S, long_routine_dir

    from device.hardware import open_hardware
    from firmware.app.simulate import scenario
    from firmware.app.wiring import OutputPins, build_device, sim_calibration
    from firmware.common.clock import ManualClock
    from firmware.core.metrics import MetricsSettings
    from firmware.edge.broker import PrivateBroker
    from firmware.edge.display import TerminalDisplay

    tmp = Path(tempfile.mkdtemp(prefix="rollsense-devcpu-"))
    broker = built = devnull = None
    undo: list = []
    try:
        routines = long_routine_dir(tmp, MAX_ROLLING_S)
        user = scenario(ROUTINE, "good", seed, rolling_s=minutes * 60 + WARMUP_S + 120)
        clock = ManualClock()
        hw = open_hardware("sim", clock=clock, source=user, sample_rate_hz=rate_hz)
        if record is not None:
            recorder = RecordingBus(hw.bus._smbus)
            hw.bus._smbus = recorder
        if replay is not None:
            player = ReplayBus(replay)
            hw.bus._smbus = player
        broker = PrivateBroker(tmp / "broker").start()
        devnull = open(os.devnull, "w")
        built = build_device(device_id="cpu-bench", hardware=hw, clock=clock,
                             pins=OutputPins(kind="sim"), state_dir=tmp / "state",
                             broker_url=broker.url, info={"bench": "device_cpu"},
                             settings=MetricsSettings(tool=user.tool, **sim_calibration(user)),
                             display=TerminalDisplay(devnull),
                             routines_dir=routines)
        built.link.start()
        built.sampler.start()
        stop = threading.Event()
        meter = Meter()
        undo = instrument(meter, built, clock)
        marks: dict = {}
        end_s = WARMUP_S + minutes * 60.0
        sleep = type(clock).sleep_s

        def paced_sleep(self, seconds):  # marks the window's ends in sensor time
            sleep(self, seconds)
            now = self.now_s()
            if "start" not in marks and now >= WARMUP_S:
                marks["start"] = (meter.snapshot(), thread_cpu_ns(), process_cpu_ns(), now,
                                  rss_mb())
            if now >= end_s and "end" not in marks:
                marks["end"] = (meter.snapshot(), thread_cpu_ns(), process_cpu_ns(), now,
                                rss_mb())
                stop.set()

        type(clock).sleep_s = paced_sleep
        undo.append((type(clock), "sleep_s", sleep))
        wall0 = time.monotonic()
        built.loop.run_routine(ROUTINE, stop)
        wall_s = time.monotonic() - wall0
        stats = dict(built.sampler.stats)
    finally:
        for cls, name, fn in reversed(undo):
            setattr(cls, name, fn)
        if built is not None:
            for closer in (built.link.stop, built.journal.close, built.outputs.close,
                           built.hardware.close):
                closer()
        if broker is not None:
            broker.close()
        if devnull is not None:
            devnull.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if record is not None:
        record.extend(recorder.tape)
    if replay is not None and player.at != len(replay):
        raise RuntimeError(f"replay stopped at call {player.at} of {len(replay)}")
    return steady_report(rate_hz, marks, wall_s, stats)


def steady_report(rate_hz: float, marks: dict, wall_s: float, stats: dict) -> dict:
    (ns0, calls0), thr0, proc0, t0, rss0 = marks["start"]
    (ns1, calls1), thr1, proc1, t1, rss1 = marks["end"]
    hours = (t1 - t0) / 3600.0
    per_h = {}
    for stage in set(ns0) | set(ns1):
        per_h[stage] = (ns1.get(stage, 0) - ns0.get(stage, 0)) / 1e9 / hours
    threads = {}
    for name in set(thr1):
        d = (thr1[name] - thr0.get(name, 0)) / 1e9 / hours
        threads[name] = d
        stage = thread_stage(name)
        per_h[stage] = per_h.get(stage, 0.0) + d
    calls = calls1 - calls0
    overhead_s_h = calls * overhead_ns_per_call() / 1e9 / hours
    device = {s: per_h.get(s, 0.0) for s in STAGES}
    if per_h.get("other threads"):
        device["other threads"] = per_h["other threads"]
    total = sum(device.values()) - overhead_s_h
    process_s_h = (proc1 - proc0) / 1e9 / hours
    excluded = {s: per_h.get(s, 0.0) for s in EXCLUDED}
    return {
        "rate_hz": rate_hz, "sensor_s": round(t1 - t0, 1), "wall_s": round(wall_s, 1),
        "cpu_s_per_hour": {k: round(v, 2) for k, v in device.items()},
        "device_cpu_s_per_hour": round(total, 2),
        "device_cpu_pct_core": round(100 * total / 3600.0, 3),
        "excluded_cpu_s_per_hour": {k: round(v, 2) for k, v in excluded.items()},
        "instrumentation_s_per_hour": round(overhead_s_h, 2),
        "process_cpu_s_per_hour": round(process_s_h, 2),
        "accounted_pct": round(100 * (sum(per_h.values())) / process_s_h, 1) if process_s_h else None,
        "threads_s_per_hour": {k: round(v, 2) for k, v in threads.items()},
        "timed_calls_per_s": round(calls / (t1 - t0), 1),
        "rss_window_start_mb": round(rss0, 1), "rss_window_end_mb": round(rss1, 1),
        "samples": stats["samples"], "gaps": stats["gaps"], "blocks": stats["blocks"],
    }


# ---------------------------------------------------------------------------- start-up

def serve_bus(sock: socket.socket, fake_bus) -> None:
    """Answer ``bench/device_child.py``'s bus calls with the fake chips until it hangs up."""
    while True:
        try:
            size = HEADER.unpack(recv_exact(sock, HEADER.size))[0]
            request = marshal.loads(recv_exact(sock, size))
        except OSError:
            return
        name, args = request[0], request[1:]
        try:
            if name == "i2c_rdwr":
                msgs = [i2c_msg.read(addr, n) if flags & I2C_M_RD else i2c_msg.write(addr, data)
                        for addr, flags, n, data in args[0]]
                fake_bus.i2c_rdwr(*msgs)
                answer = ("ok", [bytes(m) for m in msgs if m.flags & I2C_M_RD])
            else:
                answer = ("ok", getattr(fake_bus, name)(*args))
        except OSError as e:
            answer = ("error", e.errno or errno.EIO)
        data = marshal.dumps(answer)
        try:
            sock.sendall(HEADER.pack(len(data)) + data)
        except OSError:
            return


def startup_once(state_dir: str, seed: int, preimport: list[str] | None = None) -> dict:
    """One fresh ``rollsense run`` (``bench/device_child.py``, the unit's environment, the
    bus answered by fake chips here): spawn -> first coached block, its CPU and memory then.
    ``preimport``: the modules it imports, imported first part by part (where the memory is)."""
    from device.hardware import _sim_bus
    from firmware.app.simulate import scenario
    from firmware.common.clock import MonotonicClock

    user = scenario(ROUTINE, "good", seed)
    _bus, fakes = _sim_bus(MonotonicClock(), user, 0x68, "ads1115", 0x48)
    ours, theirs = socket.socketpair()
    server = threading.Thread(target=serve_bus, args=(ours, fakes["bus"]), daemon=True)
    server.start()
    env = {**os.environ, **UNIT_ENV, "GPIOZERO_PIN_FACTORY": "mock",
           "GPIOZERO_MOCK_PIN_CLASS": "mockpwmpin"}
    extra = []
    if preimport is not None:
        listing = Path(state_dir) / "modules.json"
        listing.write_text(json.dumps([m for m in preimport if m != "__main__"]))
        extra = ["--preimport", str(listing)]
    try:
        t0 = time.monotonic()
        out = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "device_child.py"), str(theirs.fileno()),
             *extra, "--", "--protocol", ROUTINE, "--state-dir", state_dir,
             "--broker", "mqtt://127.0.0.1:9"],
            cwd=ROOT, env=env, pass_fds=(theirs.fileno(),), capture_output=True, text=True,
            timeout=60)
    finally:
        theirs.close()
        ours.close()
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"start-up child said nothing: {out.stderr[-500:]}")
    r = json.loads(lines[-1])
    r["startup_s"] = r.pop("t_mono") - t0
    return r


def floor_once() -> dict:
    """VmRSS (MB) of a fresh interpreter, with the unit's environment, that imports only the
    fixed stack (``FIXED_STACK``) and nothing of rollsense: what any device built on it holds."""
    code = ("import json, " + ", ".join(FIXED_STACK) + "\n"
            "print(json.dumps({l.split(':')[0]: int(l.split()[1]) / 1024 for l in "
            "open('/proc/self/status') if l.startswith(('VmRSS', 'RssAnon', 'RssFile'))}))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **UNIT_ENV},
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def unit_environment() -> dict[str, str]:
    """The ``Environment=`` lines of systemd/rollsense.service (the device runs with them)."""
    env = {}
    for line in (ROOT / "systemd" / "rollsense.service").read_text().splitlines():
        if line.startswith("Environment="):
            key, _, value = line[len("Environment="):].partition("=")
            env[key] = value
    return env


UNIT_ENV = unit_environment()


def startup(runs: int = 5) -> dict:
    """Median over ``runs`` fresh processes: spawn -> first coached block, and memory then."""
    rows = []
    for i in range(runs):
        tmp = tempfile.mkdtemp(prefix="rollsense-devcpu-start-")
        try:
            rows.append(startup_once(tmp, seed=i + 1))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        # the floor right after each start-up, so both see the same page cache
        rows[-1]["floor_mb"] = floor_once()
    rows.sort(key=lambda r: r["startup_s"])
    mid = rows[len(rows) // 2]
    mem = mid["memory_mb"]
    own = sorted(r["memory_mb"]["VmRSS"] - r["floor_mb"]["VmRSS"] for r in rows)
    tmp = tempfile.mkdtemp(prefix="rollsense-devcpu-parts-")
    try:
        parts = startup_once(tmp, seed=1, preimport=mid["module_names"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"startup_s": round(mid["startup_s"], 3), "startup_cpu_s": round(mid["cpu_s"], 3),
            "rss_start_mb": round(mem["VmRSS"], 1), "rss_anon_mb": round(mem["RssAnon"], 1),
            "rss_file_mb": round(mem["RssFile"], 1), "modules": mid["modules"],
            "rss_floor_mb": round(mid["floor_mb"]["VmRSS"], 1),
            "rss_own_mb": round(own[len(own) // 2], 1), "fixed_stack": list(FIXED_STACK),
            "imports_sim": mid["sim"], "imports_dashboard": mid["dashboard"],
            "imports_fake_chips": "device.fake" in mid["module_names"],
            "startup_s_all": [round(r["startup_s"], 3) for r in rows],
            "memory_parts_mb": memory_parts(parts)}


def memory_parts(run: dict) -> dict[str, float]:
    """MB each part adds to the device's VmRSS at its first coached block (a run that imported
    its modules part by part first; the last part is what running to that block adds)."""
    out, last = {}, 0.0
    for label, rss in run["import_steps_mb"]:
        out[label] = round(rss - last, 1)
        last = rss
    out["running (threads, journal, buffers)"] = round(run["memory_mb"]["VmRSS"] - last, 1)
    return out


# ---------------------------------------------------------------------------- report

def measure(rates: list[float], minutes: float, startup_runs: int, quick: bool = False) -> dict:
    pi = measure_pi_factor(40 if quick else 200)
    out = {"minutes": minutes, "warmup_s": WARMUP_S, "pi_zero2_factor": pi["factor"],
           "pi_zero2_factor_source": pi["source"], "pi_factor": pi,
           "goal": {"cpu_pct_1khz": GOAL_CPU_PCT_1KHZ, "startup_s": GOAL_STARTUP_S,
                    "rss_start_mb": GOAL_RSS_START_MB}}
    out["startup"] = startup(startup_runs)
    out["rates"] = [steady(r, minutes) for r in rates]
    for x in out["rates"]:  # the device's CPU here x the factor: % of one Zero 2 W core
        x["pi_zero2_pct_core"] = round(100 * x["device_cpu_s_per_hour"] * pi["factor"] / 3600.0, 1)
    k = next((r for r in out["rates"] if r["rate_hz"] == 1000), None)
    out["met"] = {
        "cpu_1khz": None if k is None else k["device_cpu_pct_core"] <= GOAL_CPU_PCT_1KHZ,
        "startup": out["startup"]["startup_s"] < GOAL_STARTUP_S,
        "rss_start": out["startup"]["rss_start_mb"] < GOAL_RSS_START_MB,
    }
    return out


def table(r: dict) -> str:
    lines = []
    s = r["startup"]
    lines.append(f"start-up to the first coached block: {s['startup_s']} s (CPU {s['startup_cpu_s']} s), "
                 f"RSS then {s['rss_start_mb']} MB ({s['rss_anon_mb']} anonymous, {s['rss_file_mb']} "
                 f"file-backed); {s['modules']} modules, simulator imported: "
                 f"{s['imports_sim']}, dashboard: {s['imports_dashboard']}")
    lines.append(f"  the fixed stack alone ({', '.join(s['fixed_stack'])} imported, nothing of "
                 f"rollsense): {s['rss_floor_mb']} MB; the device's own share: {s['rss_own_mb']} MB")
    lines.append("  where that memory is (MB): " + ", ".join(
        f"{k} {v}" for k, v in s["memory_parts_mb"].items()))
    for x in r["rates"]:
        stages = ", ".join(f"{k} {v}" for k, v in x["cpu_s_per_hour"].items())
        lines.append(f"{x['rate_hz']:g} Hz: device {x['device_cpu_s_per_hour']} s CPU per sensor hour "
                     f"= {x['device_cpu_pct_core']} % of a core here, ~{x['pi_zero2_pct_core']} % of a "
                     f"Pi Zero 2 W core (x{r['pi_zero2_factor']:g}); by stage (s/h): {stages}; "
                     f"excluded {x['excluded_cpu_s_per_hour']}, instrumentation "
                     f"{x['instrumentation_s_per_hour']}; process {x['process_cpu_s_per_hour']} s/h, "
                     f"accounted {x['accounted_pct']} %; RSS {x['rss_window_start_mb']} -> "
                     f"{x['rss_window_end_mb']} MB")
    lines.append(f"Pi Zero 2 W factor x{r['pi_zero2_factor']:g}: {r['pi_zero2_factor_source']}")
    lines.append(f"met: {r['met']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--minutes", type=float, default=5.0,
                        help="sensor minutes measured per rate (default 5)")
    parser.add_argument("--rates", default="200,1000", help="IMU rates, Hz (default 200,1000)")
    parser.add_argument("--startup-runs", type=int, default=5, help="fresh processes timed (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 sensor minute, 3 start-ups")
    args = parser.parse_args(argv)
    minutes = 1.0 if args.quick else args.minutes
    if not 0.2 <= minutes <= 60:
        parser.error("--minutes must be 0.2..60")
    try:
        rates = [float(x) for x in args.rates.split(",")]
    except ValueError:
        parser.error("--rates: comma-separated numbers, e.g. 200,1000")
    r = measure(rates, minutes, 3 if args.quick else args.startup_runs, args.quick)
    print(json.dumps(r, indent=2) if args.json else table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
