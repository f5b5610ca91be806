"""The ease_in cue's words on the session page (issue 22): the ramp it took, and the lower
cap when soreness asked for one, from the detail the device stored with the cue."""

from dashboard.cues import cue_why
from dashboard.queries import coaching


def test_the_ease_in_says_its_ramp_and_the_cap_soreness_lowered():
    evts = [{"event_type": "cue", "t_s": 1.0, "cue": "ease_in", "ease_in_s": 22.5, "cap_scale": 0.8,
             "soreness_before": 8},
            {"event_type": "cue", "t_s": 2.0, "cue": "ease_in", "ease_in_s": 15.0, "cap_scale": 1.0,
             "soreness_before": None},
            {"event_type": "cue", "t_s": 3.0, "cue": "ease_in", "ease_in_s": 15.0, "cap_scale": 0.5}]
    cues = coaching({}, [], evts, 0.0)["cues"]
    assert [cue_why(c) for c in cues] == [
        "the cap ramps up over 22.5 s, to 80 % of the usual: soreness 8 of 10",
        "the cap ramps up over 15 s",
        "the cap ramps up over 15 s, to 50 % of the usual"]
    assert cue_why({"cue": "ease_in"}) == ""  # a cue stored without its detail (an older device)
