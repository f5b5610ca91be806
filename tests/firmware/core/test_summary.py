import json
import math

import pytest

from firmware.core.summary import METRIC_FIELDS, build_summary, clean_json, new_session_id


def _metrics():
    return {
        "duration_s": 61.5,
        "contact_s": 58.0,
        "distance_m": 3.2,
        "passes": 14,
        "pass_length_m": {"mean": 0.22, "max": 0.27},
        "speed_mps": {"mean": 0.07, "p95": 0.11},
        "holds": [],
        "force_n": {"mean": 210.0, "peak": float("nan")},
        "force_by_direction_n": {"up": None, "down": None},
    }


def test_summary_carries_the_contract_fields_and_is_json():
    s = build_summary(
        session_id="01ABC", protocol="quads-roller", tool="roller", metrics=_metrics(),
        targets=[{"name": "duration", "target": {"min_s": 60}, "actual": 61.5, "met": True}],
        completed=True,
    )
    for key in ("format", "session_id", "protocol", "tool", "targets", "completed", *METRIC_FIELDS):
        assert key in s
    assert s["format"] == "rollsense-summary/1"
    assert s["force_n"]["peak"] is None  # NaN is not JSON
    json.dumps(s, allow_nan=False)


def test_summary_refuses_incomplete_metrics():
    m = _metrics()
    del m["passes"]
    with pytest.raises(ValueError, match="passes"):
        build_summary(session_id="x", protocol=None, tool="ball", metrics=m, targets=[], completed=False)


def test_interrupted_sessions_say_why():
    s = build_summary(session_id="x", protocol="p", tool="ball", metrics=_metrics(), targets=[],
                      completed=False, interrupted="power loss")
    assert s["completed"] is False and s["interrupted"] == "power loss"


def test_session_ids_are_sortable_ulids():
    a = new_session_id(now_ms=1_000, random_bytes=b"\xff" * 10)
    b = new_session_id(now_ms=1_001, random_bytes=b"\x00" * 10)
    assert len(a) == 26 and a < b
    assert new_session_id() != new_session_id()


def test_clean_json_handles_numpy():
    import numpy as np

    out = clean_json({"a": np.float64(1.5), "b": [np.int64(3), math.inf]})
    assert out == {"a": 1.5, "b": [3, None]}
