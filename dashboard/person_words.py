"""A person's numbers in words (issue 22): a muscle's name as a person says it, and a
left/right asymmetry worth noticing as a sentence ("right calf: 35 % less time than left
over 4 weeks")."""

from __future__ import annotations

from datetime import date

# asymmetry metric -> (what the smaller side has less of, "less" word)
METRIC_WORDS = {"time_s": "less time", "passes": "fewer passes", "mean_force_n": "lower mean force"}


def muscle_name(muscle: str | None) -> str:
    """The short name of a muscle: "calf (gastrocnemius, soleus)" -> "calf"."""
    return (muscle or "unknown").split(" (")[0].strip()


def asymmetry_sentences(row: dict) -> list[str]:
    """The flagged gaps of one ``queries.asymmetry`` row, one sentence each, the smaller side
    first: "right calf: 35 % less time than left over 4 weeks"; a side not rolled at all:
    "right calf: not rolled in 4 weeks (left: 3 sessions)"."""
    if not row.get("flagged"):
        return []
    muscle = muscle_name(row["muscle"])
    left, right = row["left"], row["right"]
    weeks = _weeks(row)
    for side, other, name, other_name in ((left, right, "left", "right"), (right, left, "right", "left")):
        if not side["sessions"] and other["sessions"]:
            n = other["sessions"]
            return [f"{name} {muscle}: not rolled in {weeks} ({other_name}: {n} session{'s' if n != 1 else ''})"]
    out = []
    for metric in row["flags"]:
        lv, rv = left[metric], right[metric]
        if lv is None or rv is None or lv == rv:
            continue
        small, big = ("left", "right") if lv < rv else ("right", "left")
        out.append(f"{small} {muscle}: {round(row['apart'][metric] * 100)} % {METRIC_WORDS.get(metric, metric)} "
                   f"than {big} over {weeks}")
    return out


def _weeks(row: dict) -> str:
    days = (date.fromisoformat(row["until"]) - date.fromisoformat(row["since"])).days + 1
    n = round(days / 7)
    return f"{n} week{'s' if n != 1 else ''}"
