"""Fixtures every test package reuses: a private Mosquitto, Debian's Chromium through
Playwright, and gpiozero's own MockFactory with PWM pins."""

from __future__ import annotations

import os

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


@pytest.fixture
def fresh_broker(tmp_path, request):
    """A private Mosquitto for one test, free to stop and restart; its log is attached
    to the report when the test fails."""
    b = PrivateBroker(tmp_path / "broker", unix_socket=True)
    b.start()
    yield b
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        request.node.add_report_section("call", "mosquitto log", b.log_tail(80))
    b.close()


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
