"""Fleet load: K simulated devices through one private Mosquitto into two ingest worker
processes (MQTT v5 shared subscription, ``$share/...``) writing to PostgreSQL; K doubles from
50 until a step loses or duplicates a session, is far past the delivery goal, or the time
bound is near; sizes halfway between the last that met the latency goal and the first that
did not (each run as soon as it is known, between the doubling steps) narrow the answer.

Devices are simulated by ``bench/fleet_devices.py``: each is its own MQTT v5 connection
(client id, persistent session, LWT ``offline``, QoS 0 telemetry, QoS 1 events and summary,
exactly as the Link puts them on the wire), all of one device process served by one selector
loop, so a thousand of them cost a fraction of a core instead of measuring the load generator
(a paho client per device, as before, spent ~240 µs of CPU per message: more cores than this
machine has at K=1000). Each device publishes retained ``status``/``info``, telemetry at 10 Hz
and events (session_started, pass_completed about every second, session_ended) shaped per
docs/interfaces.md, then its session summary, re-sent every few seconds until the dashboard's
``ack`` arrives, as the Link does. Devices publish out of phase (each in its own slot of the
100 ms telemetry period), as independent devices do; each pass ends at its user's own moment
of the second. The fleet comes online first (every retained status and info stored: the
step reports how long that took), then every session starts within ``--start-spread-s``
(default 1 s: a class starting on the coach's word; 0 puts all K in one 100 ms period) and
so ends within it too. The ingest side is the real ``dashboard.workers.IngestGroup`` of
``rollsense dashboard --ingest-workers 2``: two worker processes, each with its own
PostgreSQL connection, handing what they stored to this (the dashboard) process. Delivery
latency = the moment a listener here (where the live view listens) is told of the message
minus publish time, one host clock: events and summaries are stored by then; telemetry is
queued for its worker's next batched write.

    python bench/fleet.py [--json] [--quick] [--max-k N] [--budget-s S] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The local server over its Unix socket as the current OS user (peer authentication; `make
# deps` creates that role), as the test suite connects: a fresh Debian asks a password over TCP.
PG_URL = os.environ.get("ROLLSENSE_BENCH_PG", "postgresql:///postgres?host=/var/run/postgresql")
GOAL_P99_MS = 100.0
GOAL_K = 1000
GIVE_UP_P99_MS = 3000.0  # keep doubling past the latency goal (loss is still worth knowing)
DEVICES_PER_PROC = 500
TELEMETRY_HZ = 10.0
RESEND_S = 5.0
WORKERS = 2  # ingest worker processes (rollsense dashboard --ingest-workers 2)
START_SPREAD_S = 1.0  # a class starting on the coach's word: every session within a second


# ---------------------------------------------------------------------------- device side

def run_devices(ids: list[str], broker_url: str, tag: str, session_s: float,
                ack_timeout_s: float, start_spread_s: float = 0.0) -> dict:
    """One device process: connect all, run the session, send summaries until acked."""
    from bench.fleet_devices import Fleet
    from firmware.common.mqtt_url import parse_broker_url

    address = parse_broker_url(broker_url)
    fleet_ = Fleet(ids, address.host, address.port, tag)
    try:
        fleet_.connect()
        print(json.dumps({"connected": sum(d.connected for d in fleet_.devices)}), flush=True)
        sys.stdin.readline()  # "go": the ingest has stored every device's status and info
        return fleet_.run_session(session_s, ack_timeout_s, RESEND_S, start_spread_s)
    finally:
        fleet_.close()


def run_probe(broker_url: str, topic: str = "rollsense/+/event") -> dict:
    """A bystander in a process of its own: two subscribers to every device's events, one at
    QoS 0 (MQTT 3.1.1) and one at QoS 1 (MQTT v5, Receive Maximum 1000, PUBACK at once), so
    the broker's own delivery latency for each QoS is measured beside the ingest's. Prints
    "ready" once subscribed, then the latencies once stdin says stop."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from firmware.common.mqtt_url import make_client, parse_broker_url

    address = parse_broker_url(broker_url)
    ms: dict[str, list[float]] = {"qos0": [], "qos1": []}
    subscribed = threading.Semaphore(0)
    clients = []
    for qos, protocol in ((0, mqtt.MQTTv311), (1, mqtt.MQTTv5)):
        c = make_client(address, client_id=f"bench-probe-qos{qos}", protocol=protocol)

        def on_message(client, userdata, msg, key=f"qos{qos}") -> None:
            sent = json.loads(msg.payload).get("bench_sent_s")
            if isinstance(sent, float):
                ms[key].append(1000 * (time.time() - sent))

        c.on_message = on_message
        c.on_subscribe = lambda *_: subscribed.release()
        c.on_connect = lambda client, u, f, rc, p, qos=qos: client.subscribe(topic, qos)
        props = None
        if protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.CONNECT)
            props.ReceiveMaximum = 1000
        c.connect(address.host, address.port, properties=props)
        c.loop_start()
        clients.append(c)
    for _ in clients:
        subscribed.acquire(timeout=10)
    print("ready", flush=True)
    sys.stdin.readline()
    for c in clients:
        c.disconnect()
        c.loop_stop()
    return {k: {"n": len(v), "p50_ms": _pct(v, 50), "p99_ms": _pct(v, 99)} for k, v in ms.items()}


