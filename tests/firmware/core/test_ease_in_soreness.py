"""Easing in by soreness (issue 22): a routine's ``[targets.ease_in]`` says from which "before"
rating (``sore_from``) the ease-in is ``sore_extra_s`` longer and its cap ``sore_cap_scale``
lower. Checked on the routine files, on scripted Metrics, and end to end on the simulator
(device/sim -> metrics -> Session): with soreness 8 the cues, the phases and the cap the
display shows follow the rule; with 2 (or none) nothing changes."""

from __future__ import annotations

import pytest

from device.sim import sample_block
from firmware.app.replay import iter_blocks
from firmware.app.simulate import scenario
from firmware.app.wiring import sim_calibration
from firmware.common.errors import ConfigError
from firmware.core.coach import Coach, Cue, Event
from firmware.core.metrics import MetricsSettings
from firmware.core.protocols import (
    ROUTINES_DIR,
    EaseIn,
    list_routines,
    load_routine,
    load_routine_file,
)
from firmware.core.session import Session
from tests.firmware.core.test_coach import off, roll, run, still

SORE, NOT_SORE = 8, 2
MARGIN = 0.1  # CoachSettings.margin: press_less only this far above the cap


def expected_cap_n(ease: EaseIn, top_n: float, soreness: int | None, since_contact_s: float) -> float:
    """The rule, written out independently of ``Limits``: the cap ramps from start_fraction x
    the band top to the top over s; when sore over s + sore_extra_s (default s / 2), the whole
    ramp x sore_cap_scale; the band top after the ramp."""
    sore = soreness is not None and soreness >= ease.sore_from
    ramp_s = ease.s + ((ease.s / 2 if ease.sore_extra_s is None else ease.sore_extra_s) if sore else 0.0)
    scale = ease.sore_cap_scale if sore else 1.0
    if since_contact_s >= ramp_s:
        return top_n
    x = max(0.0, since_contact_s) / ramp_s
    return top_n * scale * (ease.start_fraction + (1 - ease.start_fraction) * x)


# ------------------------------------------------------------------ the routine data


def test_every_routine_carries_the_rule_with_the_contracts_defaults():
    for r in list_routines():
        e = r.targets.ease_in
        assert (e.sore_from, e.sore_extra_s, e.sore_cap_scale) == (6, e.s / 2, 0.8), r.id
        assert r.to_dict()["targets"]["ease_in_sore_extra_s"] == e.s / 2


def test_defaults_when_the_routine_leaves_them_out():
    e = EaseIn(12.0, 0.5)
    assert (e.ramp_s(None), e.ramp_s(5), e.ramp_s(6), e.ramp_s(10)) == (12.0, 12.0, 18.0, 18.0)
    assert (e.cap_scale(5), e.cap_scale(6)) == (1.0, 0.8)
    assert EaseIn(12.0, 0.5, sore_from=0).cap_scale(0) == 0.8  # 0: every rated session
    assert EaseIn(12.0, 0.5, sore_from=9, sore_extra_s=0.0).ramp_s(9) == 12.0


@pytest.mark.parametrize(("new", "line"), [
    ("sore_from = 11", "targets.ease_in.sore_from: expected a whole number 0..10 (a soreness rating), "
                       "got 11"),
    ("sore_from = 6.5", "targets.ease_in.sore_from: expected a whole number 0..10 (a soreness "
                        "rating), got 6.5"),
    ("sore_extra_s = -1", "targets.ease_in.sore_extra_s: -1 is outside 0..120"),
    ("sore_cap_scale = 0.3", "targets.ease_in.sore_cap_scale: 0.3 is outside 0.5..1"),
    ('sore_cap_scale = "low"', "targets.ease_in.sore_cap_scale: expected a number, got 'low'"),
    ("sore = true", "targets.ease_in.sore: unknown key"),
])
def test_a_bad_rule_is_one_line(tmp_path, new, line):
    text = (ROUTINES_DIR / "quads-roller.toml").read_text()
    key = new.split(" =")[0]
    kept = [ln for ln in text.splitlines() if not ln.startswith(key + " ")]
    path = tmp_path / "q.toml"
    path.write_text("\n".join(kept) + "\n" + new + "\n")
    with pytest.raises(ConfigError) as info:
        load_routine_file(path)
    assert info.value.problems == [f"q.toml: {line}"]


