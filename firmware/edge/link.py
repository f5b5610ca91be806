"""The device's MQTT link: status, telemetry, outbox delivery, commands, Home Assistant discovery.

paho-mqtt 2.x, MQTT v5, callback API v2, ``connect_async`` + ``loop_start``. Nothing here blocks
the caller on the network: telemetry is fire-and-forget at QoS 0 (dropped while offline), and
events / summaries go through the journal's outbox, delivered by a small worker thread woken
by ``wake()``. The delivery rules are ``firmware.core.outbox.Outbox``'s (an event leaves the
outbox on PUBACK; a summary when the dashboard acks it, re-sent with backoff until then...): the
link feeds it paho's events and performs the actions it returns (publish via paho, bookkeeping
in the journal), never holding its lock while it does.

Everything that arrives (acks, commands) is parsed once, at the edge, strictly
(``firmware.common.wire``) and against its schema; a message that fails is acknowledged all the
same (paho's automatic PUBACK: it is not redelivered), counted in ``stats``, logged once per
kind, and a command gets an error reply that says why. No exception leaves a paho callback
(each is wrapped: logged once per callback, counted); ``health()`` says, in one line, when
the link is not working (its network thread stopped, a callback failed).
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.common import wire
from firmware.common.clock import Clock, MonotonicClock
from firmware.common.errors import CommandError, ConfigError, WireError
from firmware.common.mqtt_url import make_client, parse_broker_url
from firmware.common.wire import dumps, envelope
from firmware.core import commands
from firmware.core.outbox import (
    AckSession,
    Action,
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
from firmware.edge.discovery import discovery_config
from firmware.edge.journal import Journal

log = logging.getLogger("rollsense.link")
DEVICE_ID_RE = re.compile(r"[a-z0-9-]+")

__all__ = ["CommandError", "Link", "LinkSettings", "connect_failure", "disconnect_words", "discovery_config",
           "undelivered", "wait_delivered"]

# CONNACK reason codes (MQTT v5) a person can act on, in their words
CONNACK_WORDS = {
    0x84: "the broker does not speak MQTT v5",
    0x85: "the broker refused the client id",
    0x86: "bad user name or password",
    0x87: "not authorised (a wrong user name or password, or a user the broker refuses)",
    0x88: "the broker is unavailable",
    0x89: "the broker is busy",
    0x8A: "this client is banned",
    0x8C: "bad authentication method",
}

# Why a connection ended, in a user's words: the reason code of the broker's DISCONNECT
# (MQTT v5), ...
DISCONNECT_WORDS = {
    0x00: "the broker closed the connection",
    0x80: "the broker closed the connection (an error it did not name)",
    0x81: "the broker received a damaged packet",
    0x82: "the broker saw a protocol error",
    0x83: "the broker refused what the device sent",
    0x87: "not authorised (check the user and the ACL on the broker)",
    0x89: "the broker is busy",
    0x8B: "the broker is shutting down",
    0x8D: "the broker heard nothing from the device within the keepalive",
    0x8E: "another connection with this device's id took over (two devices with one id?)",
    0x93: "more messages in flight than the broker takes",
    0x95: "a message larger than the broker takes",
    0x97: "over the broker's quota",
    0x98: "disconnected by the broker's administrator",
    0x9C: "the broker asks the device to use another server",
    0x9D: "the broker has moved",
    0x9F: "connecting more often than the broker allows",
    0xA0: "the broker's longest connection time was reached",
}
# ... or, when no DISCONNECT came, paho's own reason for what it saw
CONNECTION_CLOSED = "connection closed by the broker or network"
CLOSED_WORDS = {
    0x80: CONNECTION_CLOSED,  # paho: MQTT_ERR_CONN_LOST, the socket closed ("Unspecified error")
    0x82: "the broker sent something that is not MQTT",  # paho: a packet it could not read
    0x8D: "no answer from the broker within the keepalive (is the network down?)",  # MQTT_ERR_KEEPALIVE
}


def disconnect_words(reason_code, from_broker: bool) -> str:
    """Why a connection ended, in a user's words (never paho's "Unspecified error"):
    ``from_broker`` the broker sent DISCONNECT with ``reason_code``; else paho closed the
    connection itself and ``reason_code`` is what it saw."""
    value = getattr(reason_code, "value", reason_code)
    if not from_broker:
        return CLOSED_WORDS.get(value, CONNECTION_CLOSED)
    return DISCONNECT_WORDS.get(value, f"the broker closed the connection ({str(reason_code).lower()})")


# what the dashboard's ack says: the session it stored (ULIDs here; tests use short ids)
ACK_SCHEMA = {
    "type": "object",
    "properties": {
        "session_id": wire.WIRE_ID,
        **{k: commands.ENVELOPE_SCHEMA[k] for k in ("v", "ts", "seq")},
    },
    "required": ["session_id"],
    "additionalProperties": False,
}
ACK_MAX_BYTES = 1024
ACK_MAX_DEPTH = 2
_check_ack = wire.compile_schema(ACK_SCHEMA)

KEEPALIVE_TIMEOUT = 0x8D  # paho's reason when nothing came back within the keepalive
NO_ANSWER = "no answer from the broker (is that address and port an MQTT broker?)"


def connect_failure(error: BaseException | None) -> str:
    """Why a connection attempt failed, in a few words: refused, unknown host, TLS, timeout..."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS handshake failed ({error.reason or error})"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the broker running, on that port?)"
    if isinstance(error, socket.gaierror):
        return "unknown host (the name does not resolve)"
    if isinstance(error, TimeoutError):
        return "no answer (timed out)"
    if isinstance(error, FileNotFoundError):
        return "no such socket"
    if isinstance(error, OSError):
        return (error.strerror or str(error) or type(error).__name__).lower()
    return "connection failed"


