"""systemd service notification (sd_notify) without dependencies.

Datagrams go to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket). Without
that variable every call is a no-op, so the daemon runs the same outside systemd.

    n = Notifier(clock)
    n.ready(); n.status("rolling: quads-roller")
    while running: ...; n.watchdog()      # from the sampling loop itself, when healthy
    n.stopping()
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from firmware.common.clock import Clock, MonotonicClock


def notify_address(env: Mapping[str, str] | None = None) -> str | bytes | None:
    """The socket address from NOTIFY_SOCKET (abstract '@x' -> b'\\0x'), or None if unset."""
    value = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """WATCHDOG_USEC in seconds when the watchdog is meant for this process, else None."""
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1e6


class Notifier:
    """sd_notify messages: READY, WATCHDOG (rate-limited to half of WATCHDOG_USEC), STATUS, STOPPING.

    Reads the environment once, at construction. Send errors are swallowed (and counted in
    ``.errors``): a missing supervisor must never stop the sensor loop.
    """

    def __init__(self, clock: Clock | None = None, env: Mapping[str, str] | None = None) -> None:
        self._clock = clock or MonotonicClock()
        self._address = notify_address(env)
        interval = watchdog_interval_s(env)
        self.watchdog_period_s: float | None = interval / 2 if interval else None
        self._last_ping_s: float | None = None
        self._sock: socket.socket | None = None
        self.errors = 0
        self.sent = 0

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notify socket."""
        return self._address is not None

    def ready(self, status: str | None = None) -> bool:
        """READY=1: initialised (sensors, journal, MQTT loop started; not waiting for the broker)."""
        return self.send("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def status(self, text: str) -> bool:
        """STATUS=<text>: the one line `systemctl status` shows."""
        return self.send(f"STATUS={_one_line(text)}")

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1: shutting down (on SIGTERM)."""
        return self.send("STOPPING=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def watchdog(self) -> bool:
        """WATCHDOG=1, at most once per half WATCHDOG_USEC; True if a ping was sent.

        Call it from the sampling loop after each healthy iteration, never from a timer thread.
        """
        if self._address is None or self.watchdog_period_s is None:
            return False
        now = self._clock.now_s()
        if self._last_ping_s is not None and now - self._last_ping_s < self.watchdog_period_s:
            return False
        if self.send("WATCHDOG=1"):
            self._last_ping_s = now
            return True
        return False

    def send(self, message: str) -> bool:
        """Send one raw notification datagram; False when disabled or it could not be sent."""
        if self._address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self._address)
        except OSError:
            self.errors += 1
            self.close()
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
