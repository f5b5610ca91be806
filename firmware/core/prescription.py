"""Prescriptions (issue 23): a therapist's own numbers for a person's routines, checked
exactly as a routine file is checked.

A prescription names a programme and carries, per routine id, the whole routine as its TOML
file has it (a dict: ``title``, ``tool``, ``mode``, ..., ``targets = {...}``). The dashboard
builds that dict from the routine file and the therapist's numbers; the device receives it
in ``set_prescription`` and checks each routine with the very ``FileValidator`` path that
checks a file named ``<routine id>.toml``, so the same bad value gives the same one line
wherever it was typed::

    quads-roller.toml: targets.speed.pass_s: low 5 > high 4

Pure: no I/O beyond reading the built-in routine files, no clock.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from firmware.common.errors import ConfigError
from firmware.common.tomlfile import read_toml
from firmware.core.protocols import ROUTINES_DIR, FileValidator, Routine

PRESCRIPTION_DIR = "prescriptions"  # <state_dir>/prescriptions/<person id>.json on a device
SOURCE_PREFIX = "prescription:"  # a prescribed Routine's ``source``: "prescription:<person>/v<n>"


def routine_filename(routine_id: str) -> str:
    """The file name a routine's problems are reported under: ``<id>.toml``."""
    return f"{routine_id}.toml"


def check_routine_dict(routine_id: str, raw: Any, source: str = "") -> tuple[Routine | None, list[str]]:
    """A routine dict checked as the file ``<routine_id>.toml`` holding it would be: the
    Routine (None if any problem) and one line per problem."""
    name = routine_filename(routine_id)
    v = FileValidator(name)
    if not isinstance(raw, dict):
        v.bad("routine", f"expected a table, got {type(raw).__name__}")
        return None, v.problems
    routine = v.routine(raw, Path(name))
    if routine is not None and source:
        routine = replace(routine, source=source)
    return routine, list(v.problems)


def check_routines(routines: Mapping[str, Any], source: str = "") -> tuple[dict[str, Routine], list[str]]:
    """Every routine of a prescription checked (``check_routine_dict``): id -> Routine, and
    the problems of all of them, one line each, in routine id order."""
    built, problems = {}, []
    for rid in sorted(routines):
        routine, lines = check_routine_dict(rid, routines[rid], source)
        problems += lines
        if routine is not None:
            built[rid] = routine
    return built, problems


def raise_problems(problems: list[str]) -> None:
    """ConfigError with one line per problem (also ``.problems``), if any."""
    if problems:
        err = ConfigError("\n".join(problems))
        err.problems = list(problems)  # type: ignore[attr-defined]
        raise err


def base_routine_dict(routine_id: str, user_dir: str | Path | None = None) -> dict:
    """The routine file's own dict (as TOML parsed it): what a prescription starts from."""
    files = {p.stem: p for p in sorted(Path(ROUTINES_DIR).glob("*.toml"))}
    if user_dir is not None:
        files.update({p.stem: p for p in sorted(Path(user_dir).glob("*.toml"))})
    if routine_id not in files:
        raise ConfigError(f"unknown routine {routine_id!r} (known: {', '.join(sorted(files))})")
    return read_toml(files[routine_id], routine_filename(routine_id))


def set_key(tree: dict, dotted: str, value: Any) -> None:
    """Set ``targets.speed.pass_s`` in ``tree`` (tables made as needed); ``value`` None
    removes the key."""
    *tables, last = dotted.split(".")
    node = tree
    for t in tables:
        nxt = node.get(t)
        if not isinstance(nxt, dict):
            if value is None:
                return
            nxt = node[t] = {}
        node = nxt
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


def get_key(tree: dict, dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def with_overrides(base: dict, overrides: Mapping[str, Any]) -> dict:
    """``base`` (a routine dict) with ``overrides`` ({dotted key: value or None}) applied:
    a new dict, ``base`` untouched."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        set_key(out, key, value)
    return out


@dataclass(frozen=True)
class Prescription:
    """One version of a person's prescription, as a device keeps it."""

    person: str
    version: int
    program: str | None
    routines: dict  # routine id -> Routine (checked)
    by: str | None = None

    def tag(self) -> dict:
        """What a session that followed it records: ``{"version", "by"?}``."""
        return {"version": self.version, **({"by": self.by} if self.by else {})}

    def routine_for(self, routine: Routine) -> Routine | None:
        """The prescribed form of ``routine`` (same id, same tool), or None."""
        mine = self.routines.get(routine.id)
        return mine if mine is not None and mine.tool == routine.tool else None


def prescription_from_payload(args: Mapping[str, Any]) -> Prescription:
    """A ``set_prescription`` command's fields as a Prescription; ConfigError (one line per
    problem, ``.problems``) if a routine is not one."""
    person, version = str(args["person"]), int(args["version"])
    source = f"{SOURCE_PREFIX}{person}/v{version}"
    built, problems = check_routines(args.get("routines") or {}, source)
    raise_problems(problems)
    return Prescription(person, version, args.get("program"), built, args.get("by"))
