"""The device link against a real private Mosquitto: status/LWT, telemetry, outbox, acks, commands."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from firmware.common.clock import MonotonicClock
from firmware.common.errors import CommandError
from firmware.common.mqtt_url import make_client, parse_broker_url
from firmware.edge.journal import Journal
from firmware.edge.link import Link, LinkSettings, disconnect_words

FAST = LinkSettings(
    keepalive_s=5, reconnect_min_s=1, reconnect_max_s=1, resend_min_s=0.5, resend_max_s=2
)


class Observer:
    """A plain MQTT v5 client that records everything on ``topics`` (for assertions)."""

    def __init__(self, url: str, topics=("rollsense/#", "homeassistant/#"), client_id="observer"):
        self.messages: list[mqtt.MQTTMessage] = []
        self.cond = threading.Condition()
        self.client = make_client(parse_broker_url(url), client_id)
        self.client.on_message = self._on_message
        self._ready = threading.Event()
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_connect = lambda c, *a: (
            c.subscribe([(t, 1) for t in topics]) if topics else self._ready.set()
        )
        self.client.connect_async(*_host_port(url))
        self.client.loop_start()
        assert self._ready.wait(10), "observer did not subscribe"

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def on(self, topic: str) -> list:
        with self.cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, pred, timeout_s: float = 10.0):
        """Wait until ``pred(messages)`` is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                value = pred(list(self.messages))
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; saw {[m.topic for m in self.messages][-20:]}")
                self.cond.wait(left)

    def wait_topic(self, topic: str, n: int = 1, timeout_s: float = 10.0) -> list:
        def pred(ms):
            hits = [m for m in ms if m.topic == topic]
            return hits if len(hits) >= n else None

        return self.wait_for(pred, timeout_s)

    def wait_suffix(self, suffix: str, n: int = 1, timeout_s: float = 10.0) -> list:
        def pred(ms):
            hits = [m for m in ms if m.topic.endswith(suffix)]
            return hits if len(hits) >= n else None

        return self.wait_for(pred, timeout_s)

    def publish(self, topic: str, payload, qos: int = 1, retain: bool = False):
        body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        self.client.publish(topic, body, qos=qos, retain=retain).wait_for_publish(5)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def _host_port(url: str):
    a = parse_broker_url(url)
    return a.host, a.port


