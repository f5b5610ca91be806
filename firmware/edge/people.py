"""The device's people (issue 22): who may roll on this tool, and who rolled last.

The dashboard keeps the people and sends them with ``set_profile`` (``people``, ``person``);
the device keeps its copy in ``<state_dir>/people.json`` so it coaches offline with the right
person's body mass, and remembers the current person across restarts::

    {"version": 1, "people": [{"id", "name", "body_mass_kg", "units", "sore"}, ...],
     "current": id | null}

Sore areas: per person, the last soreness "before" rating (0-10) per area, the area being a
routine id, or a routine id and its side (``"calf-stick/left"``). A start that gives a rating
is remembered under its routine and side; a start without one eases in by the remembered
rating (``sore_rating``: the area with the side, else the routine's without a side). The
dashboard may send the person's areas with ``set_profile`` (``people[].sore``): they replace
what the device remembers for that person; a person sent without ``sore`` keeps the device's.

Written atomically (a temp file beside it, fsync, rename), so a power cut leaves the old file
or the new one, never half of one. A file that cannot be read as people (not JSON, the wrong
shape, a person that is not one) is moved aside to ``people.json.damaged-<time>`` with one log
line and the device starts with no people: it never stops a device from starting. A write
that fails (a full disk) is one log line; the people stay in memory until the next write.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from firmware.common.files import write_atomic
from firmware.core.commands import MAX_PEOPLE, MAX_SORE_AREAS, person_problem

PEOPLE_FILE = "people.json"
VERSION = 1
log = logging.getLogger("rollsense.people")


@dataclass(frozen=True)
class Person:
    """One person as ``set_profile`` carries them: an id (WIRE_ID), a name for the pages, a
    body mass (None: the device's default is used), the units they read and their sore areas
    (area -> the last "before" rating, 0-10)."""

    id: str
    name: str
    body_mass_kg: float | None = None
    units: str = "metric"
    sore: dict[str, int] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, data: dict) -> Person:
        """A person from its wire form; ValueError (one line) if it is not one."""
        problem = person_problem(data)
        if problem:
            raise ValueError(problem)
        return cls(data["id"], data["name"], data.get("body_mass_kg"), data.get("units") or "metric",
                   dict(data.get("sore") or {}))

    def to_dict(self) -> dict:
        """The wire form (``sore`` only when some area is remembered)."""
        sore = {"sore": dict(self.sore)} if self.sore else {}
        return {"id": self.id, "name": self.name, "body_mass_kg": self.body_mass_kg,
                "units": self.units, **sore}


def sore_area(routine_id: str, side: str | None) -> str:
    """The area a rating is kept under: ``<routine id>`` or ``<routine id>/<side>``."""
    return routine_id if side is None else f"{routine_id}/{side}"


class People:
    """The people this device knows, in the dashboard's order, and the current one. Kept in
    ``state_dir/people.json`` (in memory only when ``state_dir`` is None). Thread-safe: the
    link's thread (set_profile), the loop (a start with a person) and the button (cycling)
    all change it."""

    def __init__(self, state_dir: str | Path | None) -> None:
        self.path = Path(state_dir) / PEOPLE_FILE if state_dir is not None else None
        self._lock = threading.RLock()
        self._people: tuple[Person, ...] = ()
        self._current: str | None = None
        self.set_aside: Path | None = None  # where a damaged file went, if one did
        self._load()

    # -- reads ---------------------------------------------------------------------------------
    @property
    def people(self) -> tuple[Person, ...]:
        return self._people

    def __len__(self) -> int:
        return len(self._people)

    @property
    def current(self) -> Person | None:
        """The person rolling now (the last one chosen), or None: nobody chosen."""
        with self._lock:
            return self.get(self._current)

    def get(self, person_id: str | None) -> Person | None:
        return next((p for p in self._people if p.id == person_id), None)

    def number(self, person_id: str | None) -> int:
        """The person's place in the list, counted from 1 (0: not known): what the button's
        ``person`` cue counts out."""
        ids = [p.id for p in self._people]
        return ids.index(person_id) + 1 if person_id in ids else 0

    def ids(self) -> list[str]:
        return [p.id for p in self._people]

    # -- changes (each written to the file) ----------------------------------------------------
    def replace(self, people: list[dict], current: str | None = None, *, keep_current: bool = True) -> None:
        """The dashboard's list, whole (``set_profile``'s ``people``). The current person is
        ``current`` when ``keep_current`` is False, else stays who it was if still listed."""
        found = tuple(Person.from_dict(p) for p in people[:MAX_PEOPLE])
        with self._lock:
            kept = {p.id: p.sore for p in self._people}  # a person sent without sore keeps theirs
            self._people = tuple(
                p if "sore" in given or p.id not in kept else replace(p, sore=dict(kept[p.id]))
                for p, given in zip(found, people, strict=False))
            chosen = self._current if keep_current else current
            self._current = chosen if self.get(chosen) is not None else None
            self._save()

    def choose(self, person_id: str | None) -> Person | None:
        """Make ``person_id`` the current person (None: nobody); KeyError if not known."""
        with self._lock:
            person = self.get(person_id)
            if person_id is not None and person is None:
                raise KeyError(person_id)
            if self._current != person_id:
                self._current = person_id
                self._save()
            return person

    def cycle(self) -> tuple[int, Person] | None:
        """The next person becomes current (after the last: the first); their number (from 1)
        and who. None when there are no people."""
        with self._lock:
            if not self._people:
                return None
            n = self.number(self._current) % len(self._people)  # 0 (nobody) -> the first
            person = self._people[n]
            self._current = person.id
            self._save()
            return n + 1, person

    def sore_rating(self, person_id: str | None, routine_id: str, side: str | None) -> int | None:
        """The person's remembered "before" rating for the routine on ``side`` (the area with
        the side, else the routine's without one); None when nothing is remembered."""
        person = self.get(person_id)
        if person is None:
            return None
        for area in dict.fromkeys((sore_area(routine_id, side), routine_id)):
            if area in person.sore:
                return person.sore[area]
        return None

    def remember_sore(self, person_id: str, routine_id: str, side: str | None, rating: int) -> None:
        """Keep ``rating`` as the person's last "before" rating for the routine on ``side``
        (written at once; at most MAX_SORE_AREAS areas: the oldest goes first)."""
        area = sore_area(routine_id, side)
        with self._lock:
            person = self.get(person_id)
            if person is None or person.sore.get(area) == rating:
                return
            sore = {k: v for k, v in person.sore.items() if k != area}
            sore[area] = int(rating)  # last: the newest
            while len(sore) > MAX_SORE_AREAS:
                sore.pop(next(iter(sore)))
            self._people = tuple(replace(p, sore=sore) if p.id == person_id else p
                                 for p in self._people)
            self._save()

    # -- the file ------------------------------------------------------------------------------
    def _load(self) -> None:
        if self.path is None:
            return
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as e:
            self._set_aside(f"cannot be read ({type(e).__name__}: {e})")
            return
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("people"), list):
                raise ValueError("not a people file")
            people = tuple(Person.from_dict(p) for p in data["people"][:MAX_PEOPLE])
            if len({p.id for p in people}) != len(people):
                raise ValueError("a person id appears twice")
        except ValueError as e:
            self._set_aside(f"is damaged ({str(e).splitlines()[0][:120]})")
            return
        self._people = people
        current = data.get("current")
        self._current = current if isinstance(current, str) and self.get(current) else None

    def _set_aside(self, why: str) -> None:
        """Move the damaged file aside (never delete it): one log line, no people."""
        assert self.path is not None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        n = 1
        while aside.exists():
            aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
            n += 1
        try:
            os.rename(self.path, aside)
        except OSError as e:
            log.warning("people file %s %s; could not move it aside (%s): starting with no people",
                        self.path, why, e)
            return
        self.set_aside = aside
        log.warning("people file %s %s: moved it aside to %s and started with no people",
                    self.path, why, aside.name)

    def _save(self) -> None:
        """Write the file atomically (temp, fsync, rename); a failure is one log line."""
        if self.path is None:
            return
        body = json.dumps({"version": VERSION, "people": [p.to_dict() for p in self._people],
                           "current": self._current}, indent=1)
        try:
            write_atomic(self.path, body)
        except OSError as e:
            log.warning("people file %s not written (%s): the people are kept in memory until "
                        "the next change", self.path, e)

