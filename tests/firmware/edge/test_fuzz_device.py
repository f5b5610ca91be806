"""Fuzz dashboard -> device (issue 18): >= 10,000 payloads on the ack topic and every command
topic, through a real Mosquitto (configured like the shipped one: its max_packet_size) to a
real device (``build_daemon``: Link + CoachingLoop on simulated hardware, serving). The payloads
and the checks are bench/fuzz_device.py's (hypothesis, derandomized: the same every run)."""

from __future__ import annotations

import json

from bench.fuzz_device import PAYLOADS, DeviceRig, fuzz


def test_fuzz_acks_and_commands_no_crash_no_stall_every_bad_one_refused_in_words(tmp_path):
    rig = DeviceRig(tmp_path)
    try:
        f = fuzz(rig, PAYLOADS)
        stats = dict(rig.link.stats)
    finally:
        rig.close()
    print(json.dumps({"payloads": f.payloads, "crashes": f.crashes, "stalls": f.stalls,
                      "refused": f.refused, "kinds": dict(f.kinds)}))
    # 0 crashes: nothing reached a callback's guard, every thread alive, no 'internal error'
    # 0 stalls: every command answered; afterwards a good ack clears the outbox, ping is ok
    # every bad command refused, each in one user-worded line; every bad ack refused
    assert (f.crashes, f.stalls, f.bad_replies) == (0, 0, 0), f.problems
    assert f.payloads >= 10_000 and f.acks >= 500 and f.commands >= 5_000
    assert stats["callback_errors"] == 0 and stats["acks_refused"] == f.bad_acks
    for kind in ("valid", "bad field (value)", "bad field (name)", "constant", "dup", "utf8", "nul",
                 "deep", "deep_value", "huge", "max packet", "max packet deep", "ack deep",
                 "ack huge", "ack type", "ack dup", "ack utf8", "ack constant", "arbitrary"):
        assert f.kinds[kind] > 0, kind
