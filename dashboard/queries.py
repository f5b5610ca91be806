"""Read queries over the dashboard store: devices, session history, weekly minutes, streaks,
trends, and the detail of one session (summary, telemetry, events); per person (issue 22):
their sessions, streak, each muscle left against right over a date range, and the
asymmetries worth noticing.

Only ``store.query(sql, params)`` with ``?`` placeholders is used, so every query runs on
SQLite and PostgreSQL alike. Date arithmetic (weeks, streaks) happens in Python on the
UTC ISO-8601 text timestamps, for the same reason. Only paired devices' sessions are shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from dashboard.schema import summary_view
from firmware.core.protocols import load_routine

HOLD_SPEED_MPS = 0.01  # below this the tool counts as still (DESIGN §3.2)
MAX_CHART_POINTS = 1500

KNOWN_MUSCLES = {
    "quads-roller": "quadriceps",
    "thoracic-roller": "upper back",
    "piriformis-ball": "piriformis",
    "upper-back-ball": "upper back",
    "it-band-stick": "lateral thigh",
    "calf-stick": "calves",
}

SESSION_COLUMNS = (
    "s.session_id, s.device_id, s.protocol, s.tool, s.started_at, s.duration_s, s.passes, "
    "s.completed, s.summary_json, s.received_at, d.name AS device_name, s.person_id, s.side, "
    "s.program_id, s.program_step, s.soreness_before, s.soreness_after"
)
NO_PERSON = ""  # sessions(person_id=NO_PERSON): the sessions nobody was chosen for
ASYMMETRY_APART = 0.20  # left and right more than 20 % apart (of the larger) is worth noticing
ASYMMETRY_WEEKS = 4


# ---------------------------------------------------------------- small helpers


def parse_ts(text: str | None) -> datetime | None:
    """A UTC ISO-8601 text timestamp -> aware datetime (None if empty or malformed)."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        dt.astimezone()  # a year 1 or 9999 date that no local time holds: None, not a 500
        (dt - timedelta(days=8)).astimezone()
        (dt + timedelta(days=8)).astimezone()
    except (ValueError, OverflowError, OSError):
        return None
    return dt


def loads(text: str | None) -> dict:
    """A stored JSON column -> dict ({} when empty or broken)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def num(value) -> float | None:
    """A finite float, or None."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@lru_cache(maxsize=64)
def muscle_of(protocol: str | None) -> str:
    """The muscle a routine works on (from the routine file when the coach package has it)."""
    if not protocol:
        return "unknown"
    try:
        muscle = getattr(load_routine(protocol), "muscle", None)
        if muscle:
            return str(muscle)
    except Exception:  # noqa: BLE001 - a missing or user-deleted routine keeps its history
        pass
    return KNOWN_MUSCLES.get(protocol, protocol.split("-")[0])


def local_day(dt: datetime) -> date:
    """The calendar day of ``dt`` in the dashboard machine's local time zone."""
    return dt.astimezone().date()


# ---------------------------------------------------------------- devices


def list_devices(store, *, paired_only: bool = False) -> list[dict]:
    """All devices seen (or only paired ones), with their session count and info."""
    sql = (
        "SELECT d.device_id, d.name, d.paired, d.status, d.info_json, d.last_seen, "
        "(SELECT COUNT(*) FROM sessions s WHERE s.device_id = d.device_id) AS sessions "
        "FROM devices d"
    )
    params: tuple = ()
    if paired_only:
        sql += " WHERE d.paired = ?"
        params = (1,)
    rows = store.query(sql + " ORDER BY d.device_id", params)
    for row in rows:
        row["paired"] = bool(row.get("paired"))
        row["info"] = loads(row.pop("info_json", None))
    return rows


def get_device(store, device_id: str) -> dict | None:
    rows = store.query(
        "SELECT device_id, name, paired, status, info_json, last_seen FROM devices WHERE device_id = ?",
        (device_id,),
    )
    if not rows:
        return None
    row = rows[0]
    row["paired"] = bool(row.get("paired"))
    row["info"] = loads(row.pop("info_json", None))
    return row


def paired_ids(store) -> set[str]:
    return {r["device_id"] for r in store.query("SELECT device_id FROM devices WHERE paired = ?", (1,))}


# ---------------------------------------------------------------- sessions


