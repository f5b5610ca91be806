"""The outbox's delivery rules, driven with events and times: no broker, no sleeps, no threads."""

from __future__ import annotations

import json

import pytest

from firmware.core.outbox import (
    AckSession,
    Fetch,
    MarkFailed,
    MarkInflight,
    MarkSent,
    Outbox,
    OutboxRow,
    OutboxSettings,
    Publish,
    ResendAwaiting,
    ResetInflight,
    RetryAt,
)

SETTINGS = OutboxSettings(inflight_max=3, resend_min_s=10.0, resend_max_s=60.0, retry_failed_s=30.0)


def event(n: int, attempts: int = 0) -> OutboxRow:
    return OutboxRow(f"e{n}", "event", "s1", {"event_type": "cue", "t_s": float(n), "msg_id": f"e{n}"},
                     "pending", attempts)


def summary(sid: str = "s1", attempts: int = 0, state: str = "pending") -> OutboxRow:
    return OutboxRow(f"m-{sid}", "session", sid, {"session_id": sid, "completed": True}, state,
                     attempts)


def connected(now_s: float = 0.0) -> Outbox:
    box = Outbox("dev-1", SETTINGS)
    assert box.start(now_s) == [ResetInflight()]
    assert box.on_connect(now_s) == [ResendAwaiting(), RetryAt(now_s)]
    return box


def sent(box: Outbox, row: OutboxRow, mid: int, now_s: float) -> Publish:
    """Hand ``row`` to the (imagined) client, which takes it as ``mid``."""
    mark, publish = box.send(row, now_s)
    assert mark == MarkInflight(row.msg_id)
    assert box.on_sent(row.msg_id, mid, None, now_s) == []
    return publish


def test_connect_publish_puback_event_is_done():
    box = connected(0.0)
    assert box.on_tick(1.0) == [Fetch(3, 1.0)]
    actions = box.send(event(1), 1.0)
    assert actions[0] == MarkInflight("e1")
    publish = actions[1]
    assert (publish.topic, publish.qos) == ("rollsense/dev-1/event", 1)
    assert json.loads(publish.payload) == event(1).payload  # an event goes as journalled
    assert box.on_sent("e1", 7, None, 1.0) == []
    assert box.room() == 2 and box.on_tick(1.5) == [Fetch(2, 1.5)]
    assert box.on_puback(7, None, 2.0) == [MarkSent("e1", 12.0), RetryAt(2.0)]
    assert box.room() == 3


def test_nothing_is_handed_out_before_connect_or_while_storage_fails():
    box = Outbox("dev-1", SETTINGS)
    assert box.on_tick(0.0) == [] and box.send(event(1), 0.0) == []
    box.on_connect(0.0)
    assert box.on_storage("storage full", 1.0) == []
    assert box.on_tick(1.0) == []
    assert box.on_storage("", 2.0) == [RetryAt(2.0)]
    assert box.on_tick(2.0) == [Fetch(3, 2.0)]


def test_in_flight_limit():
    box = connected()
    for i in range(3):
        sent(box, event(i), 100 + i, 0.0)
    assert box.room() == 0 and box.on_tick(0.5) == []
    box.on_puback(101, None, 1.0)
    assert box.on_tick(1.0) == [Fetch(1, 1.0)]


def test_disconnect_mid_flight_then_reconnect_resends_only_what_paho_does_not():
    box = connected()
    sent(box, event(1), 1, 0.0)
    sent(box, summary("s1"), 2, 0.0)
    assert box.on_disconnect(1.0) == []
    assert box.on_tick(1.0) == [] and box.send(event(2), 1.0) == []  # offline: nothing sent
    # in flight stays in flight: paho retransmits it when the session resumes (no re-send of
    # ours), and it still counts against the limit; un-acked summaries are due at once
    assert box.on_connect(5.0) == [ResendAwaiting(), RetryAt(5.0)]
    assert box.room() == 1 and box.on_tick(5.0) == [Fetch(1, 5.0)]
    assert box.on_puback(1, None, 6.0) == [MarkSent("e1", 16.0), RetryAt(6.0)]
    assert box.on_puback(2, None, 6.0) == [MarkSent("m-s1", 16.0), RetryAt(6.0)]
    # a new process starts over: what the old one had in flight is pending again
    assert Outbox("dev-1", SETTINGS).start(7.0) == [ResetInflight()]


