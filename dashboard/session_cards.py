"""Cards of the session page worded from a session's detail (queries.session_detail): the
pressure bands of a direction-dependent routine, the holds, and what the coach said."""

from __future__ import annotations

from dashboard.cues import CORRECTIVE, cue_text, cue_why
from dashboard.render import esc, fmt_duration
from firmware.common import units
from firmware.common.units import plural


def direction_note(detail: dict) -> str:
    """Under the pressure chart of a direction-dependent routine (calf): both bands, and how
    many passes each way were inside their own band."""
    bands = detail.get("force_bands_n")
    if not bands:
        return ""
    parts = []
    for way, word in (("up", "firm"), ("down", "light")):
        lo, hi = bands[way]
        judged = [p for p in detail.get("pass_forces") or [] if p["direction"] == way]
        inside = sum(1 for p in judged if p["ok"])
        parts.append(f'<li class="band-{way}">{way.capitalize()} ({word}): {lo:.0f}–{units.force(hi)}'
                     f' · {inside} of {plural(len(judged), "pass", "passes")} in this band</li>')
    return ('<ul class="plain small" id="direction-bands">' + "".join(parts) + "</ul>"
            '<p class="muted small">Each pass is judged against the band of its own direction '
            "(marks: its mean pressure, green inside its band, amber outside).</p>")


def holds_card(detail: dict) -> str:
    """A hold routine's card: each hold against the hold window, and the spots done / wanted."""
    window = detail.get("hold_band_s")
    if not window:
        return ""
    lo, hi = window
    spots = detail.get("spots") or {}
    done, wanted = spots.get("done"), spots.get("wanted")
    rows = "".join(
        f'<tr><td class="num">{i}</td><td>{fmt_duration(h["start_s"])}</td><td class="num">{h["duration_s"]:.0f} s</td>'
        f'<td>{units.force(h.get("force_n"))}</td>'
        f'<td>{"✓ in the window" if lo <= h["duration_s"] <= hi else "too short" if h["duration_s"] < lo else "longer than the window"}</td></tr>'
        for i, h in enumerate((h for h in detail.get("holds") or [] if h.get("duration_s") is not None), 1)
    ) or '<tr><td colspan="5" class="muted">No still hold of 5 s or more.</td></tr>'
    spot_text = (f'{units.count(done)} of {units.count(wanted)} spots held' if wanted is not None
                 else "")
    return f"""<section class="card" id="holds-card"><h2>Holds <span class="muted small">· window {lo:g}–{hi:g} s per spot
· still means under {units.speed(detail.get("still_max_mps"))}</span></h2>
<p class="big" id="spots">{esc(spot_text)}</p>
<div id="hold-chart" class="chart small"></div>
<table class="table" id="holds"><thead><tr><th class="num">Hold</th><th>Started</th><th class="num">Held</th>
<th>Pressure</th><th>Window</th></tr></thead><tbody>{rows}</tbody></table></section>"""


def cue_card(detail: dict) -> str:
    """What the coach said and when, as a table (the marks on the timeline above)."""
    cues = [c for c in detail.get("cues") or [] if c.get("cue") not in ("start",)]
    rows = "".join(
        f'<tr class="cue-row{" corrective" if c["cue"] in CORRECTIVE else ""}" data-cue="{esc(c["cue"])}">'
        f'<td class="num"><time>{fmt_duration(c["t_s"]) if c.get("t_s") is not None else "–"}</time></td>'
        f'<td>{esc(cue_text(c["cue"]))}</td><td class="muted">{esc(cue_why(c))}</td></tr>'
        for c in cues
    ) or '<tr><td colspan="3" class="muted">The coach gave no cues in this session (or none were stored).</td></tr>'
    return f"""<section class="card"><h2>What the coach said</h2>
<div class="scroll"><table class="table" id="cues"><caption class="muted small">{plural(len(cues), "cue", "cues")},
times from the start of the session</caption><thead><tr><th class="num">Time</th><th>Cue</th><th>Why</th></tr></thead>
<tbody>{rows}</tbody></table></div></section>"""

