"""Numbers as people read them: the one place that words a session for the terminal status
line, the summary table (``rollsense demo`` and ``rollsense replay``) and the dashboard, so
they cannot disagree. Pure: no I/O.

JSON keeps SI units in its field names (``speed_mps``, ``distance_m``, ``force_n``); people
read speed in cm/s, pass lengths in cm, distance in m (cm under 1 m), force in whole newtons,
time in whole seconds (one decimal under 10 s, minutes from 100 s), counts as integers.
"""

from __future__ import annotations

from firmware.common.wire import finite_or_none

DASH = "–"

# target name (DESIGN §3.2 ``targets[].name``) -> what people call it
TARGET_LABELS = {
    "rolling_s": "Time rolling",
    "rolling_up_s": "Time rolling up",
    "rolling_down_s": "Time rolling down",
    "duration_s": "Duration",
    "pass_s": "Time per pass",
    "speed_mps": "Speed",
    "pass_length_m": "Pass length",
    "force_n": "Mean pressure",
    "force_peak_n": "Peak pressure",
    "force_up_n": "Pressure rolling up",
    "force_down_n": "Pressure rolling down",
    "hold_s": "Longest hold",
    "spots": "Spots held",
    "holds": "Holds",
    "passes": "Passes",
}
_UNIT_SUFFIXES = ("_mps", "_s", "_m", "_n")

# a JSON unit -> (people's unit, scale, decimals)
_PEOPLE = {"m/s": ("cm/s", 100.0, 1), "m": ("cm", 100.0, 0), "N": ("N", 1.0, 0), "": ("", 1.0, 0)}


def _fixed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0"


def _short(value: float, decimals: int) -> str:
    """Fixed decimals without trailing zeros: 4.0 -> "4", 3.75 -> "3.8" (decimals=1)."""
    text = _fixed(value, decimals)
    return text.rstrip("0").rstrip(".") if "." in text else text


def speed(mps) -> str:
    v = finite_or_none(mps)
    return DASH if v is None else f"{_fixed(v * 100, 1)} cm/s"


def length(m) -> str:
    """A pass length: whole cm."""
    v = finite_or_none(m)
    return DASH if v is None else f"{_fixed(v * 100, 0)} cm"


def distance(m) -> str:
    """Distance rolled: m with one decimal, whole cm under 1 m."""
    v = finite_or_none(m)
    if v is None:
        return DASH
    return f"{_fixed(v * 100, 0)} cm" if abs(v) < 0.995 else f"{_fixed(v, 1)} m"


def force(n) -> str:
    v = finite_or_none(n)
    return DASH if v is None else f"{_fixed(v, 0)} N"


def count(n) -> str:
    v = finite_or_none(n)
    return DASH if v is None else str(int(round(v)))


def plural(n: int, one: str, many: str) -> str:
    """A count and its noun: "1 weight", "3 weights"."""
    return f"{n} {one if n == 1 else many}"


def seconds(s) -> str:
    """A time span: "2.6 s", "76 s", "9 min 04 s"."""
    v = finite_or_none(s)
    if v is None:
        return DASH
    if v < 9.95:
        return f"{_fixed(v, 1)} s"
    whole = int(round(v))
    if whole < 100:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60:02d} s"


def label(name) -> str:
    """A target's name for people; unknown names lose their unit suffix: "rolling_side_s"
    -> "Rolling side"."""
    name = str(name or "")
    if name in TARGET_LABELS:
        return TARGET_LABELS[name]
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ").strip().capitalize()


def _bound(value: float, unit: str) -> tuple[str, str]:
    """One bound of a target band in people's unit, without trailing zeros: ("4", "cm/s")."""
    if unit == "s":
        return _short(value, 1), "s"
    shown, scale, decimals = _PEOPLE.get(unit, (unit, 1.0, 2))
    return _short(value * scale, decimals), shown


def _with(number: str, unit: str) -> str:
    return f"{number} {unit}" if unit else number


def unit_of(row: dict) -> str:
    """The JSON unit of a ``targets[]`` row: its target's ``unit``, else the one its name ends
    in ("speed_mps" -> "m/s"; summaries from other tools may give a bare number or [lo, hi])."""
    target = row.get("target")
    if isinstance(target, dict) and target.get("unit") is not None:
        return str(target["unit"])
    name = str(row.get("name") or "")
    for suffix, unit in (("_mps", "m/s"), ("_s", "s"), ("_m", "m"), ("_n", "N")):
        if name.endswith(suffix):
            return unit
    return ""


def target_goal(target, unit: str | None = None) -> str:
    """A target's band for people: "4–12 cm/s", "≥ 60 s", "≤ 260 N", "≥ 3". ``target`` is
    ``{"min"?, "max"?, "unit"}``, or a bare minimum or [lo, hi] in ``unit``."""
    if isinstance(target, str):
        return target
    if isinstance(target, list | tuple) and len(target) == 2:
        target = {"min": target[0], "max": target[1]}
    elif not isinstance(target, dict):
        target = {"min": target}
    unit = str(target.get("unit") or unit or "")
    lo, hi = finite_or_none(target.get("min")), finite_or_none(target.get("max"))
    if lo is not None and hi is not None:
        (low, shown), (high, _) = _bound(lo, unit), _bound(hi, unit)
        return _with(f"{low}–{high}", shown)
    if lo is not None:
        return "≥ " + _with(*_bound(lo, unit))
    if hi is not None:
        return "≤ " + _with(*_bound(hi, unit))
    return DASH


def target_actual(row: dict) -> str:
    """What the user did against one target, in the target's people unit."""
    unit = unit_of(row)
    if isinstance(row.get("actual"), str):
        return row["actual"]
    v = finite_or_none(row.get("actual"))
    if v is None:
        return DASH
    if unit == "s":
        return seconds(v)
    shown, scale, decimals = _PEOPLE.get(unit, (unit, 1.0, 2))
    return _with(_fixed(v * scale, decimals), shown)


