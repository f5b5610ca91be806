"""What the ingest publishes to devices: commands (``rollsense/<id>/cmd/<name>``) and the acks
of stored summaries (``rollsense/<id>/ack``), numbered by one ``seq`` counter."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.common import wire


class CommandPublisher:
    """Publishes on ``client`` (the ingest's main connection); remembers the pair commands it
    sent, so only a pairing this dashboard asked for marks a device paired."""

    def __init__(self, client: mqtt.Client, stats: dict[str, int], command_ttl_s: float) -> None:
        self.client = client
        self.stats = stats
        self.command_ttl_s = command_ttl_s
        self._seq = itertools.count(1)
        self._pair_ids: set[str] = set()

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

    def ack_session(self, device_id: str, summary: dict) -> None:
        """Tell the device its summary is stored (it then drops it from its outbox)."""
        ack = wire.envelope({"session_id": summary["session_id"]}, next(self._seq))
        self.client.publish(wire.topic(device_id, "ack"), json.dumps(ack), qos=1)
        self.stats["acks"] += 1