def undelivered(journal: Journal) -> int:
    """Outbox rows not yet delivered (pending, in flight, or awaiting the dashboard's ack)."""
    counts = journal.outbox_counts()
    return counts["pending"] + counts["inflight"] + counts["awaiting_ack"]


def wait_delivered(journal: Journal, timeout_s: float, clock: Clock | None = None) -> bool:
    """Wait (at most ``timeout_s`` on ``clock``) until the journal's outbox is empty: the
    dashboard acked every session. True when it is."""
    clock = clock or MonotonicClock()
    deadline = clock.now_s() + timeout_s
    while clock.now_s() < deadline:
        if undelivered(journal) == 0:
            return True
        clock.sleep_s(0.05)
    return undelivered(journal) == 0


def link_client_id(device_id: str) -> str:
    """The device link's MQTT client id (a broker that ties ids to logins uses the login)."""
    return f"rollsense-{device_id}"


# what Link.stats counts
STAT_NAMES = ("connects", "disconnects", "telemetry_sent", "telemetry_dropped", "outbox_published",
              "outbox_puback_ok", "outbox_puback_failed", "sessions_acked", "acks_refused",
              "commands_ok", "commands_refused", "replies_dropped", "callback_errors")


@dataclass(frozen=True)
class LinkSettings:
    """Timing and bounds of the link (seconds)."""

    keepalive_s: int = 30
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    resend_min_s: float = 10.0  # first re-send of an un-acked summary
    resend_max_s: float = 600.0
    retry_failed_s: float = 30.0  # after a PUBACK >= 0x80
    inflight_max: int = 20  # outbox rows handed to paho at once
    reply_queue_max: int = 2000  # command replies waiting in paho (a burst of commands)
    session_expiry_s: int = 24 * 3600
    no_answer_s: float = 10.0  # not connected and nothing else said after this long: say so
    ha_discovery: bool = True
    ha_prefix: str = "homeassistant"


