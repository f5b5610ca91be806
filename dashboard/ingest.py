"""The dashboard's MQTT ingest: device messages -> store, then acks; commands out.

The dashboard side of the delivery promise (DESIGN §3.3): a persistent MQTT v5 session
(``clean_start=False`` + ``SessionExpiryInterval``) with QoS 1 subscriptions, so the broker keeps
what arrives while the dashboard is away; each summary is stored once by ``session_id`` and only
THEN acked on ``rollsense/<id>/ack``. Bad payloads are quarantined (below). With
``shared_group`` the subscriptions go through ``$share/<group>/...`` so several workers split the
load (give each its own ``client_id``).

Sessions, events, device status and info and successful pairings go to a writer thread,
which stores whatever has arrived in one transaction (a burst from many devices costs one
commit, not one each; a thousand devices coming back after an outage publish two thousand
retained status and info messages) and only then sends their PUBACKs (paho's manual acks),
the summaries' ``ack`` and the listeners' notices. A crash before the commit leaves the
messages un-PUBACKed, so the broker delivers them again; the MQTT threads only parse and
check, and never wait on the database. While the store is down the writer holds its batch,
un-PUBACKed, and tries again (backing off from 0.5 to 5 s) until it is back: events come
from the devices' outboxes, which let go of them at the PUBACK, so acknowledging what was
not stored would lose them. A message the database refuses (a constraint, a value no column
holds) is dropped alone, with one log line, and its batch stored without it.

Because the PUBACK waits for the commit, the connection announces a Receive Maximum of two
batches (MQTT v5): without one, Mosquitto sends a client at most ``max_inflight_messages``
(20) un-PUBACKed messages, so the ingest got 20 messages per commit and a fleet's events
queued in the broker (measured: events from 1000 devices reached an otherwise idle ingest
13 ms late at the median, 107 ms at p99).

Telemetry is live, best-effort data (QoS 0 by contract): it is buffered and written in one
transaction every ``telemetry_flush_s`` by a flusher thread, so the MQTT thread never waits
on a commit for it and sessions and events are stored and acked without queueing behind it.
It arrives on a second connection of its own, an MQTT 3.1.1 clean session subscribed at
QoS 0: telemetry needs no session (the broker does not queue QoS 0 for an absent client
either way) and carries no properties, and paho handles a v3.1.1 PUBLISH in about half the
CPU time of a v5 one, for which it builds a Properties object every message (receiving and
parsing a telemetry message: ~37 µs against ~67 µs, see bench/RESULTS.md); telemetry is ten
of every eleven messages a fleet sends. It also keeps the bulk of the traffic off the
connection whose events and summaries are acked, and lets the two be read by two threads.

Hostile input (issue 18): every message is decoded and checked ONCE, here at the edge, against
its topic's schema (dashboard/schema.py on firmware/common/wire.py). One that fails is acknowledged
(PUBACKed, so the broker does not deliver it again), kept aside in the store's quarantine
table (device, topic, reason, first/last seen, count, a bounded copy) and logged once per
(device, kind, reason). No exception leaves an MQTT callback: a callback that fails is
logged and counted (``callback_errors``) and its message acknowledged. ``health()`` is not ok
when a network thread or the writer has died or a batch has waited too long for the writer.

The parts, a module each: ``ingest_writer.BatchWriter`` (store in batches, then PUBACK),
``ingest_telemetry.TelemetryBuffer`` (the telemetry flusher), ``ingest_parsers.Parsers`` (one
parser per kind), ``ingest_quarantine.QuarantineLog`` (what a refused message becomes) and
``ingest_commands.CommandPublisher`` (commands and acks out); ``Ingest`` holds the
connections, the callbacks and the health that tie them together.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from dashboard.ingest_commands import CommandPublisher
from dashboard.ingest_parsers import Parsers
from dashboard.ingest_quarantine import QuarantineLog
from dashboard.ingest_telemetry import TelemetryBuffer
from dashboard.ingest_writer import BatchWriter
from dashboard.metrics import IngestMeter
from dashboard.store import Store
from firmware.common import wire
from firmware.common.errors import WireError, first_line
from firmware.common.mqtt_url import make_client, parse_broker_url

log = logging.getLogger("rollsense.ingest")

# Each topic twice: a device on this broker (rollsense/<id>/...) and one of a site bridged to
# this broker as a centre (sites/<site>/rollsense/<id>/..., known here as "<site>.<id>";
# docs/sites.md).
TELEMETRY = (wire.subscription("telemetry"), wire.site_subscription("telemetry"))  # own connection
SUBSCRIPTIONS = tuple(sub(*kind) for kind in
                      (("session",), ("event",), ("status",), ("info",), ("cmd", "+", "result"))
                      for sub in (wire.subscription, wire.site_subscription))
Listener = Callable[[str, str, dict], None]

STALL_S = 30.0  # a batch waiting this long for a live writer (the store up) is a stalled ingest
MAX_BATCH = 500  # messages the writer stores in one transaction




def client_id_for(db_url: str, host: str | None = None) -> str:
    """The MQTT client id of the dashboard keeping its store at ``db_url`` on machine ``host``
    (default: this one): stable, so a restarted dashboard resumes its persistent session
    (what the broker kept for it while it was away), and different for two dashboards, so
    they do not take each other's connection (a broker closes the older of two clients with
    one id) nor split each other's messages (their shared-subscription groups start with it).
    A relative SQLite path counts from the current directory. Workers and the telemetry
    connection add suffixes (``-1``, ``-telemetry``)."""
    url = db_url
    if not url.startswith(("postgresql://", "postgres://")):
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
        url = "sqlite:///" + os.path.abspath(path)
    digest = hashlib.sha256(f"{host or socket.gethostname()}\0{url}".encode()).hexdigest()[:12]
    return f"rollsense-dashboard-{digest}"


def share_group_for(client_id: str, secret: str) -> str:
    """The shared-subscription group of the dashboard ``client_id``'s ingest workers: the id and
    a keyed hash of the dashboard's ``secret``, so no device can name it. Mosquitto 2.0 lets any
    client join any ``$share`` group (its acl_file never refuses a SUBSCRIBE), and a group
    member the read ACL refuses a message to loses it for the whole group (issue 18, see
    systemd/mosquitto/rollsense.conf). Stable while the secret is: a changed group leaves the
    old one in the workers' persistent sessions."""
    tag = hmac.new(secret.encode(), b"mqtt-share-group\0" + client_id.encode(), hashlib.sha256)
    return f"{client_id}-{tag.hexdigest()[:32]}"


