"""Tender spots across sessions (issue 23): per person, muscle and side, where the person
lingers (dwell per visit up, speed down against the rest of the pass) or holds, consistently
over sessions, and whether each spot is easing.

Positions come from each session's ``spots`` summary field (firmware/core/metrics/spots.py):
metres up the muscle from where the session's passes start (a ball's holds: metres from where
the ball was put down). Pure functions over plain rows, and one store query (``person_spots``).

- A session's candidates: bins visited on at least half as many passes as the session's
  typical bin (so the turnarounds at the top of a varying pass do not count), past the
  first bin (the turnaround at the pass start), whose dwell per visit is at least RATIO_MIN
  times the rest of the pass's (the median of the lower half of those bins: a z-score's
  median and spread fail when two spots fill half of a short pass) and whose mean speed is
  below the session's median; runs of adjacent candidates are one, at the bin that dwells
  most.
- A spot: candidates (or holds) of at least MIN_SESSIONS sessions within CLUSTER_M of each
  other; its position is their median.
- Easing: over the last RECENT sessions that covered the spot, the dwell per visit there
  (plus the hold time there) in the later half is at most EASING_RATIO of the earlier half,
  and the soreness before those sessions did not rise. Fewer than EASING_MIN_SESSIONS such
  sessions: unknown.
"""

from __future__ import annotations

import json
import statistics
from datetime import datetime, timedelta

from dashboard.queries import muscle_of, parse_ts

RATIO_MIN = 2.5  # dwell per visit at least this many times the rest of the pass's
CLUSTER_M = 0.045  # candidates this close (1.5 bins) are one spot
MIN_SESSIONS = 2
RECENT = 6
EASING_RATIO = 0.8
EASING_MIN_SESSIONS = 4  # two earlier and two later at least: one session's wobble is not a trend
RECENT_DAYS = 28
# the muscles of the six routines, as the map draws them (muscle name prefix -> map id)
MAP_MUSCLES = (
    ("quadriceps", "quads", "Quadriceps"),
    ("lateral thigh", "itband", "IT band"),
    ("calf", "calf", "Calf"),
    ("piriformis", "piriformis", "Piriformis"),
    ("thoracic", "thoracic", "Thoracic paraspinals"),
    ("upper trapezius", "upperback", "Upper back"),
)


def map_id(muscle: str | None) -> str | None:
    """The map's id of a routine's muscle ("calf (gastrocnemius, soleus)" -> "calf")."""
    text = (muscle or "").lower()
    return next((mid for prefix, mid, _ in MAP_MUSCLES if text.startswith(prefix)), None)