def target_line(row: dict) -> tuple[str, str, str, bool]:
    """(label, goal, actual, met) of one ``targets[]`` row: the same words everywhere."""
    return (label(row.get("name")), target_goal(row.get("target"), unit_of(row)),
            target_actual(row), bool(row.get("met")))


def _get(summary: dict, key: str, sub: str | None = None):
    value = summary.get(key)
    if sub is not None:
        value = value.get(sub) if isinstance(value, dict) else None
    return value


def _holds(holds) -> str:
    holds = [h for h in holds or [] if isinstance(h, dict)]
    if not holds:
        return "none"
    parts = []
    for h in holds:
        at = f" at {force(h.get('force_n'))}" if finite_or_none(h.get("force_n")) is not None else ""
        start = finite_or_none(h.get("start_s"))
        since = f" from {seconds(start)}" if start is not None else ""
        parts.append(f"{seconds(h.get('duration_s'))}{at}{since}")
    return f"{len(holds)}: " + ", ".join(parts)


def summary_table(summary: dict) -> str:
    """The session summary (DESIGN §3.2) as one short table a person takes in at a glance.
    Its first line is ``session_id <id>``."""
    s = summary
    rolling = finite_or_none(s.get("rolling_s"))
    time_line = seconds(s.get("duration_s"))
    if rolling is not None:
        time_line += f"; time rolling {seconds(rolling)}"
    time_line += f"; on the tool {seconds(s.get('contact_s'))}"
    force_line = (f"mean {force(_get(s, 'force_n', 'mean'))}, "
                  f"peak {force(_get(s, 'force_n', 'peak'))}")
    up, down = _get(s, "force_by_direction_n", "up"), _get(s, "force_by_direction_n", "down")
    if finite_or_none(up) is not None or finite_or_none(down) is not None:
        force_line += f"; rolling up {force(up)}, down {force(down)}"
    lines = [
        f"session_id  {s.get('session_id')}",
        f"routine     {s.get('protocol') or DASH} ({s.get('tool') or DASH})",
        f"duration    {time_line}",
        f"passes      {count(s.get('passes'))}, length mean {length(_get(s, 'pass_length_m', 'mean'))}"
        f", max {length(_get(s, 'pass_length_m', 'max'))}",
        f"distance    {distance(s.get('distance_m'))}",
        f"speed       mean {speed(_get(s, 'speed_mps', 'mean'))}, "
        f"p95 {speed(_get(s, 'speed_mps', 'p95'))}",
        f"force       {force_line}",
        f"holds       {_holds(s.get('holds'))}",
    ]
    rows = [target_line(t) for t in s.get("targets") or [] if isinstance(t, dict)]
    if rows:
        width = max(len(r[0]) for r in rows)
        goal_w = max(len(r[1]) for r in rows)
        lines.append("targets")
        lines += [f"  {'met ' if met else 'MISS'}  {name:<{width}}  {goal:<{goal_w}}  {actual}"
                  for name, goal, actual, met in rows]
    if s.get("completed"):
        lines.append("completed")
    else:
        why = s.get("interrupted")
        lines.append("not completed" + (f": {why}" if why else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------- a person's units (issue 22)
# A person reads metric (cm/s, cm, N, kg), imperial (in/s, in, lbf, lb) or kgf (metric with
# force in kilograms-force: cm/s, cm, kgf, kg): the units of the people the dashboard keeps
# (firmware.core.commands.UNITS). JSON stays SI whatever they read.

KG_PER_LB = 0.45359237  # exact, by definition
N_PER_LBF = 4.4482216152605  # exact: 1 lbf = 0.45359237 kg x 9.80665 m/s²
M_PER_IN = 0.0254  # exact
N_PER_KGF = 9.80665  # exact: standard gravity
MASS_UNIT = {"metric": "kg", "imperial": "lb", "kgf": "kg"}


def _imperial(units) -> bool:
    return units == "imperial"


def force_for(n, units) -> str:
    """A force in the person's units: whole N, whole lbf, or kgf with one decimal."""
    v = finite_or_none(n)
    if v is None:
        return DASH
    if units == "kgf":
        return f"{_fixed(v / N_PER_KGF, 1)} kgf"
    return f"{_fixed(v / N_PER_LBF, 0)} lbf" if _imperial(units) else force(v)


def speed_for(mps, units) -> str:
    """A speed in the person's units: cm/s or in/s, one decimal."""
    v = finite_or_none(mps)
    if v is None:
        return DASH
    return f"{_fixed(v / M_PER_IN, 1)} in/s" if _imperial(units) else speed(v)


def length_for(m, units) -> str:
    """A pass length in the person's units: whole cm, or inches with one decimal."""
    v = finite_or_none(m)
    if v is None:
        return DASH
    return f"{_fixed(v / M_PER_IN, 1)} in" if _imperial(units) else length(v)


def mass_number(kg, units) -> str:
    """A body mass as the number a person reads and types, in kg or lb (one decimal, no
    trailing zero): 68.04 kg -> "68" (metric), "150" (imperial)."""
    v = finite_or_none(kg)
    if v is None:
        return ""
    return _short(v / KG_PER_LB if _imperial(units) else v, 1)


def mass_for(kg, units) -> str:
    """A body mass in the person's units: "68 kg", "150 lb"."""
    text = mass_number(kg, units)
    return f"{text} {MASS_UNIT.get(units, 'kg')}" if text else DASH


def mass_kg(value: float, units) -> float:
    """A body mass typed in the person's units (kg, or lb when imperial), in kg."""
    return value * KG_PER_LB if _imperial(units) else value
