"""The live view's own line to the broker, for a dashboard whose ingest workers may run on
other hosts (``rollsense dashboard --ingest-share NAME``; docs/sites.md).

Workers on one MQTT v5 shared subscription split the messages between them: a worker on
another host stores its share and tells its own dashboard process, not this one. So here the
web process hears the live data from the broker itself, on a connection of its own (a clean
session, QoS 0: the live view is live, nothing is queued for it while it is away), and from
the store:

- status, info, telemetry and events are validated (dashboard/schema.py) and handed to the
  listeners as they arrive;
- a session is handed on when a worker, anywhere, has stored it: its ack (``.../ack``,
  ``{"session_id"}``, sent only after the commit) comes through the broker, and the summary
  is read from the store, which every host shares.

Nothing here assumes it shares a disk or a process with a worker. Device topics on this
broker and those of sites bridged to it (``sites/<site>/...``) alike.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from dashboard import schema
from dashboard.store import Store
from firmware.common import wire
from firmware.common.errors import WireError
from firmware.common.mqtt_url import make_client, parse_broker_url

log = logging.getLogger("rollsense.ingest")

KINDS = (("status",), ("info",), ("telemetry",), ("event",), ("ack",))
LIVE_TOPICS = tuple(sub(*kind) for kind in KINDS
                    for sub in (wire.subscription, wire.site_subscription))
_CHECK_ACK = wire.compile_schema({"type": "object", "required": ["session_id"],
                                  "properties": {"session_id": wire.WIRE_ID}})
Listener = Callable[[str, str, dict], None]
SEEN_SESSIONS = 4096  # a session acked again (the device sent it twice) is handed on once


class LiveFeed:
    """Hands the listeners what the broker carries (live) and what the store holds (sessions,
    once stored by any worker)."""

    def __init__(self, broker_url: str, store: Store, client_id: str,
                 listeners: list[Listener]) -> None:
        self.store = store
        self.listeners = listeners
        self.address = parse_broker_url(broker_url)
        self.client = make_client(self.address, client_id=client_id)
        self.ready = threading.Event()
        self.stats = dict.fromkeys(("live", "sessions", "refused"), 0)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_disconnect = lambda *_: self.ready.clear()
        self.client.on_message = self._on_message

    def start(self) -> None:
        self.client.reconnect_delay_set(1, 10)
        self.client.connect_async(self.address.host, self.address.port, clean_start=True)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.ready.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the live view's connection: %s", reason_code)
            return
        client.subscribe([(t, 0) for t in LIVE_TOPICS])

    def _on_message(self, client, userdata, msg) -> None:
        try:
            self._handle(msg)
        except WireError:
            self.stats["refused"] += 1  # the workers quarantine it; the live view skips it
        except Exception:  # never into paho's thread: it would stop reading
            log.exception("live view failed on %s", msg.topic[:120])

    def _handle(self, msg) -> None:
        acked = wire.match_ack_topic(msg.topic)
        if acked is not None:
            session_id = wire.parse(msg.payload, _CHECK_ACK)["session_id"]
            if session_id in self._seen:
                return
            rows = self.store.query("SELECT summary_json FROM sessions WHERE session_id = ?",
                                    (session_id,))
            if rows:
                self._seen[session_id] = None
                while len(self._seen) > SEEN_SESSIONS:
                    self._seen.popitem(last=False)
                self.stats["sessions"] += 1
                self._notify("session", acked, json.loads(rows[0]["summary_json"]))
            return
        matched = wire.match_topic(msg.topic)
        if matched is None:
            return
        device_id, kind, _ = matched
        if kind == "status":
            payload = {"status": schema.parse_status(msg.payload)}
        elif kind == "telemetry":
            payload = schema.parse_telemetry(msg.payload)
        elif kind == "info" and not msg.payload:
            return  # a cleared retained message
        else:
            payload = schema.parse(kind, msg.payload)
        self.stats["live"] += 1
        self._notify(kind, device_id, payload)

    def _notify(self, kind: str, device_id: str, payload: dict) -> None:
        for fn in list(self.listeners):
            try:
                fn(kind, device_id, payload)
            except Exception:
                log.exception("listener failed on %s from %s", kind, device_id)
