"""Home Assistant MQTT discovery: one device-based config for the live sensors and events."""

from __future__ import annotations

from firmware.common import wire


def discovery_config(device_id: str, info: dict) -> dict:
    """Home Assistant device-based discovery payload for the live sensors and events."""
    uid = f"rollsense_{device_id.replace('-', '_')}"
    base = wire.topic(device_id)

    def sensor(key: str, name: str, unit: str | None = None, dev_class: str | None = None) -> dict:
        cmp = {
            "p": "sensor",
            "name": name,
            "unique_id": f"{uid}_{key}",
            "state_topic": f"{base}/telemetry",
            "value_template": "{{ value_json." + key + " }}",
        }
        if unit:
            cmp["unit_of_measurement"] = unit
            cmp["state_class"] = "measurement"
        if dev_class:
            cmp["device_class"] = dev_class
        return cmp

    return {
        "dev": {
            "ids": [uid],
            "name": info.get("name") or f"rollsense {device_id}",
            "mf": "rollsense",
            "mdl": info.get("model") or "rollsense coach",
            "sw": str(info.get("version") or info.get("sw") or "0"),
        },
        "o": {
            "name": "rollsense",
            "sw": str(info.get("version") or "0"),
            "url": "https://example.invalid/rollsense",
        },
        "availability_topic": f"{base}/status",
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 0,
        "cmps": {
            f"{uid}_speed": sensor("speed_mps", "Roll speed", "m/s", "speed"),
            f"{uid}_force": sensor("force_n", "Force", "N"),
            f"{uid}_passes": sensor("passes", "Passes"),
            f"{uid}_progress": sensor("progress", "Progress"),
            f"{uid}_phase": sensor("phase", "Phase"),
            f"{uid}_event": {
                "p": "event",
                "name": "Coach event",
                "unique_id": f"{uid}_event",
                "state_topic": f"{base}/event",
                "event_types": [
                    "session_started",
                    "phase_changed",
                    "cue",
                    "hold_completed",
                    "pass_completed",
                    "over_pressure",
                    "stepped_off",
                    "routine_completed",
                    "session_ended",
                    "fault",
                ],
            },
        },
    }
