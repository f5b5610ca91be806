"""Plans (issue 22): a person plans programmes on days of the week; what is due today, what
was done, what was skipped and which muscles wait, in words, for the Plan page and the Home
Assistant reminder.

The store side is two small tables, made when the dashboard opens a store (as the logins'
table is: ``ensure_plan_tables``), in SQL both SQLite and PostgreSQL take::

    plans(person_id, program_id, weekdays, since)   weekdays: "mon,thu" (ISO order), never
                                                    empty; since: the local day it was made
    reminders_sent(person_id, day, kind, sent_at)   one row per reminder sent: not sent twice

The rest is pure: ``person_day`` takes a person's plans, the programmes, their sessions and
``today`` (a local date, injected) and says what the page and the reminder say.

Progress across tools: a programme's steps done today are the ``program_step`` values of the
person's completed sessions of it today, whatever device sent them (a device on each tool, or
one sensor moved between tools); ``firmware.core.programs.first_not_done`` over them names
the next step, and so the tool to pick up next.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from dashboard import queries as q
from firmware.common.errors import ConfigError
from firmware.common.wire import utc_now_iso
from firmware.core.commands import PROGRAM_RE
from firmware.core.programs import Program, Step, first_not_done, list_programs
from firmware.core.protocols import load_routine

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TOOL_WORDS = {"roller": "the roller", "ball": "the ball", "stick": "the stick"}
SKIPPED_LOOKBACK_DAYS = 7  # skipped planned days are looked for this far back

PLAN_TABLES = (
    "CREATE TABLE IF NOT EXISTS plans(person_id TEXT NOT NULL, program_id TEXT NOT NULL, "
    "weekdays TEXT NOT NULL, since TEXT NOT NULL, PRIMARY KEY(person_id, program_id))",
    "CREATE TABLE IF NOT EXISTS reminders_sent(person_id TEXT NOT NULL, day TEXT NOT NULL, "
    "kind TEXT NOT NULL, sent_at TEXT NOT NULL, PRIMARY KEY(person_id, day, kind))",
)


# ---------------------------------------------------------------- the store


def ensure_plan_tables(store) -> None:
    """Make the plan tables if the store lacks them (idempotent; an old store gets them)."""
    for sql in PLAN_TABLES:
        store.execute(sql)


def parse_weekdays(values: Iterable[str]) -> tuple[int, ...]:
    """Weekday names ("mon" .. "sun") as sorted day numbers (Monday 0); ConfigError (one line)
    for a name that is not one."""
    days = set()
    for v in values:
        key = str(v).strip().lower()[:3]
        if key not in WEEKDAYS:
            raise ConfigError(f"{str(v)[:20]!r} is not a day of the week (mon, tue, ... sun)")
        days.add(WEEKDAYS.index(key))
    return tuple(sorted(days))


def set_plan(store, person_id: str, program_id: str, weekdays: Iterable[int], today: date | None = None) -> None:
    """Plan ``program_id`` for ``person_id`` on ``weekdays`` (day numbers, Monday 0) from
    ``today`` on (a new plan; a changed one keeps its day); no days: the plan is removed.
    ConfigError for a programme id or a day that cannot be."""
    if not isinstance(program_id, str) or not PROGRAM_RE.fullmatch(program_id):
        raise ConfigError(f"{str(program_id)[:40]!r} is not a programme id")
    days = sorted(set(weekdays))
    if any(not isinstance(d, int) or not 0 <= d <= 6 for d in days):
        raise ConfigError("a day of the week is 0 (Monday) to 6 (Sunday)")
    if not days:
        store.execute("DELETE FROM plans WHERE person_id = ? AND program_id = ?", (person_id, program_id))
        return
    store.execute(
        "INSERT INTO plans(person_id, program_id, weekdays, since) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(person_id, program_id) DO UPDATE SET weekdays = excluded.weekdays",
        (person_id, program_id, ",".join(WEEKDAYS[d] for d in days),
         (today or datetime.now().astimezone().date()).isoformat()))


def plans(store, person_id: str | None = None) -> list[dict]:
    """Plans as ``{person_id, program_id, weekdays: (day numbers), since: date}``, by person
    and programme."""
    sql, params = "SELECT person_id, program_id, weekdays, since FROM plans", ()
    if person_id is not None:
        sql, params = sql + " WHERE person_id = ?", (person_id,)
    out = []
    for r in store.query(sql + " ORDER BY person_id, program_id", params):
        days = tuple(WEEKDAYS.index(d) for d in str(r["weekdays"]).split(",") if d in WEEKDAYS)
        if days:
            out.append({"person_id": r["person_id"], "program_id": r["program_id"], "weekdays": days,
                        "since": date.fromisoformat(r["since"])})
    return out


def mark_sent(store, person_id: str, day: date, kind: str) -> bool:
    """Remember a reminder as sent; True if it was not sent before (so send it now)."""
    return store.execute(
        "INSERT INTO reminders_sent(person_id, day, kind, sent_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(person_id, day, kind) DO NOTHING",
        (person_id, day.isoformat(), kind, utc_now_iso())) == 1


def was_sent(store, person_id: str, day: date, kind: str) -> bool:
    return bool(store.query("SELECT 1 AS x FROM reminders_sent WHERE person_id = ? AND day = ? AND kind = ?",
                            (person_id, day.isoformat(), kind)))


@lru_cache(maxsize=1)
def _builtin_programs() -> tuple[Program, ...]:
    return tuple(list_programs(None))


def known_programs() -> dict[str, Program]:
    """id -> Program: the built-in programmes (the dashboard has no user routine folder)."""
    try:
        return {p.id: p for p in _builtin_programs()}
    except ConfigError:  # a broken programme file: no programmes rather than a broken page
        return {}


# ---------------------------------------------------------------- words


def routine_label(routine_id: str) -> str:
    """A routine's short name: its title before " with the" / " on the" ("IT band", "Calf")."""
    try:
        title = str(getattr(load_routine(routine_id), "title", "") or "")
    except Exception:  # noqa: BLE001 - a routine file gone: its id in words
        title = ""
    title = title or routine_id.replace("-", " ").capitalize()
    for cut in (" with the ", " on the "):
        title = title.split(cut)[0]
    return title