# ---------------------------------------------------------------------------- ingest side

class Collector:
    """Listener on both ingest workers: delivery latency (ms) per kind."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ms: dict[str, list[float]] = {"telemetry": [], "event": [], "session": []}
        self.infos = 0  # retained info documents stored (one per device connected)

    def __call__(self, kind: str, device_id: str, payload: dict) -> None:
        if kind == "info":
            with self.lock:
                self.infos += 1
            return
        sent = payload.get("bench_sent_s")
        if kind in self.ms and isinstance(sent, float):
            ms = 1000 * (time.time() - sent)
            with self.lock:
                self.ms[kind].append(ms)


def _wait_quiet(collector: Collector, quiet_s: float, max_s: float) -> None:
    """Wait until the ingest has received nothing new for ``quiet_s`` (at most ``max_s``)."""
    deadline, last, still_since = time.monotonic() + max_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        with collector.lock:
            n = sum(len(v) for v in collector.ms.values())
        if n != last:
            last, still_since = n, time.monotonic()
        elif time.monotonic() - still_since >= quiet_s:
            return
        time.sleep(0.25)


def _wait_for(done, max_s: float) -> float | None:
    """Seconds until ``done()`` holds, or None if it did not within ``max_s``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_s:
        if done():
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


def create_db(pg_url: str) -> tuple[str, str]:
    import psycopg

    name = "rollsense_bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    path, sep, query = pg_url.partition("?")  # keep ?host=/socket/dir after the database name
    return name, f"{path.rpartition('/')[0]}/{name}{sep}{query}"