def wait_until(pred, timeout_s: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def delivery_passes(link: Link) -> list[float]:
    """The link's clock at the end of each of its outbox delivery passes, as they happen."""
    passes_s: list[float] = []
    deliver = link._deliver_due

    def counted() -> None:
        deliver()
        passes_s.append(link.clock.now_s())

    link._deliver_due = counted
    return passes_s


@pytest.fixture
def rig(fresh_broker, tmp_path):
    journal = Journal(tmp_path / "journal.db")
    obs = Observer(fresh_broker.url)
    link = Link(
        "dev-1",
        fresh_broker.url,
        journal,
        MonotonicClock(),
        {"version": "1.2.3", "tools": ["roller"]},
        FAST,
    )
    yield fresh_broker, journal, obs, link
    link.stop()
    obs.close()
    journal.close()


def test_status_info_discovery_telemetry_and_clean_offline(rig):
    broker, journal, obs, link = rig
    assert (
        link.publish_telemetry({"speed_mps": 0.1}) is False
    )  # not connected yet: dropped, no wait
    link.start()
    wait_until(lambda: link.connected, what="connect")
    status = obs.wait_topic("rollsense/dev-1/status")[0]
    assert status.payload == b"online" and status.qos == 1
    info = json.loads(obs.wait_topic("rollsense/dev-1/info")[0].payload)
    assert (
        info["version"] == "1.2.3" and info["v"] == 1 and info["ts"].endswith("Z") and "seq" in info
    )
    ha = json.loads(obs.wait_topic("homeassistant/device/dev-1/config")[0].payload)
    assert ha["availability_topic"] == "rollsense/dev-1/status"
    assert all("unique_id" in c and "p" in c for c in ha["cmps"].values())
    for i in range(3):
        assert link.publish_telemetry({"speed_mps": 0.05 * i, "force_n": float("nan")}) is True
    tele = [json.loads(m.payload) for m in obs.wait_topic("rollsense/dev-1/telemetry", 3)]
    assert [t["seq"] for t in tele] == sorted(t["seq"] for t in tele)
    assert tele[0]["force_n"] is None and tele[0]["v"] == 1 and tele[0]["ts"].endswith("Z")
    assert all(m.qos == 0 for m in obs.on("rollsense/dev-1/telemetry"))
    link.stop()
    obs.wait_for(
        lambda ms: [
            m for m in ms if m.topic == "rollsense/dev-1/status" and m.payload == b"offline"
        ]
    )
    # retained: a newcomer sees the last status and the info
    late = Observer(
        broker.url, topics=("rollsense/dev-1/status", "rollsense/dev-1/info"), client_id="late"
    )
    try:
        got = late.wait_for(lambda ms: len(ms) >= 2 and ms)
        by_topic = {m.topic: m for m in got}
        assert (
            by_topic["rollsense/dev-1/status"].payload == b"offline"
            and by_topic["rollsense/dev-1/status"].retain
        )
        assert by_topic["rollsense/dev-1/info"].retain
    finally:
        late.close()


def test_last_will_on_abrupt_loss(rig):
    broker, journal, obs, link = rig
    link.start()
    wait_until(lambda: link.connected, what="connect")
    obs.wait_topic("rollsense/dev-1/status")
    link.client.socket().close()  # the TCP connection dies without DISCONNECT
    obs.wait_for(
        lambda ms: [
            m for m in ms if m.topic == "rollsense/dev-1/status" and m.payload == b"offline"
        ]
    )
    obs.wait_for(
        lambda ms: [m.payload for m in ms if m.topic == "rollsense/dev-1/status"][-1] == b"online"
    )


def test_events_leave_the_outbox_on_puback(rig):
    broker, journal, obs, link = rig
    link.start()
    ids = [journal.record_event("s1", {"event_type": "cue", "t_s": float(i)}) for i in range(5)]
    link.wake()
    got = obs.wait_topic("rollsense/dev-1/event", 5)
    assert [json.loads(m.payload)["msg_id"] for m in got] == ids
    assert all(m.qos == 1 for m in got)
    wait_until(lambda: journal.outbox() == [], what="outbox empty")
    assert link.stats["outbox_puback_ok"] == 5


def test_summary_resent_until_acked_then_removed(rig):
    broker, journal, obs, link = rig
    passes_s = delivery_passes(link)
    link.start()
    journal.start_session("s9", "quads-roller", "roller", "2026-01-01T10:00:00.000Z")
    msg_id = journal.finish_session("s9", {"session_id": "s9", "completed": True, "passes": 3})
    link.wake()
    first = json.loads(obs.wait_topic("rollsense/dev-1/session")[0].payload)
    assert first["msg_id"] == msg_id and first["device_id"] == "dev-1" and first["started_at"]
    wait_until(lambda: [r.state for r in journal.outbox()] == ["awaiting_ack"], what="awaiting_ack")
    obs.wait_topic("rollsense/dev-1/session", 2, timeout_s=5)  # no ack: re-sent after resend_min_s
    obs.publish("rollsense/dev-1/ack", {"session_id": "s9"})
    wait_until(lambda: journal.outbox() == [], what="ack clears the outbox")
    assert journal.session("s9")["delivered"] is True
    n = len(obs.on("rollsense/dev-1/session"))
    # the delivery ran after any re-send would have been due (resend_max_s, and then some)
    acked_s = link.clock.now_s()
    wait_until(lambda: passes_s and passes_s[-1] >= acked_s + 2.5, what="a later delivery pass")
    assert len(obs.on("rollsense/dev-1/session")) == n  # no more re-sends after the ack


def test_bad_acks_are_ignored(rig):
    broker, journal, obs, link = rig
    link.start()
    wait_until(lambda: link.subscribed, what="subscribed")
    journal.start_session("s1", "p", "roller", "2026-01-01T10:00:00Z")
    journal.finish_session("s1", {"completed": True})
    for bad in (b"{", b"[]", b'{"session_id": 5}', b"{}"):
        obs.publish("rollsense/dev-1/ack", bad)
    obs.publish("rollsense/dev-1/cmd/ping", {"id": "after-bad-acks"})
    obs.wait_topic("rollsense/dev-1/cmd/ping/result")  # still alive
    assert [r.session_id for r in journal.outbox()] == ["s1"]


def test_offline_queue_is_delivered_after_broker_returns(rig):
    broker, journal, obs, link = rig
    link.start()
    wait_until(lambda: link.connected, what="connect")
    obs.close()
    broker.stop()
    wait_until(lambda: not link.connected, what="disconnect")
    t0 = time.perf_counter()
    assert link.publish_telemetry({"speed_mps": 0.1}) is False
    ids = [journal.record_event("s", {"event_type": "cue", "t_s": float(i)}) for i in range(3)]
    link.wake()
    assert time.perf_counter() - t0 < 0.1
    broker.start()
    obs2 = Observer(broker.url, client_id="obs2")
    try:
        wait_until(
            lambda: journal.outbox() == [], timeout_s=15, what="outbox drained after restart"
        )
        assert link.stats["telemetry_dropped"] >= 1
    finally:
        obs2.close()
    # the broker kept nothing for obs2 (new session), but the PUBACKs prove the broker took them
    assert len(ids) == 3


def test_commands_handler_errors_duplicates_expiry(rig):
    broker, journal, obs, link = rig
    calls = []

    def handler(name, args):
        calls.append((name, args))
        if name == "start" and args["protocol"] == "nope":
            raise CommandError("unknown routine nope")
        if name == "set_profile":
            raise RuntimeError("boom")
        return {"started": args.get("protocol")}

    link.on_command = handler
    link.start()
    wait_until(lambda: link.subscribed, what="subscribed")
    obs.wait_topic("rollsense/dev-1/status")
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    obs.publish(
        "rollsense/dev-1/cmd/start", {"id": "c1", "protocol": "quads-roller", "expires_at": future}
    )
    obs.publish("rollsense/dev-1/cmd/start", {"id": "c1", "protocol": "quads-roller"})
    obs.publish("rollsense/dev-1/cmd/start", {"id": "c2", "protocol": "nope"})
    obs.publish(
        "rollsense/dev-1/cmd/start", {"id": "c3", "protocol": "quads-roller", "expires_at": past}
    )
    obs.publish("rollsense/dev-1/cmd/set_profile", {"id": "c4", "body_mass_kg": 70})
    obs.publish("rollsense/dev-1/cmd/start", {"id": "c5"})
    obs.publish("rollsense/dev-1/cmd/fly", {"id": "c6"})
    obs.publish("rollsense/dev-1/cmd/ping", b"not json")
    results = [json.loads(m.payload) for m in obs.wait_suffix("/result", 8)]
    by_id = {}
    for r in results:
        by_id.setdefault(r["id"], []).append(r)
    assert [r["status"] for r in by_id["c1"]] == ["ok", "error"]
    assert (
        by_id["c1"][0]["data"] == {"started": "quads-roller"}
        and "duplicate" in by_id["c1"][1]["error"]
    )
    assert by_id["c2"][0]["error"] == "unknown routine nope"
    assert "expired" in by_id["c3"][0]["error"]
    assert "internal error" in by_id["c4"][0]["error"]
    assert by_id["c5"][0]["error"] == "protocol: missing; give a routine id, or program to play a programme"
    assert "unknown command" in by_id["c6"][0]["error"]
    assert by_id[None][0]["status"] == "error" and "JSON" in by_id[None][0]["error"]
    assert all({"id", "status", "error", "data", "v", "ts", "seq"} <= set(r) for r in results)
    assert [c[0] for c in calls] == ["start", "start", "set_profile"]
    # duplicates are remembered across a restart of the device (in the journal)
    assert journal.remember_command("c1") is False


def test_ha_discovery_resent_when_home_assistant_comes_online(rig):
    broker, journal, obs, link = rig
    link.start()
    obs.wait_topic("homeassistant/device/dev-1/config")
    obs.publish("homeassistant/status", "online")
    obs.wait_topic("homeassistant/device/dev-1/config", 2)
    obs.publish("homeassistant/status", "offline")
    obs.publish("rollsense/dev-1/cmd/ping", {"id": "after-offline"})
    obs.wait_topic("rollsense/dev-1/cmd/ping/result")  # the link has handled "offline" too
    assert len(obs.on("homeassistant/device/dev-1/config")) == 2


def test_public_methods_never_block_while_the_broker_is_away(fresh_broker, tmp_path):
    fresh_broker.stop()
    journal = Journal(tmp_path / "j.db")
    link = Link("dev-2", fresh_broker.url, journal, MonotonicClock(), {}, FAST)
    t0 = time.perf_counter()
    link.start()
    for i in range(50):
        link.publish_telemetry({"t_s": i})
        journal.record_event("s", {"event_type": "cue", "t_s": float(i)})
        link.wake()
    assert time.perf_counter() - t0 < 1.0
    assert not link.connected and len(journal.outbox()) == 50
    link.stop()
    journal.close()


def test_bad_device_id_is_a_config_error(tmp_path):
    from firmware.common.errors import ConfigError

    with pytest.raises(ConfigError):
        Link("Dev_1", "mqtt://127.0.0.1:1", Journal(tmp_path / "j.db"), MonotonicClock(), {})


def test_link_over_a_unix_socket(fresh_broker, tmp_path):
    journal = Journal(tmp_path / "j.db")
    obs = Observer(fresh_broker.url, topics=("rollsense/dev-u/event",))
    link = Link("dev-u", fresh_broker.unix_url, journal, MonotonicClock(), {}, FAST)
    try:
        link.start()
        m = journal.record_event("s", {"event_type": "cue", "t_s": 0.5})
        assert json.loads(obs.wait_topic("rollsense/dev-u/event")[0].payload)["msg_id"] == m
        wait_until(lambda: journal.outbox() == [], what="PUBACK over the socket")
    finally:
        link.stop()
        obs.close()
        journal.close()


class StateLines:
    """Collects the link's one-line connection reports (``Link.on_state``)."""

    def __init__(self, link: Link) -> None:
        self.lines: list[str] = []
        self.cond = threading.Condition()
        link.on_state = self.add

    def add(self, line: str) -> None:
        with self.cond:
            self.lines.append(line)
            self.cond.notify_all()

    def wait(self, word: str, timeout_s: float) -> str:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(word in x for x in self.lines), timeout_s)
            assert ok, f"no line with {word!r} within {timeout_s} s; said: {self.lines}"
            return next(x for x in self.lines if word in x)