class Ingest(Parsers):
    """Subscribe, store, ack; fan messages out to listeners; send commands."""

    def __init__(
        self,
        broker_url: str,
        store: Store,
        client_id: str = "rollsense-dashboard",
        shared_group: str | None = None,
        *,
        session_expiry_s: int = 7 * 24 * 3600,
        telemetry_min_interval_s: float = 0.1,
        telemetry_flush_s: float = 0.25,
        command_ttl_s: float = 300.0,
        topics: tuple[str, ...] = SUBSCRIPTIONS,
        telemetry: bool = True,
    ) -> None:
        """``topics`` (some of SUBSCRIPTIONS) arrive on the main connection, telemetry (if
        ``telemetry``) on its own; a fleet's workers and its command sender split them
        (dashboard/workers.py)."""
        self.store = store
        self.client_id = client_id
        self.meter = IngestMeter()  # for /metrics (dashboard/metrics.py)
        self.address = parse_broker_url(broker_url)
        self.shared_group = shared_group
        self.session_expiry_s = session_expiry_s
        self.stats = dict.fromkeys(
            ("sessions_new", "sessions_dup", "events", "telemetry", "dropped", "acks",
             "store_outages", "quarantined", "results_without_id", "callback_errors"), 0
        )
        self._listeners: list[Listener] = []
        self._connected = threading.Event()
        self._telemetry_connected = threading.Event()
        self.stall_s = STALL_S
        self._busy: dict[str, float] = {}  # callback name -> since when it runs (health())
        self.broker_error: str | None = None  # why the last connection attempt failed (health())
        self.receive_maximum = 2 * MAX_BATCH
        self.client = make_client(self.address, client_id=client_id)
        self.client.manual_ack_set(True)  # PUBACK once stored (see the module docstring)
        self.publisher = CommandPublisher(self.client, self.stats, command_ttl_s)
        self.quarantine = QuarantineLog(self.stats)
        self.telemetry_buffer = TelemetryBuffer(store, self.stats, min_interval_s=telemetry_min_interval_s,
                                                flush_s=telemetry_flush_s, meter=self.meter)
        self.writer = BatchWriter(store, self.stats, ack=self.client.ack, stored=self._stored,
                                  max_batch=MAX_BATCH, meter=self.meter)
        self._watch(self.client, self._connected, self._filters(topics), 1, "main")
        self._clients = [(self.client, self._connected)]
        self.telemetry_client: mqtt.Client | None = None
        if telemetry:
            self.telemetry_client = make_client(
                self.address, client_id=f"{client_id}-telemetry", protocol=mqtt.MQTTv311
            )
            self._watch(self.telemetry_client, self._telemetry_connected,
                        self._filters(TELEMETRY), 0, "telemetry")
            self._clients.append((self.telemetry_client, self._telemetry_connected))

    # -- public ---------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return all(ready.is_set() for _, ready in self._clients)

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        """Block until every connection is subscribed (for tests and start-up scripts)."""
        deadline = time.monotonic() + timeout_s
        return all(ready.wait(max(0.0, deadline - time.monotonic())) for _, ready in self._clients)

    @property
    def backlog(self) -> int:
        """Messages received and waiting for the database (not yet PUBACKed)."""
        return self.writer.backlog

    @property
    def telemetry_flush_s(self) -> float:
        """How often the flusher writes the buffered telemetry."""
        return self.telemetry_buffer.flush_s

    def threads_alive(self) -> dict[str, bool]:
        """Whether each thread the ingest needs runs: the MQTT network loops, the writer and
        the telemetry flusher (a thread that died stops the ingest however connected it looks)."""
        alive = {}
        for client, _ in self._clients:
            thread = getattr(client, "_thread", None)  # paho's loop_start() thread
            alive[client._client_id.decode(errors="replace")] = bool(thread and thread.is_alive())
        alive["writer"] = self.writer.alive
        alive["flusher"] = self.telemetry_buffer.alive
        return alive

    def health(self) -> dict:
        """For ``/healthz``: ``ok`` when subscribed, every thread alive, the store up and no
        batch stalled; else ``down`` names the first thing wrong (disconnected, thread, store,
        stalled). Also: messages waiting for the store, seconds it has been down (None while
        it is up), the counters."""
        since = self.writer.outage_since
        down = None if since is None else round(time.monotonic() - since, 1)
        threads = self.threads_alive()
        now = time.monotonic()
        waited = now - self.writer.beat
        stuck = [name for name, since in list(self._busy.items()) if now - since > self.stall_s]
        stalled = bool(stuck) or (self.backlog > 0 and down is None and waited > self.stall_s)
        problem = ("disconnected" if not self.connected
                   else "thread" if not all(threads.values())
                   else "store" if down is not None
                   else "stalled" if stalled else None)
        return {"ok": problem is None, "down": problem, "connected": self.connected,
                "broker": str(self.address), "broker_error": self.broker_error,
                "threads": threads, "backlog": self.backlog, "store_down_s": down,
                "stats": dict(self.stats)}

    def _broker_failed(self, error, *, logged: bool = False) -> None:
        """A connection attempt failed: keep why for health() (the pages' banner) and say it
        in one log line, not one per retry (paho retries every 1-10 s)."""
        if isinstance(error, OSError) and error.strerror:
            text = error.strerror[0].lower() + error.strerror[1:]
        elif isinstance(error, BaseException):
            text = first_line(error) or type(error).__name__
        else:
            text = str(error or "no answer")
        first, self.broker_error = self.broker_error is None, text
        if first and not logged:
            log.error("not connected to the broker at %s: %s (retrying; said once until it answers)",
                      self.address, text)

    def _broker_answers(self) -> None:
        if self.broker_error is not None:
            self.broker_error = None
            log.warning("connected to the broker at %s again", self.address)

    def add_listener(self, fn: Listener) -> None:
        """``fn(kind, device_id, payload)``; kind in telemetry/event/session/status/info/result."""
        self._listeners.append(fn)

    def start(self) -> None:
        """Connect in the background (persistent session) and return at once."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum  # see the module docstring
        for client, _ in self._clients:
            client.reconnect_delay_set(1, 10)
        self.client.connect_async(
            self.address.host, self.address.port, clean_start=False, properties=props
        )
        if self.telemetry_client is not None:
            self.telemetry_client.connect_async(self.address.host, self.address.port)
        self.telemetry_buffer.start()
        self.writer.start()
        for client, _ in self._clients:
            client.loop_start()

    def stop(self) -> None:
        for client, ready in reversed(self._clients):
            client.disconnect()
            client.loop_stop()
            ready.clear()
        self.telemetry_buffer.stop()  # writes what it holds
        self.writer.stop()  # stores what is queued (at most 10 s), the rest is delivered again

    def flush_telemetry(self) -> int:
        """Write the buffered telemetry now (one transaction); returns how many samples."""
        return self.telemetry_buffer.flush()

    def send_command(self, device_id: str, name: str, payload: dict | None = None) -> str:
        """Publish ``rollsense/<id>/cmd/<name>`` (QoS 1, never retained); returns the command id
        (CommandPublisher.send_command)."""
        return self.publisher.send_command(device_id, name, payload)

    # -- callbacks ------------------------------------------------------------------------------
    def _filters(self, topics: tuple[str, ...]) -> list[str]:
        prefix = f"$share/{self.shared_group}/" if self.shared_group else ""
        return [prefix + t for t in topics]

    def _watch(self, client: mqtt.Client, ready: threading.Event, filters: list[str],
               qos: int, name: str) -> None:
        """On every (re)connect subscribe ``filters``; set ``ready`` once the broker granted them
        (its SUBACK), clear it on a drop."""

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            if reason_code.is_failure:
                log.warning("broker refused the dashboard's %s connection: %s", name, reason_code)
                self._broker_failed(f"refused: {str(reason_code).lower()}", logged=True)
                return
            self._broker_answers()
            client.subscribe([(f, qos) for f in filters])

        def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
            refused = [str(rc) for rc in reason_codes if rc.is_failure]
            if refused:  # not ready: /healthz and wait_connected say so
                log.error("broker refused the dashboard's %s subscriptions: %s", name,
                          ", ".join(refused))
            else:
                ready.set()  # subscribed: from here on nothing sent to these topics is missed

        def on_connect_fail(client, userdata) -> None:  # paho calls it inside its except OSError
            self._broker_failed(sys.exc_info()[1])

        client.on_connect_fail = self._guarded(on_connect_fail, f"on_connect_fail ({name})")
        client.on_connect = self._guarded(on_connect, f"on_connect ({name})")
        client.on_disconnect = self._guarded(lambda *_: ready.clear(), f"on_disconnect ({name})")
        client.on_subscribe = self._guarded(on_subscribe, f"on_subscribe ({name})")
        client.on_message = self._guarded(self._on_message, f"on_message ({name})")

    def _guarded(self, callback: Callable, name: str) -> Callable:
        """``callback`` that never raises into paho's network thread (an exception there ends
        the thread: nothing more is read, nothing PUBACKed): logged and counted instead. A
        message whose handling failed is acknowledged, or the broker would deliver it again
        after every restart and fail the same way."""

        def run(*args) -> None:
            self._busy[name] = time.monotonic()
            try:
                callback(*args)
            except Exception:
                self.stats["callback_errors"] += 1
                log.exception("%s failed", name)
                msg = args[2] if name.startswith("on_message") and len(args) > 2 else None
                if msg is not None:
                    try:
                        args[0].ack(msg.mid, msg.qos)
                    except Exception:  # noqa: BLE001 - nothing more to do from here
                        log.exception("could not acknowledge message %s", msg.mid)
            finally:
                self._busy.pop(name, None)

        return run

    def _on_message(self, client, userdata, msg) -> None:
        matched = wire.match_topic(msg.topic)
        if matched is None:
            client.ack(msg.mid, msg.qos)
            return
        device_id, kind, command = matched  # "<site>.<id>" for a device of a bridged site
        self.meter.received(kind, bool(msg.dup))
        try:
            payload, store = getattr(self, "_parse_" + kind)(device_id, msg, command)
        except WireError as e:
            self._quarantine(kind, device_id, msg, str(e))
            return
        if store:  # the writer stores it, then PUBACKs and notifies
            self.writer.put((kind, device_id, payload, msg.mid, msg.qos))
            return
        client.ack(msg.mid, msg.qos)
        if payload is not None:
            self._notify(kind, device_id, payload)

    def _quarantine(self, kind: str, device_id: str, msg, reason: str) -> None:
        """Keep a message that failed its schema aside (the writer stores it in the
        quarantine table, then PUBACKs it); one log line per (device, kind, reason)."""
        record = self.quarantine.record(kind, device_id, msg, reason)
        self.writer.put(("quarantine", device_id, record, msg.mid, msg.qos))

    def _stored(self, kind: str, device_id: str, payload: dict, is_new: bool) -> None:
        """The writer stored (and PUBACKed) a message: ack a summary, count, notify."""
        if kind == "session":
            self.stats["sessions_new" if is_new else "sessions_dup"] += 1
            self.publisher.ack_session(device_id, payload)
        elif kind == "event" and is_new:
            self.stats["events"] += 1
        if is_new and kind != "quarantine":
            self._notify(kind, device_id, payload)

    def _notify(self, kind: str, device_id: str, payload: dict) -> None:
        for fn in list(self._listeners):
            try:
                fn(kind, device_id, payload)
            except Exception:
                log.exception("listener failed on %s from %s", kind, device_id)