def test_session_summary_carries_the_device_and_waits_for_the_app_level_ack():
    box = connected()
    publish = sent(box, summary("s9"), 1, 0.0)
    assert publish.topic == "rollsense/dev-1/session"
    assert json.loads(publish.payload) == {"session_id": "s9", "completed": True, "device_id": "dev-1"}
    assert box.on_puback(1, None, 2.0) == [MarkSent("m-s9", 12.0), RetryAt(2.0)]
    assert box.on_ack("s9", 3.0) == [AckSession("s9")]


@pytest.mark.parametrize(("attempts_before", "resend_after_s"),
                         [(0, 10.0), (1, 20.0), (2, 40.0), (3, 60.0), (9, 60.0)])
def test_unacked_summary_is_resent_with_backoff(attempts_before, resend_after_s):
    box = connected()
    row = summary("s1", attempts=attempts_before, state="awaiting_ack" if attempts_before else "pending")
    sent(box, row, 1, 100.0)
    assert box.on_puback(1, None, 100.0) == [MarkSent("m-s1", 100.0 + resend_after_s), RetryAt(100.0)]


def test_refused_puback_and_client_errors_retry_later():
    box = connected()
    sent(box, event(1), 1, 0.0)
    assert box.on_puback(1, "Not authorized", 2.0) == [
        MarkFailed("e1", "Not authorized", 32.0, refused=True), RetryAt(2.0)]
    box.send(event(2), 3.0)
    assert box.on_sent("e2", None, "queue full", 3.0) == [MarkFailed("e2", "queue full", 33.0, refused=False)]
    assert box.room() == 3  # neither is in flight


def test_duplicates_change_nothing():
    box = connected()
    sent(box, event(1), 1, 0.0)
    assert box.on_puback(1, None, 1.0) == [MarkSent("e1", 11.0), RetryAt(1.0)]
    assert box.on_puback(1, None, 1.5) == []  # the same PUBACK twice
    assert box.on_puback(99, None, 1.5) == []  # a PUBACK for a message never sent
    # an ack for a session the device does not know: the journal finds nothing, nothing moves
    assert box.on_ack("nope", 2.0) == [AckSession("nope")]
    assert box.room() == 3 and box.on_tick(2.0) == [Fetch(3, 2.0)]


def test_a_puback_that_beats_publish_returning_is_settled_when_it_returns():
    box = connected()
    mark, publish = box.send(event(1), 0.0)
    assert box.on_puback(5, None, 0.1) == []  # publish() has not returned yet
    assert box.on_sent("e1", 5, None, 0.2) == [MarkSent("e1", 10.2), RetryAt(0.2)]
    assert box.room() == 3 and box.on_puback(5, None, 0.3) == []


def test_order_is_the_rows_order_and_each_puback_settles_its_own_row():
    box = connected()
    rows = [event(1), summary("s1"), event(2)]
    published = [sent(box, row, 10 + i, 0.0) for i, row in enumerate(rows)]
    assert [p.row.msg_id for p in published] == ["e1", "m-s1", "e2"]
    assert box.on_puback(12, None, 1.0)[0] == MarkSent("e2", 11.0)
    assert box.on_puback(10, None, 1.0)[0] == MarkSent("e1", 11.0)
    assert box.on_puback(11, None, 1.0)[0] == MarkSent("m-s1", 11.0)


def test_idle_wait_follows_the_earliest_retry_time():
    box = Outbox("dev-1", SETTINGS)
    assert box.on_idle(0.5, 0.0) == [RetryAt(1.0)]  # not connected: look again in 1 s
    box.on_connect(0.0)
    assert box.on_idle(None, 0.0) == [RetryAt(1.0)]
    assert box.on_idle(0.25, 0.0) == [RetryAt(0.25)]
    assert box.on_idle(0.0, 5.0) == [RetryAt(5.01)]  # overdue: at least 10 ms
    assert box.on_idle(100.0, 5.0) == [RetryAt(6.0)]  # at most 1 s
