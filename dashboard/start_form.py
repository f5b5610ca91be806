"""Starting for a person (issue 22): the live page's Start form's fields (who, which side, a
programme and its step, soreness before) and the start command they make.

With a programme the command's ``protocol`` is the routine of the programme's first step for
this device's tool at or after the chosen step, and its ``side`` that step's side, so a device
that plays programmes and one that only tags sessions with them both start the right routine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dashboard.plans import step_words
from dashboard.render import esc
from firmware.common.errors import ConfigError
from firmware.core.commands import PERSON_ID_RE, PROGRAM_RE, SIDES, SORENESS_MAX
from firmware.core.programs import Program, Step, on_a_limb
from firmware.core.protocols import list_routines

ROUTINE_RE = PROGRAM_RE  # a routine id has the same shape: [a-z0-9-]{1,64}


def limb_routines() -> set[str]:
    """Ids of the built-in routines done per side (the side control shows for them)."""
    try:
        return {r.id for r in list_routines() if on_a_limb(r)}
    except ConfigError:
        return set()


def tool_steps(program: Program, tool: str | None) -> list[Step]:
    """The programme's steps a device with ``tool`` plays (every step when the tool is unknown)."""
    return [s for s in program.steps if tool in (None, s.tool)]


def programs_for(programs: Mapping[str, Program], tool: str | None) -> list[Program]:
    """The programmes with at least one step for ``tool``, by title."""
    return sorted((p for p in programs.values() if tool_steps(p, tool)), key=lambda p: p.title)


def _rating(text: str, what: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 0 <= int(text) <= SORENESS_MAX:
        raise ConfigError(f"{what} must be a whole number from 0 to {SORENESS_MAX}, or empty")
    return int(text)


def start_payload(form: Mapping[str, str], *, people: Iterable[str], programs: Mapping[str, Program],
                  tool: str | None) -> dict:
    """The start command's payload from the Start form; ConfigError (one line, a user's
    words) for a field that cannot be. ``people``: the person ids the dashboard knows;
    ``tool``: the device's tool (None: unknown)."""
    payload: dict = {}
    person = form.get("person", "").strip()
    if person:
        if not PERSON_ID_RE.fullmatch(person) or person not in set(people):
            raise ConfigError("choose a person from the list (or nobody)")
        payload["person"] = person
    side = form.get("side", "").strip()
    if side and side not in SIDES:
        raise ConfigError("side must be left, right or none")
    program_id = form.get("program", "").strip()
    if program_id:
        program = programs.get(program_id) if PROGRAM_RE.fullmatch(program_id) else None
        if program is None:
            raise ConfigError("choose a programme from the list (or none)")
        text = form.get("program_step", "").strip() or "0"
        if not text.isdigit() or int(text) >= len(program.steps):
            raise ConfigError(f"the start step must be 1 to {len(program.steps)}")
        step = next((s for s in tool_steps(program, tool) if s.index >= int(text)), None)
        if step is None:
            raise ConfigError(f"{program.title} has no step for this {tool or 'tool'} from step {int(text) + 1} on")
        payload.update(protocol=step.routine, program=program.id, program_step=step.index)
        if step.side:
            payload["side"] = step.side
    else:
        protocol = form.get("protocol", "").strip()
        if not ROUTINE_RE.fullmatch(protocol):
            raise ConfigError("choose a routine")
        payload["protocol"] = protocol
        if side:
            payload["side"] = side
    before = _rating(form.get("soreness_before", ""), "soreness before")
    if before is not None:
        payload["soreness_before"] = before
    return payload


def start_fields(people: list[dict], current: str | None, programs: list[Program], tool: str | None) -> str:
    """The Start form's fields beyond the routine: person, side, programme and step, soreness."""
    who = '<option value="">Nobody in particular</option>' + "".join(
        f'<option value="{esc(p["id"])}"{" selected" if p["id"] == current else ""}>{esc(p["name"])}</option>'
        for p in people)
    progs = '<option value="">No programme: just this routine</option>' + "".join(
        f'<option value="{esc(p.id)}">{esc(p.title)}</option>' for p in programs)
    ratings = '<option value="">Not said</option>' + "".join(
        f'<option value="{n}">{n}</option>' for n in range(SORENESS_MAX + 1))
    return f"""
      <div class="field"><label for="person">Who</label><select name="person" id="person">{who}</select></div>
      <div class="field" id="side-field"><label for="side">Side</label><select name="side" id="side">
        <option value="">None</option><option value="left">Left</option><option value="right">Right</option></select></div>
      <div class="field"><label for="program">Play a programme</label><select name="program" id="program">{progs}</select></div>
      <div class="field" id="step-field" hidden><label for="program-step">Start at step</label>
        <select name="program_step" id="program-step"></select></div>
      <div class="field"><label for="soreness-before">Soreness before (0 none – 10 worst)</label>
        <select name="soreness_before" id="soreness-before">{ratings}</select></div>"""


def start_data(programs: list[Program], tool: str | None) -> dict:
    """What live.js needs to show the side and the steps: routines done per side, and each
    programme's steps for this tool (index, words)."""
    return {"limb_routines": sorted(limb_routines()),
            "program_steps": {p.id: [[s.index, f"{s.index + 1}. {step_words(s)}"] for s in tool_steps(p, tool)]
                              for p in programs}}
