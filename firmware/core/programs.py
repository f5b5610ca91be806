"""Programmes: the routines a person does together, in order, side by side, as data.

A programme is a TOML file (built-in in ``firmware/programs/<id>.toml``, the user's own in
``<routines_dir>/programs/<id>.toml``; a user file overrides a built-in one with the same id)::

    id = "lower-body"                 # optional; [a-z0-9-]{1,64}, the file name's stem
    title = "Lower body"
    note = "..."                      # optional
    [[steps]]
    routine = "quads-roller"          # a routine id, built-in or the user's own
    side = "left"                     # "left" | "right" | omitted for the spine
    rest_s = 30                       # optional, 0..600: rest before the next step

Every problem is one line naming the file and the key (``lower-body.toml: steps[2].side: ...``;
steps are counted from 0, as the summary's ``program_step`` counts them).

Sides: a routine is done per side when its muscle is on a limb or on one side of the pelvis
(``on_a_limb``: the muscle's words name a leg, hip, glute or arm muscle). Of the built-in
routines the quads, IT band, calf and piriformis are; the thoracic paraspinals and the upper
back (trapezius / rhomboids, worked on either side of the spine in one session) are not. A
step may give a side only for a routine on a limb; it may leave it out on a limb too (both
legs at once, or not said).

Playing a programme (``ProgramRun``): a device plays the steps for its own tool, in order,
skipping the others; between two of its steps it cues ``switch_side`` (the same routine, the
other side) or ``next_step`` (another routine), and says what comes next in the programme,
whatever the tool, for the dashboard to show which tool to pick up. Pure: no I/O beyond
reading the files, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.common.errors import ConfigError
from firmware.common.tomlfile import read_toml
from firmware.core.protocols import FileValidator, Routine, list_routines

PROGRAMS_DIR = Path(__file__).resolve().parents[1] / "programs"  # firmware/programs
USER_SUBDIR = "programs"  # the user's own: <routines_dir>/programs/
SIDES = ("left", "right")
PROGRAM_ID_RE = re.compile(r"^[a-z0-9-]{1,64}$")
MAX_STEPS = 100
REST_MAX_S = 600.0
# words of a muscle on a limb or one side of the pelvis: its routine is done per side
LIMB_MUSCLE_RE = re.compile(
    r"\b(quad\w*|thighs?|it band|iliotibial|hamstrings?|adductors?|abductors?|calf|calves|"
    r"gastrocnemius|soleus|shins?|tibialis|peroneals?|feet|foot|plantar|glute\w*|piriformis|"
    r"hips?|tfl|tensor fasciae latae|arms?|forearms?|biceps|triceps|wrists?|lats?|"
    r"latissimus)\b",
    re.IGNORECASE)
CUE_SWITCH_SIDE, CUE_NEXT_STEP = "switch_side", "next_step"  # the cue table's names


def on_a_limb(routine: Routine) -> bool:
    """The routine works a muscle on a limb (or one side of the pelvis): it is done per side."""
    return LIMB_MUSCLE_RE.search(routine.muscle) is not None


@dataclass(frozen=True)
class Step:
    """One step of a programme: a routine, on one side or none, and the rest after it."""

    index: int  # in the programme's step list, from 0 (the summary's program_step)
    routine: str
    tool: str  # the routine's tool
    side: str | None  # "left" | "right" | None (the spine, or both at once)
    rest_s: float = 0.0  # rest before the next step

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "routine": self.routine, "tool": self.tool,
                "side": self.side, "rest_s": self.rest_s}


@dataclass(frozen=True)
class Program:
    id: str
    title: str
    steps: tuple[Step, ...]
    note: str = ""
    source: str = ""  # the file it came from

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools it needs, in the order the steps first use them."""
        return tuple(dict.fromkeys(s.tool for s in self.steps))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready tree for ``rollsense programs --json``."""
        return {"id": self.id, "title": self.title, "note": self.note, "source": self.source,
                "tools": list(self.tools), "steps": [s.to_dict() for s in self.steps]}


# ------------------------------------------------------------------------------ loading


def load_program_file(path: str | Path, routines: Mapping[str, Routine]) -> Program:
    """Parse and validate one programme file against the routines it may use (id ->
    Routine); ``ConfigError`` lists every problem, one per line."""
    path = Path(path)
    v = _ProgramValidator(path.name, routines)
    program = v.program(read_toml(path, path.name), path)
    v.raise_problems()
    assert program is not None
    return program


def program_files(user_dir: str | Path | None) -> dict[str, Path]:
    """id -> file: the built-in programmes, then ``<user_dir>/programs/*.toml`` over them."""
    files = {p.stem: p for p in sorted(PROGRAMS_DIR.glob("*.toml"))}
    if user_dir is not None:
        d = Path(user_dir)
        if not d.is_dir():
            raise ConfigError(f"{d}: routine directory does not exist")
        files.update({p.stem: p for p in sorted((d / USER_SUBDIR).glob("*.toml"))})
    return files


def program_ids(user_dir: str | Path | None = None) -> list[str]:
    """The id of every programme, built-in plus the user's own, sorted."""
    return sorted(program_files(user_dir))


def list_programs(user_dir: str | Path | None = None) -> list[Program]:
    """Every programme, built-in and the user's own (a user file overrides the same id), by
    id; one ``ConfigError`` with a line per problem in any of the files."""
    routines = {r.id: r for r in list_routines(user_dir)}
    programs, problems = [], []
    for _, path in sorted(program_files(user_dir).items()):
        try:
            programs.append(load_program_file(path, routines))
        except ConfigError as e:
            problems += getattr(e, "problems", [str(e)])
    if problems:
        err = ConfigError("\n".join(problems))
        err.problems = problems  # type: ignore[attr-defined]
        raise err
    return programs


def load_program(program_id: str, user_dir: str | Path | None = None) -> Program:
    """The programme ``program_id`` (the user's first); ``ConfigError`` if unknown or bad."""
    files = program_files(user_dir)
    if program_id not in files:
        raise ConfigError(f"unknown programme {program_id!r} (known: {', '.join(sorted(files))})")
    return load_program_file(files[program_id], {r.id: r for r in list_routines(user_dir)})


# ------------------------------------------------------------------------------ validation

_TOP_KEYS = {"id", "title", "note", "steps"}
_STEP_KEYS = {"routine", "side", "rest_s"}


class _ProgramValidator(FileValidator):
    """One line per problem while building the Program tree."""

    def __init__(self, filename: str, routines: Mapping[str, Routine]) -> None:
        super().__init__(filename)
        self.routines = routines

    def program(self, raw: dict, path: Path) -> Program | None:
        self.unknown(raw, _TOP_KEYS, "")
        pid = path.stem
        if not PROGRAM_ID_RE.match(pid):
            self.bad("id", f"the file name {pid!r} is not a programme id (a-z, 0-9 and -, "
                     "1 to 64 characters)")
        if "id" in raw and raw["id"] != pid:
            self.bad("id", f"{raw['id']!r} does not match the file name {pid!r}")
        title = self.text(raw, "title")
        note = self.text(raw, "note", required=False)
        steps = raw.get("steps")
        if steps is None:
            self.bad("steps", "missing (give one [[steps]] table per routine)")
            return None
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            self.bad("steps", "expected [[steps]] tables")
            return None
        if not 1 <= len(steps) <= MAX_STEPS:
            self.bad("steps", f"{len(steps)} steps; give 1 to {MAX_STEPS}")
            return None
        built = [self.step(i, s) for i, s in enumerate(steps)]
        if self.problems:
            return None
        return Program(pid, title, tuple(s for s in built if s is not None), note, str(path))

    def step(self, i: int, raw: dict) -> Step | None:
        p = f"steps[{i}]."
        self.unknown(raw, _STEP_KEYS, p)
        rid = self.text(raw, "routine", p)
        routine = self.routines.get(rid) if rid else None
        if rid and routine is None:
            self.bad(p + "routine", f"{rid!r} is not a routine (known: "
                     f"{', '.join(sorted(self.routines))})")
        side = raw.get("side")
        if side is not None and side not in SIDES:
            self.bad(p + "side", f"{side!r} is not one of {', '.join(SIDES)} (leave it out for "
                     "the spine)")
            side = None
        elif side is not None and routine is not None and not on_a_limb(routine):
            self.bad(p + "side", f"{rid} ({routine.muscle}) is not on a limb: leave side out")
        rest = self.number(raw, "rest_s", p, 0.0, REST_MAX_S, required=False)
        if routine is None:
            return None
        return Step(i, rid, routine.tool, side, 0.0 if rest is None else rest)


# ------------------------------------------------------------------------------ playing


@dataclass(frozen=True)
class Turn:
    """What happens when a device's step ends: the cue, its next step, the rest before it,
    and the other tools' steps that come in between in the programme."""

    cue: str | None  # "switch_side" | "next_step" | None (this device's part is over)
    step: Step | None  # the device's next step (None: none left)
    rest_s: float  # the ended step's rest
    between: tuple[Step, ...] = ()  # other tools' steps before ``step`` in programme order


class ProgramRun:
    """A programme as one device plays it: the steps for its tool, in order.

    Both household set-ups work with it: a device on each tool (each plays its own steps;
    the dashboard puts the person's sessions together by ``program_id``/``program_step``), or
    one sensor moved between tools (a new run for the new tool, started at the programme
    step the person has reached: ``start_step``).
    """

    def __init__(self, program: Program, tool: str, start_step: int = 0) -> None:
        self.program = program
        self.tool = tool
        self.steps = tuple(s for s in program.steps if s.tool == tool and s.index >= start_step)
        self._i = 0

    @property
    def current(self) -> Step | None:
        """The step being played (None once this device's part is over)."""
        return self.steps[self._i] if self._i < len(self.steps) else None

    @property
    def finished(self) -> bool:
        return self._i >= len(self.steps)

    def upcoming(self) -> Step | None:
        """The programme's next step after the current one, whatever its tool (the dashboard
        says "next: the stick"); None at the programme's end."""
        cur = self.current
        if cur is None:
            return None
        return self.program.steps[cur.index + 1] if cur.index + 1 < len(self.program.steps) else None

    def advance(self) -> Turn:
        """The current step has ended (done or stopped): move on to the next one of this tool."""
        cur = self.current
        if cur is None:
            return Turn(None, None, 0.0)
        self._i += 1
        nxt = self.current
        if nxt is None:
            return Turn(None, None, cur.rest_s, self.program.steps[cur.index + 1:])
        return Turn(transition_cue(cur, nxt), nxt, cur.rest_s,
                    self.program.steps[cur.index + 1:nxt.index])


def transition_cue(ended: Step, nxt: Step) -> str:
    """``switch_side`` between the two sides of one routine, ``next_step`` otherwise."""
    other_side = ended.side is not None and nxt.side is not None and ended.side != nxt.side
    return CUE_SWITCH_SIDE if ended.routine == nxt.routine and other_side else CUE_NEXT_STEP


def first_not_done(program: Program, done: Iterable[int]) -> Step | None:
    """The programme's first step not in ``done`` (step indices), for progress across tools:
    its tool is the one to pick up next; None when every step is done."""
    done_set = set(done)
    return next((s for s in program.steps if s.index not in done_set), None)
