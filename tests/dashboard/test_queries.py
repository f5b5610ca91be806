"""dashboard.queries on a real store: SQLite and PostgreSQL (the postgres_url fixture).

Also holds the small builders of realistic payloads (interfaces.md) that the web and browser
tests reuse."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from dashboard import queries as q
from dashboard.store import open_store

SPEED_BAND = [0.04, 0.12]
FORCE_BAND = [120.0, 250.0]


# ---------------------------------------------------------------- payload builders (shared)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_noon(day: date) -> str:
    """UTC ISO text for 12:00 local time on ``day`` (streaks count local days)."""
    return iso(datetime(day.year, day.month, day.day, 12, 0).astimezone())


def telemetry_payloads(session_id: str, *, t0_s: float = 500.0, n: int = 200, period_s: float = 0.1,
                       stroke_m: float = 0.2, stroke_s: float = 2.5, force_n: float = 180.0,
                       protocol: str = "quads-roller") -> list[dict]:
    """A roller rolled back and forth: triangle-wave position of ``stroke_m`` each way, one
    way every ``stroke_s``; speed = stroke_m / stroke_s (in band for the defaults)."""
    out = []
    speed = stroke_m / stroke_s
    target_s = n * period_s
    for i in range(n):
        t = t0_s + i * period_s
        phase = ((t - t0_s) / stroke_s) % 2.0
        pos = stroke_m * (phase if phase <= 1 else 2 - phase)
        out.append({
            "v": 1, "ts": iso(datetime.now(UTC)), "seq": i, "session_id": session_id, "protocol": protocol,
            "tool": "roller", "phase": "active", "t_s": t, "elapsed_s": i * period_s, "target_s": target_s,
            "remaining_s": target_s - i * period_s, "progress": i / n, "speed_mps": speed,
            "velocity_mps": speed if phase <= 1 else -speed, "position_m": pos,
            "force_n": force_n + 10 * math.sin(i / 5), "contact": True, "passes": int((t - t0_s) // stroke_s),
            "hold_s": 0.0, "spots_done": None, "spots_target": None, "cue": "on_pace",
            "speed_band_mps": SPEED_BAND, "force_band_n": FORCE_BAND, "force_max_n": 300.0,
        })
    return out


def summary_payload(session_id: str, *, started_at: str, duration_s: float = 60.0, passes: int = 12,
                    protocol: str = "quads-roller", tool: str = "roller", completed: bool = True,
                    force_mean_n: float = 180.0, holds=None, targets=None) -> dict:
    """A DESIGN §3.2 summary with the session envelope."""
    return {
        "format": "rollsense-summary/1", "session_id": session_id, "protocol": protocol, "tool": tool,
        "duration_s": duration_s, "contact_s": duration_s - 2, "distance_m": passes * 0.2, "passes": passes,
        "pass_length_m": {"mean": 0.2, "max": 0.21}, "speed_mps": {"mean": 0.08, "p95": 0.1},
        "holds": holds or [], "force_n": {"mean": force_mean_n, "peak": force_mean_n * 1.3},
        "force_by_direction_n": {"up": force_mean_n, "down": force_mean_n},
        "targets": targets if targets is not None else [
            {"name": "duration_s", "target": 60, "actual": duration_s, "met": duration_s >= 60},
            {"name": "speed_mps", "target": SPEED_BAND, "actual": 0.08, "met": True},
        ],
        "completed": completed, "started_at": started_at, "v": 1, "ts": started_at, "seq": 1,
        "msg_id": uuid.uuid4().hex,
    }


def pass_event(session_id: str, t_s: float, length_m: float, speed_mps: float, direction: int = 1) -> dict:
    return {"v": 1, "ts": iso(datetime.now(UTC)), "seq": 1, "msg_id": uuid.uuid4().hex, "session_id": session_id,
            "event_type": "pass_completed", "t_s": t_s, "length_m": length_m, "duration_s": length_m / speed_mps,
            "direction": direction, "mean_speed_mps": speed_mps, "mean_force_n": 180.0}


def seed_session(store, device_id: str, *, started_at: str | None = None, telemetry: bool = True,
                 **summary_kw) -> str:
    """Store one session (summary, telemetry) for ``device_id``; returns its session_id."""
    sid = "s-" + uuid.uuid4().hex[:12]
    if telemetry:
        for p in telemetry_payloads(sid):
            store.save_telemetry(device_id, p)
    store.save_session(device_id, summary_payload(sid, started_at=started_at or iso(datetime.now(UTC)), **summary_kw))
    return sid


# ---------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'dash.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = open_store(url)
    yield s
    s.close()


# ---------------------------------------------------------------- store-backed queries


def test_only_paired_devices_sessions_are_listed(store):
    store.set_device_paired("home-roller", True)
    mine = seed_session(store, "home-roller", telemetry=False)
    other = seed_session(store, "neighbour-ball", telemetry=False, protocol="piriformis-ball")
    rows = q.sessions(store)
    assert [r["session_id"] for r in rows] == [mine]
    assert q.session(store, other) is None
    assert q.session(store, mine)["passes"] == 12
    assert {d["device_id"] for d in q.list_devices(store)} == {"home-roller", "neighbour-ball"}
    assert [d["device_id"] for d in q.list_devices(store, paired_only=True)] == ["home-roller"]
    assert q.paired_ids(store) == {"home-roller"}


def test_session_detail_series_passes_coverage_and_holds(store):
    store.set_device_paired("r1", True)
    sid = "s-detail"
    samples = telemetry_payloads(sid, n=200, stroke_m=0.2, stroke_s=2.5)
    for p in reversed(samples):  # stored out of order: the query sorts by sensor time
        store.save_telemetry("r1", p)
    store.save_session("r1", summary_payload(sid, started_at=iso(datetime.now(UTC)),
                                             holds=[{"start_s": 510.0, "duration_s": 6.0, "force_n": 170.0}]))
    d = q.session_detail(store, sid)
    assert d["samples"] == 200
    ts = [p["t"] for p in d["series"]]
    assert ts[0] == 0.0 and ts == sorted(ts) and ts[-1] == pytest.approx(19.9)
    assert d["speed_band_mps"] == SPEED_BAND and d["force_band_n"] == FORCE_BAND and d["force_max_n"] == 300.0
    # an older summary (no series_1hz, no pass_list): the charts show the telemetry and say
    # how much of the session it covers; the passes are not guessed from it (the count is
    # the summary's 12, never a different list)
    assert d["notes"]["series"].endswith("0:00–0:20 of 1:00.")
    assert d["passes"] == [] and d["notes"]["passes"].startswith("12 passes in all")
    assert d["holds"] == [{"start_s": 10.0, "duration_s": 6.0, "force_n": 170.0}]
    cov = d["coverage"]
    assert len(cov["seconds"]) == 20 and sum(cov["seconds"]) == pytest.approx(19.9 + 0.1, abs=0.05)
    assert cov["edges_m"][-1] == pytest.approx(0.2, abs=0.002)
    assert d["speed_in_band"] == 1.0


def test_pass_events_win_over_telemetry_and_give_speed_discipline(store):
    store.set_device_paired("r2", True)
    sid = seed_session(store, "r2", passes=4)  # an older summary: the events list its 4 passes
    speeds = [0.05, 0.08, 0.20, 0.03]  # band 0.04-0.12: two of four in band
    for i, v in enumerate(speeds):
        store.save_event("r2", pass_event(sid, 501.0 + i * 3, 0.15 + i * 0.01, v, direction=1 if i % 2 == 0 else -1))
    d = q.session_detail(store, sid)
    assert [p["length_m"] for p in d["passes"]] == pytest.approx([0.15, 0.16, 0.17, 0.18])
    assert [p["direction"] for p in d["passes"]] == [1, -1, 1, -1]
    assert d["passes"][0]["t_s"] == pytest.approx(1.0)
    assert d["speed_in_band"] == 0.5
    cache = q.DisciplineCache()
    assert q.trends(store, q.sessions(store), cache)[0]["speed_in_band"] == 0.5


def test_session_detail_draws_the_summarys_series_and_passes_without_telemetry(store):
    """A session whose telemetry never reached the dashboard: the charts span it from the
    summary's series_1hz (with the gap said in words), the passes are the summary's own."""
    store.set_device_paired("r4", True)
    t = [*range(0, 30), *range(40, 130)]  # the tool sent nothing for 0:30-0:40
    summary = summary_payload("s-series", started_at=iso(datetime.now(UTC)), duration_s=130.0, passes=20,
                              holds=[{"start_s": 1060.0, "duration_s": 6.0, "force_n": 170.0}])
    summary["series_1hz"] = {
        "t0_s": 1000.0, "period_s": 1, "t_s": t, "speed_mps": [0.08] * len(t), "force_n": [150.0] * len(t),
        "position_m": [0.1 * (i % 3) for i in t], "phase": [0] * len(t), "phases": ["active"]}
    summary["pass_list"] = {"end_s": [1005.0 + 6 * i for i in range(20)], "length_m": [0.2] * 20,
                            "direction": [1, -1] * 10, "mean_speed_mps": [0.08] * 19 + [0.3]}
    store.save_session("r4", summary)
    d = q.session_detail(store, "s-series")
    assert d["samples"] == 0
    drawn = [p for p in d["series"] if p["speed"] is not None]
    assert drawn[0]["t"] == 0 and drawn[-1]["t"] == 129 and len(drawn) == 120
    assert d["notes"]["series"] == "No data for 0:30–0:40 (the tool sent none)."
    assert len(d["passes"]) == 20 and d["passes"][0] == {"t_s": 5.0, "length_m": 0.2, "direction": 1}
    assert "passes" not in d["notes"]
    assert d["holds"] == [{"start_s": 60.0, "duration_s": 6.0, "force_n": 170.0}]
    assert d["speed_band_mps"] == SPEED_BAND  # from the summary's speed target
    assert d["speed_in_band"] == pytest.approx(19 / 20)
    assert sum(d["coverage"]["seconds"]) == pytest.approx(120.0, abs=1.0)
    # the history's trend point says the same as the session page
    assert q.trends(store, q.sessions(store), q.DisciplineCache())[0]["speed_in_band"] == pytest.approx(19 / 20)


def test_history_aggregates(store):
    store.set_device_paired("r3", True)
    today = date(2026, 11, 24)
    for days_ago, protocol, minutes in ((0, "quads-roller", 2), (1, "calf-stick", 3), (2, "quads-roller", 1), (5, "piriformis-ball", 4)):
        seed_session(store, "r3", telemetry=False, started_at=local_noon(today - timedelta(days=days_ago)),
                     protocol=protocol, duration_s=minutes * 60.0)
    h = q.history(store, today=today)
    assert [r["protocol"] for r in h["sessions"]] == ["quads-roller", "calf-stick", "quads-roller", "piriformis-ball"]
    assert h["by_protocol"][0] == {"protocol": "quads-roller", "sessions": 2, "minutes": 3.0}
    by_muscle = {m["muscle"]: m["sessions"] for m in h["by_muscle"]}
    assert by_muscle[q.muscle_of("quads-roller")] == 2 and len(by_muscle) == 3
    assert "calf" in q.muscle_of("calf-stick").lower()  # from the routine file
    assert h["streaks"] == {"current_days": 3, "longest_days": 3, "active_days": 4, "today": True}
    weeks = h["weekly_minutes"]
    assert len(weeks) == 12 and weeks[-1]["week"] == "2026-11-23"
    assert weeks[-1]["minutes"] == pytest.approx(5.0)  # Tue 24 (2) + Mon 23 (3)
    assert weeks[-2]["minutes"] == pytest.approx(5.0)  # Sun 22 (1) + Thu 19 (4)
    assert sum(w["minutes"] for w in weeks[:-2]) == 0
    assert h["total_minutes"] == 10.0
    assert [t["force_mean_n"] for t in h["trends"]] == [180.0] * 4
    # the summaries carry a met speed target: the proxy when no telemetry was stored
    assert all(t["speed_in_band"] == 1.0 for t in h["trends"])


# ---------------------------------------------------------------- pure helpers


def test_streaks_current_ends_yesterday_and_longest_is_kept():
    today = date(2026, 3, 10)
    days = [date(2026, 3, d) for d in (1, 2, 3, 4, 7, 8, 9)]
    rows = [{"started_at": local_noon(d)} for d in days]
    assert q.streaks(rows, today=today) == {"current_days": 3, "longest_days": 4, "active_days": 7, "today": False}
    assert q.streaks(rows, today=date(2026, 3, 12))["current_days"] == 0


def test_speed_discipline_falls_back_to_telemetry_then_targets():
    samples = [
        {"t_s": 0.0, "speed_mps": 0.08, "contact": True, "speed_band_mps": SPEED_BAND},
        {"t_s": 0.1, "speed_mps": 0.30, "contact": True, "speed_band_mps": SPEED_BAND},
        {"t_s": 0.2, "speed_mps": 0.10, "contact": True, "speed_band_mps": SPEED_BAND},
        {"t_s": 0.3, "speed_mps": 0.005, "contact": True, "speed_band_mps": SPEED_BAND},  # still: not rolling
        {"t_s": 0.4, "speed_mps": 0.50, "contact": False, "speed_band_mps": SPEED_BAND},  # off the tool
    ]
    assert q.speed_in_band_share(samples) == pytest.approx(2 / 3)
    summary = {"targets": [{"name": "speed_mps", "met": False}, {"name": "duration_s", "met": True}]}
    assert q.speed_in_band_share([], summary) == 0.0
    assert q.speed_in_band_share([], {}) is None


def test_target_band_reads_both_target_shapes():
    summary = {"targets": [{"name": "speed_mps", "target": {"min": 0.0375, "max": 0.15, "unit": "m/s"}},
                           {"name": "force_n", "target": [180, 330]}, {"name": "spots", "target": 3}]}
    assert q.target_band(summary, "speed_mps") == [0.0375, 0.15]
    assert q.target_band(summary, "force_n") == [180.0, 330.0]
    assert q.target_band(summary, "spots") is None and q.target_band({}, "speed_mps") is None


def test_bad_stored_json_does_not_break_reads():
    assert q.loads("{not json") == {}
    assert q.loads("[1, 2]") == {}
    assert q.parse_ts("yesterday") is None
    assert q.num(float("nan")) is None and q.num("3.5") == 3.5