def test_a_rating_outside_0_to_10_is_refused():
    routine = load_routine("quads-roller")
    for bad in (-1, 11, 7.5, True, "8"):
        with pytest.raises(ConfigError, match="soreness_before: .* is not a rating 0..10"):
            Coach(routine, soreness_before=bad)


# ------------------------------------------------------------------ scripted Metrics


GOOD_QUADS = (off(1.0), roll(29.0, force_n=(125.0, 250.0), ramp_s=12.0), roll(40.0, force_n=250.0))


def test_scripted_quads_sore_ramp_is_longer_and_lower():
    calm = run("quads-roller", *GOOD_QUADS)
    sore = run("quads-roller", *GOOD_QUADS, soreness_before=SORE)
    assert calm.cues() == ["start", "ease_in", "done"]
    # 125 N rising to 250 N over 12 s: above the sore cap (132 N at contact, +10 % margin)
    assert sore.cues() == ["start", "ease_in", "press_less", "press_less", "done"]  # 10 s apart
    press = sore.cue("press_less")[0]
    assert press.detail["reason"] == "ease_in"
    assert press.detail["limit_n"] == pytest.approx(expected_cap_n(
        sore.coach.routine.targets.ease_in, 330.0, SORE, press.t_s - 1.02), abs=0.1)
    assert sore.cue("ease_in")[0].detail == {"ease_in_s": 22.5, "cap_scale": 0.8, "soreness_before": SORE}
    assert calm.cue("ease_in")[0].detail == {"ease_in_s": 15.0, "cap_scale": 1.0, "soreness_before": None}
    ease_calm, ease_sore = (_phase_t(r, "active") - _phase_t(r, "ease_in") for r in (calm, sore))
    assert ease_calm == pytest.approx(15.0, abs=0.03) and ease_sore == pytest.approx(22.5, abs=0.03)


def _phase_t(r, phase: str) -> float:
    return next(a.t_s for a in r.flat if isinstance(a, Event) and a.event_type == "phase_changed"
                and a.data["to"] == phase)


def test_scripted_piriformis_lean_in_is_told_sooner_when_sore():
    r = run("piriformis-ball", off(1.0), still(65.0, 95.0), off(1.0), soreness_before=SORE)
    # 95 N: under the usual cap (100 N at contact), over the sore one (80 N, +10 %)
    assert r.cues() == ["start", "ease_in", "press_less", "hold", "hold_done", "done"]
    assert run("piriformis-ball", off(1.0), still(65.0, 95.0), off(1.0),
               soreness_before=NOT_SORE).cues() == ["start", "ease_in", "hold", "hold_done", "done"]


def test_the_over_pressure_limit_is_not_the_ease_ins():
    segs = (off(1.0), roll(29.0, force_n=(125.0, 250.0), ramp_s=12.0), roll(4.0, force_n=470.0),
            roll(40.0, force_n=250.0))
    calm, sore = run("quads-roller", *segs), run("quads-roller", *segs, soreness_before=SORE)
    assert [c.t_s for c in calm.cue("over_pressure")] == [c.t_s for c in sore.cue("over_pressure")]
    assert sore.coach.bands()["force_max_n"] == calm.coach.bands()["force_max_n"] == 440.0


# ------------------------------------------------------------------ on the simulator


def simulate(protocol: str, name: str, soreness: int | None, seed: int = 1):
    """A simulated user through a Session as the device runs it: the actions, and per block
    (t_s, the displayed force band top) while the session runs."""
    user = scenario(protocol, name, seed)
    routine = load_routine(protocol)
    session = Session(session_id="t", routine=routine, soreness_before=soreness,
                      settings=MetricsSettings(tool=routine.tool, **sim_calibration(user)))
    actions, shown = [], []
    for block in iter_blocks(sample_block(user, 200.0, seed=seed)):
        actions += session.feed(block)
        if session.coach.phase in ("ease_in", "active", "hold"):
            telemetry = session.telemetry()
            shown.append((session.last.t_s, telemetry["force_band_n"][1], telemetry.get("direction")))
        if session.finished:
            break
    return routine, actions, shown