def test_refused_broker_is_said_once_then_connected_when_it_comes_up(fresh_broker, tmp_path):
    fresh_broker.stop()
    journal = Journal(tmp_path / "j.db")
    link = Link("dev-3", fresh_broker.url, journal, MonotonicClock(), {}, FAST)
    said = StateLines(link)
    try:
        link.start()
        line = said.wait("not reachable", 15)
        assert f"127.0.0.1:{fresh_broker.port}" in line and "refused" in line
        assert "offline" in line and "\n" not in line
        fresh_broker.start()
        said.wait("connected", 15)
        # one line for the outage however many retries it took, one for the connection
        assert len(said.lines) == 2, said.lines
        fresh_broker.stop()  # lost while connected: said once more
        lost = said.wait(" lost ", 15)
        assert f"127.0.0.1:{fresh_broker.port}" in lost and "offline" in lost
        # in a user's words, not paho's "Unspecified error"
        assert f"127.0.0.1:{fresh_broker.port} lost (connection closed by the broker or network); " in lost
        fresh_broker.start()
        wait_until(lambda: len(said.lines) >= 4 and link.connected, 15, "connected again")
        assert said.lines[-1] == said.lines[1]  # "... connected" again
    finally:
        link.stop()
        journal.close()


def test_the_brokers_disconnect_reason_is_said_in_words(tmp_path):
    """A DISCONNECT from the broker (MQTT v5; Mosquitto 2.0 sends none, a broker shutting down
    or taking the session over may) is said in words, as paho hands it to the link."""
    journal = Journal(tmp_path / "j.db")
    link = Link("dev-5", "mqtt://127.0.0.1:1", journal, MonotonicClock(), {}, FAST)
    said = StateLines(link)
    try:
        link._connected.set()  # as after a CONNACK
        link._on_disconnect(link.client, None, mqtt.DisconnectFlags(is_disconnect_packet_from_server=True),
                            ReasonCode(PacketTypes.DISCONNECT, "Session taken over"), None)
        assert said.lines == [f"broker {link.address} lost (another connection with this device's id "
                              "took over (two devices with one id?)); coaching offline, sessions kept "
                              "on the device until it is back"]
    finally:
        journal.close()


