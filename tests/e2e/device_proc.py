"""A minimal device process for the SIGKILL test: Journal + Link running short sessions.

    python -m tests.e2e.device_proc STATE_DIR BROKER_URL DEVICE_ID SEED [--drain | --timed S]

Each start recovers an interrupted session first. Then it runs sessions of 50-250 ms (a few
events each, a checkpoint, a finished summary) until killed. ``--drain`` runs no sessions:
it delivers what the journal holds and exits 0 once every summary is acked (1 on timeout).
Without either it prints ``running`` once it is about to run sessions.
``--timed S`` stands in for the device's main loop for S seconds (telemetry at 50 Hz, an event
every 100 ms, a session every 0.6 s), timing every call into the link and the journal, then
drains and prints one JSON line: finished session ids, event ids and the slowest call per kind.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime

from firmware.common.clock import MonotonicClock
from firmware.edge.journal import Journal
from firmware.edge.link import Link, LinkSettings

SETTINGS = LinkSettings(
    keepalive_s=5, reconnect_min_s=1, reconnect_max_s=1, resend_min_s=1.0, resend_max_s=2.0
)


def run_sessions(journal: Journal, link: Link, rng: random.Random) -> None:
    while True:
        sid = uuid.uuid4().hex
        started = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        journal.start_session(sid, "quads-roller", "roller", started)
        length_s = rng.uniform(0.05, 0.25)
        t0 = time.monotonic()
        passes = 0
        while (t := time.monotonic() - t0) < length_s:
            passes += 1
            journal.record_event(sid, {"event_type": "pass_completed", "t_s": t})
            journal.checkpoint(sid, {"duration_s": t, "passes": passes})
            link.wake()
            link.publish_telemetry({"session_id": sid, "t_s": t, "passes": passes})
            time.sleep(rng.uniform(0.01, 0.04))  # deliberate: a rolling user's pace
        journal.finish_session(
            sid,
            {
                "protocol": "quads-roller",
                "tool": "roller",
                "duration_s": t,
                "passes": passes,
                "completed": True,
            },
        )
        link.wake()


def drain(journal: Journal, timeout_s: float = 30.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not journal.outbox():
            return 0
        time.sleep(0.05)
    return 1


def run_timed(journal: Journal, link: Link, seconds: float) -> dict:
    slowest = {"publish_telemetry": 0.0, "record_event": 0.0, "finish_session": 0.0}

    def timed(name, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        slowest[name] = max(slowest[name], time.perf_counter() - t0)
        return out

    finished, events, tick = [], [], 0
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        sid = uuid.uuid4().hex
        journal.start_session(sid, "quads-roller", "roller", "2026-01-01T10:00:00.000Z")
        for _ in range(30):
            tick += 1
            timed(
                "publish_telemetry", link.publish_telemetry, {"session_id": sid, "t_s": tick * 0.02}
            )
            if tick % 5 == 0:
                ev = {"event_type": "cue", "t_s": tick * 0.02, "cue": "slow_down"}
                events.append(timed("record_event", journal.record_event, sid, ev))
                link.wake()
            time.sleep(0.02)  # deliberate: the device loop's 50 Hz tick
        summary = {"protocol": "quads-roller", "tool": "roller", "completed": True, "passes": tick,
                   "duration_s": tick * 0.02}
        timed("finish_session", journal.finish_session, sid, summary)
        link.wake()
        finished.append(sid)
    return {"finished": finished, "events": events, "slowest_s": slowest, "stats": link.stats}


def main(argv: list[str]) -> int:
    state_dir, url, device_id, seed = argv[:4]
    journal = Journal(f"{state_dir}/journal.db")
    journal.recover_interrupted("killed (SIGKILL)")
    link = Link(device_id, url, journal, MonotonicClock(), {"version": "test"}, SETTINGS)
    link.start()
    if "--drain" in argv:
        rc = drain(journal)
        link.stop()
        return rc
    if "--timed" in argv:
        report = run_timed(journal, link, float(argv[argv.index("--timed") + 1]))
        rc = drain(journal)
        print(json.dumps({**report, "stats": dict(link.stats)}), flush=True)
        link.stop()
        journal.close()
        return rc
    print("running", flush=True)  # the SIGKILL test times its kill from here, not from the spawn
    run_sessions(journal, link, random.Random(int(seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
