"""Playing a programme on the device (issue 22), on the simulated stick and roller `rollsense
run --sim` builds, at the simulator's top speed: a start with `program` plays this tool's
steps of the programme in order, a session each with its step, side and person; between two
steps the switch_side or next_step cue and the step's rest on the sensor clock; program_done
says what is next (whatever the tool). A stop ends the whole programme, a press moves on to
the next step, refused starts are one line, and the remembered soreness eases in the next
session of that area."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest

from firmware.app.daemon import build_daemon
from firmware.common.cues import PROGRAM_CUES
from firmware.common.errors import CommandRejected
from firmware.core import commands
from firmware.edge.config import apply_overrides, load_config
from firmware.edge.people import PEOPLE_FILE

ANN = {"id": "ann", "name": "Ann", "body_mass_kg": 60.0, "units": "metric"}
SPEED = 1000.0  # the simulator's top speed (--speed 1000): a 64 s session in about half a second
POLL_S = 0.1  # drained in 0.1 s blocks (20 samples) instead of 0.02 s: the same sessions, faster
NOW = commands.parse_time("2026-01-01T00:00:00Z")


def wait(predicate, timeout_s=60.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


class Device:
    """A simulated device (its tool: the routine's) serving its start queue in a thread;
    records the cues its outputs play and the sensor time each simulated user began."""

    def __init__(self, tmp_path, protocol: str) -> None:
        cfg = apply_overrides(load_config(None), hardware="sim", state_dir=tmp_path / "state",
                              broker_url="mqtt://127.0.0.1:1", protocol=protocol)
        cfg = replace(cfg, sim=replace(cfg.sim, speed=SPEED))
        self.device, self.link, self.journal, self.outputs = build_daemon(cfg)
        self.app = self.device.app
        self.app.poll_s = POLL_S
        self.clock = self.device.rt.clock
        self.played: list[str] = []  # every cue the LED and buzzer played, in order
        perform = self.outputs.perform
        self.outputs.perform = lambda name: (self.played.append(name), perform(name))[1]
        self.began_s: list[float] = []  # when each simulated user got on the tool (sensor clock)
        sim = self.device.rt.source
        begin = sim.begin
        sim.begin = lambda routine, now_s: (self.began_s.append(now_s), begin(routine, now_s))[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.device.serve, args=(self.stop,), daemon=True)

    def __enter__(self):
        self.device._bring_up_sensors()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.app.request_stop()
        self.stop.set()
        self.thread.join(30)
        self.outputs.close()
        self.journal.close()
        self.device.rt.hardware.close()

    def command(self, name: str, body: dict) -> dict:
        """The whole answer to a command as the link would send it (decoded, checked, run)."""
        raw = json.dumps({"id": f"c{time.monotonic_ns()}", **body})
        return commands.handle(name, raw, NOW, lambda cid: True,
                               lambda cmd: self.app.handle_command(cmd.name, cmd.args))

    def events(self, event_type: str) -> list[dict]:
        self.journal.flush()
        return [r.payload for r in self.journal.outbox() if r.payload.get("event_type") == event_type]

    def ease_ins(self) -> list[dict]:
        """The ease_in cue of each session, in order: the cap it eased in by."""
        return [e for e in self.events("cue") if e.get("cue") == "ease_in"]

    def summaries(self) -> list[dict]:
        self.journal.flush()
        rows = [self.journal.session(s["session_id"]) for s in self.journal.sessions()]
        return [r["summary"] for r in rows if r["summary"]]

    def done(self) -> bool:
        return bool(self.events("program_done")) and self.app.playing is None


def test_a_programme_on_the_stick_plays_each_leg_in_order_with_the_cues_and_rests(tmp_path):
    with Device(tmp_path, "it-band-stick") as d:
        d.app.handle_command("set_profile", {"people": [{**ANN, "sore": {"calf-stick/left": 9}}]})
        reply = d.command("start", {"program": "lower-body", "person": "ann", "soreness_before": 2})
        assert reply["status"] == "ok", reply
        assert reply["data"] == {"accepted": "it-band-stick", "program": "lower-body",
                                 "steps": [2, 3, 4, 5], "person": "ann"}
        assert wait(lambda: d.app.playing is not None)
        ping = d.app.handle_command("ping", {})
        assert ping["state"] == "running" and ping["program"]["id"] == "lower-body"
        assert ping["program"]["step"] in (2, 3, 4, 5)
        busy = d.command("start", {"protocol": "calf-stick"})
        assert busy["status"] == "error"
        assert busy["error"].startswith("programme lower-body is playing (step ")
        assert busy["error"].endswith("; send stop first")
        assert wait(d.done), d.events("program_step")

        got = d.summaries()
        assert [(s["protocol"], s["program_id"], s["program_step"], s["side"], s["person_id"])
                for s in got] == [
            ("it-band-stick", "lower-body", 2, "left", "ann"),
            ("it-band-stick", "lower-body", 3, "right", "ann"),
            ("calf-stick", "lower-body", 4, "left", "ann"),
            ("calf-stick", "lower-body", 5, "right", "ann")]
        assert all(s["completed"] for s in got), [s.get("interrupted") for s in got]
        started = d.events("session_started")
        assert [(e["program_id"], e["program_step"], e["side"]) for e in started] == [
            ("lower-body", 2, "left"), ("lower-body", 3, "right"), ("lower-body", 4, "left"),
            ("lower-body", 5, "right")]

        # the cues between the sessions: each after a session's end, before the next start
        between = [c for c in d.played if c in ("start", "done", *PROGRAM_CUES)]
        assert between == ["start", "done", "switch_side", "start", "done", "next_step", "start",
                           "done", "switch_side", "start", "done"]
        steps = d.events("program_step")
        assert [(e["cue"], e["ended"], e["next"]["index"], e["next"]["routine"], e["rest_s"])
                for e in steps] == [("switch_side", 2, 3, "it-band-stick", 15.0),
                                    ("next_step", 3, 4, "calf-stick", 30.0),
                                    ("switch_side", 4, 5, "calf-stick", 15.0)]
        # the rest on the sensor clock: the next simulated user got on after it, not before
        assert len(d.began_s) == 4
        for e, began_s in zip(steps, d.began_s[1:], strict=True):
            assert e["t_s"] + e["rest_s"] <= began_s < e["t_s"] + e["rest_s"] + 1.0, (e, began_s)
        assert d.device.rt.sampler.health == ""  # drained while resting: no FIFO overflow

        done = d.events("program_done")
        assert len(done) == 1 and done[0]["session_id"] is None  # the device's, not a session's
        assert {k: done[0][k] for k in ("program", "played", "stopped", "next", "person_id")} == {
            "program": "lower-body", "played": [2, 3, 4, 5], "stopped": False, "next": None,
            "person_id": "ann"}
        assert d.app.handle_command("ping", {})["program"] is None

        # soreness: the start's rating is the first step's; the calf's left eases in by the
        # remembered 9 (longer, cap x 0.8), the other steps have nothing remembered
        assert [s["soreness"]["before"] for s in got] == [2, None, None, None]
        assert [(e["soreness_before"], e["cap_scale"]) for e in d.ease_ins()] == [
            (2, 1.0), (None, 1.0), (9, 0.8), (None, 1.0)]
        assert [e.get("soreness_remembered") for e in started] == [None, None, 9, None]
        kept = json.loads((tmp_path / "state" / PEOPLE_FILE).read_text())["people"][0]["sore"]
        assert kept == {"calf-stick/left": 9, "it-band-stick/left": 2}


def test_the_rollers_part_says_the_stick_is_next(tmp_path):
    with Device(tmp_path, "quads-roller") as d:
        reply = d.app.handle_command("start", {"program": "lower-body"})
        assert reply == {"accepted": "quads-roller", "program": "lower-body", "steps": [0, 1]}
        assert wait(d.done)
        assert [(s["program_step"], s["side"]) for s in d.summaries()] == [(0, "left"), (1, "right")]
        # the other side, then on to the next routine: the stick (no cue after the stick's part)
        assert [c for c in d.played if c in PROGRAM_CUES] == ["switch_side", "next_step"]
        assert d.events("program_done")[0]["next"] == {
            "index": 2, "routine": "it-band-stick", "tool": "stick", "side": "left"}
        # the one-sensor set-up: moved to the stick, it starts there at step 2 (a new run)
        with pytest.raises(CommandRejected) as e:
            d.app.handle_command("start", {"program": "lower-body", "program_step": 2})
        assert str(e.value) == ("lower-body has no roller steps from step 2; next is the stick: "
                                "it-band-stick left")


def test_a_stop_ends_the_whole_programme_and_a_press_moves_on(tmp_path):
    with Device(tmp_path, "it-band-stick") as d:
        d.app.handle_command("start", {"program": "lower-body"})
        assert wait(lambda: d.app.session is not None and not d.app.session.finished)
        d.device.press()  # step 2 ends at once: on to step 3, no rest
        assert wait(lambda: d.app.session.tags.program_step == 3 and not d.app.session.finished)
        reply = d.command("stop", {})
        assert reply["status"] == "ok" and reply["data"]["program"] == "lower-body"
        assert reply["data"]["protocol"] == "it-band-stick"
        assert wait(d.done)
        got = d.summaries()
        assert [(s["program_step"], s["completed"]) for s in got] == [(2, False), (3, False)]
        assert got[0]["interrupted"] == "moved on to the next step (button)"
        assert got[1]["interrupted"] == "stopped by user"
        assert [(e["cue"], e["rest_s"]) for e in d.events("program_step")] == [("switch_side", 0.0)]
        done = d.events("program_done")[0]
        assert (done["played"], done["stopped"]) == ([2, 3], True)
        assert done["next"] == {"index": 3, "routine": "it-band-stick", "tool": "stick",
                                "side": "right"}  # where to take it up again
        assert d.command("stop", {})["error"] == "no routine is running; nothing to stop"

        d.device.program = "lower-body"  # `run --program`: at idle the button starts it
        d.device.press()
        assert wait(lambda: d.app.playing is not None)
        d.device.hold()  # a hold ends it
        assert wait(lambda: len(d.events("program_done")) == 2 and d.app.playing is None)
        assert d.events("program_done")[1]["stopped"] is True
        assert len(d.summaries()) == 3


@pytest.mark.parametrize(("body", "error"), [
    ({"program": "nope"}, "unknown programme 'nope' (known: hips, lower-body, upper-back, "
                          "whole-article)"),
    ({"program": "hips"}, "hips has no stick steps from step 0; next is the ball: piriformis-ball left"),
    ({"program": "lower-body", "program_step": 9}, "lower-body has 6 steps (0 to 5); "
                                                   "program_step 9 is past its end"),
    ({"program": "lower-body", "protocol": "calf-stick"},
     "lower-body plays it-band-stick left first on this stick (step 2), not calf-stick; leave "
     "protocol out or send it-band-stick"),
    ({"program": "lower-body", "program_step": 3, "side": "left"},
     "each step of lower-body has its own side; it starts with it-band-stick right (step 3): "
     "leave side out"),
    ({"program": "lower-body", "person": "zed"},
     "unknown person 'zed'; this device knows nobody yet: send set_profile with people first"),
    ({}, "protocol: missing; give a routine id, or program to play a programme"),
    ({"program_step": 1, "protocol": "calf-stick"}, "program_step: needs program, the programme it is a step of"),
])
def test_refused_starts_are_one_line(tmp_path, body, error):
    d = Device(tmp_path, "it-band-stick")
    try:
        d.device._bring_up_sensors()
        reply = d.command("start", body)
        assert reply["status"] == "error" and reply["error"] == error
        assert d.app.commands.empty() and d.app.playing is None
    finally:
        d.outputs.close()
        d.journal.close()
        d.device.rt.hardware.close()


def test_the_remembered_soreness_eases_in_the_next_session_of_that_area(tmp_path):
    with Device(tmp_path, "it-band-stick") as d:
        app = d.app

        def session(n: int, **start) -> None:
            """The n-th session (from 0): started, eased in, stopped."""
            app.handle_command("start", {"protocol": "it-band-stick", "person": "ann", **start})
            assert wait(lambda: len(d.ease_ins()) == n + 1)  # eased in: the cap is set
            app.request_stop()
            assert wait(lambda: not d.device.busy and len(d.summaries()) == n + 1)

        app.handle_command("set_profile", {"people": [ANN]})
        for n, start in enumerate([{"side": "left", "soreness_before": 8},  # rated: remembered
                                   {"side": "left"},  # not rated: the remembered 8
                                   {"side": "right"},  # nothing remembered for the right leg
                                   {"side": "left", "soreness_before": 3}]):  # rated again
            session(n, **start)
        ease = d.ease_ins()
        top_s = app.session.coach._limits.routine.targets.ease_in.s
        assert [(e["soreness_before"], e["cap_scale"], e["ease_in_s"]) for e in ease] == [
            (8, 0.8, top_s * 1.5), (8, 0.8, top_s * 1.5), (None, 1.0, top_s), (3, 1.0, top_s)]
        # the summary says what the person rated for that session, not the remembered rating
        assert [s["soreness"]["before"] for s in d.summaries()] == [8, None, None, 3]

        # the dashboard's sore areas replace the device's; a person sent without keeps them
        app.handle_command("set_profile", {"people": [{**ANN, "sore": {"it-band-stick": 7}}]})
        session(4, side="right")  # no "/right" area: the routine's own (both legs) applies
        assert d.ease_ins()[-1]["soreness_before"] == 7 and d.ease_ins()[-1]["cap_scale"] == 0.8
        app.handle_command("set_profile", {"people": [ANN]})
        assert app.people.get("ann").sore == {"it-band-stick": 7}


@pytest.mark.parametrize(("sore", "error"), [
    ({"quads-roller/up": 3}, "people[0].sore: 'quads-roller/up' is not an area (a routine id, or "
                             "a routine id and /left or /right)"),
    ({"quads-roller": 11}, "people[0].sore.quads-roller: must be a whole number from 0 to 10"),
    ({"quads-roller": 2.5}, "people[0].sore.quads-roller: must be a whole number from 0 to 10"),
    ({f"r{i}": 1 for i in range(33)}, "people[0].sore: must be an object of at most 32 areas (a "
                                      "routine id, or a routine id and /left or /right), each "
                                      "rated 0 to 10; this has 33"),
    ([1], "people[0].sore: must be an object of at most 32 areas (a routine id, or a routine id "
          "and /left or /right), each rated 0 to 10"),
])
def test_set_profile_sore_areas_are_checked_in_one_line(sore, error):
    raw = json.dumps({"id": "p1", "people": [{**ANN, "sore": sore}]})
    reply = commands.handle("set_profile", raw, NOW, lambda cid: True, lambda cmd: {})
    assert reply["status"] == "error" and reply["error"] == error


def test_set_profile_with_sore_areas_fits_the_decoders_depth():
    raw = json.dumps({"id": "p1", "people": [{**ANN, "sore": {"calf-stick/left": 6,
                                                              "thoracic-roller": 0}}]})
    cmd = commands.check("set_profile", raw, NOW)
    assert cmd.args["people"][0]["sore"] == {"calf-stick/left": 6, "thoracic-roller": 0}
    assert commands.person_problem(ANN) == ""  # old payloads without sore are still people