def lower_first(text: str) -> str:
    """"Calf" -> "calf", but "IT band" stays (an initialism)."""
    return text[:1].lower() + text[1:] if len(text) > 1 and not text[1].isupper() else text


def step_words(step: Step) -> str:
    """"the stick — IT band, left": the tool to pick up, the routine, the side."""
    side = f", {step.side}" if step.side else ""
    return f"{TOOL_WORDS.get(step.tool, step.tool)} — {routine_label(step.routine)}{side}"


def days_words(days: int) -> str:
    return "1 day" if days == 1 else f"{days} days"


def weekdays_words(weekdays: Iterable[int]) -> str:
    days = list(weekdays)
    return "every day" if len(days) == 7 else ", ".join(WEEKDAY_NAMES[d] for d in days)


# ---------------------------------------------------------------- the day, pure


@dataclass(frozen=True)
class Progress:
    """A programme today: which of its steps are done, and the next one."""

    program: Program
    done: tuple[int, ...]  # step indices done today
    next_step: Step | None  # first_not_done (None: all done)
    planned: bool  # planned for today

    @property
    def total(self) -> int:
        return len(self.program.steps)

    @property
    def complete(self) -> bool:
        return self.next_step is None

    def words(self) -> str:
        """"Lower body: 4 of 6 steps; next: the stick — IT band, left"."""
        head = f"{self.program.title}: {len(self.done)} of {self.total} steps"
        if self.next_step is None:
            return head + "; all done"
        return f"{head}; next: {step_words(self.next_step)}"


@dataclass(frozen=True)
class PersonDay:
    """What the Plan page and the reminder say about one person on one day."""

    person: dict
    today: date
    due: tuple[Progress, ...]  # planned today (done or not)
    extra: tuple[Progress, ...]  # done today without a plan for today
    skipped: tuple[tuple[Program, date], ...]  # planned days before today with nothing done
    neglect: tuple[tuple[str, int | None], ...]  # (muscle label, days since; None: never)
    plans: tuple[dict, ...] = field(default=())

    @property
    def not_done(self) -> tuple[Progress, ...]:
        """Programmes planned today and not all done: what the reminder is about."""
        return tuple(p for p in self.due if not p.complete)

    def neglect_lines(self) -> list[str]:
        return [f"{lower_first(m)} not rolled for {days_words(n)}" if n is not None
                else f"{lower_first(m)} not rolled yet" for m, n in self.neglect]

    def skipped_lines(self) -> list[str]:
        return [f"{p.title} skipped on {WEEKDAY_NAMES[d.weekday()]} {d.day} {d.strftime('%b')}"
                for p, d in self.skipped]

    def reminder_text(self) -> str:
        """"Lower body is due today (calf not rolled for 5 days)"; "" when nothing is left."""
        left = self.not_done
        if not left:
            return ""
        titles = [p.program.title for p in left]
        names = titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]
        verb = "is" if len(titles) == 1 else "are"
        partly = [p for p in left if p.done]
        text = f"{names} {verb} due today"
        notes = [(f"{p.program.title} " if len(left) > 1 else "") + f"{len(p.done)} of {p.total} steps done"
                 for p in partly] + self.neglect_lines()
        return text + (f" ({'; '.join(notes)})" if notes else "")