def drop_db(pg_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def run_step(k: int, db_url: str, session_s: float, ack_timeout_s: float,
             start_spread_s: float = START_SPREAD_S, bridged: bool = False) -> dict:
    """One fleet size: fresh broker, two ingest workers, K devices in device processes.
    ``bridged``: the devices on a site broker bridged to a centre broker, as
    ``rollsense broker add-bridge`` configures it (docs/sites.md); the ingest and the probe
    at the centre."""
    from dashboard.store import open_store
    from dashboard.workers import IngestGroup
    from firmware.app.bridgeadmin import bridge_conf
    from firmware.common import wire
    from firmware.edge.broker import PrivateBroker

    tag = f"k{k}-{uuid.uuid4().hex[:6]}"
    tmp = Path(tempfile.mkdtemp(prefix="rollsense-fleet-"))
    broker = PrivateBroker(tmp / "broker", persistence=False).start()  # the centre, if bridged
    site = None
    device_url, probe_topic = broker.url, wire.subscription("event")
    if bridged:
        site = PrivateBroker(tmp / "site", persistence=False, extra_conf=bridge_conf(
            "bench", "127.0.0.1", broker.port, "site.bench", "bench", ca_path=None)).start()
        device_url, probe_topic = site.url, wire.site_subscription("event")
    store = open_store(db_url)
    collector = Collector()
    group = IngestGroup(broker.url, db_url, store, WORKERS, client_id=f"bench-ingest-{tag}",
                        group="bench")
    group.add_listener(collector)
    procs: list[subprocess.Popen] = []
    results: list[dict] = []
    t0, cpu0, pg0 = time.monotonic(), os.times(), _postgres_cpu_s()
    broker_cpu_s = None
    probe = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--probe",
                              "--broker-url", broker.url, "--probe-topic", probe_topic],
                             stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        if probe.stdout.readline().strip() != "ready":
            raise RuntimeError("the broker probe did not subscribe")
        group.start()
        if not group.wait_connected(30):
            raise RuntimeError("an ingest worker did not connect")
        worker_cpu0 = [_proc_cpu_s(w.proc.pid) or 0.0 for w in group.workers]
        n_proc = max(1, math.ceil(k / DEVICES_PER_PROC))
        ids = [f"fleet-{tag}-{i}" for i in range(k)]
        for p in range(n_proc):
            chunk = ids[p::n_proc]
            procs.append(subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--device-proc",
                 "--broker-url", device_url, "--tag", tag, "--session-s", str(session_s),
                 "--ack-timeout-s", str(ack_timeout_s), "--start-spread-s", str(start_spread_s),
                 "--ids", ",".join(chunk)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        # the fleet comes online first (every device's retained status and info stored),
        # then the sessions start: what a class sees, and not a connect storm's backlog
        connected = sum(json.loads(pr.stdout.readline() or '{"connected": 0}')["connected"]
                        for pr in procs)
        online_s = _wait_for(lambda: collector.infos >= connected, max_s=60.0)
        for pr in procs:
            pr.stdin.write("go\n")
            pr.stdin.flush()
        for pr in procs:
            out, err = pr.communicate(timeout=session_s + ack_timeout_s + 90)
            if pr.returncode != 0:
                raise RuntimeError(f"device process failed: {err.strip().splitlines()[-1:]}")
            results.append(json.loads(out))
        _wait_quiet(collector, quiet_s=2.0, max_s=60.0)  # let the ingest drain its backlog
        probed = json.loads(probe.communicate("stop\n", timeout=30)[0])
        cpu1, pg1 = os.times(), _postgres_cpu_s()  # before the stores' backends exit
        worker_cpu_s = sum((_proc_cpu_s(w.proc.pid) or 0.0) - c
                           for w, c in zip(group.workers, worker_cpu0, strict=True))
        expected = [s for r in results for s in r["sessions"]]
        rows = store.query(
            "SELECT session_id, COUNT(*) AS n FROM sessions WHERE session_id LIKE ? "
            "GROUP BY session_id", (f"{tag}-%",))
        broker_cpu_s = _proc_cpu_s(broker.proc.pid)
        site_cpu_s = _proc_cpu_s(site.proc.pid) if site is not None else None
    finally:
        for pr in [*procs, probe]:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
        group.stop()
        store.close()
        if site is not None:
            site.close()
        broker.close()
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.monotonic() - t0
    stored = {r["session_id"]: r["n"] for r in rows}
    lost = sum(1 for s in expected if s not in stored)
    dup_rows = sum(n - 1 for n in stored.values() if n > 1)
    sent = {key: sum(r["sent"][key] for r in results) for key in ("telemetry", "event", "session")}
    all_ms = [x for v in collector.ms.values() for x in v]
    step = {
        "k": k, "bridged": bridged, "device_procs": len(procs), "seconds": round(time.monotonic() - t0, 1),
        "online_s": None if online_s is None else round(online_s, 2),  # connected -> all stored
        "connected": sum(r["connected"] for r in results),
        "acked": sum(r["acked"] for r in results),
        "sessions_expected": k, "sessions_stored": len(stored), "sessions_lost": lost + (
            k - len(expected)), "sessions_duplicated": dup_rows,
        "session_redeliveries": sum(w.stats.get("sessions_dup", 0) for w in group.workers),
        "sent": sent,
        "received": {kind: len(v) for kind, v in collector.ms.items()},
        "p50_ms": _pct(all_ms, 50), "p99_ms": _pct(all_ms, 99), "max_ms": _pct(all_ms, 100),
        "p99_ms_by_kind": {kind: _pct(v, 99) for kind, v in collector.ms.items()},
        "broker_probe": probed,  # the broker's own event delivery, per QoS (run_probe)
        "publisher_late": sum(r["late_publishes"] for r in results),
        "qos1_unacked": sum(r["unacked_qos1"] for r in results),
        "offered_msgs_per_s": round(sum(sent.values()) / session_s, 1),
        "ingest_dropped": sum(w.stats.get("dropped", 0) for w in group.workers),
        "worker_restarts": sum(w.restarts for w in group.workers),
        "cpu_share": {  # CPU seconds per wall second (1.0 = one core busy)
            "ingest_workers": round(worker_cpu_s / wall, 2),  # all worker processes
            "dashboard": round((cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall, 2),
            "devices": round((cpu1.children_user + cpu1.children_system
                              - cpu0.children_user - cpu0.children_system) / wall, 2),
            "broker": round(broker_cpu_s / wall, 2) if broker_cpu_s is not None else None,
            "site_broker": round(site_cpu_s / wall, 2) if bridged and site_cpu_s is not None else None,
            "postgres": round((pg1 - pg0) / wall, 2),  # all postgres processes on the host
        },
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }
    step["ok"] = bool(step["sessions_lost"] == 0 and dup_rows == 0 and step["p99_ms"] is not None
                      and step["p99_ms"] < GOAL_P99_MS)
    return step


def _proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (from /proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_s() -> float:
    """CPU seconds of every live process named postgres (the server serves others too)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        total += _proc_cpu_s(int(proc.name)) or 0.0
    return total


def fleet(ks: list[int], session_s: float, budget_s: float, pg_url: str = PG_URL,
          start_spread_s: float = START_SPREAD_S) -> dict:
    """Steps through ``ks`` while no session is lost and the budget allows, with one size
    between the last pass and the first miss of the latency goal, run as soon as that miss
    happens (so it runs on a machine as quiet as its neighbours); the largest passing K."""
    name, db_url = create_db(pg_url)
    t_start = time.monotonic()
    steps: list[dict] = []
    stopped = "all sizes tried"

    def fits(k: int) -> bool:
        estimate = steps[-1]["seconds"] * k / steps[-1]["k"] if steps else session_s + 20
        return time.monotonic() - t_start + estimate <= budget_s

    def step(k: int) -> dict:
        steps.append(run_step(k, db_url, session_s, ack_timeout_s=max(10.0, 2 * session_s),
                              start_spread_s=start_spread_s))
        return steps[-1]

    try:
        for k in ks:
            if not fits(k):
                stopped = f"time bound ({budget_s:.0f} s) before K={k}"
                break
            last = step(k)
            mid = _between(steps)
            if mid and fits(mid):
                step(mid)
            if last["sessions_lost"] or last["sessions_duplicated"]:
                stopped = f"K={k} lost or duplicated sessions"
                break
            if not last["p99_ms"] or last["p99_ms"] > GIVE_UP_P99_MS:
                stopped = f"K={k}: p99 {last['p99_ms'] or math.nan:.0f} ms, far past the goal"
                break
        steps.sort(key=lambda s: s["k"])
    finally:
        drop_db(pg_url, name)
    best = max((s["k"] for s in steps if s["ok"]), default=0)
    no_loss = max((s["k"] for s in steps if s["sessions_lost"] == 0
                   and s["sessions_duplicated"] == 0), default=0)
    return {"goal_k": GOAL_K, "goal_p99_ms": GOAL_P99_MS, "session_s": session_s,
            "start_spread_s": start_spread_s, "workers": WORKERS,
            "telemetry_hz": TELEMETRY_HZ, "best_k": best, "best_k_zero_loss_any_latency": no_loss, "stopped": stopped, "steps": steps,
            "ulimit_n": _nofile(), "database": name, "devices": "MQTT v5 connections on one selector per process (bench/fleet_devices.py)",
            "met": best >= GOAL_K}


def bridge_compare(ks: list[int], session_s: float, pg_url: str = PG_URL,
                   start_spread_s: float = START_SPREAD_S) -> dict:
    """At each K, the direct run and the bridged one (devices on a site broker bridged to the
    centre, docs/sites.md) one after the other on the same machine: loss, p99 and their ratio."""
    name, db_url = create_db(pg_url)
    rows = []
    try:
        for k in ks:
            pair = [run_step(k, db_url, session_s, ack_timeout_s=max(10.0, 2 * session_s),
                             start_spread_s=start_spread_s, bridged=b) for b in (False, True)]
            direct, bridged = pair
            ratio = (round(bridged["p99_ms"] / direct["p99_ms"], 2)
                     if direct["p99_ms"] and bridged["p99_ms"] else None)
            rows.append({"k": k, "direct": direct, "bridged": bridged, "p99_ratio": ratio})
    finally:
        drop_db(pg_url, name)
    return {"session_s": session_s, "workers": WORKERS, "rows": rows}


def bridge_table(r: dict) -> str:
    lines = ["| K | run | stored | lost | dup | p50 ms | p99 ms | bridged/direct p99 | "
             "CPU: centre broker, site broker, workers |", "|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        for kind in ("direct", "bridged"):
            s = row[kind]
            cpu = s["cpu_share"]
            lines.append(f"| {row['k']} | {kind} | {s['sessions_stored']} | {s['sessions_lost']} | "
                         f"{s['sessions_duplicated']} | {s['p50_ms'] or math.nan:.1f} | "
                         f"{s['p99_ms'] or math.nan:.1f} | "
                         f"{row['p99_ratio'] if kind == 'bridged' else ''} | "
                         f"{cpu['broker']}, {cpu['site_broker'] if kind == 'bridged' else '-'}, "
                         f"{cpu['ingest_workers']} |")
    return "\n".join(lines)


def _between(steps: list[dict]) -> int | None:
    """A size halfway between the largest passing K and the first failing one above it
    (rounded to 50), while they are far apart: doubling alone says 400 for a limit of 700."""
    best = max((s["k"] for s in steps if s["ok"]), default=0)
    above = [s["k"] for s in steps if not s["ok"] and s["k"] > best]
    if not best or not above or min(above) < 1.25 * best:
        return None
    mid = 50 * round((best + min(above)) / 100)
    return mid if best < mid < min(above) and mid not in {s["k"] for s in steps} else None


def _nofile() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def table(r: dict) -> str:
    lines = [f"fleet: best K = {r['best_k']} (goal {r['goal_k']}); zero loss at any latency up "
             f"to K = {r['best_k_zero_loss_any_latency']}; stopped: {r['stopped']}",
             f"{'K':>6} {'stored':>7} {'lost':>5} {'dup':>4} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'tele recv/sent':>16} {'late pubs':>10} {'ok':>4}"]
    for s in r["steps"]:
        lines.append(f"{s['k']:>6} {s['sessions_stored']:>7} {s['sessions_lost']:>5} "
                     f"{s['sessions_duplicated']:>4} {s['p50_ms'] or math.nan:>8.1f} "
                     f"{s['p99_ms'] or math.nan:>8.1f} "
                     f"{s['received']['telemetry']:>7}/{s['sent']['telemetry']:<8} "
                     f"{s['publisher_late']:>10} {str(s['ok']):>4}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--quick", action="store_true", help="K = 5, 10; 2 s sessions")
    parser.add_argument("--max-k", type=int, default=3200)
    parser.add_argument("--budget-s", type=float, default=300.0, help="total time bound (s)")
    parser.add_argument("--session-s", type=float, default=10.0, help="session length (s)")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--device-proc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--broker-url", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    parser.add_argument("--probe-topic", default="rollsense/+/event", help=argparse.SUPPRESS)
    parser.add_argument("--bridged", metavar="K,K...", help="compare direct and bridged runs "
                        "(devices on a site broker, ingest at the centre) at these sizes")
    parser.add_argument("--ack-timeout-s", type=float, default=20.0, help=argparse.SUPPRESS)
    parser.add_argument("--start-spread-s", type=float, default=START_SPREAD_S,
                        help="the sessions start spread over this many seconds (0: all in "
                             "one 100 ms period)")
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(run_probe(args.broker_url, args.probe_topic)))
        return 0
    if args.device_proc:
        r = run_devices(args.ids.split(","), args.broker_url, args.tag, args.session_s,
                        args.ack_timeout_s, args.start_spread_s)
        print(json.dumps(r))
        return 0
    if args.bridged:
        ks = [int(k) for k in args.bridged.split(",")]
        r = bridge_compare(ks, 2.0 if args.quick else args.session_s, args.pg_url,
                           args.start_spread_s)
        print(json.dumps(r, indent=2) if args.json else bridge_table(r))
        return 0
    if args.quick:
        ks, session_s, budget = [5, 10], 2.0, 30.0
    else:
        ks, k = [10, 25], 50  # below 50 too, so a machine that fails at 50 still gets a number
        while k <= args.max_k:
            ks.append(k)
            k *= 2
        if GOAL_K not in ks and GOAL_K <= args.max_k:
            ks = sorted(set(ks) | {GOAL_K})
        session_s, budget = args.session_s, args.budget_s
    r = fleet(ks, session_s, budget, args.pg_url, args.start_spread_s)
    print(json.dumps(r, indent=2) if args.json else table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