class Link:
    """MQTT for one device. ``on_command(name, args) -> dict | None`` does the work of commands.
    ``on_state(line)`` hears, in one line each, that the broker cannot be reached (and why:
    refused, unknown host, TLS, bad login...), that it is connected, and that it was lost;
    a line is said once, not at every retry."""

    def __init__(self, device_id: str, broker_url: str, journal: Journal, clock: Clock, info: dict,
                 settings: LinkSettings | None = None) -> None:
        if not DEVICE_ID_RE.fullmatch(device_id or ""):
            raise ConfigError(f"device id {device_id!r} must match [a-z0-9-]+")
        self.device_id = device_id
        self.address = parse_broker_url(broker_url)
        self.journal = journal
        self.clock = clock
        self.info = dict(info)
        self._conditions: dict[str, str] = {}  # set_condition: storage, ...
        self.settings = settings or LinkSettings()
        self.base = wire.topic(device_id)
        self.on_command: Callable[[str, dict], dict | None] | None = None
        self.choices: commands.Choices | None = None  # the ids a refusal lists (commands.handle)
        self.on_state: Callable[[str], None] | None = None
        self.state_line = ""  # the last line said about the connection
        self._down_since_s: float | None = None  # not connected, and nothing said yet, since
        self.stats: dict[str, int] = dict.fromkeys(STAT_NAMES, 0)
        self._seq = itertools.count(1)
        self._connected = threading.Event()
        self._subscribed = threading.Event()  # the broker granted the ack and command topics
        self._wake = threading.Event()
        self._stopping = threading.Event()
        s = self.settings
        self.outbox = Outbox(device_id, OutboxSettings(s.inflight_max, s.resend_min_s,
                                                       s.resend_max_s, s.retry_failed_s))
        self._lock = threading.Lock()  # serialises the outbox's events; never held performing
        self._worker: threading.Thread | None = None
        self._logged: set[str] = set()  # kinds of refusal / failure already in the log
        self.callback_error = ""  # the last callback failure, one line ("" = none)
        self._health_said = ""
        self.client = self._make_client()
        journal.add_commit_listener(self.wake)
        journal.add_storage_listener(self._on_storage)
        self.outbox.storage = journal.storage

    # -- public ----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def subscribed(self) -> bool:
        """Connected, and the broker has granted the ack and command subscriptions (acks and
        commands sent from now on reach this link)."""
        return self._connected.is_set() and self._subscribed.is_set()

    def health(self) -> str:
        """Why the link is not working, in one line ("" when it is): its network thread
        stopped, or a callback failed (see the log)."""
        thread = getattr(self.client, "_thread", None)
        if self._worker is not None and not self._stopping.is_set():
            if thread is None or not thread.is_alive():
                return ("MQTT link stopped: its network thread is not running (nothing is sent "
                        "or received; restart the service and see the log)")
        if self.callback_error:
            return f"MQTT link fault: {self.callback_error} (see the log)"
        return ""

    def start(self) -> None:
        """Connect in the background and start delivering the outbox; returns at once."""
        self._perform(self._feed(self.outbox.start))
        self._down_since_s = self.clock.now_s()
        s = self.settings
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = s.session_expiry_s
        self.client.connect_async(self.address.host, self.address.port, keepalive=s.keepalive_s,
                                  clean_start=False, properties=props)
        self.client.loop_start()
        self._worker = threading.Thread(target=self._deliver_loop, name=f"link-{self.device_id}",
                                        daemon=True)
        self._worker.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Say ``offline`` (retained), disconnect and stop the threads (waits at most ~timeout_s)."""
        self._stopping.set()
        self._wake.set()
        if self.connected:
            info = self.client.publish(f"{self.base}/status", "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        if self._worker:
            self._worker.join(timeout_s)

    def wake(self) -> None:
        """The outbox has new rows: deliver them now (never blocks)."""
        self._wake.set()

    def publish_telemetry(self, payload: dict) -> bool:
        """Send live metrics at QoS 0 if connected; dropped (False) when offline. Never blocks on I/O."""
        if not self.connected:
            self.stats["telemetry_dropped"] += 1
            return False
        info = self.client.publish(f"{self.base}/telemetry", dumps(self._envelope(payload)), qos=0)
        ok = info.rc == mqtt.MQTT_ERR_SUCCESS
        self.stats["telemetry_sent" if ok else "telemetry_dropped"] += 1
        return ok

    # -- paho setup and callbacks ------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        client = make_client(self.address, client_id=link_client_id(self.device_id))
        client.will_set(f"{self.base}/status", "offline", qos=1, retain=True)
        client.reconnect_delay_set(
            min_delay=max(1, round(self.settings.reconnect_min_s)),
            max_delay=round(self.settings.reconnect_max_s),
        )
        # replies to a burst of commands queue up faster than the broker acks them (100 kept
        # 131 of 2,000 pings' replies): room for them, bounded (~1 KiB each)
        client.max_queued_messages_set(self.settings.inflight_max * 5 + self.settings.reply_queue_max)
        client.on_connect = self._guarded(self._on_connect)
        client.on_connect_fail = self._guarded(self._on_connect_fail)
        client.on_disconnect = self._guarded(self._on_disconnect)
        client.on_publish = self._guarded(self._on_publish)
        client.on_subscribe = self._guarded(self._on_subscribe)
        client.on_message = self._guarded(self._on_message)
        client.message_callback_add(f"{self.base}/ack", self._guarded(self._on_ack))
        client.message_callback_add(f"{self.base}/cmd/+", self._guarded(self._on_cmd))
        client.message_callback_add(f"{self.settings.ha_prefix}/status",
                                    self._guarded(self._on_ha_status))
        return client

    def _guarded(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback`` for paho, never raising: an exception that left it would stop paho's
        network thread (and a message it was handling would not be acknowledged, so the broker
        would hand it back after every restart). Logged once per callback, counted."""
        name = callback.__name__.lstrip("_")

        @functools.wraps(callback)
        def guarded(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as e:  # noqa: BLE001 - the network thread must live on
                self.stats["callback_errors"] += 1
                self.callback_error = commands.one_line(f"{name} failed: {type(e).__name__}: {e}", 200)
                if self._log_once(f"callback {name}"):
                    log.exception("MQTT callback %s failed (counted in stats; not logged again)", name)

        return guarded

    def _log_once(self, kind: str) -> bool:
        """True the first time ``kind`` is seen: log it then, count it always."""
        if kind in self._logged:
            return False
        self._logged.add(kind)
        return True

    def _envelope(self, payload: dict) -> dict:
        return envelope(payload, next(self._seq))

    def _say(self, line: str) -> None:
        """Say a change of the connection's state, once."""
        if line == self.state_line:
            return
        self.state_line = line
        # said once: by on_state when someone listens (the terminal), else in the log
        log.log(logging.INFO if self.on_state is not None else logging.WARNING, "%s", line)
        if self.on_state is not None:
            try:
                self.on_state(line)
            except Exception:  # the display must not break the network thread
                log.exception("on_state failed")

    def _unreachable(self, reason: str) -> None:
        self._down_since_s = None
        self._say(f"broker {self.address} not reachable: {reason}; coaching offline, "
                  "sessions kept on the device until it is back")

    def _on_connect_fail(self, client, userdata) -> None:
        # paho calls this from inside its `except OSError:` around the connection attempt
        self._unreachable(connect_failure(sys.exc_info()[1]))

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._unreachable(CONNACK_WORDS.get(reason_code.value, f"refused: {reason_code}"))
            return
        self.stats["connects"] += 1
        topics = (f"{self.base}/ack", f"{self.base}/cmd/+", f"{self.settings.ha_prefix}/status")
        client.subscribe([(t, mqtt.SubscribeOptions(qos=1)) for t in topics])
        client.publish(f"{self.base}/status", "online", qos=1, retain=True)
        self._publish_info()
        self._publish_discovery()
        actions = self._feed(self.outbox.on_connect)
        self._connected.set()
        self._perform(actions)
        self._down_since_s = None
        self._say(f"broker {self.address} connected")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self.stats["disconnects"] += was
        self._connected.clear()
        self._subscribed.clear()
        self._feed(self.outbox.on_disconnect)
        from_broker = bool(getattr(flags, "is_disconnect_packet_from_server", False))
        if not was and not from_broker and getattr(reason_code, "value", None) == KEEPALIVE_TIMEOUT:
            self._unreachable(NO_ANSWER)  # the socket opened, no CONNACK came
        elif was and not self._stopping.is_set():
            self._say(f"broker {self.address} lost ({disconnect_words(reason_code, from_broker)}); "
                      "coaching offline, sessions kept on the device until it is back")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        refused = str(reason_code) if getattr(reason_code, "is_failure", False) else None
        self._perform(self._feed(self.outbox.on_puback, mid, refused))

    def _on_storage(self, problem: str) -> None:
        self._perform(self._feed(self.outbox.on_storage, problem))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [str(rc) for rc in reason_codes if getattr(rc, "is_failure", False)]
        if not refused:
            self._subscribed.set()
        elif self._log_once("subscribe refused"):
            log.warning("the broker refused a subscription of %s (%s): no acks or commands "
                        "arrive; check the broker's ACL", self.base, ", ".join(refused))

    def _on_message(self, client, userdata, msg) -> None:
        log.debug("unexpected message on %r", msg._topic[:200])

    # -- outbox delivery ---------------------------------------------------------------------------
    def _deliver_loop(self) -> None:
        next_maintain_s = 0.0
        while not self._stopping.is_set():
            try:
                self._check_health()  # first: a failing journal below must not hide it
                self._check_no_answer()
                self._deliver_due()
                if self.clock.now_s() >= next_maintain_s:
                    self.journal.maintain()
                    next_maintain_s = self.clock.now_s() + 5.0
            except Exception:  # keep delivering whatever happens; the row stays in the outbox
                log.exception("outbox delivery failed")
            self._wake.wait(self._wait_s())
            self._wake.clear()

    def _check_health(self) -> None:
        """Say a change of ``health()`` (on_state, so the terminal and systemd STATUS show it)
        and, while connected, put it in the retained ``info`` as ``link_problem``."""
        line = self.health()
        if line == self._health_said:
            return
        self._health_said = line
        if line.startswith("MQTT link stopped"):
            self._connected.clear()  # paho will not tell: its thread is gone
            self._feed(self.outbox.on_disconnect)
        if line:
            self._say(line)
        if self.connected:
            self._publish_info()

    def set_condition(self, key: str, line: str) -> None:
        """A condition of the device for its retained ``info`` (``storage``: "storage full"),
        published at once while connected and on every connect; "" clears it. Any thread."""
        if self._conditions.get(key, "") == line:
            return
        if line:
            self._conditions[key] = line
        else:
            self._conditions.pop(key, None)
        if self.connected:
            self._publish_info()

    def _publish_info(self) -> None:
        info = {**self.info, **self._conditions}
        if self._health_said:
            info["link_problem"] = self._health_said
        self.client.publish(f"{self.base}/info", dumps(self._envelope(info)), qos=1, retain=True)

    def _check_no_answer(self) -> None:
        """A broker that takes the TCP connection but never answers (another service on that
        port, a hung broker) fails no connection attempt: say so after ``no_answer_s``."""
        since = self._down_since_s
        if since is not None and not self.connected and self.clock.now_s() - since >= self.settings.no_answer_s:
            self._unreachable(NO_ANSWER)

    def _wait_s(self) -> float:
        (retry,) = self._feed(self.outbox.on_idle, self.journal.next_due_s())
        return max(0.0, retry.t_s - self.clock.now_s())

    def _deliver_due(self) -> None:
        self._perform(self._feed(self.outbox.on_tick))

    def _feed(self, event: Callable[..., list[Action]], *args: Any) -> list[Action]:
        """One event into the outbox (with the time now); its actions, to perform unlocked."""
        with self._lock:
            return event(*args, self.clock.now_s())

    def _perform(self, actions: list[Action]) -> None:
        """Do what the outbox asked: bookkeeping in the journal, publishing through paho."""
        j = self.journal
        for a in actions:
            if isinstance(a, Fetch):
                for row in j.due(a.now_s, a.limit):
                    if self._stopping.is_set() or not self._send(row):
                        return
            # counted once the journal holds the outcome, so a counter never runs ahead of it
            elif isinstance(a, MarkSent):
                j.published(a.msg_id, a.resend_at_s)
                self.stats["outbox_puback_ok"] += 1
            elif isinstance(a, MarkFailed):
                j.publish_failed(a.msg_id, a.error, a.retry_at_s)
                if a.refused:
                    self.stats["outbox_puback_failed"] += 1
                    log.warning("broker refused message %s: %s", a.msg_id, a.error)
            elif isinstance(a, AckSession):
                if j.ack_session(a.session_id):
                    self.stats["sessions_acked"] += 1
            elif isinstance(a, RetryAt):
                if a.t_s <= self.clock.now_s():
                    self._wake.set()
            elif isinstance(a, ResendAwaiting):
                j.resend_awaiting_now()
            elif isinstance(a, ResetInflight):
                j.reset_inflight()

    def _send(self, row: OutboxRow) -> bool:
        """Hand one row to paho (marked in flight first); False when the outbox holds it back."""
        actions = self._feed(self.outbox.send, row)
        if not actions:
            return False
        for a in actions:
            if isinstance(a, MarkInflight):
                self.journal.mark_inflight(a.msg_id)
            elif isinstance(a, Publish):
                self._perform(self._publish(a))
        return True

    def _publish(self, a: Publish) -> list[Action]:
        try:
            info = self.client.publish(a.topic, a.payload, qos=a.qos)
        except (ValueError, RuntimeError) as e:
            return self._feed(self.outbox.on_sent, a.row.msg_id, None, str(e))
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return self._feed(self.outbox.on_sent, a.row.msg_id, None, mqtt.error_string(info.rc))
        self.stats["outbox_published"] += 1
        return self._feed(self.outbox.on_sent, a.row.msg_id, info.mid, None)

    # -- incoming ------------------------------------------------------------------------------------
    def _on_ack(self, client, userdata, msg) -> None:
        try:
            ack = wire.parse(msg.payload, _check_ack, max_bytes=ACK_MAX_BYTES,
                             max_depth=ACK_MAX_DEPTH)
        except WireError as e:  # PUBACKed all the same: a bad ack is not redelivered
            self.stats["acks_refused"] += 1
            if self._log_once("ack"):
                log.warning("refused an ack on %s: %s (further refused acks are counted, "
                            "not logged)", msg.topic, e)
            return
        self._perform(self._feed(self.outbox.on_ack, ack["session_id"]))

    def _on_cmd(self, client, userdata, msg) -> None:
        name = msg.topic.rsplit("/", 1)[-1]
        reply = commands.handle(name, msg.payload, datetime.now(UTC), self.journal.remember_command,
                                self._run_command, self.choices)
        if reply["status"] == "ok":
            self.stats["commands_ok"] += 1
        else:
            self.stats["commands_refused"] += 1
            if reply["error"].startswith("internal error"):
                log.error("command %s failed: %s", name[:40], reply["error"])
            elif self._log_once("command"):
                log.info("refused a command %r: %s (further refusals are counted and "
                         "answered, not logged)", name[:40], reply["error"])
        info = client.publish(f"{msg.topic}/result", dumps(self._envelope(reply)), qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.stats["replies_dropped"] += 1
            if self._log_once("reply dropped"):
                log.warning("a command's reply was dropped (%s; too many at once); counted, "
                            "not logged again", mqtt.error_string(info.rc))

    def _run_command(self, cmd: commands.Command) -> dict:
        """Run a checked command through ``on_command``; ping answers itself when unhandled."""
        if self.on_command is None:
            if cmd.name == "ping":
                return {"pong": True}
            raise CommandError(f"command {cmd.name} is not available on this device")
        data = self.on_command(cmd.name, cmd.args)
        if data is None and cmd.name == "ping":
            return {"pong": True}
        return data or {}

    def _on_ha_status(self, client, userdata, msg) -> None:
        if msg.payload.strip() == b"online":
            self._publish_discovery()

    # -- Home Assistant --------------------------------------------------------------------------------
    def _publish_discovery(self) -> None:
        if self.settings.ha_discovery:
            topic = f"{self.settings.ha_prefix}/device/{self.device_id}/config"
            self.client.publish(topic, dumps(discovery_config(self.device_id, self.info)), qos=1,
                                retain=True)
