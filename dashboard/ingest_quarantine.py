"""The ingest's quarantine: what a message that failed its schema becomes (DESIGN §3.2, §3.3).

The message is acknowledged (PUBACKed, so the broker does not deliver it again) once the
writer has stored this record in the store's quarantine table (device, topic, reason,
first/last seen, count, a bounded copy); each (device, kind, reason) is logged once.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger("rollsense.ingest")

QUARANTINE_COPY_BYTES = 2048  # of a quarantined payload, kept for the admin page
LOGGED_MAX = 10_000  # (device, kind, reason) keys logged once; past this, no more lines
# what varies with the payload in a reason (a byte offset, a key's name, a list index): left
# out of the quarantine's (device, kind, reason) key, so its rows stay bounded
_REASON_DETAILS = ((re.compile(r" \(byte \d+\)"), ""), (re.compile(r"duplicate key .*"), "duplicate key"),
                   (re.compile(r"\[\d+\]"), "[]"))


class QuarantineLog:
    """Turns a refused message into its quarantine record, counting it in ``stats`` and
    logging each (device, kind, reason) once (at most LOGGED_MAX keys, so a flood of
    made-up device ids cannot grow it without end)."""

    def __init__(self, stats: dict[str, int]) -> None:
        self.stats = stats
        self._logged: set[tuple[str, str, str]] = set()  # (device, kind, reason) said once

    def record(self, kind: str, device_id: str, msg, reason: str) -> dict:
        """The quarantine row of ``msg`` (the writer stores it, then PUBACKs the message)."""
        self.stats["quarantined"] += 1
        for pattern, replacement in _REASON_DETAILS:
            reason = pattern.sub(replacement, reason)
        key = (device_id, kind, reason)
        if key not in self._logged and len(self._logged) < LOGGED_MAX:
            self._logged.add(key)
            log.warning("quarantined %s from %s: %s (said once; counted in the quarantine "
                        "table)", kind, device_id, reason)
        copy = bytes(msg.payload[:QUARANTINE_COPY_BYTES]).decode("utf-8", errors="replace")
        return {"topic": msg.topic[:200], "kind": kind, "reason": reason, "payload": copy,
                "size": len(msg.payload)}
