"""The fleet benchmark's simulated devices speak real MQTT v5: a paho client on a private
Mosquitto sees their retained status, telemetry, events and summary, and their will."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from firmware.common.mqtt_url import parse_broker_url
from tests.firmware.edge.test_link import Observer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.fleet_devices import Fleet, publish_packet, split_packets  # noqa: E402


def test_split_packets_takes_whole_packets_and_keeps_the_rest():
    a = publish_packet(b"t/a", b"x" * 200)  # two-byte remaining length
    b = publish_packet(b"t/b", b"y", qos=1, mid=7)
    stream = bytearray(a + b)
    cut = len(a) + 3
    buf = bytearray(stream[:2])  # not even the remaining length yet
    assert split_packets(buf) == [] and buf == stream[:2]
    buf = bytearray(stream[:cut])
    got = split_packets(buf)
    assert [first for first, _ in got] == [0x30] and len(got[0][1]) == len(a) - 3
    assert buf == stream[len(a):cut]  # the partial packet stays for the next read
    buf += stream[cut:]
    assert [first for first, _ in split_packets(buf)] == [0x32] and buf == b""


def test_simulated_devices_publish_real_mqtt(fresh_broker):
    obs = Observer(fresh_broker.url, topics=("rollsense/#",))
    address = parse_broker_url(fresh_broker.url)
    fleet = Fleet(["fd-a", "fd-b"], address.host, address.port, "t")
    try:
        fleet.connect(timeout_s=10)
        assert all(d.connected for d in fleet.devices)
        assert obs.wait_topic("rollsense/fd-b/status", 1)[0].payload == b"online"
        # acked at once by a paho client publishing the dashboard's ack
        for d in fleet.devices:
            obs.publish(f"rollsense/{d.device_id}/ack", {"session_id": d.session_id})
        r = fleet.run_session(session_s=0.3, ack_timeout_s=5, resend_s=1)
        assert r["connected"] == 2 and r["sent"]["telemetry"] == 6
        assert r["unacked_qos1"] == 0  # every QoS 1 publish got its PUBACK
        tele = obs.wait_topic("rollsense/fd-a/telemetry", 3)
        assert [json.loads(m.payload)["seq"] for m in tele] == sorted(
            json.loads(m.payload)["seq"] for m in tele)
        events = [json.loads(m.payload)["event_type"]
                  for m in obs.wait_topic("rollsense/fd-a/event", 2)]
        assert events == ["session_started", "session_ended"]
        summary = json.loads(obs.wait_topic("rollsense/fd-a/session", 1)[0].payload)
        assert summary["session_id"] == fleet.devices[0].session_id
        fleet.devices[1].sock.close()  # dies without DISCONNECT: the broker sends the will
        fleet.devices[1].sock = None
        obs.wait_for(lambda ms: [m for m in ms if m.topic == "rollsense/fd-b/status"
                                 and m.payload == b"offline"], timeout_s=10)
    finally:
        fleet.close()
        obs.close()