def _cues(actions) -> list[tuple[str, float]]:
    return [(a.name, a.t_s) for a in actions if isinstance(a, Cue) and a.name != "tick"]


def _contact_t(actions) -> float:
    return next(a.t_s for a in actions if isinstance(a, Cue) and a.name == "ease_in")


CASES = [("quads-roller", "good"), ("piriformis-ball", "good"), ("calf-stick", "good"),
         ("it-band-stick", "too-hard")]


@pytest.mark.parametrize(("protocol", "name"), CASES, ids=[f"{p}-{n}" for p, n in CASES])
def test_on_the_simulator_a_low_rating_changes_nothing(protocol, name):
    _, unrated, shown_unrated = simulate(protocol, name, None)
    _, low, shown_low = simulate(protocol, name, NOT_SORE)
    strip = [(type(a).__name__, getattr(a, "name", getattr(a, "event_type", "")), a.t_s)
             for a in unrated]
    assert strip == [(type(a).__name__, getattr(a, "name", getattr(a, "event_type", "")), a.t_s)
                     for a in low]
    assert shown_low == shown_unrated


@pytest.mark.parametrize(("protocol", "name"), CASES, ids=[f"{p}-{n}" for p, n in CASES])
def test_on_the_simulator_a_high_rating_follows_the_rule(protocol, name):
    routine, actions, shown = simulate(protocol, name, SORE)
    _, calm_actions, _ = simulate(protocol, name, None)
    ease, top = routine.targets.ease_in, routine.force_band_n().hi
    t_contact = _contact_t(actions)
    # the cap the display shows is the rule's, all along (under the band of the way the calf
    # stick goes, for the direction-dependent routine)
    band_top = {None: top, "up": routine.force_band_n(None, 1).hi, "down": routine.force_band_n(None, -1).hi}
    for t_s, cap, direction in shown:
        rule = expected_cap_n(ease, top, SORE, t_s - t_contact)
        assert cap == pytest.approx(min(band_top[direction], rule), abs=0.11)
    assert any(cap < 0.8 * top for _, cap, _ in shown)
    # every ease-in press_less is above the rule's cap, and while the longer ramp lasts
    presses = [a for a in actions if isinstance(a, Cue) and a.name == "press_less"
               and a.detail["reason"] == "ease_in"]
    for p in presses:
        assert p.t_s - t_contact < ease.s + ease.sore_extra_s
        assert p.detail["limit_n"] == pytest.approx(expected_cap_n(ease, top, SORE, p.t_s - t_contact), abs=0.1)
        assert p.detail["force_n"] > p.detail["limit_n"] * (1 + MARGIN)
    # the sore person is told to ease in where the same pressure passed unrated (a good
    # user), or sooner (one who presses too hard)
    calm_presses = [a for a in calm_actions if isinstance(a, Cue) and a.name == "press_less"
                    and a.detail["reason"] == "ease_in"]
    assert presses
    if name == "good":
        assert calm_presses == []
    else:
        assert presses[0].t_s <= calm_presses[0].t_s
    # the ease-in lasts the longer ramp (roll routines leave it on a timer)
    if routine.mode == "roll":
        to_active = next(a.t_s for a in actions if isinstance(a, Event)
                         and a.event_type == "phase_changed" and a.data["to"] == "active")
        assert to_active - t_contact == pytest.approx(ease.s + ease.sore_extra_s, abs=0.02)
    # over-pressure is a safety limit, not the ease-in's: the same cues at the same times
    assert ([c for c in _cues(actions) if c[0] == "over_pressure"]
            == [c for c in _cues(calm_actions) if c[0] == "over_pressure"])