@pytest.mark.parametrize("code, from_broker, words", [
    ("Unspecified error", False, "connection closed by the broker or network"),
    ("Keep alive timeout", False, "no answer from the broker within the keepalive (is the network down?)"),
    ("Unspecified error", True, "the broker closed the connection (an error it did not name)"),
    ("Server shutting down", True, "the broker is shutting down"),
    ("Normal disconnection", True, "the broker closed the connection"),
    ("Topic name invalid", True, "the broker closed the connection (topic name invalid)"),
])
def test_disconnect_reasons_in_words(code, from_broker, words):
    reason = ReasonCode(PacketTypes.DISCONNECT, code)
    assert disconnect_words(reason, from_broker) == words


def test_unknown_host_is_named_with_the_reason(tmp_path):
    journal = Journal(tmp_path / "j.db")
    link = Link("dev-4", "mqtt://no-such-host.invalid:1883", journal, MonotonicClock(), {}, FAST)
    said = StateLines(link)
    try:
        link.start()
        line = said.wait("not reachable", 15)
        assert "no-such-host.invalid" in line and "unknown host" in line
    finally:
        link.stop()
        journal.close()


def test_bad_login_is_said_as_such(tmp_path):
    from firmware.edge.broker import PrivateBroker

    with PrivateBroker(tmp_path / "locked", anonymous=False) as locked:
        journal = Journal(tmp_path / "j.db")
        link = Link("dev-5", locked.url, journal, MonotonicClock(), {}, FAST)
        said = StateLines(link)
        try:
            link.start()
            line = said.wait("not reachable", 15)
            assert "not authorised" in line or "bad user name or password" in line, line
        finally:
            link.stop()
            journal.close()