def _session_row(row: dict) -> dict:
    """A sessions row for the pages: the summary in its one shape (schema.summary_view, so
    an odd row stored before issue 18 reads as missing values, not as a 500)."""
    summary = summary_view(loads(row.pop("summary_json", None)))
    row["summary"] = summary
    for key in ("protocol", "tool", "started_at", "device_name"):
        if not isinstance(row.get(key), str | None):
            row[key] = None
    row["completed"] = bool(row.get("completed"))
    row["muscle"] = muscle_of(row.get("protocol"))
    row["duration_s"] = num(row.get("duration_s")) or 0.0
    row["passes"] = int(num(row.get("passes")) or 0)
    row["distance_m"] = summary["distance_m"]
    row["force_mean_n"] = summary["force_n"]["mean"]
    row["speed_mean_mps"] = summary["speed_mps"]["mean"]
    targets = summary["targets"]
    row["targets_met"] = sum(1 for t in targets if t["met"])
    row["targets_total"] = len(targets)
    row["interrupted"] = summary.get("interrupted")
    # who and which side (issue 22): the columns (soreness "after" is rated on the dashboard)
    for key in ("person_id", "side", "program_id"):
        row[key] = row.get(key) if isinstance(row.get(key), str) else None
    step = row.get("program_step")
    row["program_step"] = step if isinstance(step, int) and not isinstance(step, bool) else None
    row["soreness"] = {"before": _whole(row.pop("soreness_before", None)),
                       "after": _whole(row.pop("soreness_after", None))}
    summary["soreness"] = dict(row["soreness"])
    return row


