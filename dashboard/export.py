"""Exports: one session, or the history, as JSON or CSV (``/api/session/{id}.{fmt}``,
``/api/history.{fmt}``). Device strings in a CSV are escaped so a spreadsheet shows them as
text and never runs them (meta_text, csv_cell)."""

from __future__ import annotations

import csv
import io
import json
import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dashboard import queries as q
from dashboard.access import viewer
from dashboard.context import Pages
from dashboard.session_pages import history_filter, person_filter

SAMPLE_COLUMNS = ("t_s", "elapsed_s", "phase", "speed_mps", "velocity_mps", "position_m", "force_n", "contact",
                  "passes", "hold_s", "spots_done", "cue")
SUMMARY_SCALARS = ("session_id", "device_id", "protocol", "tool", "started_at", "duration_s", "passes", "completed")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# backslash, controls (C0, DEL, C1), line/paragraph separators, and what splits or quotes a
# spreadsheet cell (, ; ")
_META_ESCAPE_RE = re.compile(r'[\\\x00-\x1f\x7f-\x9f\u2028\u2029,;"]')
_META_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def meta_text(value) -> str:
    """A value for a ``# key: value`` line, on that one line and in one spreadsheet cell:
    backslash, control characters, line separators and , ; " are escaped (``\\n``,
    ``\\u002c``), as devices send any string."""
    return _META_ESCAPE_RE.sub(lambda m: _META_SHORT.get(m.group(), f"\\u{ord(m.group()):04x}"), str(value))


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text, never runs: a text cell starting with = + - @
    tab or CR gets a leading ' (OWASP's CSV injection guard). Numbers, and text that is a
    plain number such as "-0.08", stay as they are; None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.startswith(FORMULA_START) and not NUMBER_RE.fullmatch(value):
        return "'" + value
    return value


def session_csv(row: dict, samples: list[dict]) -> str:
    """One session as CSV: ``# key: value`` summary lines (as in recordings), then one row per
    stored telemetry sample. Device strings are escaped (meta_text, csv_cell)."""
    buf = io.StringIO()
    for key in SUMMARY_SCALARS:
        buf.write(f"# {key}: {meta_text(row.get(key))}\n")
    summary = row["summary"]
    for key in ("distance_m", "contact_s"):
        if key in summary:
            buf.write(f"# {key}: {meta_text(summary[key])}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SAMPLE_COLUMNS)
    for s in samples:
        w.writerow([csv_cell(s.get(c)) for c in SAMPLE_COLUMNS])
    return buf.getvalue()


HISTORY_COLUMNS = ("session_id", "device_id", "protocol", "muscle", "tool", "started_at", "duration_s", "passes",
                   "completed", "distance_m", "speed_mean_mps", "force_mean_n", "targets_met", "targets_total",
                   "person_id", "side", "soreness_before", "soreness_after")


def history_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_COLUMNS)
    for r in rows:
        sore = r.get("soreness") or {}
        r = r | {"soreness_before": sore.get("before"), "soreness_after": sore.get("after")}
        w.writerow([csv_cell(r.get(c)) for c in HISTORY_COLUMNS])
    return buf.getvalue()


class Exports(Pages):
    """``/api/session/{id}.{fmt}`` and ``/api/history.{fmt}``."""

    def session_export(self, request: Request) -> Response:
        sid, fmt = request.path_params["session_id"], request.path_params["fmt"]
        if fmt not in ("json", "csv"):
            return JSONResponse({"error": "use .json or .csv"}, status_code=404)
        row = q.session(self.store, sid)
        if row is None:
            return JSONResponse({"error": f"no session {sid!r} from a paired device"}, status_code=404)
        samples = q.telemetry(self.store, sid)
        name = f"rollsense-session-{sid}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "json":
            doc = {
                "session": {k: row[k] for k in ("session_id", "device_id", "protocol", "tool", "started_at", "duration_s", "passes", "completed")},
                "summary": row["summary"],
                "events": q.events(self.store, sid),
                "telemetry": samples,
            }
            return Response(json.dumps(doc, indent=1, default=str), media_type="application/json", headers=headers)
        return Response(session_csv(row, samples), media_type="text/csv; charset=utf-8", headers=headers)

    def history_export(self, request: Request) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ("json", "csv"):
            return JSONResponse({"error": "use .json or .csv"}, status_code=404)
        device_id, _ = history_filter(self.store, request)
        person_id, unknown, _ = person_filter(self.store, request)
        if unknown:
            return JSONResponse({"error": f"no person {request.query_params.get('person')!r}"}, status_code=404)
        h = q.history(self.store, self.d.discipline, device_id=device_id, person_id=person_id,
                      person_in=viewer(request).person_ids)
        name = "-".join(["rollsense-history", *(v for v in (device_id, person_id) if v)])
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)  # a person id may hold ':' (WIRE_ID)
        headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
        if fmt == "json":
            doc = {k: h[k] for k in ("by_protocol", "by_muscle", "weekly_minutes", "streaks", "trends", "total_minutes")}
            doc["sessions"] = [{k: v for k, v in r.items() if k != "summary"} | {"summary": r["summary"]} for r in h["sessions"]]
            return Response(json.dumps(doc, indent=1, default=str), media_type="application/json", headers=headers)
        return Response(history_csv(h["sessions"]), media_type="text/csv; charset=utf-8", headers=headers)
