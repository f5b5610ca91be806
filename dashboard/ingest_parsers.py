"""The ingest's parsers, one per message kind: each decodes and validates a payload once
(dashboard/schema.py on firmware/common/wire.py) and says whether the writer must store it
before it is acknowledged. A ``WireError`` quarantines the message."""

from __future__ import annotations

from dashboard import schema
from dashboard.ingest_commands import CommandPublisher
from dashboard.ingest_telemetry import TelemetryBuffer


class Parsers:
    """``_parse_<kind>(device_id, msg, name) -> (payload to notify, store first?)``, mixed into
    Ingest, which picks one by the topic's kind (a subclass may replace one)."""

    telemetry_buffer: TelemetryBuffer
    publisher: CommandPublisher

    def _parse_session(self, device_id: str, msg, _name) -> tuple[dict, bool]:
        return schema.parse("session", msg.payload), True

    def _parse_event(self, device_id: str, msg, _name) -> tuple[dict, bool]:
        return schema.parse("event", msg.payload), True

    def _parse_telemetry(self, device_id: str, msg, _name) -> tuple[dict, bool]:
        sample = schema.parse_telemetry(msg.payload)  # the lean check (schema.py): same refusals
        self.telemetry_buffer.offer(device_id, sample, msg.payload)
        return sample, False  # the flusher stores it; live data does not wait for that

    def _parse_status(self, device_id: str, msg, _name) -> tuple[dict, bool]:
        return {"status": schema.parse_status(msg.payload)}, True

    def _parse_info(self, device_id: str, msg, _name) -> tuple[dict | None, bool]:
        if not msg.payload:  # a cleared retained message
            return None, False
        return schema.parse("info", msg.payload), True

    def _parse_result(self, device_id: str, msg, name: str) -> tuple[dict | None, bool]:
        result = schema.parse("result", msg.payload)
        if result["id"] is None:  # the device refusing a command it could read no id from:
            self.publisher.stray_result(device_id, name, result)  # no sender waits; logged once
            return None, False
        # a successful pairing this dashboard asked for: the writer marks the device paired
        paired = name == "pair" and result["status"] == "ok" and self.publisher.take_pairing(result["id"])
        return {**result, "command": name}, paired