def _day_of(row: dict) -> date | None:
    dt = q.parse_ts(row.get("started_at"))
    return q.local_day(dt) if dt is not None else None


def _steps_done(rows: Iterable[dict], program: Program, day: date) -> tuple[int, ...]:
    """The programme's step indices the person completed on ``day`` (any device)."""
    n = len(program.steps)
    return tuple(sorted({r["program_step"] for r in rows
                         if r.get("program_id") == program.id and r.get("completed")
                         and isinstance(r.get("program_step"), int) and 0 <= r["program_step"] < n
                         and _day_of(r) == day}))


def _max_gap(weekdays: tuple[int, ...]) -> int:
    """The most days between two planned days in a week (planned daily: 1; weekly: 7)."""
    days = sorted(weekdays)
    return max(((days[(i + 1) % len(days)] - d) % 7 or 7) for i, d in enumerate(days))


def person_day(person: dict, person_plans: Iterable[dict], programs: Mapping[str, Program],
               rows: Iterable[dict], today: date) -> PersonDay:
    """One person's day: ``person_plans`` (``plans()`` rows of theirs), ``programs`` (id ->
    Program), ``rows`` (their sessions, any order, as ``queries.sessions`` gives them),
    ``today`` (a local date). Plans of programmes that no longer exist are left out.

    Skipped: a planned day in the last ``SKIPPED_LOOKBACK_DAYS`` days before today (and from
    the plan's ``since`` on, when it has one) on which no step of that programme was done. Neglect: a routine of a planned programme whose last
    session (of the person, any programme or none) is longer ago than the plan's longest gap
    between planned days (planned Monday and Thursday: more than 4 days), or never."""
    rows = list(rows)
    mine = [p for p in person_plans if p["program_id"] in programs]
    due, planned_ids = [], set()
    for plan in mine:
        if today.weekday() in plan["weekdays"]:
            program = programs[plan["program_id"]]
            done = _steps_done(rows, program, today)
            due.append(Progress(program, done, first_not_done(program, done), planned=True))
            planned_ids.add(program.id)
    extra = []
    for pid in sorted({r["program_id"] for r in rows if r.get("program_id") in programs} - planned_ids):
        program = programs[pid]
        done = _steps_done(rows, program, today)
        if done:
            extra.append(Progress(program, done, first_not_done(program, done), planned=False))
    skipped = []
    for plan in mine:
        program = programs[plan["program_id"]]
        for back in range(SKIPPED_LOOKBACK_DAYS, 0, -1):
            day = today - timedelta(days=back)
            if day < plan.get("since", day):
                continue
            if day.weekday() in plan["weekdays"] and not any(
                    r.get("program_id") == program.id and _day_of(r) == day for r in rows):
                skipped.append((program, day))
    skipped.sort(key=lambda pd: (pd[1], pd[0].id))
    last: dict[str, date] = {}
    for r in rows:
        day = _day_of(r)
        if day is not None and day <= today and r.get("protocol"):
            last[r["protocol"]] = max(day, last.get(r["protocol"], day))
    neglect: dict[str, int | None] = {}
    for plan in mine:
        gap = _max_gap(plan["weekdays"])
        for routine in dict.fromkeys(s.routine for s in programs[plan["program_id"]].steps):
            since = (today - last[routine]).days if routine in last else None
            if since is None or since > gap:
                label = routine_label(routine)
                if label not in neglect or (since is not None and (neglect[label] or 0) < since):
                    neglect[label] = since
    return PersonDay(person, today, tuple(due), tuple(extra), tuple(skipped),
                     tuple(sorted(neglect.items(), key=lambda kv: (kv[1] is not None, -(kv[1] or 0), kv[0]))),
                     tuple(mine))


def household_day(store, today: date | None = None) -> list[PersonDay]:
    """Every person's day (``person_day``) from the store, oldest person first."""
    today = today or datetime.now().astimezone().date()
    programs, all_plans = known_programs(), plans(store)
    out = []
    for person in store.people():  # all their sessions: a muscle's last one may be long ago
        rows = q.person_sessions(store, person["id"], until=today)
        out.append(person_day(person, [p for p in all_plans if p["person_id"] == person["id"]],
                              programs, rows, today))
    return out
