"""A private Mosquitto for the demo, the tests and the benchmarks.

Generates a config in a directory of its own, listens on a free loopback port (and
optionally a Unix socket), and can be stopped and restarted with its persistence intact
to rehearse outages. Never touches a system-wide broker.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from firmware.common.errors import SetupError

# Mosquitto refuses ``per_listener_settings`` after any other security setting, so a config
# appended as ``extra_conf`` that sets it has it moved to the top.
PER_LISTENER_RE = re.compile(r"^[ \t]*per_listener_settings[ \t]+(true|false)[ \t]*$", re.M)
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if os.path.exists(p)), None)
    if not found:
        raise SetupError("mosquitto is not installed: run 'make demo' or 'apt-get install mosquitto'")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateBroker:
    """One Mosquitto process with a generated config.

    ``extra_conf`` is appended verbatim (listeners for TLS, ACLs, ...), except a
    ``per_listener_settings`` line, which goes first; with ``per_listener_settings true`` the
    broker's own listeners get only ``allow_anonymous`` (no password file: with ``anonymous``
    False nobody can log in on them). ``port`` 0 picks a free port once; restarts keep the same
    port so clients can reconnect.
    """

    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        port: int = 0,
        unix_socket: bool = False,
        persistence: bool = True,
        extra_conf: str = "",
        anonymous: bool = True,
    ) -> None:
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="rollsense-broker-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.socket_path = str(self.dir / "mqtt.sock") if unix_socket else None
        self.persistence = persistence
        self.extra_conf = extra_conf
        self.anonymous = anonymous
        self.conf_path = self.dir / "mosquitto.conf"
        self.log_path = self.dir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def unix_url(self) -> str:
        if not self.socket_path:
            raise SetupError("this broker has no Unix socket listener")
        return f"unix://{self.socket_path}"

    def _write_conf(self) -> None:
        found = PER_LISTENER_RE.findall(self.extra_conf)
        per_listener = bool(found) and found[-1] == "true"
        extra = PER_LISTENER_RE.sub("", self.extra_conf)
        anonymous = f"allow_anonymous {'true' if self.anonymous else 'false'}"
        lines = [f"per_listener_settings {'true' if per_listener else 'false'}"]
        if not per_listener:
            lines.append(anonymous)
        lines.append(f"listener {self.port} 127.0.0.1")
        if per_listener:
            lines.append(anonymous)
        if self.socket_path:
            lines.append(f"listener 0 {self.socket_path}")
            if per_listener:
                lines.append(anonymous)
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.dir}/",
                "autosave_interval 1",
            ]
        else:
            lines.append("persistence false")
        lines += [
            "set_tcp_nodelay true",  # each packet leaves at once (see mqtt_url._send_at_once)
            "max_queued_messages 100000",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            f"log_dest file {self.log_path}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        if extra.strip():
            lines.append(extra)
        self.conf_path.write_text("\n".join(lines) + "\n")

    def start(self, timeout_s: float = 10.0) -> PrivateBroker:
        if self.proc and self.proc.poll() is None:
            return self
        self._write_conf()
        self.proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(self.conf_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
                raise SetupError(f"mosquitto exited at start: {err or self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise SetupError(f"mosquitto did not listen on port {self.port} within {timeout_s} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return bool(self.proc and self.proc.poll() is None)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no broker log)"

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
