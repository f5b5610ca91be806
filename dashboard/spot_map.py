"""The map of tender spots on a person's page (issue 23): a hand-drawn body outline (front and
back, SVG) with the muscles of the six routines coloured by the minutes rolled in the last four
weeks, and a strip per muscle and side with the spots marked (distance up the muscle from where
the passes start, easing or not). Plain HTML and SVG from ``dashboard.spots.spot_rows``; the
outline is an image with a text summary (role="img", <title>, <desc>) that lists each muscle's
spots, and the strips say the same in words beside the marks."""

from __future__ import annotations

from dashboard.render import esc
from dashboard.spots import MAP_MUSCLES, RECENT_DAYS
from firmware.common import units

# minutes in the last four weeks -> fill (light to dark teal), and the legend's words
WORK_FILLS = ((0.0, "#e6e9ee", "none"), (0.1, "#b7e0d8", "under 10 min"),
              (10.0, "#5fb3a5", "10–30 min"), (30.0, "#0f766e", "30 min or more"))
OUTLINE = "#5b6673"
NAMES = {mid: name for _, mid, name in MAP_MUSCLES}
STRIP_MIN_M = 0.30  # a strip shows at least this much of the muscle


def _fill(minutes: float) -> str:
    return [fill for lo, fill, _ in WORK_FILLS if minutes >= lo][-1]


# (map id, side, view, shape): the person faces you on the front view (their left on your
# right) and faces away on the back view (their left on your left); x of the back view +130
SHAPES = (
    ("quads", "right", "front", '<rect x="42" y="112" width="16" height="44" rx="7"/>'),
    ("quads", "left", "front", '<rect x="62" y="112" width="16" height="44" rx="7"/>'),
    ("itband", "right", "front", '<rect x="35" y="114" width="6" height="42" rx="3"/>'),
    ("itband", "left", "front", '<rect x="79" y="114" width="6" height="42" rx="3"/>'),
    ("upperback", "left", "back", '<rect x="164" y="44" width="17" height="16" rx="5"/>'),
    ("upperback", "right", "back", '<rect x="189" y="44" width="17" height="16" rx="5"/>'),
    ("thoracic", None, "back", '<rect x="181" y="46" width="8" height="40" rx="3"/>'),
    ("piriformis", "left", "back", '<ellipse cx="175" cy="104" rx="9" ry="7"/>'),
    ("piriformis", "right", "back", '<ellipse cx="195" cy="104" rx="9" ry="7"/>'),
    ("calf", "left", "back", '<rect x="168" y="166" width="14" height="36" rx="7"/>'),
    ("calf", "right", "back", '<rect x="188" y="166" width="14" height="36" rx="7"/>'),
)


def _body(dx: int) -> str:
    """One outline: head, trunk, arms, legs (viewBox units, 120 wide)."""
    return (f'<g transform="translate({dx} 0)" fill="none" stroke="{OUTLINE}" stroke-width="1.5">'
            '<circle cx="60" cy="18" r="12"/>'
            '<path d="M36 36 Q60 30 84 36 L86 104 Q60 112 34 104 Z"/>'
            '<path d="M36 38 L22 100 M84 38 L98 100"/>'
            '<path d="M36 104 L40 210 M58 108 L56 210 M62 108 L64 210 M84 104 L80 210"/></g>')


def body_svg(groups: list[dict], unit: str = "metric") -> str:
    """The outline, front and back, with each routine's muscle filled by its recent minutes
    (a muscle rolled with no side said fills both sides)."""
    minutes: dict[tuple, float] = {}
    for g in groups:
        if g["map_id"] is None:
            continue
        sides = (g["side"],) if g["side"] else ("left", "right", None)
        for side in sides:
            key = (g["map_id"], side)
            minutes[key] = minutes.get(key, 0.0) + g["minutes"]
    shapes = []
    for mid, side, _view, shape in SHAPES:
        m = minutes.get((mid, side), 0.0) + (minutes.get((mid, None), 0.0) if side else 0.0)
        label = f"{NAMES[mid]}{', ' + side if side else ''}: {m:.0f} min"
        shapes.append(f'<g fill="{_fill(m)}" stroke="{OUTLINE}" stroke-width="1" data-muscle="{mid}" '
                      f'data-side="{side or ""}" data-minutes="{m:.1f}"><title>{esc(label)}</title>{shape}</g>')
    desc = summary_text(groups, unit)
    return (f'<svg id="body-map" viewBox="0 0 250 225" role="img" aria-labelledby="body-map-title body-map-desc" '
            f'class="body-map"><title id="body-map-title">Body map: the muscles of the six routines, '
            f'coloured by minutes rolled in the last {RECENT_DAYS // 7} weeks</title>'
            f'<desc id="body-map-desc">{esc(desc)}</desc>{_body(0)}{_body(130)}{"".join(shapes)}'
            f'<text x="60" y="222" text-anchor="middle" font-size="10" fill="{OUTLINE}">front</text>'
            f'<text x="190" y="222" text-anchor="middle" font-size="10" fill="{OUTLINE}">back</text></svg>')


