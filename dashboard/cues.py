"""The coach's cues in words for the session page's timeline (issue 19): what the coach said
(the same words as the live page's banner, dashboard/static/live.js) and why, from the
detail the device stored with each cue event (firmware/core/coach/). The short words here
are the live banner's; what a cue looks and sounds like on the device, and its full meaning,
is the cue table's (firmware/common/cues.py)."""

from __future__ import annotations

from firmware.common import units

CUE_TEXT = {
    "start": "Routine ready", "ease_in": "Ease in gently", "slow_down": "Slow down a little",
    "speed_up": "A little faster", "on_pace": "Nice and steady", "press_less": "A little lighter",
    "press_more": "A little more pressure", "longer_passes": "Longer strokes",
    "over_pressure": "Ease off — too much pressure", "hold": "Hold still and breathe",
    "hold_done": "Hold done — you may move on", "keep_still": "Keep still — let it sink in",
    "next_spot": "Move to a new spot", "switch_direction": "Switch direction: firm up, light down",
    "paused": "Paused", "stepped_off": "Stepped off", "done": "Done — well rolled!",
    "fault": "A sensor does not answer", "storage_full": "Storage full",
}

# cues that correct the user (drawn in the warning colour)
CORRECTIVE = {"slow_down", "speed_up", "press_less", "press_more", "longer_passes", "over_pressure",
              "keep_still", "switch_direction"}


def cue_text(name: str) -> str:
    return CUE_TEXT.get(name) or name.replace("_", " ").replace("-", " ").strip().capitalize()


def cue_why(c: dict) -> str:
    """The detail of one cue in words: '290 N, limit 260 N', 'going up at 60 N' ..."""
    name, parts = c.get("cue"), []
    if name == "ease_in" and c.get("ease_in_s") is not None:
        return ease_in_why(c)
    way = c.get("direction")
    if name == "switch_direction" and c.get("up_n") is not None and c.get("down_n") is not None:
        return f"up {units.force(c['up_n'])}, down {units.force(c['down_n'])}: lighter than down going up"
    if way in ("up", "down"):
        parts.append(f"going {way}")
    if c.get("force_n") is not None:
        parts.append(f"at {units.force(c['force_n'])}")
    for key, word in (("max_n", "limit"), ("limit_n", "limit"), ("min_n", "at least")):
        if c.get(key) is not None:
            parts.append(f"{word} {units.force(c[key])}")
    if c.get("speed_mps") is not None and name != "over_pressure":
        parts.append(f"at {units.speed(c['speed_mps'])}")
    if c.get("pass_s") is not None:
        parts.append(f"a pass of {c['pass_s']:.1f} s")
    if c.get("hold_s") is not None:
        parts.append(f"held {c['hold_s']:.0f} s")
    if name == "next_spot" and c.get("spots_target"):
        parts.append(f"{c.get('spots_done') or 0} of {c['spots_target']} spots done")
    elif c.get("spot") is not None:
        parts.append(f"spot {c['spot']}")
    return ", ".join(parts)


def ease_in_why(c: dict) -> str:
    """The ease-in's ramp in words: 'the cap ramps up over 15 s', and when soreness lowered
    the cap (issue 22): ', to 80 % of the usual: soreness 8 of 10'."""
    words = f"the cap ramps up over {c['ease_in_s']:g} s"
    scale = c.get("cap_scale")
    if scale is not None and scale < 1:
        words += f", to {round(scale * 100)} % of the usual"
        if c.get("soreness_before") is not None:
            words += f": soreness {c['soreness_before']:g} of 10"
    return words