def session_candidates(spots: dict | None) -> list[float]:
    """Positions (m) where one session lingered: see the module docstring."""
    bins = [b for b in (spots or {}).get("bins") or [] if isinstance(b, dict)]
    if not bins:
        return []
    bin_m = float(spots.get("bin_m") or 0.03)
    visits = [int(b.get("visits") or 0) for b in bins]
    typical = statistics.median([v for v in visits if v > 0] or [0])
    inner = [b for b, v in zip(bins, visits, strict=True)
             if v >= max(2, 0.5 * typical) and b["x_m"] > bin_m and b.get("speed_mps") is not None]
    if len(inner) < 4:
        return []
    per_visit = [b["dwell_s"] / max(int(b.get("visits") or 1), 1) for b in inner]
    lower = sorted(per_visit)[: max(2, len(per_visit) // 2)]
    base = statistics.median(lower) or 1e-9  # the rest of the pass: the slower half's typical
    speed_mid = statistics.median(b["speed_mps"] for b in inner)
    z = [d / base for d in per_visit]
    flagged = [i for i, b in enumerate(inner) if z[i] >= RATIO_MIN and b["speed_mps"] < speed_mid]
    out: list[float] = []
    run: list[int] = []
    for i in [*flagged, None]:
        if run and (i is None or inner[i]["x_m"] - inner[run[-1]]["x_m"] > 1.5 * bin_m):
            best = max(run, key=lambda k: z[k])
            out.append(float(inner[best]["x_m"]))
            run = []
        if i is not None:
            run.append(i)
    return out


def cluster(points: list[tuple[float, str]], tolerance_m: float = CLUSTER_M) -> list[dict]:
    """Clusters of (x_m, session_id) along the muscle (sorted, joined while within
    tolerance_m of the cluster's running mean): [{x_m (median), sessions: set}]."""
    out: list[dict] = []
    for x, sid in sorted(points):
        if out and abs(x - statistics.fmean(out[-1]["xs"])) <= tolerance_m:
            out[-1]["xs"].append(x)
            out[-1]["sessions"].add(sid)
        else:
            out.append({"xs": [x], "sessions": {sid}})
    return [{"x_m": round(statistics.median(c["xs"]), 3), "sessions": c["sessions"]} for c in out]


def _at(spots: dict, x_m: float) -> float | None:
    """Dwell per visit (s) plus hold time within CLUSTER_M of x_m in one session; None when
    the session did not cover x_m."""
    bins = [b for b in spots.get("bins") or [] if abs(b["x_m"] - x_m) <= 0.5 * CLUSTER_M]
    holds = [h for h in spots.get("holds") or [] if abs(h["x_m"] - x_m) <= CLUSTER_M]
    if not bins and not holds:
        return None
    dwell = max((b["dwell_s"] / max(int(b.get("visits") or 1), 1) for b in bins), default=0.0)
    return dwell + sum(float(h.get("s") or 0.0) for h in holds)


def easing(sessions: list[dict], x_m: float) -> dict:
    """Whether the spot at x_m is easing over the person's recent sessions (oldest first):
    {"state": "easing" | "not easing" | "unknown", "dwell_s": [per session], "sessions"}."""
    seen = [(s, v) for s in sessions if (v := _at(s["spots"], x_m)) is not None][-RECENT:]
    values = [round(v, 2) for _, v in seen]
    if len(seen) < EASING_MIN_SESSIONS:
        return {"state": "unknown", "dwell_s": values, "sessions": len(seen)}
    half = len(seen) // 2
    early, late = values[:half], values[-half:]
    falling = statistics.fmean(late) <= EASING_RATIO * statistics.fmean(early)
    sore = [s.get("soreness_before") for s, _ in seen]
    sore_early = [v for v in sore[:half] if v is not None]
    sore_late = [v for v in sore[-half:] if v is not None]
    sore_ok = not (sore_early and sore_late) or statistics.fmean(sore_late) <= statistics.fmean(sore_early)
    return {"state": "easing" if falling and sore_ok else "not easing", "dwell_s": values,
            "sessions": len(seen)}


def find_spots(sessions: list[dict]) -> list[dict]:
    """The tender spots of one person's sessions of one muscle and side (oldest first, each
    {session_id, spots, soreness_before}): [{x_m, kind: "linger" | "hold", sessions, easing}]
    along the muscle."""
    linger, holds = [], []
    for s in sessions:
        linger += [(x, s["session_id"]) for x in session_candidates(s["spots"])]
        holds += [(float(h["x_m"]), s["session_id"]) for h in s["spots"].get("holds") or []]
    found = [{"x_m": c["x_m"], "kind": kind, "sessions": len(c["sessions"])}
             for kind, points in (("linger", linger), ("hold", holds))
             for c in cluster(points) if len(c["sessions"]) >= MIN_SESSIONS]
    merged: list[dict] = []
    for spot in sorted(found, key=lambda f: f["x_m"]):  # a held spot that is also lingered on
        if merged and abs(spot["x_m"] - merged[-1]["x_m"]) <= CLUSTER_M:
            merged[-1]["kind"] = "linger and hold"
            merged[-1]["sessions"] = max(merged[-1]["sessions"], spot["sessions"])
            continue
        merged.append(spot)
    for spot in merged:
        spot["easing"] = easing(sessions, spot["x_m"])
    return merged


def spot_rows(rows: list[dict], *, now: datetime) -> list[dict]:
    """Per muscle and side of the person's session rows ({session_id, protocol, side,
    started_at, duration_s, soreness_before, spots}): [{muscle, map_id, side, minutes (last
    RECENT_DAYS days), sessions, spots: find_spots, origin}] by muscle then side."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((muscle_of(r.get("protocol")), r.get("side")), []).append(r)
    since = now - timedelta(days=RECENT_DAYS)
    out = []
    for (muscle, side), rs in groups.items():
        rs.sort(key=lambda r: r.get("started_at") or "")
        recent = [r for r in rs if (dt := parse_ts(r.get("started_at"))) is not None and dt >= since]
        with_spots = [r for r in rs if isinstance(r.get("spots"), dict)]
        origins = {r["spots"].get("origin") for r in with_spots}
        out.append({
            "muscle": muscle, "map_id": map_id(muscle), "side": side,
            "minutes": round(sum(r.get("duration_s") or 0.0 for r in recent) / 60.0, 1),
            "sessions": len(with_spots),
            "origin": "put_down" if origins == {"put_down"} else "pass_start",
            "spots": find_spots(with_spots),
        })
    out.sort(key=lambda g: (g["muscle"], {"left": 0, "right": 1}.get(g["side"], 2)))
    return out


def person_spots(store, person_id: str, *, now: datetime) -> list[dict]:
    """``spot_rows`` of one person's stored sessions (the sessions' spots column)."""
    rows = store.query(
        "SELECT session_id, protocol, side, started_at, duration_s, soreness_before, spots_json "
        "FROM sessions WHERE person_id = ? ORDER BY started_at", (person_id,))
    for r in rows:
        try:
            spots = json.loads(r.pop("spots_json") or "null")
        except ValueError:
            spots = None
        r["spots"] = spots if isinstance(spots, dict) else None
    return spot_rows(rows, now=now)