def _where(x_m: float, unit: str) -> str:
    return units.length_for(x_m, unit)


def spot_words(spot: dict, unit: str, origin: str) -> str:
    """"8 cm up from where the passes start, lingered on in 3 sessions, easing"."""
    start = "from where the ball was put down" if origin == "put_down" else "up from where the passes start"
    kind = {"linger": "lingered on", "hold": "held", "linger and hold": "lingered on and held"}[spot["kind"]]
    state = spot["easing"]["state"]
    state = "too few sessions to say if easing" if state == "unknown" else state
    return f"{_where(spot['x_m'], unit)} {start}, {kind} in {spot['sessions']} sessions, {state}"


def _label(g: dict) -> str:
    from_muscle = NAMES.get(g["map_id"]) if g["map_id"] else None
    name = from_muscle or (g["muscle"] or "unknown").split(" (")[0]
    return f"{name}{', ' + g['side'] if g['side'] else ''}"


def summary_text(groups: list[dict], unit: str = "metric") -> str:
    """Each muscle and side with its recent minutes and spots, in words (the map's text)."""
    if not groups:
        return "Nothing rolled yet."
    parts = []
    for g in groups:
        spots = "; ".join(spot_words(s, unit, g["origin"]) for s in g["spots"]) or "no tender spots found"
        parts.append(f"{_label(g)}: {g['minutes']:.0f} min in the last {RECENT_DAYS // 7} weeks; {spots}.")
    return " ".join(parts)


def strip_svg(g: dict, unit: str) -> str:
    """One muscle and side: a bar from the pass start up the muscle, each spot a mark (filled:
    not easing; ringed: easing), its distance written under it."""
    top = max([STRIP_MIN_M, *[s["x_m"] + 0.05 for s in g["spots"]]])
    low = min([0.0, *[s["x_m"] - 0.03 for s in g["spots"]]])

    def px(x: float) -> float:
        return 10 + 280 * (x - low) / (top - low)

    marks = []
    for s in g["spots"]:
        easing = s["easing"]["state"] == "easing"
        fill = "#ffffff" if easing else "#b45309"
        marks.append(f'<g class="spot" data-x-m="{s["x_m"]:.3f}" data-easing="{s["easing"]["state"]}">'
                     f'<circle cx="{px(s["x_m"]):.1f}" cy="16" r="6" fill="{fill}" stroke="#b45309" stroke-width="2.5"/>'
                     f'<text x="{px(s["x_m"]):.1f}" y="36" text-anchor="middle" font-size="10" fill="#1f2a37">'
                     f'{esc(_where(s["x_m"], unit))}</text></g>')
    words = "; ".join(spot_words(s, unit, g["origin"]) for s in g["spots"]) or "no tender spots found yet"
    return (f'<svg viewBox="0 0 300 42" class="spot-strip" role="img" aria-label="{esc(_label(g))}: {esc(words)}">'
            f'<rect x="10" y="12" width="280" height="8" rx="4" fill="#e6e9ee"/>'
            f'<line x1="{px(0.0):.1f}" y1="6" x2="{px(0.0):.1f}" y2="26" stroke="{OUTLINE}" stroke-width="1.5"/>'
            f'{"".join(marks)}</svg>')


def spot_map_card(groups: list[dict], unit: str) -> str:
    """The section: outline and legend, then one strip per muscle and side with its words."""
    legend = "".join(f'<li><svg width="14" height="14" aria-hidden="true"><rect width="14" height="14" rx="3" '
                     f'fill="{fill}" stroke="{OUTLINE}"/></svg> {esc(words)}</li>'
                     for _, fill, words in WORK_FILLS)
    rows = []
    for g in groups:
        items = "".join(f'<li>{esc(spot_words(s, unit, g["origin"]))}</li>' for s in g["spots"])
        note = (f'<ul class="spot-list">{items}</ul>' if items else
                '<p class="muted small">No tender spots found yet: a spot shows once the same place is '
                'lingered on or held in 2 sessions.</p>')
        rows.append(f'<li class="spot-row" data-muscle="{esc(g["map_id"] or "")}" data-side="{esc(g["side"] or "")}">'
                    f'<h3>{esc(_label(g))} <span class="muted small">· {g["minutes"]:.0f} min in '
                    f'{RECENT_DAYS // 7} weeks</span></h3>{strip_svg(g, unit)}{note}</li>')
    strips = (f'<ul class="spot-strips">{"".join(rows)}</ul>' if rows else
              '<p class="muted">Nothing rolled yet.</p>')
    return f"""<section class="card" id="tender-spots"><h2>Tender spots <span class="muted small">· where the rolling slows down or holds</span></h2>
<div class="spot-map"><figure>{body_svg(groups, unit)}<figcaption><ul class="legend">{legend}</ul></figcaption></figure>
<div>{strips}
<p class="muted small">Positions are measured up the muscle from where your passes start (the
line at the left of each strip), so they shift if you start somewhere else; a ball's holds are
measured from where you put the ball down. Ringed marks are easing: less time there, and no
more soreness, over your recent sessions.</p></div></div></section>"""
