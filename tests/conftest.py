"""Fixtures every test package reuses: a private Mosquitto, Debian's Chromium through
Playwright, and gpiozero's own MockFactory with PWM pins."""

from __future__ import annotations

import os
import re
import threading
import time

import pytest

from firmware.edge.broker import PrivateBroker

CHROMIUM = "/usr/bin/chromium"
# The machine's PostgreSQL over its Unix socket, as the current OS user (`make test` creates
# that superuser role when missing); override with ROLLSENSE_TEST_PG.
PG_BASE_URL = "postgresql:///postgres?host=/var/run/postgresql"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A private Mosquitto for the whole test session (TCP on a free port + a Unix socket)."""
    b = PrivateBroker(tmp_path_factory.mktemp("broker"), unix_socket=True)
    b.start()
    yield b
    b.close()


def _test_broker(request, state_dir, **kw):
    """A started private Mosquitto for one test; its log is attached to the report when the
    test fails."""
    b = PrivateBroker(state_dir, unix_socket=True, **kw)
    b.start()
    yield b
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        request.node.add_report_section("call", "mosquitto log", b.log_tail(80))
    b.close()


@pytest.fixture
def fresh_broker(tmp_path, request):
    """A private Mosquitto for one test, free to stop and restart; its log is attached
    to the report when the test fails."""
    yield from _test_broker(request, tmp_path / "broker")


@pytest.fixture
def chatty_broker(tmp_path, request):
    """A fresh_broker that also logs what it sends each client ("Sending SUBACK to <id>",
    "Sending PUBLISH to <id> ..."): for tests that wait on subscribers in other processes,
    whose paho callbacks they cannot hook (``wait_logged``)."""
    yield from _test_broker(request, tmp_path / "chatty-broker", extra_conf="log_type debug")


@pytest.fixture(autouse=True)
def _attach_broker_log(request):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed and "broker" in request.fixturenames:
        b = request.getfixturevalue("broker")
        request.node.add_report_section("call", "mosquitto log", b.log_tail(80))


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless, through Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    context.close()


@pytest.fixture
def mock_factory():
    """gpiozero's MockFactory with PWM-capable pins, reset between tests."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    saved = Device.pin_factory
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = saved


@pytest.fixture
def postgres_url():
    """A fresh database on the machine's PostgreSQL server (started by `make test`)."""
    import uuid

    import psycopg

    base = os.environ.get("ROLLSENSE_TEST_PG", PG_BASE_URL)
    name = "rollsense_test_" + uuid.uuid4().hex[:10]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.replace("/postgres", "/" + name, 1)
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- waiting on events, not on the clock ------------------------------------------------------


class Subacks:
    """Counts the SUBACKs paho ``clients`` receive. A subscriber's CONNACK comes before its
    SUBACK, and a message published in between reaches nobody: a test publishes once the
    broker has granted the subscriptions (``wait``), not after a guessed pause. Made before
    the clients connect; wraps each client's ``on_subscribe``, which still runs first."""

    def __init__(self, *clients) -> None:
        self._cond = threading.Condition()
        self.counts = [0] * len(clients)
        for i, client in enumerate(clients):
            client.on_subscribe = self._counting(i, client.on_subscribe)

    @classmethod
    def of(cls, ingest) -> Subacks:
        """The SUBACKs of a dashboard ``Ingest``'s connections (main, and telemetry if any)."""
        return cls(*(c for c in (ingest.client, ingest.telemetry_client) if c is not None))

    def _counting(self, i: int, inner):
        def on_subscribe(*args) -> None:
            try:
                if inner is not None:
                    inner(*args)
            finally:
                with self._cond:
                    self.counts[i] += 1
                    self._cond.notify_all()

        return on_subscribe

    def wait(self, n: int = 1, timeout_s: float = 10.0) -> None:
        """Until every client has had ``n`` SUBACKs (2: subscribed again after a reconnect)."""
        with self._cond:
            assert self._cond.wait_for(lambda: min(self.counts) >= n, timeout_s), (
                f"SUBACKs per client {self.counts}, waited for {n} each")


def start_subscribed(ingest, timeout_s: float = 10.0):
    """Start a dashboard ``Ingest`` and return it once the broker has granted every one of
    its subscriptions (``Ingest.wait_connected`` returns at the CONNACKs)."""
    subacks = Subacks.of(ingest)
    ingest.start()
    assert ingest.wait_connected(timeout_s)
    subacks.wait(1, timeout_s)
    return ingest


def log_mark(broker) -> int:
    """Where ``broker``'s log ends now: ``wait_logged(..., since=log_mark(broker))`` sees only
    what the broker says from here on."""
    return broker.log_path.stat().st_size if broker.log_path.exists() else 0


def wait_logged(broker, pattern: str, n: int = 1, *, since: int = 0, timeout_s: float = 10.0) -> list[str]:
    """Wait until ``broker``'s log (after byte ``since``) holds ``n`` lines that
    ``re.search(pattern)`` finds; return them. Mosquitto writes each line as it acts (a
    ``chatty_broker`` logs every SUBACK and PUBLISH it sends)."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout_s
    while True:
        with open(broker.log_path, "rb") as f:
            f.seek(since)
            lines = f.read().decode(errors="replace").splitlines()
        hits = [line for line in lines if regex.search(line)]
        if len(hits) >= n:
            return hits
        assert time.monotonic() < deadline, f"{len(hits)} of {n} log lines /{pattern}/:\n{broker.log_tail(30)}"
        time.sleep(0.02)


def wait_subacked(broker, client_ids, *, since: int = 0, timeout_s: float = 10.0) -> None:
    """Wait until a ``chatty_broker`` has sent each of ``client_ids`` a SUBACK (after ``since``)."""
    for client_id in client_ids:
        wait_logged(broker, rf": Sending SUBACK to {re.escape(client_id)}$", since=since,
                    timeout_s=timeout_s)
