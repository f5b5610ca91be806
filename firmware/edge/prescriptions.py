"""The prescriptions a device keeps (issue 23): per person, the last version a therapist
sent with ``set_prescription``, in ``<state_dir>/prescriptions/<person id>.json``::

    {"person", "version", "by", "program", "routines": {"<routine id>": {routine dict}}}

Each routine dict is kept exactly as it came (as its TOML file would have it) and checked
again when the file is read (``firmware.core.prescription``), so what the device coaches
with is always what passed the routine validator. Written atomically
(``firmware.common.files.write_atomic``): a power cut leaves the old version or the new one.
A file that cannot be read as a prescription is one log line and is left out (the person is
then coached with the routine files' numbers); it never stops a device from starting.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from firmware.common.errors import CommandRejected, ConfigError
from firmware.common.files import write_atomic
from firmware.core.commands import PERSON_ID_RE
from firmware.core.prescription import PRESCRIPTION_DIR, Prescription, prescription_from_payload

log = logging.getLogger("rollsense.prescriptions")


class Prescriptions:
    """person id -> the Prescription this device follows for them. Thread-safe (the link's
    thread stores, the loop reads)."""

    def __init__(self, state_dir: str | Path | None) -> None:
        self.dir = Path(state_dir) / PRESCRIPTION_DIR if state_dir is not None else None
        self._lock = threading.Lock()
        self._by_person: dict[str, Prescription] = {}
        self._load()

    def get(self, person_id: str | None) -> Prescription | None:
        with self._lock:
            return self._by_person.get(person_id) if person_id is not None else None

    def versions(self) -> dict[str, int]:
        """person id -> the version kept (what ping and the info can report)."""
        with self._lock:
            return {p: rx.version for p, rx in self._by_person.items()}

    def store(self, args: dict) -> dict:
        """``set_prescription``'s fields: checked (each routine as a file), kept (written
        before the answer), acknowledged ``{"person", "version"}``. An older version than
        the one kept is refused (a late resend never rolls a prescription back); the same
        version again is answered as kept. CommandRejected / ConfigError: one line each."""
        rx = prescription_from_payload(args)
        with self._lock:
            have = self._by_person.get(rx.person)
            if have is not None and have.version > rx.version:
                raise CommandRejected(f"{rx.person} already follows version {have.version}; "
                                      f"version {rx.version} is older")
            if self.dir is not None:
                body = json.dumps({k: args.get(k) for k in ("person", "version", "by", "program",
                                                              "routines")}, indent=1)
                try:
                    write_atomic(self.dir / f"{rx.person}.json", body)
                except OSError as e:
                    raise CommandRejected(f"prescription not kept: {e.strerror or e}") from None
            self._by_person[rx.person] = rx
        return {"person": rx.person, "version": rx.version,
                "routines": sorted(rx.routines), "program": rx.program}

    def _load(self) -> None:
        if self.dir is None or not self.dir.is_dir():
            return
        for path in sorted(self.dir.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(data, dict) or not PERSON_ID_RE.fullmatch(str(data.get("person"))):
                    raise ValueError("not a prescription")
                version = data.get("version")
                if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                    raise ValueError("no version")
                rx = prescription_from_payload(data)
            except (OSError, ValueError, ConfigError) as e:  # ConfigError is a ValueError too
                log.warning("prescription file %s left out: %s", path, str(e).splitlines()[0][:160])
                continue
            self._by_person[rx.person] = rx
