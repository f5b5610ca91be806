"""sd_notify against a fake NOTIFY_SOCKET: a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid

import pytest

from firmware.common.clock import ManualClock
from firmware.edge.notify import Notifier, notify_address, watchdog_interval_s


class FakeSystemd:
    """Receives notification datagrams like PID 1 does."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(1.0)

    def messages(self) -> list[str]:
        """Every datagram received so far (non-blocking after the first wait)."""
        out = []
        self.sock.settimeout(0.2)
        while True:
            try:
                out.append(self.sock.recv(4096).decode())
            except (TimeoutError, BlockingIOError):
                return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def short_dir():
    # AF_UNIX paths are limited to 108 bytes, so keep this out of pytest's long tmp_path
    with tempfile.TemporaryDirectory(prefix="rsn-", dir="/tmp") as d:
        yield d


@pytest.fixture
def systemd(short_dir):
    path = os.path.join(short_dir, "notify")
    fake = FakeSystemd(path)
    yield fake, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}
    fake.close()


def test_ready_status_stopping(systemd):
    fake, env = systemd
    n = Notifier(ManualClock(), env)
    assert n.enabled
    assert n.ready(status="sensors open")
    assert n.status("rolling:\nquads-roller")
    assert n.stopping()
    assert fake.messages() == [
        "READY=1\nSTATUS=sensors open",
        "STATUS=rolling: quads-roller",  # newlines would start a new assignment: flattened
        "STOPPING=1",
    ]
    assert n.sent == 3 and n.errors == 0
    n.close()


def test_watchdog_is_rate_limited_to_half_the_interval(systemd):
    fake, env = systemd
    clock = ManualClock()
    n = Notifier(clock, env)  # WATCHDOG_USEC = 2 s -> ping at most every 1 s
    assert n.watchdog_period_s == 1.0
    sent = []
    for _ in range(50):  # a 20 Hz loop for 2.5 s
        sent.append(n.watchdog())
        clock.advance(0.05)
    assert sum(sent) == 3  # at 0.0, 1.0 and 2.0 s
    assert [i for i, s in enumerate(sent) if s] == [0, 20, 40]
    assert fake.messages() == ["WATCHDOG=1"] * 3
    clock.advance(0.5)  # the loop stalls: no calls, no pings
    assert fake.messages() == []
    n.close()


def test_no_watchdog_without_watchdog_usec(short_dir):
    path = os.path.join(short_dir, "notify")
    fake = FakeSystemd(path)
    n = Notifier(ManualClock(), {"NOTIFY_SOCKET": path})
    assert not n.watchdog()
    assert n.ready()
    assert fake.messages() == ["READY=1"]
    fake.close()


def test_watchdog_for_another_pid_is_ignored():
    env = {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert watchdog_interval_s(env) is None
    env["WATCHDOG_PID"] = str(os.getpid())
    assert watchdog_interval_s(env) == 1.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "junk"}) is None


def test_abstract_socket():
    name = f"rollsense-test-{uuid.uuid4().hex}"
    fake = FakeSystemd(b"\0" + name.encode())
    env = {"NOTIFY_SOCKET": "@" + name}
    assert notify_address(env) == b"\0" + name.encode()
    n = Notifier(ManualClock(), env)
    assert n.ready()
    assert fake.messages() == ["READY=1"]
    fake.close()
    n.close()


def test_noop_without_notify_socket(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier(ManualClock())
    assert not n.enabled
    assert not n.ready() and not n.watchdog() and not n.status("x") and not n.stopping()
    assert n.errors == 0


def test_vanished_socket_never_raises(short_dir):
    path = os.path.join(short_dir, "notify")
    n = Notifier(ManualClock(), {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
    assert not n.ready()  # nobody listening
    assert not n.watchdog()
    assert n.errors == 2
    fake = FakeSystemd(path)  # systemd comes back: the next send works
    assert n.watchdog()
    assert fake.messages() == ["WATCHDOG=1"]
    fake.close()
    n.close()


def test_reads_the_process_environment(monkeypatch, systemd):
    fake, env = systemd
    monkeypatch.setenv("NOTIFY_SOCKET", env["NOTIFY_SOCKET"])
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    n = Notifier()
    assert n.ready()
    assert fake.messages() == ["READY=1"]
    n.close()
