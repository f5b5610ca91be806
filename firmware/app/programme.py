"""Playing a programme on this device (issue 22): a start command with ``program`` (or
``rollsense run --program`` / ``demo --program``) plays the programme's steps for this
device's tool, in order, from ``program_step`` (``firmware.core.programs.ProgramRun``).

Each step is a session of its own, tagged ``program_id``, ``program_step``, ``side`` and the
person. Between two of the device's steps it gives the ``switch_side`` cue (the same routine,
the other side) or ``next_step`` (another routine), records a ``program_step`` event (what
ended, what is next, the other tools' steps in between, the rest) and rests the ended step's
``rest_s`` on the sensor clock (the sampler keeps draining, the watchdog is fed), then starts
the next step. A button press moves on to the next step at once (the session ends, the rest is
skipped); a hold or a stop command ends the whole programme. When the device's part ends it
records ``program_done``: the steps it played, whether it was stopped, and the programme's
next step whatever its tool (the dashboard says which tool to pick up), or null at its end;
when the programme goes on on another tool it gives the ``next_step`` cue too.

The soreness rating of a start rates the first step's area; the other steps ease in by the
person's remembered rating for their routine and side (``firmware.edge.people``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from firmware.common.errors import CommandRejected, ConfigError
from firmware.core.programs import CUE_NEXT_STEP, Program, ProgramRun, Step, Turn, load_program
from firmware.core.summary import SessionTags

STEP_STOPPED = "stopped by user"
STEP_SKIPPED = "moved on to the next step (button)"


def step_brief(step: Step | None) -> dict | None:
    """A step as the events carry it: index, routine, tool, side (None: none)."""
    if step is None:
        return None
    return {"index": step.index, "routine": step.routine, "tool": step.tool, "side": step.side}


def step_words(step: Step) -> str:
    """``quads-roller right`` (a step in a user's words)."""
    return step.routine + (f" {step.side}" if step.side else "")


def plan_program(program: Program, tool: str, payload: dict) -> ProgramRun:
    """This tool's part of ``program`` from the start's ``program_step`` (default 0), checked
    against the start's ``protocol`` and ``side`` (each, if given, must be the first step's):
    CommandRejected with one line in a user's words if there is nothing to play here."""
    start = payload.get("program_step") or 0
    steps = program.steps
    if start >= len(steps):
        raise CommandRejected(f"{program.id} has {len(steps)} steps (0 to {len(steps) - 1}); "
                              f"program_step {start} is past its end")
    run = ProgramRun(program, tool, start)
    first = run.current
    if first is None:
        nxt = steps[start]
        raise CommandRejected(f"{program.id} has no {tool} steps from step {start}; next is the "
                              f"{nxt.tool}: {step_words(nxt)}")
    protocol = payload.get("protocol")
    if protocol is not None and protocol != first.routine:
        raise CommandRejected(f"{program.id} plays {step_words(first)} first on this {tool} (step "
                              f"{first.index}), not {protocol}; leave protocol out or send "
                              f"{first.routine}")
    side = payload.get("side")
    if side is not None and side != first.side:
        raise CommandRejected(f"each step of {program.id} has its own side; it starts with "
                              f"{step_words(first)} (step {first.index}): leave side out")
    return run


class ProgramPlay:
    """One programme being played on the coaching loop (``firmware.app.loop.CoachingLoop``):
    built by :meth:`for_start`, played by :meth:`play` in the loop's thread; :meth:`skip` and
    :meth:`end` are safe from any thread (button, link)."""

    def __init__(self, loop, run: ProgramRun, person_id: str | None,
                 soreness_before: int | None = None) -> None:
        self.loop = loop
        self.run = run
        self.person_id = person_id
        self.soreness_before = soreness_before  # the start's rating: the first step's area
        self.played: list[int] = []
        self._ended = threading.Event()  # stop / hold: the whole programme
        self._skip = threading.Event()  # press: on to the next step now

    @classmethod
    def for_start(cls, loop, payload: dict) -> ProgramPlay:
        """The programme a start command (or the button) asks for, checked: a programme the
        device knows with steps for its tool from ``program_step``, a person it knows, and a
        device that can start now. CommandRejected (one line) if not."""
        try:
            program = load_program(payload["program"], loop.routines_dir)
        except ConfigError as e:
            raise CommandRejected(" ".join(str(e).split())) from None
        run = plan_program(program, loop.settings.tool, payload)
        first = run.current
        routine = loop.check_start(first.routine)
        tags = loop.start_tags(routine, {**payload, "side": first.side})
        return cls(loop, run, tags.person_id, payload.get("soreness_before"))

    # -- what the device is doing --------------------------------------------------------
    @property
    def program(self) -> Program:
        return self.run.program

    @property
    def step_indices(self) -> list[int]:
        """The programme steps this device plays (its tool's, from the start step)."""
        return [s.index for s in self.run.steps]

    @property
    def current(self) -> Step | None:
        """The step playing now, or coming after a rest."""
        return self.run.current

    def skip(self) -> None:
        """On to the next step now (the button's press): the session ends, no rest."""
        self._skip.set()
        self.loop.end_routine(STEP_SKIPPED)

    def end(self) -> None:
        """End the whole programme (stop command, the button's hold)."""
        self._ended.set()
        self.loop.end_routine(STEP_STOPPED)

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    # -- playing ---------------------------------------------------------------------------
    def say(self, line: str, *, status: bool = False) -> None:
        """One line for the person (the display) and, with ``status``, the service's STATUS."""
        parts = self.loop.parts
        if parts.display is not None:
            parts.display.message(line)
        if status and parts.notifier:
            parts.notifier.status(line)

    def rest(self, until_s: float, done: Callable[[], bool]) -> None:
        """Wait until ``until_s`` on the sensor clock (or ``done()``): the sampler keeps
        draining, the watchdog is fed while the sensors are healthy."""
        p = self.loop.parts
        while p.clock.now_s() < until_s and not done():
            p.sampler.poll()
            if p.notifier and not getattr(p.sampler, "health", ""):
                p.notifier.watchdog()
            p.clock.sleep_s(self.loop.poll_s)

    def play(self, stop: threading.Event) -> list[dict]:
        """Play the device's steps to the end (or until ended / ``stop``); the summaries."""
        loop = self.loop
        summaries: list[dict] = []
        loop.playing = self
        try:
            while not (self.ended or stop.is_set()):
                step = self.run.current
                if step is None:
                    break
                self._skip.clear()
                first = not self.played
                tags = SessionTags(person_id=self.person_id, side=step.side,
                                   program_id=self.program.id, program_step=step.index,
                                   soreness_before=self.soreness_before if first else None)
                try:
                    summaries.append(loop.run_routine(step.routine, stop, tags))
                except CommandRejected as e:  # the sensors went away, ...: say so, end here
                    self.say(f"{self.program.id}: {e}")
                    self._ended.set()
                    break
                self.played.append(step.index)
                if self.ended or stop.is_set():
                    break
                turn = self.run.advance()
                if turn.step is None:
                    break
                self._between(step, turn, stop)
        finally:
            loop.playing = None
            self._done(stop)
        return summaries

    def _between(self, ended: Step, turn: Turn, stop: threading.Event) -> None:
        """The cue, the ``program_step`` event, then the rest (unless the button moved on)."""
        p = self.loop.parts
        now_s = p.clock.now_s()
        rest_s = 0.0 if self._skip.is_set() else turn.rest_s
        if p.outputs is not None:
            p.outputs.perform(turn.cue)
        if p.display is not None:
            p.display.cue(turn.cue, now_s)
        self.loop.record_device_event({
            "event_type": "program_step", "t_s": now_s, "program": self.program.id,
            "cue": turn.cue, "ended": ended.index, "next": step_brief(turn.step),
            "rest_s": rest_s, "between": [step_brief(s) for s in turn.between]})
        self.say(f"{self.program.id}: next {step_words(turn.step)} (step {turn.step.index})"
                      + (f" after {rest_s:g} s rest" if rest_s > 0 else ""), status=True)
        self.rest(now_s + rest_s, lambda: self.ended or self._skip.is_set() or stop.is_set())

    def _done(self, stop: threading.Event) -> None:
        """The ``program_done`` event: what was played, and the programme's next step."""
        stopped = self.ended or stop.is_set() or self.run.current is not None
        if self.run.current is not None:  # stopped: the step to take up again
            nxt = self.run.current
        elif self.played:
            last = self.played[-1]
            nxt = self.program.steps[last + 1] if last + 1 < len(self.program.steps) else None
        else:
            nxt = None
        p = self.loop.parts
        if not stopped and nxt is not None and p.outputs is not None:
            p.outputs.perform(CUE_NEXT_STEP)  # on to the next routine, on another tool
        self.loop.record_device_event({
            "event_type": "program_done", "program": self.program.id, "played": self.played,
            "stopped": stopped, "next": step_brief(nxt), "person_id": self.person_id})
        self.say(f"{self.program.id}: " + ("stopped" if stopped else "this tool's part is done")
                      + (f"; next: the {nxt.tool}, {step_words(nxt)} (step {nxt.index})" if nxt
                         else "; the programme is complete"), status=False)
