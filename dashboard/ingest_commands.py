"""What the ingest publishes to devices: commands (``rollsense/<id>/cmd/<name>``) and the acks
of stored summaries (``rollsense/<id>/ack``), numbered by one ``seq`` counter; and the replies
that answer no command it sent (``"id": null``)."""

from __future__ import annotations

import itertools
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.common import wire

log = logging.getLogger("rollsense.ingest")

STRAY_LOGGED_MAX = 10_000  # (device, command) keys whose id-less replies were logged

class CommandPublisher:
    """Publishes on ``client`` (the ingest's main connection); remembers the pair commands it
    sent, so only a pairing this dashboard asked for marks a device paired."""

    def __init__(self, client: mqtt.Client, stats: dict[str, int], command_ttl_s: float) -> None:
        self.client = client
        self.stats = stats
        self.command_ttl_s = command_ttl_s
        self._seq = itertools.count(1)
        self._pair_ids: set[str] = set()
        self._strays_logged: set[tuple[str, str]] = set()  # (device, command) said once

    def send_command(self, device_id: str, name: str, payload: dict | None = None) -> str:
        """Publish ``rollsense/<id>/cmd/<name>`` (QoS 1, never retained); returns the command id.

        Adds ``id`` (if absent), ``expires_at`` (now + command_ttl_s, if absent), ``v``, ``ts``, ``seq``.
        """
        body = dict(payload or {})
        cmd_id = str(body.get("id") or uuid.uuid4().hex)
        now = datetime.now(UTC)
        body.setdefault("expires_at", wire.utc_iso(now + timedelta(seconds=self.command_ttl_s)))
        body["id"] = cmd_id
        body = wire.envelope(body, next(self._seq), wire.utc_iso(now))
        if name == "pair":
            self._pair_ids.add(cmd_id)
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = max(1, int(self.command_ttl_s))
        self.client.publish(
            wire.topic(device_id, "cmd", name),
            json.dumps(body),
            qos=1,
            retain=False,
            properties=props,
        )
        return cmd_id

    def take_pairing(self, cmd_id) -> bool:
        """True, once, when ``cmd_id`` is a pair command this dashboard sent."""
        if cmd_id in self._pair_ids:
            self._pair_ids.discard(cmd_id)
            return True
        return False

    def stray_result(self, device_id: str, name: str, result: dict) -> None:
        """A device's reply with ``"id": null``: its refusal of a command it could read no id
        from (not JSON, not an object, no valid id), which this dashboard never sends, so
        something else on the broker did. It answers nothing pending: counted
        (``results_without_id``) and logged once per device and command (at most
        STRAY_LOGGED_MAX of them, so made-up device ids cannot grow the set without end)."""
        self.stats["results_without_id"] += 1
        key = (device_id, name)
        if key in self._strays_logged or len(self._strays_logged) >= STRAY_LOGGED_MAX:
            return
        self._strays_logged.add(key)
        log.warning("%s refused a %s command without a readable id, not sent by this dashboard: %s "
                    "(said once; counted in results_without_id)", device_id, name,
                    str(result.get("error") or "refused")[:200])

    def ack_session(self, device_id: str, summary: dict) -> None:
        """Tell the device its summary is stored (it then drops it from its outbox)."""
        ack = wire.envelope({"session_id": summary["session_id"]}, next(self._seq))
        self.client.publish(wire.topic(device_id, "ack"), json.dumps(ack), qos=1)
        self.stats["acks"] += 1
