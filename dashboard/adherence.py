"""Adherence (issue 23): per client and ISO week, what was prescribed against what was done.

Per week (Monday to Sunday, local days, up to today):

- prescribed: for each day, the prescription in force that day (the newest version made on
  or before it); a planned weekday counts the programme's steps (every step, every tool);
- done: the client's completed sessions that week of a routine of that programme; of them,
  ``followed`` the ones the device coached with the prescription's numbers (the summary's
  ``prescription``);
- targets met: over the done sessions, targets met of targets checked;
- time per muscle and side: the done sessions' durations;
- soreness: the mean "before" and "after" ratings of the done sessions that have them.

Pure: rows (``queries.person_sessions``) and versions (``prescriptions.versions``) in,
numbers out; ``today`` is injected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from dashboard import queries as q
from firmware.core.programs import Program

WEEKS = 6


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _day_of(iso: str | None) -> date | None:
    dt = q.parse_ts(iso)
    return q.local_day(dt) if dt is not None else None


def in_force(versions: list[dict], day: date) -> dict | None:
    """The newest version made on or before ``day`` (local), or None."""
    for v in versions:  # newest first
        made = _day_of(v["created_at"])
        if made is not None and made <= day:
            return v
    return None


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def weekly(rows: Iterable[dict], versions: list[dict], programs: Mapping[str, Program], today: date,
           weeks: int = WEEKS) -> list[dict]:
    """One dict per ISO week, oldest first, the current week last (see the module's words)."""
    rows = [r for r in rows if r.get("completed")]
    this_monday = today - timedelta(days=today.weekday())
    out = []
    for k in reversed(range(weeks)):
        monday = this_monday - timedelta(weeks=k)
        days = [monday + timedelta(days=i) for i in range(7) if monday + timedelta(days=i) <= today]
        prescribed, routines = 0, set()
        for day in days:
            rx = in_force(versions, day)
            program = programs.get(rx["program_id"]) if rx else None
            if program is None:
                continue
            routines |= {s.routine for s in program.steps}
            if day.weekday() in rx["weekdays"]:
                prescribed += len(program.steps)
        done = [r for r in rows if (d := _day_of(r.get("started_at"))) is not None
                and monday <= d <= monday + timedelta(days=6) and r.get("protocol") in routines]
        met = sum(r["targets_met"] for r in done)
        total = sum(r["targets_total"] for r in done)
        time_s: dict[tuple[str, str | None], float] = {}
        for r in done:
            key = (r["muscle"], r["side"])
            time_s[key] = round(time_s.get(key, 0.0) + (r["duration_s"] or 0.0), 1)
        out.append({
            "week": week_label(monday), "monday": monday, "prescribed": prescribed,
            "done": len(done),
            "followed": sum(1 for r in done if isinstance((r.get("summary") or {}).get("prescription"), dict)),
            "targets_met": met, "targets_total": total,
            "targets_share": round(met / total, 3) if total else None,
            "time_s": time_s,
            "sore_before": _mean([r["soreness"]["before"] for r in done if r["soreness"]["before"] is not None]),
            "sore_after": _mean([r["soreness"]["after"] for r in done if r["soreness"]["after"] is not None]),
        })
    return out
