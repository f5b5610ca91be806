"""A minimal device process for the SIGKILL test: Journal + Link running short sessions.

    python -m tests.e2e.device_proc STATE_DIR BROKER_URL DEVICE_ID SEED [--drain]

Each start recovers an interrupted session first. Then it runs sessions of 50-250 ms (a few
events each, a checkpoint, a finished summary) until killed. ``--drain`` runs no sessions:
it delivers what the journal holds and exits 0 once every summary is acked (1 on timeout).
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from datetime import UTC, datetime

from firmware.clock import MonotonicClock
from firmware.journal import Journal
from firmware.link import Link, LinkSettings

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
            time.sleep(rng.uniform(0.01, 0.04))
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
    run_sessions(journal, link, random.Random(int(seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