def _whole(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def sessions(store, *, device_id: str | None = None, person_id: str | None = None,
             limit: int | None = 500, since: datetime | None = None,
             person_in: Iterable[str] | None = None) -> list[dict]:
    """Paired devices' sessions, newest first: all of them, one device's, one person's
    (``person_id``; ``NO_PERSON``: those nobody was chosen for), started from ``since`` on
    (``limit`` None: no limit); ``person_in`` (issue 23): only these people's (a login's
    ``Viewer.person_ids``; empty: none)."""
    sql = (
        f"SELECT {SESSION_COLUMNS} FROM sessions s JOIN devices d ON d.device_id = s.device_id "
        "WHERE d.paired = ?"
    )
    params: list = [1]
    if device_id:
        sql += " AND s.device_id = ?"
        params.append(device_id)
    if person_id == NO_PERSON:
        sql += " AND s.person_id IS NULL"
    elif person_id is not None:
        sql += " AND s.person_id = ?"
        params.append(person_id)
    if person_in is not None:
        ids = sorted(person_in)
        sql += f" AND s.person_id IN ({', '.join('?' * len(ids))})" if ids else " AND 1 = 0"
        params.extend(ids)
    if since is not None:  # the text timestamps are UTC ISO-8601: they sort as they compare
        sql += " AND s.started_at >= ?"
        params.append(since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    if limit is None:
        sql += " ORDER BY s.started_at DESC, s.received_at DESC"
        return [_session_row(r) for r in store.query(sql, tuple(params))]
    sql += " ORDER BY s.started_at DESC, s.received_at DESC LIMIT ?"
    params.append(int(limit))
    return [_session_row(r) for r in store.query(sql, tuple(params))]


def session(store, session_id: str) -> dict | None:
    """One session of a paired device, or None."""
    rows = store.query(
        f"SELECT {SESSION_COLUMNS} FROM sessions s JOIN devices d ON d.device_id = s.device_id "
        "WHERE s.session_id = ? AND d.paired = ?",
        (session_id, 1),
    )
    return _session_row(rows[0]) if rows else None


def telemetry(store, session_id: str) -> list[dict]:
    """The stored telemetry samples of a session, in sensor-time order, as dicts of the
    payload fields (t_s, speed_mps, force_n, position_m, contact, bands, ...)."""
    rows = store.query(
        "SELECT t_s, speed_mps, force_n, payload_json FROM telemetry WHERE session_id = ? "
        "ORDER BY t_s, id",
        (session_id,),
    )
    out = []
    for r in rows:
        p = loads(r.get("payload_json"))
        p["t_s"] = num(r.get("t_s")) if r.get("t_s") is not None else num(p.get("t_s"))
        p["speed_mps"] = num(r.get("speed_mps")) if r.get("speed_mps") is not None else num(p.get("speed_mps"))
        p["force_n"] = num(r.get("force_n")) if r.get("force_n") is not None else num(p.get("force_n"))
        if p["t_s"] is not None:
            out.append(p)
    return out


def events(store, session_id: str) -> list[dict]:
    """A session's events (payload dicts), in order of their sensor time."""
    rows = store.query(
        "SELECT ts, event_type, payload_json FROM events WHERE session_id = ?", (session_id,)
    )
    out = [loads(r.get("payload_json")) | {"event_type": r.get("event_type"), "ts": r.get("ts")} for r in rows]
    out.sort(key=lambda e: (num(e.get("t_s")) if num(e.get("t_s")) is not None else math.inf, e.get("ts") or ""))
    return out


# ---------------------------------------------------------------- quarantine


def quarantine(store, *, limit: int = 500) -> list[dict]:
    """Messages from devices that failed their schema (dashboard/ingest.py), one row per
    (device, kind, reason), the most recently seen first."""
    return store.query(
        "SELECT device_id, kind, reason, topic, first_seen, last_seen, times, size, payload "
        "FROM quarantine ORDER BY last_seen DESC LIMIT ?", (int(limit),))


def quarantine_totals(store) -> dict:
    """{"kinds": rows (device, kind, reason) kept, "messages": how many in all}."""
    row = store.query("SELECT COUNT(*) AS kinds, SUM(times) AS messages FROM quarantine")[0]
    return {"kinds": int(row["kinds"] or 0), "messages": int(row["messages"] or 0)}


# ---------------------------------------------------------------- derived: one session


def _band(samples: list[dict], key: str) -> list[float] | None:
    for s in reversed(samples):
        band = s.get(key)
        if isinstance(band, list) and len(band) == 2 and all(num(v) is not None for v in band):
            return [float(band[0]), float(band[1])]
    return None


def target_band(summary: dict, name: str) -> list[float] | None:
    """[lo, hi] of a summary target given as {"min", "max"} or [lo, hi]; None if absent."""
    for t in summary.get("targets") or []:
        if not isinstance(t, dict) or t.get("name") != name:
            continue
        target = t.get("target")
        if isinstance(target, dict):
            lo, hi = num(target.get("min")), num(target.get("max"))
        elif isinstance(target, list | tuple) and len(target) == 2:
            lo, hi = num(target[0]), num(target[1])
        else:
            continue
        if lo is not None and hi is not None:
            return [lo, hi]
    return None


def speed_in_band_share(samples: list[dict], summary: dict | None = None, evts: list[dict] | None = None) -> float | None:
    """Speed discipline of a session, 0..1. Preferably the share of passes (pass_completed
    events with their mean speed) inside the speed band; else the share of rolling telemetry
    samples (in contact, moving) inside the band in force at that moment; else the share of
    the summary's speed targets that were met. None when nothing says."""
    band = _band(samples, "speed_band_mps")
    pass_speeds = [num(e.get("mean_speed_mps")) for e in evts or () if e.get("event_type") == "pass_completed"]
    pass_speeds = [v for v in pass_speeds if v is not None]
    if band and pass_speeds:
        return sum(1 for v in pass_speeds if band[0] <= v <= band[1]) / len(pass_speeds)
    rolling = inside = 0
    for s in samples:
        b = s.get("speed_band_mps")
        speed = num(s.get("speed_mps"))
        if speed is None or not isinstance(b, list) or len(b) != 2:
            continue
        lo, hi = num(b[0]), num(b[1])
        if lo is None or hi is None or s.get("contact") is False or speed < HOLD_SPEED_MPS:
            continue
        rolling += 1
        inside += lo <= speed <= hi
    if rolling:
        return inside / rolling
    speed_targets = [
        t for t in (summary or {}).get("targets") or [] if isinstance(t, dict) and "speed" in str(t.get("name", ""))
    ]
    if speed_targets:
        return sum(1 for t in speed_targets if t.get("met")) / len(speed_targets)
    return None


def pass_list(evts: list[dict], samples: list[dict], min_pass_m: float = 0.03) -> list[dict]:
    """Completed passes [{t_s, length_m, direction}]: from pass_completed events when the device
    sent them, else from turnarounds of position_m in the stored telemetry."""
    out = []
    for e in evts:
        if e.get("event_type") != "pass_completed":
            continue
        length = num(e.get("length_m", e.get("pass_length_m")))
        if length is not None:
            t = num(e.get("end_s", e.get("t_s")))
            out.append({"t_s": t, "length_m": abs(length), "direction": e.get("direction", 0)})
    if out:
        return out
    pos = [(s["t_s"], num(s.get("position_m"))) for s in samples if num(s.get("position_m")) is not None]
    if len(pos) < 3:
        return out
    start_x = pos[0][1]
    extreme_t, extreme_x = pos[0]
    direction = 0
    for t, x in pos[1:]:
        step = x - extreme_x
        if direction == 0:
            if abs(x - start_x) >= min_pass_m / 3:
                direction = 1 if x > start_x else -1
                extreme_t, extreme_x = t, x
            continue
        if step * direction > 0:
            extreme_t, extreme_x = t, x
        elif abs(step) >= min_pass_m / 3:
            length = abs(extreme_x - start_x)
            if length >= min_pass_m:
                out.append({"t_s": extreme_t, "length_m": length, "direction": direction})
            start_x = extreme_x
            direction = -direction
            extreme_t, extreme_x = t, x
    length = abs(extreme_x - start_x)
    if direction and length >= min_pass_m:
        out.append({"t_s": extreme_t, "length_m": length, "direction": direction})
    return out


def coverage(samples: list[dict], bins: int = 20) -> dict:
    """Histogram of position_m while in contact: {edges_m: [...], seconds: [...]} (time per bin,
    from the sample spacing), relative to the lowest position reached."""
    pts = []
    for i, s in enumerate(samples):
        x = num(s.get("position_m"))
        if x is None or s.get("contact") is False:
            continue
        dt = samples[i + 1]["t_s"] - s["t_s"] if i + 1 < len(samples) else 0.1
        pts.append((x, min(max(dt, 0.0), 1.0)))
    if not pts:
        return {"edges_m": [], "seconds": []}
    lo = min(p[0] for p in pts)
    hi = max(p[0] for p in pts)
    width = max((hi - lo) / bins, 1e-3)
    seconds = [0.0] * bins
    for x, dt in pts:
        seconds[min(int((x - lo) / width), bins - 1)] += dt
    return {"edges_m": [round(i * width, 4) for i in range(bins + 1)], "seconds": [round(s, 2) for s in seconds]}


def _thin(samples: list[dict], max_points: int = MAX_CHART_POINTS) -> list[dict]:
    if len(samples) <= max_points:
        return samples
    stride = math.ceil(len(samples) / max_points)
    return samples[::stride]


ON_TOOL_PHASES = {"ease_in", "active", "hold", "next_spot", "complete", "replay"}


def session_detail(store, session_id: str) -> dict | None:
    """Everything the session page draws: the row, its summary, chart series and derived
    pass lengths, holds, coverage and speed discipline. Charts come from the summary's
    per-second series and pass list (delivered with the summary, so whole whatever live
    telemetry was lost); a summary without them (older device software) falls back to the
    stored telemetry and says so in ``notes``."""
    row = session(store, session_id)
    if row is None:
        return None
    summary = row["summary"]
    samples = telemetry(store, session_id)
    evts = events(store, session_id)
    notes: dict[str, str] = {}
    stored = summary.get("series_1hz")
    if stored and stored["t_s"]:
        t0 = stored["t0_s"] if stored["t0_s"] is not None else 0.0
        series, gaps = series_points(stored)
        cov = coverage(series_samples(stored))
        if gaps:
            notes["series"] = "No data for " + ", ".join(f"{mmss(a)}–{mmss(b)}" for a, b in gaps) + " (the tool sent none)."
    else:
        t0 = samples[0]["t_s"] if samples else 0.0
        series = [
            {"t": round(s["t_s"] - t0, 3), "speed": s.get("speed_mps"), "force": s.get("force_n"),
             "position": num(s.get("position_m"))}
            for s in _thin(samples)
        ]
        cov = coverage(samples)
        duration = row["duration_s"] or 0.0
        shown = series[-1]["t"] if series else 0.0
        older = "This session's summary has no per-second series (older device software)"
        if not series:
            notes["series"] = older + ", and no live telemetry was stored."
        elif shown < duration - 2.0:
            notes["series"] = older + f": the charts show the live telemetry received, 0:00–{mmss(shown)} of {mmss(duration)}."
    holds = [
        {"start_s": round(num(h.get("start_s")) - t0, 2), "duration_s": num(h.get("duration_s")), "force_n": num(h.get("force_n"))}
        for h in summary.get("holds") or []
        if isinstance(h, dict) and num(h.get("start_s")) is not None
    ]
    passes, pass_speeds = summary_passes(summary, evts, t0)
    if passes is None:
        passes = []
        if summary.get("passes"):
            notes["passes"] = (f"{summary['passes']} passes in all; this session's summary does not "
                               "list them one by one (older device software).")
    elif summary.get("passes") is not None and len(passes) < summary["passes"]:
        notes["passes"] = f"The first {len(passes)} of {summary['passes']} passes are shown."
    speed_band = _band(samples, "speed_band_mps") or target_band(summary, "speed_mps")
    force_band = _band(samples, "force_band_n") or target_band(summary, "force_n")
    force_max = next((num(s.get("force_max_n")) for s in reversed(samples) if num(s.get("force_max_n"))), None)
    return {
        **coaching(summary, samples, evts, t0),
        "session": row,
        "summary": summary,
        "series": series,
        "samples": len(samples),
        "speed_band_mps": speed_band,
        "force_band_n": force_band,
        "force_max_n": force_max,
        "passes": passes,
        "holds": holds,
        "coverage": cov,
        "speed_in_band": (_share_in(pass_speeds, target_band(summary, "speed_mps") or speed_band)
                          if speed_band and pass_speeds else speed_in_band_share(samples, summary, evts)),
        "events": [{"t_s": num(e.get("t_s")), "event_type": e.get("event_type")} for e in evts],
        "duration_s": row["duration_s"],
        "notes": notes,
    }


def mmss(seconds: float) -> str:
    s = max(0, int(round(seconds or 0)))
    return f"{s // 60}:{s % 60:02d}"


def _share_in(values: list[float], band: list[float]) -> float | None:
    return sum(1 for v in values if band[0] <= v <= band[1]) / len(values) if values else None


def series_points(series: dict) -> tuple[list[dict], list[tuple[float, float]]]:
    """Chart points from a summary's series_1hz (t since the session's first sample), with a
    null point where the tool sent nothing for a while (the line breaks there), and those
    gaps as (from, to) seconds."""
    period = series.get("period_s") or 1.0
    out: list[dict] = []
    gaps = []
    prev = None
    for t, v, f, x in zip(series["t_s"], series["speed_mps"], series["force_n"], series["position_m"], strict=True):
        if prev is not None and t - prev > 1.5 * period:
            gaps.append((prev + period, t))
            out.append({"t": prev + period, "speed": None, "force": None, "position": None})
        out.append({"t": t, "speed": v, "force": f, "position": x})
        prev = t
    return out, gaps


def series_samples(series: dict) -> list[dict]:
    """The series as telemetry-like samples for coverage(): on the tool in its rolling
    phases, one point per period."""
    names = series.get("phases") or []
    out = []
    for t, x, k in zip(series["t_s"], series["position_m"], series["phase"], strict=True):
        phase = names[int(k)] if k is not None and 0 <= k < len(names) else ""
        out.append({"t_s": t, "position_m": x, "contact": phase in ON_TOOL_PHASES or phase == ""})
    return out


def summary_passes(summary: dict, evts: list[dict], t0: float) -> tuple[list[dict] | None, list[float]]:
    """The passes [{t_s, length_m, direction}] (t since t0) and their mean speeds, from the
    summary's pass_list; from the pass_completed events only when they are all there (as
    many as the summary counts); None when nothing lists them."""
    pl = summary.get("pass_list")
    if pl is not None:
        passes = [
            {"t_s": None if e is None else round(e - t0, 2), "length_m": abs(n), "direction": int(d or 0)}
            for e, n, d in zip(pl["end_s"], pl["length_m"], pl["direction"], strict=True)
        ]
        return passes, [v for v in pl["mean_speed_mps"] if v is not None]
    from_events = pass_list(evts, [])
    if from_events and summary.get("passes") == len(from_events):
        for p in from_events:
            if p["t_s"] is not None:
                p["t_s"] = round(p["t_s"] - t0, 2)
        speeds = [num(e.get("mean_speed_mps")) for e in evts if e.get("event_type") == "pass_completed"]
        return from_events, [v for v in speeds if v is not None]
    return None, []


# ---------------------------------------------------------------- history aggregates


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_minutes(rows: list[dict], *, weeks: int = 12, today: date | None = None) -> list[dict]:
    """Minutes rolled per ISO week (Monday first), the last ``weeks`` weeks, empty weeks included."""
    today = today or datetime.now().astimezone().date()
    first = week_start(today) - timedelta(weeks=weeks - 1)
    totals = {first + timedelta(weeks=i): 0.0 for i in range(weeks)}
    for r in rows:
        dt = parse_ts(r.get("started_at"))
        if dt is None:
            continue
        wk = week_start(local_day(dt))
        if wk in totals:
            totals[wk] += (r.get("duration_s") or 0.0) / 60.0
    return [{"week": wk.isoformat(), "minutes": round(m, 2)} for wk, m in totals.items()]


def streaks(rows: list[dict], *, today: date | None = None) -> dict:
    """Consecutive days with at least one session: the current streak (ending today, or
    yesterday if today has none yet), the longest ever, and the number of active days."""
    today = today or datetime.now().astimezone().date()
    days = sorted({local_day(dt) for r in rows if (dt := parse_ts(r.get("started_at")))})
    longest = run = 0
    prev = None
    for d in days:
        run = run + 1 if prev is not None and d - prev == timedelta(days=1) else 1
        longest = max(longest, run)
        prev = d
    day_set = set(days)
    current = 0
    cursor = today if today in day_set else today - timedelta(days=1)
    while cursor in day_set:
        current += 1
        cursor -= timedelta(days=1)
    return {"current_days": current, "longest_days": longest, "active_days": len(days), "today": today in day_set}


def counts_by(rows: list[dict], key: str) -> list[dict]:
    """[{key, sessions, minutes}] sorted by sessions, for 'protocol' or 'muscle'."""
    agg: dict[str, list] = {}
    for r in rows:
        k = r.get(key) or "unknown"
        a = agg.setdefault(k, [0, 0.0])
        a[0] += 1
        a[1] += (r.get("duration_s") or 0.0) / 60.0
    return [
        {key: k, "sessions": n, "minutes": round(m, 1)} for k, (n, m) in sorted(agg.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]


class DisciplineCache:
    """Per-session speed discipline, computed once from the stored telemetry (sessions are
    immutable after storage, so the value never goes stale)."""

    def __init__(self) -> None:
        self._values: dict[str, float | None] = {}

    def get(self, store, row: dict) -> float | None:
        sid = row["session_id"]
        if sid not in self._values:
            summary = row.get("summary") or {}
            band = target_band(summary, "speed_mps")
            pl = summary.get("pass_list")
            speeds = [v for v in pl["mean_speed_mps"] if v is not None] if pl else []
            if band is not None and speeds:  # the summary's own passes, as the session page
                self._values[sid] = _share_in(speeds, band)
                return self._values[sid]
            evts = events(store, sid)
            if band is not None:  # the band the coach judged by: no need to read the telemetry
                samples = [{"t_s": 0.0, "speed_band_mps": band}]
                value = speed_in_band_share(samples, summary, evts)
                if value is not None and any(e.get("event_type") == "pass_completed" for e in evts):
                    self._values[sid] = value
                    return value
            self._values[sid] = speed_in_band_share(telemetry(store, sid), summary, evts)
        return self._values[sid]


def trends(store, rows: list[dict], cache: DisciplineCache | None = None, *, last: int = 30) -> list[dict]:
    """Oldest-first per-session trend points for the last ``last`` sessions:
    {session_id, started_at, speed_in_band (0..1 or None), force_mean_n}."""
    cache = cache or DisciplineCache()
    recent = list(reversed(rows[:last]))
    return [
        {
            "session_id": r["session_id"],
            "started_at": r.get("started_at"),
            "protocol": r.get("protocol"),
            "speed_in_band": cache.get(store, r),
            "force_mean_n": r.get("force_mean_n"),
        }
        for r in recent
    ]


def history(store, cache: DisciplineCache | None = None, *, device_id: str | None = None, limit: int = 500,
            today: date | None = None, person_id: str | None = None,
            person_in: Iterable[str] | None = None) -> dict:
    """The history page's data in one dict (all paired devices, or one; everyone's, or one
    person's: ``person_id``; only some people's: ``person_in``)."""
    rows = sessions(store, device_id=device_id, person_id=person_id, limit=limit, person_in=person_in)
    return {
        "sessions": rows,
        "by_protocol": counts_by(rows, "protocol"),
        "by_muscle": counts_by(rows, "muscle"),
        "weekly_minutes": weekly_minutes(rows, today=today),
        "streaks": streaks(rows, today=today),
        "trends": trends(store, rows, cache),
        # two decimals, as weekly_minutes: whole minutes shown from either agree (7.45 -> 7, not 7.5 -> 8)
        "total_minutes": round(sum(r["duration_s"] for r in rows) / 60.0, 2),
    }


# ---------------------------------------------------------------- derived: what the coach judged


def coaching(summary: dict, samples: list[dict], evts: list[dict], t0: float) -> dict:
    """What the session page shows of the coach's judgement (issue 19): the up/down force
    bands of a direction-dependent routine (calf) and each pass's mean force judged against
    its own direction's band; a hold routine's still threshold, hold window and spots; and
    the cues the coach gave, in time order (times relative to ``t0``)."""
    up, down = target_band(summary, "force_up_n"), target_band(summary, "force_down_n")
    if up is None or down is None:
        up, down = _band(samples, "force_band_up_n"), _band(samples, "force_band_down_n")
    judged = []
    if up and down:
        for e in evts:
            f, d, t = num(e.get("mean_force_n")), e.get("direction"), num(e.get("t_s"))
            if e.get("event_type") != "pass_completed" or f is None or t is None or d not in (1, -1):
                continue
            band = up if d == 1 else down
            start = t - (num(e.get("duration_s")) or 0.0)
            judged.append({"t0": round(start - t0, 2), "t1": round(t - t0, 2), "force_n": round(f, 1),
                           "direction": "up" if d == 1 else "down", "ok": band[0] <= f <= band[1]})
    hold_band = target_band(summary, "hold_s")
    still = None
    if hold_band is not None:
        still = next((num(s.get("still_max_mps")) for s in reversed(samples) if num(s.get("still_max_mps"))),
                     HOLD_SPEED_MPS)
    spots = next((t for t in summary.get("targets") or [] if isinstance(t, dict) and t.get("name") == "spots"), None)
    wanted = num((spots.get("target") or {}).get("min")) if spots and isinstance(spots.get("target"), dict) else None
    cues = [
        {"t_s": round(num(e.get("t_s")) - t0, 2) if num(e.get("t_s")) is not None else None,
         "cue": str(e.get("cue"))[:64], **{k: e.get(k) for k in CUE_DETAIL_KEYS if num(e.get(k)) is not None},
         **({"direction": e["direction"]} if e.get("direction") in ("up", "down") else {})}
        for e in evts if e.get("event_type") == "cue" and isinstance(e.get("cue"), str)
    ]
    return {
        "force_bands_n": {"up": up, "down": down} if up and down else None,
        "pass_forces": judged,
        "hold_band_s": hold_band,
        "still_max_mps": still,
        "spots": {"done": num(spots.get("actual")), "wanted": wanted} if spots else None,
        "cues": cues,
    }


CUE_DETAIL_KEYS = ("force_n", "max_n", "limit_n", "min_n", "speed_mps", "pass_s", "hold_s", "spot",
                   "spots_done", "spots_target", "up_n", "down_n",
                   "ease_in_s", "cap_scale", "soreness_before")  # ease_in: its ramp, its cap (issue 22)


# ---------------------------------------------------------------- people and sides (issue 22)


def _local_range(since: date | None) -> datetime | None:
    """The UTC time from which sessions may fall on local day ``since`` (a day early: the
    machine's time zone decides the day; the rows are then filtered on their local day)."""
    if since is None:
        return None
    return datetime.combine(since - timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def person_sessions(store, person_id: str | None, *, since: date | None = None,
                    until: date | None = None, limit: int | None = None) -> list[dict]:
    """One person's sessions (``NO_PERSON``: nobody's) on the local days ``since`` ..
    ``until`` (inclusive, either open), newest first."""
    rows = sessions(store, person_id=NO_PERSON if person_id is None else person_id,
                    since=_local_range(since), limit=None)
    out = []
    for r in rows:
        dt = parse_ts(r.get("started_at"))
        day = local_day(dt) if dt is not None else None
        if (since or until) and day is None:
            continue
        if (since and day < since) or (until and day > until):
            continue
        out.append(r)
    return out if limit is None else out[:limit]


def person_streak(store, person_id: str, *, today: date | None = None) -> dict:
    """The person's streak: consecutive local days with at least one session (``streaks``)."""
    return streaks(person_sessions(store, person_id), today=today)


def _totals(rows: list[dict]) -> dict:
    """Time, passes, mean force and targets met of some sessions. The mean force is the
    sessions' mean forces weighted by their durations (sessions without a force: left out),
    so a long session counts for what it is."""
    time_s = sum(r["duration_s"] or 0.0 for r in rows)
    weighted = [(r["force_mean_n"], r["duration_s"] or 0.0) for r in rows if r.get("force_mean_n") is not None]
    weight = sum(w for _, w in weighted)
    if weighted and weight > 0:
        mean_force = sum(f * w for f, w in weighted) / weight
    elif weighted:
        mean_force = sum(f for f, _ in weighted) / len(weighted)
    else:
        mean_force = None
    return {
        "sessions": len(rows),
        "time_s": round(time_s, 1),
        "passes": sum(r["passes"] or 0 for r in rows),
        "mean_force_n": mean_force,  # unrounded: the page rounds once, as it does a session's
        "targets_met": sum(r["targets_met"] for r in rows),
        "targets_total": sum(r["targets_total"] for r in rows),
    }


SIDE_ORDER = {"left": 0, "right": 1, None: 2}


def muscle_sides(store, person_id: str | None, *, since: date | None = None,
                 until: date | None = None) -> list[dict]:
    """Per muscle and side, one person's sessions on local days ``since`` .. ``until``:
    ``{muscle, side, sessions, time_s, passes, mean_force_n, targets_met, targets_total}``,
    by muscle, then left, right, no side (the spine, or not said)."""
    groups: dict[tuple[str, str | None], list[dict]] = {}
    for r in person_sessions(store, person_id, since=since, until=until):
        groups.setdefault((r["muscle"], r["side"]), []).append(r)
    return [{"muscle": m, "side": side, **_totals(rows)}
            for (m, side), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], SIDE_ORDER[kv[0][1]]))]


def apart(left: float | None, right: float | None) -> float | None:
    """How far apart two amounts are, as a share of the larger (0: equal, 1: one is none);
    None when either is unknown or both are zero."""
    if left is None or right is None:
        return None
    big = max(abs(left), abs(right))
    return None if big == 0 else round(abs(left - right) / big, 3)


ASYMMETRY_METRICS = ("time_s", "passes", "mean_force_n")


def asymmetry(store, person_id: str, *, today: date | None = None, weeks: int = ASYMMETRY_WEEKS,
              threshold: float = ASYMMETRY_APART) -> list[dict]:
    """Each muscle the person rolled by side in the last ``weeks`` weeks (to ``today``): left
    against right, how far apart each of time, passes and mean force is (``apart``: a share
    of the larger), and ``flagged`` when any is more than ``threshold`` apart (``flags``
    names them). A side not rolled at all counts as nothing rolled on it: 100 % apart."""
    today = today or datetime.now().astimezone().date()
    since = today - timedelta(days=7 * weeks - 1)
    by_muscle: dict[str, dict] = {}
    for row in muscle_sides(store, person_id, since=since, until=today):
        if row["side"] is not None:
            by_muscle.setdefault(row["muscle"], {})[row["side"]] = row
    out = []
    for muscle, sides in sorted(by_muscle.items()):
        left = sides.get("left") or {**_totals([]), "muscle": muscle, "side": "left"}
        right = sides.get("right") or {**_totals([]), "muscle": muscle, "side": "right"}
        gaps = {k: apart(left[k], right[k]) for k in ASYMMETRY_METRICS}
        if not left["sessions"] or not right["sessions"]:
            gaps["mean_force_n"] = None  # nothing to compare a force with
        flags = [k for k, v in gaps.items() if v is not None and v > threshold]
        out.append({"muscle": muscle, "left": left, "right": right, "apart": gaps,
                    "flagged": bool(flags), "flags": flags, "since": since.isoformat(),
                    "until": today.isoformat()})
    return out


def people_overview(store, *, today: date | None = None) -> list[dict]:
    """Every person (oldest first) with their sessions, minutes, last session and streak,
    then the sessions nobody was chosen for (``id`` None), for the clinic's all-people view."""
    everyone = [*store.people(), {"id": None, "name": None, "body_mass_kg": None, "units": None,
                                  "created_at": None}]
    out = []
    for person in everyone:
        rows = person_sessions(store, person["id"])
        if person["id"] is None and not rows:
            continue
        out.append({**person, "sessions": len(rows),
                    "minutes": round(sum(r["duration_s"] for r in rows) / 60.0, 2),
                    "last_started_at": rows[0]["started_at"] if rows else None,
                    "streak": streaks(rows, today=today)})
    return out


def soreness_trend(store, person_id: str) -> list[dict]:
    """The person's soreness ratings per muscle and side, oldest first: ``{muscle, side,
    ratings: [{session_id, started_at, before, after}]}`` for each muscle and side with at
    least one rating, by muscle, then left, right, no side."""
    groups: dict[tuple[str, str | None], list[dict]] = {}
    for r in reversed(person_sessions(store, person_id)):
        before, after = r["soreness"]["before"], r["soreness"]["after"]
        if before is None and after is None:
            continue
        groups.setdefault((r["muscle"], r["side"]), []).append(
            {"session_id": r["session_id"], "started_at": r["started_at"], "before": before, "after": after})
    return [{"muscle": m, "side": side, "ratings": ratings}
            for (m, side), ratings in sorted(groups.items(), key=lambda kv: (kv[0][0], SIDE_ORDER[kv[0][1]]))]