def test_a_broker_that_never_answers_is_said_too(tmp_path):
    """Something takes the TCP connection but never sends a CONNACK (another service on the
    port, a hung broker): no connection attempt fails, yet the link says so."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    journal = Journal(tmp_path / "j.db")
    link = Link("dev-6", f"mqtt://127.0.0.1:{port}", journal, MonotonicClock(), {},
                LinkSettings(no_answer_s=1.0))
    said = StateLines(link)
    try:
        link.start()
        line = said.wait("not reachable", 5)
        assert f"127.0.0.1:{port}" in line and "no answer" in line
    finally:
        link.stop()
        journal.close()
        silent.close()


def test_a_deep_ack_neither_kills_the_link_nor_comes_back_after_a_restart(rig):
    """Issue 18: an ack of 5,000 nested brackets raised RecursionError in the ack handler; the
    exception left paho's network thread (the link stopped answering) and, never PUBACKed,
    the message came back after every restart (persistent session)."""
    broker, journal, obs, link = rig
    journal.start_session("s1", "p", "roller", "2026-01-01T10:00:00Z")
    journal.finish_session("s1", {"completed": True})
    link.start()
    wait_until(lambda: link.subscribed, what="subscribed")
    obs.publish("rollsense/dev-1/ack", b"[" * 5000)
    obs.publish("rollsense/dev-1/ack", json.dumps({"session_id": "s1"})[:-1] + ', "x": ' + "[" * 5000)
    obs.publish("rollsense/dev-1/cmd/ping", {"id": "after-deep-ack"})
    obs.wait_topic("rollsense/dev-1/cmd/ping/result")  # still answering
    assert link.client._thread.is_alive() and link.health() == ""
    assert link.stats["acks_refused"] == 2 and link.stats["callback_errors"] == 0
    assert [r.session_id for r in journal.outbox()] == ["s1"]
    link.stop()
    again = Link("dev-1", broker.url, journal, MonotonicClock(), {}, FAST)
    try:
        again.start()
        wait_until(lambda: again.subscribed, what="subscribed again")
        obs.publish("rollsense/dev-1/cmd/ping", {"id": "after-restart"})
        obs.wait_topic("rollsense/dev-1/cmd/ping/result", 2)
        assert again.stats["acks_refused"] == 0  # PUBACKed the first time: not redelivered
        obs.publish("rollsense/dev-1/ack", {"session_id": "s1", "v": 1, "seq": 3,
                                            "ts": "2026-01-01T10:00:01Z"})
        wait_until(lambda: journal.outbox() == [], what="a good ack still works")
    finally:
        again.stop()


def test_health_says_a_failing_callback_and_a_stopped_network_thread(rig, monkeypatch, caplog):
    """No exception leaves a paho callback: it is counted, logged once per callback, and the
    link's health line says so (on_state: the terminal and systemd STATUS; the retained info's
    link_problem). A network thread that stopped is said too, and the link is not connected."""
    broker, journal, obs, link = rig
    heard: list[str] = []
    link.on_state = heard.append

    def broken(session_id):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(journal, "ack_session", broken)
    link.start()
    wait_until(lambda: link.subscribed, what="subscribed")
    for _ in range(2):
        obs.publish("rollsense/dev-1/ack", {"session_id": "s1"})
    obs.publish("rollsense/dev-1/cmd/ping", {"id": "still-there"})
    obs.wait_topic("rollsense/dev-1/cmd/ping/result")  # the network thread lives on
    assert link.stats["callback_errors"] == 2
    assert [r.message for r in caplog.records if "callback" in r.message] == [
        "MQTT callback on_ack failed (counted in stats; not logged again)"
    ]
    line = "MQTT link fault: on_ack failed: RuntimeError: disk on fire (see the log)"
    assert link.health() == line
    wait_until(lambda: line in heard, what="the fault said")
    obs.wait_for(lambda ms: [m for m in ms if m.topic == "rollsense/dev-1/info"
                             and json.loads(m.payload).get("link_problem") == line])
    link.client.loop_stop()  # as an exception escaping a callback used to do
    wait_until(lambda: heard[-1].startswith("MQTT link stopped"), what="the stop said")
    assert not link.connected and link.health() == heard[-1]


def test_a_burst_of_commands_gets_every_reply(rig):
    """Replies queue up faster than the broker acks them: with room for 100 queued messages,
    131 of 2,000 pings sent at once were answered (the rest dropped, counted)."""
    broker, journal, obs, link = rig
    link.start()
    wait_until(lambda: link.subscribed, what="subscribed")
    n = 1500
    for i in range(n):
        obs.client.publish("rollsense/dev-1/cmd/ping", json.dumps({"id": f"burst-{i}"}), qos=1)
    replies = obs.wait_suffix("/cmd/ping/result", n, timeout_s=30)
    assert sorted(json.loads(m.payload)["id"] for m in replies) == sorted(f"burst-{i}" for i in range(n))
    assert link.stats["replies_dropped"] == 0 and link.stats["commands_ok"] == n
