"""People on the device (issue 22), on the simulated roller `rollsense run --sim` builds:
set_profile's people are kept and remembered across restarts, a start with a person makes
them current and their body mass shapes the force band, a side on the spine is refused with
its reason, and at idle with two or more people the button cycles people (their number in
beeps) and a hold starts the routine for the current one."""

from __future__ import annotations

import threading
import time

import pytest

from firmware.app.daemon import build_daemon
from firmware.app.loop import PERSON_CUE_PERIOD_S, CoachingLoop, DeviceParts
from firmware.common.errors import CommandRejected
from firmware.core.metrics import MetricsSettings
from firmware.core.protocols import Profile, load_routine
from firmware.edge.config import apply_overrides, load_config
from firmware.edge.people import People

ANN = {"id": "ann", "name": "Ann", "body_mass_kg": 60.0, "units": "metric"}
BO = {"id": "bo", "name": "Bo", "body_mass_kg": 100.0, "units": "imperial"}
NOMASS = {"id": "cy", "name": "Cy", "body_mass_kg": None, "units": "metric"}


def sim_device(tmp_path, **overrides):
    cfg = apply_overrides(load_config(None), hardware="sim", state_dir=tmp_path / "state",
                          broker_url="mqtt://127.0.0.1:1", **overrides)
    return build_daemon(cfg)


def wait(predicate, timeout_s=15.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class Serving:
    """A sim device serving its start queue in a thread (closed on exit)."""

    def __init__(self, tmp_path, **overrides) -> None:
        self.device, self.link, self.journal, self.outputs = sim_device(tmp_path, **overrides)
        self.app = self.device.app
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.device.serve, args=(self.stop,), daemon=True)

    def __enter__(self):
        self.device._bring_up_sensors()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(20)
        self.outputs.close()
        self.journal.close()
        self.device.rt.hardware.close()

    def summaries(self) -> list[dict]:
        self.journal.flush()
        return [self.journal.session(s["session_id"])["summary"] for s in self.journal.sessions()
                if self.journal.session(s["session_id"])["summary"]]


def force_target(summary: dict) -> list[float]:
    """The summary's force band (newtons): the coach's, for the person's body mass."""
    t = next(t["target"] for t in summary["targets"] if t["name"] == "force_n")
    return [t["min"], t["max"]]


def band_for(mass_kg: float) -> list[float]:
    b = load_routine("quads-roller").force_band_n(Profile(body_mass_kg=mass_kg))
    return pytest.approx([b.lo, b.hi], rel=1e-5)


def test_a_start_with_a_person_coaches_them_and_the_summary_says_who_and_which_side(tmp_path):
    with Serving(tmp_path, **{"profile.body_mass_kg": 80.0}) as d:
        assert d.app.profile.body_mass_kg == 80.0  # the config's body mass: the device default
        reply = d.app.handle_command("set_profile", {"people": [ANN, BO, NOMASS]})
        assert reply == {"body_mass_kg": 80.0, "people": ["ann", "bo", "cy"], "person": None}
        for who, mass in (("bo", 100.0), ("cy", 80.0), (None, 80.0)):
            reply = d.app.handle_command("start", {"protocol": "quads-roller", "person": who,
                                                   "side": "left", "soreness_before": 4})
            assert reply == {"accepted": "quads-roller", "side": "left", **({"person": who} if who else {})}
            assert wait(lambda: d.device.running)
            assert d.app.session.coach.profile.body_mass_kg == mass
            d.app.request_stop()
            assert wait(lambda: not d.device.running)
        assert d.app.people.current.id == "cy"  # the last person started
        got = d.summaries()
        assert [(s["person_id"], s["side"], s["soreness"]["before"]) for s in got] == [
            ("bo", "left", 4), ("cy", "left", 4), (None, "left", 4)]
        assert [force_target(s) for s in got] == [band_for(100.0), band_for(80.0), band_for(80.0)]
        # the session_started event says who at once (what a power cut keeps)
        started = [r.payload for r in d.journal.outbox() if r.payload.get("event_type") == "session_started"]
        assert [(e["person_id"], e["side"]) for e in started] == [("bo", "left"), ("cy", "left"), (None, "left")]

        # a start without a person is the current person's
        d.app.handle_command("start", {"protocol": "quads-roller"})
        assert wait(lambda: d.device.running)
        assert d.app.session.tags.person_id == "cy"
        d.app.request_stop()
        assert wait(lambda: not d.device.running)


