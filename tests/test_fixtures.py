"""The shared fixtures work against the real parts."""

import threading

from firmware.common.mqtt_url import make_client, parse_broker_url
from tests.conftest import Subacks


def _roundtrip(url):
    address = parse_broker_url(url)
    got = []
    arrived = threading.Event()
    c = make_client(address)
    c.on_message = lambda cl, ud, msg: (got.append(msg.payload), arrived.set())
    subacks = Subacks(c)
    c.connect(address.host, address.port)
    c.subscribe("t/x", qos=1)
    c.loop_start()
    try:
        subacks.wait(1, 5)
        c.publish("t/x", b"hello", qos=1).wait_for_publish(5)
        arrived.wait(5)
    finally:
        c.loop_stop()
        c.disconnect()
    return got


def test_private_broker_tcp_and_unix(broker):
    assert _roundtrip(broker.url) == [b"hello"]
    assert _roundtrip(broker.unix_url) == [b"hello"]


def test_fresh_broker_restarts_on_same_port(fresh_broker):
    port = fresh_broker.port
    fresh_broker.restart()
    assert fresh_broker.running and fresh_broker.port == port
    assert _roundtrip(fresh_broker.url) == [b"hello"]


def test_mock_factory_gives_pwm_pins(mock_factory):
    from gpiozero import PWMLED

    led = PWMLED(17)
    led.value = 0.5
    assert mock_factory.pin(17).state == 0.5


def test_chromium_renders_a_page(page):
    page.set_content("<h1 id=t>rollsense</h1>")
    assert page.inner_text("#t") == "rollsense"
