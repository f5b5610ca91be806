"""The session's compact per-second series (summary field ``series_1hz``, DESIGN §3.2):
speed, force, position and coach phase, one point per second of sensor time, built from
the per-Block metrics. It travels with the summary through the outbox, so the dashboard
draws a whole session even when live telemetry (QoS 0) was lost. Pure: no I/O, no clock.

Columnar and rounded (speed mm/s, force 0.1 N, position mm): about 26 bytes a point, so a
30-minute session is about 47 kB. Past ``MAX_POINTS`` the series halves its rate (every
other point kept, ``period_s`` doubled), so no session grows it beyond that. Held as arrays
(NaN where the series says null): 34 bytes a point in memory, where lists of Python numbers
took about 140; and as the JSON text of its columns, written once per point, for the
journal's checkpoints (``to_json(encoded=True)``).
"""

from __future__ import annotations

import math
from array import array

from firmware.common.wire import JsonList

MAX_POINTS = 1800  # 30 minutes at 1 Hz; longer sessions go to 2 s, 4 s, ... points


class SeriesBuilder:
    """Feed ``add`` once per Block; ``to_json`` any time (it does not change the builder).

    A point is the mean speed and force of the Blocks that ended in its period, and the
    position and phase at the last of them. Periods without a Block (a sensor gap) have no
    point: ``t_s`` then skips, and readers say the gap is missing."""

    def __init__(self, period_s: float = 1.0, max_points: int = MAX_POINTS) -> None:
        self.period_s = period_s
        self.max_points = max_points
        self.t0_s: float | None = None
        self.t = array("q")  # period index since t0
        self.speed = array("d")  # NaN: null
        self.force = array("d")
        self.position = array("d")
        self.phase = array("H")  # index into phases
        self.phases: list[str] = []
        self._open: int | None = None  # index of the open period
        self._acc = [0.0, 0, 0.0, 0, None, ""]  # speed sum, n, force sum, n, position, phase
        self._json = self._texts()  # the columns of to_json() as text, but the open period

    def add(self, t_s: float, speed_mps: float, force_n: float, position_m: float, phase: str) -> None:
        if not math.isfinite(t_s):
            return
        if self.t0_s is None:
            self.t0_s = t_s
        k = max(0, int((t_s - self.t0_s) // self.period_s))
        if self._open is not None and k != self._open:
            self._close()  # may halve the rate: k again, in the new periods
            k = max(0, int((t_s - self.t0_s) // self.period_s))
        self._open = k
        acc = self._acc
        if math.isfinite(speed_mps):
            acc[0] += speed_mps
            acc[1] += 1
        if math.isfinite(force_n):
            acc[2] += force_n
            acc[3] += 1
        if math.isfinite(position_m):
            acc[4] = position_m
        acc[5] = phase or ""

    def _close(self) -> None:
        speed, force, pos, phase = self._point(self._acc, self.phases)
        self.t.append(self._open)
        self.speed.append(_NAN if speed is None else speed)
        self.force.append(_NAN if force is None else force)
        self.position.append(_NAN if pos is None else pos)
        self.phase.append(phase)
        point = (self._open * self._period(), speed, force, pos, phase)
        for col, value in zip(self._json, point, strict=True):
            col.append(value)
        self._acc = [0.0, 0, 0.0, 0, None, ""]
        self._open = None
        if len(self.t) >= self.max_points:
            self._halve()

    @staticmethod
    def _point(acc: list, phases: list[str]) -> tuple:
        """(speed, force, position, phase index) of a period's sums, rounded (None: no value);
        a new phase is added to ``phases``."""
        s_sum, s_n, f_sum, f_n, pos, phase = acc
        if phase not in phases:
            phases.append(phase)
        return (round(s_sum / s_n, 3) if s_n else None, round(f_sum / f_n, 1) if f_n else None,
                None if pos is None else round(pos, 3), phases.index(phase))

    def _halve(self) -> None:
        """Every other point (periods 0, 2, 4, ... of the old rate), at half the rate. The
        last point, if it is the first half of the period now open, goes: that period gets
        its point when it closes."""
        keep = [i for i, k in enumerate(self.t) if k % 2 == 0]
        if keep and keep[-1] == len(self.t) - 1:
            keep.pop()
        self.t = array("q", [self.t[i] // 2 for i in keep])
        for name in ("speed", "force", "position", "phase"):
            col = getattr(self, name)
            setattr(self, name, array(col.typecode, [col[i] for i in keep]))
        self.period_s *= 2
        self._json = self._texts()

    def _period(self) -> float:
        """The period as ``to_json`` gives it (an int when it is whole)."""
        return int(self.period_s) if self.period_s == int(self.period_s) else self.period_s

    def _columns(self) -> list[list]:
        """The closed points' t_s, speed, force, position and phase, as ``to_json`` has them."""
        period = self._period()
        return [[k * period for k in self.t],
                *(_nulls(col.tolist()) for col in (self.speed, self.force, self.position)),
                self.phase.tolist()]

    def _texts(self) -> list[JsonList]:
        """``_columns`` as JSON text."""
        return [JsonList(col) for col in self._columns()]

    def to_json(self, *, encoded: bool = False) -> dict:
        """The ``series_1hz`` field: {"t0_s", "period_s", "t_s", "speed_mps", "force_n",
        "position_m", "phase", "phases"}; ``t_s`` in seconds since ``t0_s`` (the session's
        first sample, on the same sensor-time axis as ``holds[].start_s``), ``phase`` indices
        into ``phases``. An open period is included as it stands. ``encoded``: the five
        columns as ``JsonText`` (what ``dumps`` writes is the same)."""
        phases = list(self.phases)
        period = self._period()
        point = () if self._open is None else (self._open * period, *self._point(self._acc, phases))
        if encoded:  # the text of the closed points, and the open one's values
            cols = [col.text(*point[i : i + 1]) for i, col in enumerate(self._json)]
        else:
            cols = self._columns()
            for col, value in zip(cols, point, strict=False):
                col.append(value)
        t_s, speed, force, pos, phase = cols
        return {
            "t0_s": None if self.t0_s is None else round(self.t0_s, 3),
            "period_s": period,
            "t_s": t_s,
            "speed_mps": speed,
            "force_n": force,
            "position_m": pos,
            "phase": phase,
            "phases": phases,
        }


_NAN = math.nan


def _nulls(values: list[float]) -> list[float | None]:
    return [None if v != v else v for v in values]