def test_refusals_say_why_in_a_users_words(tmp_path):
    with Serving(tmp_path) as d:
        app = d.app
        with pytest.raises(CommandRejected, match="unknown person 'ann'; this device knows nobody yet"):
            app.handle_command("start", {"protocol": "quads-roller", "person": "ann"})
        app.handle_command("set_profile", {"people": [ANN, BO], "person": "ann"})
        with pytest.raises(CommandRejected) as e:
            app.handle_command("start", {"protocol": "thoracic-roller", "side": "left"})
        assert str(e.value) == ("thoracic-roller works on the thoracic paraspinals, not on a limb: "
                                "it has no left or right; start it without a side (side null)")
        with pytest.raises(CommandRejected, match="unknown person 'zed'; this device knows ann, bo"):
            app.handle_command("start", {"protocol": "quads-roller", "person": "zed"})
        with pytest.raises(CommandRejected, match="unknown person 'zed'"):
            app.handle_command("set_profile", {"person": "zed"})
        assert app.people.current.id == "ann" and not d.device.running


def test_set_profile_changes_only_what_it_is_given_and_the_device_remembers(tmp_path):
    with Serving(tmp_path, **{"profile.body_mass_kg": 70.0}) as d:
        app = d.app
        app.handle_command("set_profile", {"people": [ANN, BO]})
        assert app.handle_command("set_profile", {"person": "bo"})["person"] == "bo"
        reply = app.handle_command("set_profile", {"body_mass_kg": 90.0})
        assert reply == {"body_mass_kg": 90.0, "people": ["ann", "bo"], "person": "bo"}
        assert app.handle_command("ping", {})["person"] == "bo"
        reply = app.handle_command("set_profile", {"people": [BO, ANN], "person": None})
        assert reply["person"] is None
        app.handle_command("set_profile", {"person": "ann"})
    with Serving(tmp_path) as again:  # restarted (the same state dir)
        assert again.app.people.current.id == "ann"
        assert again.app.people.ids() == ["bo", "ann"]


def test_the_button_cycles_people_at_idle_and_a_hold_starts_for_the_current_one(tmp_path):
    with Serving(tmp_path) as d:
        played: list[str] = []
        perform = d.outputs.perform
        d.outputs.perform = lambda name: (played.append(name), perform(name))[1]
        button = d.outputs.button.pin

        def press() -> None:
            button.drive_low()
            button.drive_high()

        d.app.handle_command("set_profile", {"people": [ANN]})
        press()  # one person: a press starts, as before
        assert wait(lambda: d.device.running)
        assert d.app.session.tags.person_id is None  # nobody chosen yet
        d.device.hold()
        assert wait(lambda: not d.device.running)

        d.app.handle_command("set_profile", {"people": [ANN, BO, NOMASS], "person": "ann"})
        played.clear()
        press()  # person 2: Bo, two beeps
        assert wait(lambda: played.count("person") == 2)
        assert d.app.people.current.id == "bo" and not d.device.running
        press()
        press()  # Cy (3), then round to Ann (1)
        assert wait(lambda: d.app.people.current.id == "ann")
        press()
        assert wait(lambda: d.app.people.current.id == "bo")
        time.sleep(0.3)
        assert not d.device.running
        button.drive_low()  # hold: start for Bo
        assert wait(lambda: d.device.running)
        button.drive_high()
        assert d.app.session.tags.person_id == "bo"
        assert d.app.session.coach.profile.body_mass_kg == 100.0
        press()  # while running a press still moves on to the next routine
        assert wait(lambda: d.device.running and d.app.session.routine.id == "thoracic-roller")
        assert d.app.session.tags.person_id == "bo"  # the same person
        d.device.hold()
        assert wait(lambda: not d.device.running)


def test_the_person_cue_counts_out_the_number_with_its_beeps_apart(tmp_path):
    played: list[str] = []
    outputs = type("Outputs", (), {"perform": lambda self, name: played.append(name) or True})()
    app = CoachingLoop(device_id="d", parts=DeviceParts(sampler=None, clock=None, journal=object(),
                                                        outputs=outputs),
                       settings=MetricsSettings(tool="roller"), state_dir=tmp_path)
    assert app.cycle_person(0.0) is None  # nobody to cycle
    app.handle_command("set_profile", {"people": [ANN, BO, NOMASS], "person": "bo"})
    assert app.cycle_person(0.0).id == "cy"  # person 3: the first beep at once
    assert played == ["person"]
    app.play_person_cue(0.1)
    assert played == ["person"]  # not due yet
    app.play_person_cue(5.0)  # a late round: one beep, the last one still a period later
    assert played == ["person"] * 2
    app.play_person_cue(5.0 + PERSON_CUE_PERIOD_S / 2)
    assert len(played) == 2
    app.play_person_cue(5.0 + PERSON_CUE_PERIOD_S)
    app.play_person_cue(60.0)
    assert len(played) == 3  # three beeps for person 3, no more
    assert People(tmp_path).current.id == "cy"  # remembered
