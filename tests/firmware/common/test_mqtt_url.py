"""Broker URLs and the MQTT client settings every rollsense client shares (firmware/mqtt_url)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from firmware.common.errors import ConfigError
from firmware.common.mqtt_url import make_client, parse_broker_url

SHIPPED_CONF = Path(__file__).resolve().parents[3] / "systemd" / "mosquitto" / "rollsense.conf"


def _connected(url: str):
    address = parse_broker_url(url)
    client = make_client(address, client_id=f"t-nodelay-{address.transport}")
    up = threading.Event()
    client.on_connect = lambda *a: up.set()
    client.connect(address.host, address.port)
    client.loop_start()
    assert up.wait(10), "no CONNACK"
    return client


def test_tcp_clients_send_each_packet_at_once(broker):
    """Nagle's algorithm held small publishes back for a delayed ACK (p50 15-30 ms measured
    through Mosquitto on loopback); every client from make_client turns it off."""
    client = _connected(broker.url)
    try:
        sock = client.socket()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.loop_stop()
        client.disconnect()


def test_unix_socket_clients_connect_without_the_tcp_option(broker):
    client = _connected(broker.unix_url)
    try:
        assert client.socket().family == socket.AF_UNIX
    finally:
        client.loop_stop()
        client.disconnect()


def test_brokers_we_configure_send_each_packet_at_once(broker):
    """The broker's side of the same setting, in the private broker (demo, tests, benches)
    and the shipped production config (both are started by real Mosquittos in the suite)."""
    assert "set_tcp_nodelay true" in broker.conf_path.read_text().splitlines()
    lines = [ln.strip() for ln in SHIPPED_CONF.read_text().splitlines()]
    assert "set_tcp_nodelay true" in lines


@pytest.mark.parametrize("url", ["http://x", "mqtt://", "unix://", "mqtt://h:notaport"])
def test_bad_broker_urls_are_one_clear_error(url):
    with pytest.raises(ConfigError, match="broker URL"):
        parse_broker_url(url)
