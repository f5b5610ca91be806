"""The device coaches with the prescription (issue 23), on the simulated roller at the
simulator's top speed: the same simulated user rolls the same way before and after; with the
therapist's faster pass time and lighter force band the coach's targets and cues change, and
the summary says which version it followed. Nobody else is coached with it."""

from __future__ import annotations

from firmware.core.prescription import base_routine_dict, with_overrides
from firmware.edge.prescriptions import Prescriptions
from tests.firmware.app.test_programme_device import ANN, Device, wait

BOB = {"id": "bob", "name": "Bob", "body_mass_kg": 80.0, "units": "metric"}
LIGHTER_FASTER = {"targets.speed.pass_s": [0.5, 1.0], "targets.force.bw": [0.05, 0.1],
                  "targets.force.max_bw": 0.15, "targets.force.n": None, "targets.force.max_n": None}


def session_cues(d: Device) -> list[list[str]]:
    """The cues of each session, in order (a session's cues run from its start cue)."""
    out: list[list[str]] = []
    for e in d.events("cue"):
        if e["cue"] == "start":
            out.append([])
        out[-1].append(e["cue"])
    return out


def target(summary: dict, name: str) -> dict:
    return next(t for t in summary["targets"] if t["name"] == name)


def test_a_start_for_the_person_coaches_with_the_prescribed_numbers(tmp_path):
    with Device(tmp_path, "quads-roller") as d:
        d.app.handle_command("set_profile", {"people": [ANN, BOB]})
        assert d.command("start", {"protocol": "quads-roller", "person": "ann"})["status"] == "ok"
        assert wait(lambda: len(d.summaries()) == 1)

        quads = with_overrides(base_routine_dict("quads-roller"), LIGHTER_FASTER)
        reply = d.command("set_prescription", {"person": "ann", "version": 1, "by": "Dr Lee",
                                               "program": "lower-body", "routines": {"quads-roller": quads}})
        assert reply["status"] == "ok" and reply["data"]["version"] == 1, reply
        assert d.command("start", {"protocol": "quads-roller", "person": "ann"})["status"] == "ok"
        assert wait(lambda: len(d.summaries()) == 2)
        assert d.command("start", {"protocol": "quads-roller", "person": "bob"})["status"] == "ok"
        assert wait(lambda: len(d.summaries()) == 3)

        before, prescribed, bob = d.summaries()
        assert "prescription" not in before and "prescription" not in bob
        assert prescribed["prescription"] == {"version": 1, "by": "Dr Lee"}
        assert target(before, "pass_s")["target"]["min"] == 2.0 and target(before, "pass_s")["met"]
        assert target(prescribed, "pass_s")["target"] == {"min": 0.5, "max": 1.0, "unit": "s", "text": "0.5–1 s"}
        assert not target(prescribed, "pass_s")["met"]  # the same user, now too slow
        band = target(prescribed, "force_n")["target"]
        assert abs(band["max"] - 0.1 * 60.0 * 9.80665) < 0.01  # Ann's 60 kg x 0.1
        assert target(bob, "pass_s")["target"]["min"] == 2.0  # Bob: the routine file's numbers

        cues_before, cues_rx, cues_bob = session_cues(d)
        assert "speed_up" not in cues_before and "over_pressure" not in cues_before
        assert "speed_up" in cues_rx and "over_pressure" in cues_rx
        assert "speed_up" not in cues_bob
        started = d.events("session_started")
        assert [e.get("prescription") for e in started] == [None, {"version": 1, "by": "Dr Lee"}, None]
    assert Prescriptions(tmp_path / "state").versions() == {"ann": 1}  # kept across a restart
