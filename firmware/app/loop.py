"""The coaching loop: sampler -> session (metrics, coach) -> outputs, display, journal ->
link. The only place that runs the loop; everything it touches is injected (put together
by ``firmware.app.wiring``).

Cues go to the buzzer/LED and the terminal first, then to the journal; the network is
never waited on (the link drains the journal's outbox in its own thread).

People (issue 22): the loop keeps the device's people (``firmware.edge.people``, in the state
dir) and coaches the current one: their body mass turns force targets in % body weight into
newtons (the device-wide ``profile`` when nobody is chosen or they gave none). A start with
``person`` makes that person current; every session carries who rolled and which side. A
start with a soreness rating is remembered for the person, routine and side; a start without
one eases in by the remembered rating.

Programmes (issue 22): a start with ``program`` plays this tool's steps of the programme
(``firmware.app.programme.ProgramPlay``); ``playing`` is the programme being played (None at
idle), which ping reports and the stop command ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from firmware.app.programme import ProgramPlay
from firmware.common.clock import Clock
from firmware.common.errors import CommandRejected, ConfigError
from firmware.common.hardware import BlockSource, CueOutputs
from firmware.common.units import summary_table
from firmware.common.wire import clean_json, utc_now_iso
from firmware.core.coach import Cue, Event
from firmware.core.metrics import MetricsSettings
from firmware.core.protocols import Profile, Routine, load_routine
from firmware.core.session import Session
from firmware.core.sides import side_problem
from firmware.core.summary import SessionTags, new_session_id
from firmware.edge.pairing import check_code
from firmware.edge.people import People, Person
from firmware.edge.prescriptions import Prescriptions

QUIET_EVENT_CUES = {"tick"}  # metronome ticks are cues for the user, not events to keep
CHECKPOINT_S = 5.0  # sensor seconds between journal checkpoints of the running summary
PERSON_CUE_PERIOD_S = 0.4  # the button's person cue: one beep per 0.4 s, countable by ear


@dataclass
class DeviceParts:
    """Everything the loop talks to. ``outputs``, ``link``, ``display``, ``notifier`` may be None."""

    sampler: BlockSource
    clock: Clock
    journal: object
    outputs: CueOutputs | None = None
    link: object | None = None
    display: object | None = None
    notifier: object | None = None


class CoachingLoop:
    """Runs one routine at a time on the injected parts, and answers commands (from the
    link's thread) about what it can start now."""

    def __init__(
        self,
        *,
        device_id: str,
        parts: DeviceParts,
        settings: MetricsSettings,
        routines_dir: str | Path | None = None,
        profile: Profile | None = None,
        state_dir: str | Path | None = None,
        people: People | None = None,
        telemetry_hz: float = 10.0,
        poll_s: float = 0.02,
        no_contact_timeout_s: float = 30.0,
        source_end_s: float | None = None,
        sim_tool=None,
    ) -> None:
        """``source_end_s``: the sensor time a one-routine simulated user leaves (demo);
        ``sim_tool``: simulated hardware with a new user per routine (``device.sim.SimTool``);
        ``profile``: the device-wide body mass (config, set_profile's ``body_mass_kg``), used
        when nobody is chosen or the person gave none; ``people``: default, the state dir's."""
        self.device_id = device_id
        self.parts = parts
        self.settings = settings
        self.routines_dir = routines_dir
        self.profile = profile or Profile()
        self.state_dir = Path(state_dir) if state_dir else None
        self.people = people if people is not None else People(self.state_dir)
        self.prescriptions = Prescriptions(self.state_dir)  # issue 23: per person, the state dir's
        self._person_beeps: list[float] = []  # when the person cue's next beeps are due
        self._beeps_lock = threading.Lock()  # the button's thread plans them, the idle loop plays
        self.telemetry_period_s = 1.0 / telemetry_hz
        self.poll_s = poll_s
        self.no_contact_timeout_s = no_contact_timeout_s
        self.source_end_s = source_end_s
        self.sim_tool = sim_tool
        self.commands: queue.Queue = queue.Queue()
        self.session: Session | None = None
        self.playing: ProgramPlay | None = None  # the programme being played
        self._stop_routine = threading.Event()
        self._stop_reason = "stopped by user"
        # why the device cannot start a routine now ("" = it can): set by the service around
        # the loop (a sensor that does not answer, ...)
        self.unavailable: Callable[[], str] = lambda: ""
        if parts.link is not None:
            parts.link.on_command = self.handle_command
        self.say_person()
        self.storage = ""  # the journal's storage problem ("" = writable)
        if hasattr(parts.journal, "add_storage_listener"):
            parts.journal.add_storage_listener(self.storage_changed)
            if parts.journal.storage:  # it failed before we listened (a full disk at start)
                self.storage_changed(parts.journal.storage)

    def request_stop(self) -> None:
        """Stop the running routine, and the programme it is a step of (button hold, stop
        command); safe from any thread."""
        playing = self.playing
        if playing is not None:
            playing.end()
        self.end_routine("stopped by user")

    def end_routine(self, reason: str) -> None:
        """End the running routine's session with ``reason``; safe from any thread."""
        self._stop_reason = reason
        self._stop_routine.set()

    def storage_changed(self, problem: str) -> None:
        """The journal's storage failed (``problem``: "storage full", ...) or is back (""):
        the ``storage_full`` cue, the STATUS line and a fault event (kept until it can be
        written) say so; coaching goes on, the journal keeps the session in memory meanwhile.
        Runs in whichever thread noticed; never waits for the disk."""
        if problem == self.storage:
            return
        self.storage = problem
        p = self.parts
        line = (f"{problem}: coaching goes on; the session is kept in memory and saved when "
                "there is space again") if problem else ""
        if p.notifier:
            say = getattr(p.notifier, "storage", None)
            if say is not None:
                say(line)
            else:
                p.notifier.status(line or "storage ok again")
        if p.link is not None:
            p.link.set_condition("storage", problem)
        if problem:
            if p.outputs is not None:
                p.outputs.perform("storage_full")
            p.journal.record_event(None, {"event_type": "fault", "error": problem})

    # -- commands (called from the link's thread) -------------------------------------
    def handle_command(self, name: str, payload: dict) -> dict | None:
        if name == "ping":
            s, playing = self.session, self.playing
            step = playing.current if playing is not None else None
            return {"state": "running" if (s and not s.finished) or playing else "idle",
                    "protocol": s.routine.id if s and s.routine and not s.finished else None,
                    "person": self.people.current.id if self.people.current else None,
                    "program": ({"id": playing.program.id, "step": step.index if step else None}
                                if playing is not None else None)}
        if name == "start":
            self._check_not_playing()
            if payload.get("program") is not None:
                return self._start_program(payload)
            routine = self.check_start(payload["protocol"])
            tags = self.start_tags(routine, payload)
            if not self.commands.empty():
                raise CommandRejected("another start is already waiting; try again in a moment")
            self.commands.put(("start", routine.id, tags))
            said = {"person": tags.person_id, "side": tags.side}  # who and which side, if any
            return {"accepted": routine.id, **{k: v for k, v in said.items() if v is not None}}
        if name == "stop":
            s, playing = self.session, self.playing
            running = s is not None and not s.finished
            if playing is not None:
                self.request_stop()
                return {"stopping": s.session_id if running else None,
                        "protocol": s.routine.id if running else None,
                        "program": playing.program.id}
            if not running:
                raise CommandRejected("no routine is running; nothing to stop")
            self.request_stop()
            return {"stopping": s.session_id, "protocol": s.routine.id}
        if name == "set_profile":
            return self.set_profile(payload)
        if name == "set_prescription":
            return self.prescriptions.store(payload)
        if name == "pair":
            return self._check_pair_code(str(payload.get("code", "")))
        raise CommandRejected(f"command {name!r} is not supported by this device")

    def _check_not_playing(self) -> None:
        playing = self.playing
        if playing is not None:
            step = playing.current
            at = f" (step {step.index}, {step.routine})" if step is not None else ""
            raise CommandRejected(f"programme {playing.program.id} is playing{at}; send stop first")

    def _start_program(self, payload: dict) -> dict:
        """A start with ``program``: checked now, played by the service's loop."""
        play = ProgramPlay.for_start(self, payload)
        if not self.commands.empty():
            raise CommandRejected("another start is already waiting; try again in a moment")
        self.commands.put(("program", play))
        first = play.current
        said = {"person": play.person_id} if play.person_id is not None else {}
        return {"accepted": first.routine, "program": play.program.id,
                "steps": play.step_indices, **said}

    def program_play(self, program_id: str) -> ProgramPlay:
        """The programme ``program_id`` for the current person, as the button starts it
        (checked like a start command: CommandRejected, one line)."""
        self._check_not_playing()
        return ProgramPlay.for_start(self, {"program": program_id})

    def record_device_event(self, payload: dict) -> None:
        """An event of the device rather than of a session (a programme's): journalled and
        sent like the session's."""
        self.parts.journal.record_event(None, clean_json(payload))
        if self.parts.link is not None:
            self.parts.link.wake()

    def set_profile(self, payload: dict) -> dict:
        """``set_profile``: the device-wide body mass, the people (the dashboard's whole list)
        and the current person, each only when given. The answer says what the device now
        holds."""
        person = payload.get("person")
        if "people" not in payload and person is not None and self.people.get(person) is None:
            raise CommandRejected(f"unknown person {person!r}; {self._known_people()}")
        if "body_mass_kg" in payload:
            self.profile = Profile(body_mass_kg=payload["body_mass_kg"])
        if "people" in payload:
            self.people.replace(payload["people"], person, keep_current="person" not in payload)
        elif "person" in payload:
            self.people.choose(person)
        self.say_person()
        current = self.people.current
        return {"body_mass_kg": self.profile.body_mass_kg, "people": self.people.ids(),
                "person": current.id if current else None}

    def _known_people(self) -> str:
        ids = self.people.ids()
        return (f"this device knows {', '.join(ids)}" if ids
                else "this device knows nobody yet: send set_profile with people first")

    def start_tags(self, routine: Routine, payload: dict) -> SessionTags:
        """Who rolls and which side for a start command (``person`` absent: the current
        person; null: nobody in particular), checked: a person the device knows, a side only
        on a routine on a limb. CommandRejected (one line) if not."""
        if "person" in payload:
            person_id = payload["person"]
        else:
            person_id = self.people.current.id if self.people.current else None
        if person_id is not None and self.people.get(person_id) is None:
            raise CommandRejected(f"unknown person {person_id!r}; {self._known_people()}")
        side = payload.get("side")
        why = side_problem(routine, side)
        if why:
            raise CommandRejected(why)
        return SessionTags(person_id=person_id, side=side, program_id=payload.get("program"),
                           program_step=payload.get("program_step"),
                           soreness_before=payload.get("soreness_before"))

    def say_person(self) -> None:
        """The current person's id in the device's retained ``info`` (``person``; none: left
        out), so the dashboard's Start form offers them first."""
        if self.parts.link is not None:
            current = self.people.current
            self.parts.link.set_condition("person", current.id if current else "")

    def profile_for(self, person: Person | None) -> Profile:
        """The body mass that shapes ``person``'s force targets: theirs, else the device's."""
        if person is not None and person.body_mass_kg is not None:
            return Profile(body_mass_kg=person.body_mass_kg)
        return self.profile

    # -- the button's people (idle) ----------------------------------------------------------------
    def cycle_person(self, now_s: float) -> Person | None:
        """The next person becomes current (button at idle, two or more people): says who by
        the ``person`` cue, once per their number (1-16 beeps, ``PERSON_CUE_PERIOD_S`` apart;
        played by :meth:`play_person_cue`) and on the display. None if nobody to cycle."""
        s = self.session
        if (s is not None and not s.finished) or len(self.people) < 2:
            return None
        chosen = self.people.cycle()
        if chosen is None:
            return None
        self.say_person()
        number, person = chosen
        with self._beeps_lock:
            self._person_beeps = [now_s + i * PERSON_CUE_PERIOD_S for i in range(number)]
        if self.parts.display is not None:
            self.parts.display.message(f"person {number}: {person.name}")
        if self.parts.notifier:
            self.parts.notifier.status(f"idle; person {number}: {person.name}")
        self.play_person_cue(now_s)
        return person

    def play_person_cue(self, now_s: float) -> None:
        """Play the person cue's next beep if it is due (called at idle, every poll); the
        beeps stay ``PERSON_CUE_PERIOD_S`` apart even when a round came late."""
        with self._beeps_lock:
            beeps = self._person_beeps
            if not beeps or beeps[0] > now_s:
                return
            beeps.pop(0)
            late_s = now_s + PERSON_CUE_PERIOD_S - beeps[0] if beeps else 0.0
            if late_s > 0:  # a slow round: the rest keep their spacing, so each is heard
                self._person_beeps = [t + late_s for t in beeps]
        if self.parts.outputs is not None:
            self.parts.outputs.perform("person")

    def _check_pair_code(self, code: str) -> dict:
        if self.state_dir is None or not check_code(self.state_dir, code):
            raise CommandRejected("wrong or expired pairing code")
        return {"paired": self.device_id}

    def check_start(self, protocol_id: str):
        """The routine ``protocol_id`` if this device can start it now; CommandRejected (one
        line, a user's words) if it is unknown, made for another tool, or the device is busy
        or not ready."""
        try:
            routine = load_routine(protocol_id, self.routines_dir)
        except ConfigError as e:
            raise CommandRejected(str(e)) from e
        tool = self.settings.tool
        if routine.tool != tool:
            raise CommandRejected(f"{routine.id} is for a {routine.tool}; this device is a {tool}")
        s = self.session
        if s is not None and not s.finished:
            raise CommandRejected(f"{s.routine.id} is running; send stop first")
        why = self.unavailable()
        if why:
            raise CommandRejected(f"cannot start {routine.id}: {why}")
        return routine

    # -- the loop ------------------------------------------------------------------
    def run_routine(self, protocol_id: str, stop: threading.Event | None = None,
                    tags: SessionTags | None = None) -> dict:
        """Run one routine to its end (or until ``stop``); returns the summary. ``tags``: who
        and which side (a start command's); None (the button): the current person, no side."""
        stop = stop or threading.Event()
        self._stop_routine.clear()
        self._stop_reason = "stopped by user"
        p = self.parts
        routine = self.check_start(protocol_id)
        if tags is None:
            tags = self.start_tags(routine, {})
        try:
            person = None if tags.person_id is None else self.people.choose(tags.person_id)
            self.say_person()
        except KeyError:
            raise CommandRejected(f"unknown person {tags.person_id!r}; {self._known_people()}") from None
        with self._beeps_lock:
            self._person_beeps = []
        as_filed = routine  # the simulated user rolls as the routine file says (a test can
        routine, tags = self.prescribed(routine, tags)  # then hear the prescription's cues)
        settings = replace(self.settings, tool=routine.tool)
        started_at = utc_now_iso()
        if self.sim_tool is not None:  # a simulated user for this routine, from now on
            try:
                self.sim_tool.begin(as_filed, p.clock.now_s())
            except ConfigError as e:
                raise CommandRejected(str(e)) from e
        remembered = self._soreness(routine, tags)
        session = Session(session_id=new_session_id(), routine=routine, settings=settings,
                          profile=self.profile_for(person), started_at=started_at, tags=tags,
                          remembered_soreness=remembered)
        self.session = session
        p.journal.start_session(session.session_id, routine.id, routine.tool, started_at)
        # who and which side, at once: a power cut before the first checkpoint keeps them
        eased = {} if remembered is None else {"soreness_remembered": remembered}
        self._record(session, Event("session_started", 0.0,
                                    {"protocol": routine.id, **tags.fields(), **eased}))
        if p.notifier:
            p.notifier.status(f"running {routine.id}")
        next_telemetry_s = None
        next_checkpoint_s = None
        last_contact_s = None
        while not session.finished:
            if stop.is_set() or self._stop_routine.is_set():
                self._act(session, session.stop(self._stop_reason))
                break
            block = p.sampler.poll()
            if block is not None and len(block):
                self._act(session, session.feed(block))
                m = session.last
                if last_contact_s is None or m.contact:
                    last_contact_s = m.t_s
                if next_telemetry_s is None or m.t_s >= next_telemetry_s:
                    next_telemetry_s = m.t_s + self.telemetry_period_s
                    self._telemetry(session)
                if next_checkpoint_s is None or m.t_s >= next_checkpoint_s:
                    next_checkpoint_s = m.t_s + CHECKPOINT_S
                    p.journal.checkpoint(session.session_id, session.checkpoint(encoded=True))
                if m.t_s - last_contact_s > self.no_contact_timeout_s:
                    self._act(session, session.stop("no contact"))
                elif self.source_end_s is not None and m.t_s > self.source_end_s:
                    self._act(session, session.stop("simulated user left"))
                elif self.sim_tool is not None and self.sim_tool.left(p.clock.now_s()):
                    self._act(session, session.stop("simulated user left"))
            if p.notifier and not getattr(p.sampler, "health", ""):
                p.notifier.watchdog()
            p.clock.sleep_s(self.poll_s)
        summary = session.summary()
        self._telemetry(session)
        p.journal.finish_session(session.session_id, summary)
        if p.link is not None:
            p.link.wake()
        if p.notifier:
            p.notifier.status("idle")
        return summary

    def prescribed(self, routine: Routine, tags: SessionTags) -> tuple[Routine, SessionTags]:
        """The routine as the person's prescription has it (issue 23: the therapist's numbers
        for this routine on this tool), with the tags saying which version; else as it is."""
        rx = self.prescriptions.get(tags.person_id)
        mine = rx.routine_for(routine) if rx is not None else None
        if mine is None:
            return routine, tags
        return mine, replace(tags, prescription=rx.tag())

    def _soreness(self, routine: Routine, tags: SessionTags) -> int | None:
        """Remember the start's rating for the person's area; without one, the remembered
        rating the coach eases in by (None: nothing remembered, or nobody chosen)."""
        if tags.person_id is None:
            return None
        if tags.soreness_before is not None:
            self.people.remember_sore(tags.person_id, routine.id, tags.side, tags.soreness_before)
            return None
        return self.people.sore_rating(tags.person_id, routine.id, tags.side)

    def _act(self, session: Session, actions: list[Cue | Event]) -> None:
        p = self.parts
        for a in actions:
            if isinstance(a, Cue):
                if p.outputs is not None:
                    p.outputs.perform(a.name)
                if p.display is not None and a.name not in QUIET_EVENT_CUES:
                    p.display.cue(a.name, a.t_s)
                if a.name not in QUIET_EVENT_CUES:
                    self._record(session, Event("cue", a.t_s, {"cue": a.name, **a.detail}))
            else:
                self._record(session, a)

    def _record(self, session: Session, event: Event) -> None:
        payload = clean_json({"event_type": event.event_type, "t_s": event.t_s, **event.data})
        self.parts.journal.record_event(session.session_id, payload)
        if self.parts.link is not None:
            self.parts.link.wake()

    def _telemetry(self, session: Session) -> None:
        t = clean_json(session.telemetry())
        if self.parts.display is not None:
            self.parts.display.update(t)
        if self.parts.link is not None:
            self.parts.link.publish_telemetry(t)


def summary_text(summary: dict) -> str:
    """The summary a person reads at the end of ``rollsense demo``: the same short table as
    ``rollsense replay`` (``firmware.common.units.summary_table``), first line ``session_id <id>``."""
    return summary_table(summary)
