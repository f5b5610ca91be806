"""Tender spots across sessions (dashboard/spots.py, issue 23): a session's lingering bins, the
spots that recur over sessions (and holds), whether each is easing; the store's spots column
on a store made before it (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard import spots as sp
from dashboard.store import open_store
from tests.dashboard.test_people import old_store_url  # noqa: F401 - the fixture
from tests.dashboard.test_queries import iso, summary_payload


def bins(lingering: dict[float, float], *, top: float = 0.27, visits: int = 10, base_s: float = 0.4) -> list[dict]:
    """A session's bins from 0 to `top`: base_s per visit, lingering[x] per visit at x."""
    out = []
    x = 0.015
    while x < top:
        dwell = lingering.get(round(x, 3), base_s)
        out.append({"x_m": round(x, 3), "dwell_s": round(dwell * visits, 2),
                    "speed_mps": 0.03 / dwell, "force_n": 200.0, "visits": visits})
        x += 0.03
    return out


def spots(lingering: dict[float, float], holds=(), **kw) -> dict:
    return {"bin_m": 0.03, "origin": "pass_start", "bins": bins(lingering, **kw),
            "holds": [{"x_m": x, "s": s} for x, s in holds]}


def session(sid: str, lingering: dict, holds=(), before=None, **kw) -> dict:
    return {"session_id": sid, "spots": spots(lingering, holds, **kw), "soreness_before": before}


def test_a_session_lingers_where_dwell_per_visit_is_high_and_speed_low():
    assert sp.session_candidates(spots({0.075: 2.0, 0.105: 1.2, 0.165: 2.2})) == [0.075, 0.165]
    assert sp.session_candidates(spots({})) == []  # an even pass: nothing stands out
    assert sp.session_candidates(spots({0.135: 0.7})) == []  # a little slower is not a spot
    # the turnaround at the pass start (first bin) and the rarely visited top do not count
    s = spots({0.015: 3.0})
    s["bins"].append({"x_m": 0.285, "dwell_s": 3.0, "speed_mps": 0.005, "visits": 1})
    assert sp.session_candidates(s) == []
    assert sp.session_candidates(None) == [] and sp.session_candidates({"bins": []}) == []


def test_spots_recur_over_two_sessions_or_are_not_spots():
    found = sp.find_spots([session("a", {0.075: 2.0, 0.225: 2.0}), session("b", {0.105: 2.0}),
                           session("c", {0.165: 2.0})])
    # 7.5 and 10.5 cm are one spot (within 4.5 cm); 22.5 and 16.5 cm were lingered on once each
    assert [(f["x_m"], f["kind"], f["sessions"]) for f in found] == [(0.09, "linger", 2)]


def test_holds_in_one_place_over_sessions_are_a_spot_and_a_lingered_one_says_both():
    found = sp.find_spots([session("a", {0.165: 2.0}, holds=[(0.10, 30.0)]),
                           session("b", {0.165: 2.0}, holds=[(0.11, 40.0), (0.25, 20.0)])])
    assert [(f["x_m"], f["kind"]) for f in found] == [(0.105, "hold"), (0.165, "linger")]
    found = sp.find_spots([session("a", {0.165: 2.0}, holds=[(0.17, 30.0)]),
                           session("b", {0.165: 2.0}, holds=[(0.16, 30.0)])])
    assert [(f["x_m"], f["kind"]) for f in found] == [(0.165, "linger and hold")]


def test_a_spot_eases_when_the_time_there_falls_and_soreness_does_not_rise():
    falling = [session(f"s{i}", {0.075: d}, before=b) for i, (d, b) in enumerate(
        [(2.4, 6), (2.2, 6), (1.4, 5), (1.2, 4)])]
    (spot,) = sp.find_spots(falling)
    assert spot["easing"]["state"] == "easing"
    assert spot["easing"]["dwell_s"] == [2.4, 2.2, 1.4, 1.2]
    steady = [session(f"s{i}", {0.075: 2.0 + 0.1 * (i % 2)}) for i in range(4)]
    assert sp.find_spots(steady)[0]["easing"]["state"] == "not easing"
    sorer = [session(f"s{i}", {0.075: d}, before=b) for i, (d, b) in enumerate(
        [(2.4, 3), (2.2, 3), (1.4, 6), (1.2, 7)])]
    assert sp.find_spots(sorer)[0]["easing"]["state"] == "not easing"
    assert sp.find_spots(falling[:3])[0]["easing"]["state"] == "unknown"  # too few to say


def test_map_ids_of_the_six_routines_muscles():
    assert [sp.map_id(m) for m in ("quadriceps", "lateral thigh (IT band, vastus lateralis)",
                                   "calf (gastrocnemius, soleus)", "piriformis", "thoracic paraspinals",
                                   "upper trapezius / rhomboids", "hamstrings")] == [
        "quads", "itband", "calf", "piriformis", "thoracic", "upperback", None]


def test_the_spots_column_is_added_to_an_old_store_and_filled_from_new_summaries(old_store_url):  # noqa: F811
    store = open_store(old_store_url)
    try:
        assert "spots_json" in store._columns("sessions")
        now = datetime.now(UTC)
        for i in range(2):
            summary = summary_payload(f"n{i}", started_at=iso(now - timedelta(days=i)), duration_s=120.0)
            store.save_session("home-roller", summary | {"person_id": "ann", "side": "left",
                                                         "spots": spots({0.075: 2.0})})
        store.save_session("home-roller", summary_payload("no-spots", started_at=iso(now)) | {"person_id": "ann"})
        groups = sp.person_spots(store, "ann", now=now)
        left = next(g for g in groups if g["side"] == "left")
        assert left["map_id"] == "quads" and left["sessions"] == 2 and left["minutes"] == 4.0
        assert [s["x_m"] for s in left["spots"]] == [0.075]
        nobody = next(g for g in groups if g["side"] is None)
        assert nobody["sessions"] == 0 and nobody["spots"] == []  # no spots in that summary
    finally:
        store.close()
