"""Still detection and holds, frame by frame. Pure numpy, no I/O, no clock.

Still: the tool is not travelling. Its tissue speed (window-mean rotation over still_window_s,
times the radius) is below hold_speed_max_mps; or its net travel over the longer
still_long_window_s is below hold_speed_max_mps times that window while the smoothed rotation
rate stays under still_rock_rad_s (6 °/s). The second clause is the noise floor at the tool's
radius: a user pressing on a still tool rocks it (breathing, sway: about 1 °/s rms of real,
zero-mean rotation, whatever the tool), which at 0.29 m is 0.5 cm/s and crosses 1 cm/s in a
0.3 s window, but travels only millimetres; slow real rolling travels a centimetre a second and
fails it. The cap is a rotation rate because rocking is one: at small radii (under 9.5 cm) it is
below the hold speed and the second clause changes nothing; at large radii rolling back and
forth turns far faster than 6 °/s. A hold: still under contact for >= hold_min_s, interruptions shorter than
hold_merge_gap_s merged; its force is the median over its frames. The run state (last still
time, whether a run is open and since when) is carried across calls, so a hold comes out the
same however the samples were split.
"""

from __future__ import annotations

import math

import numpy as np

from firmware.common.model import Hold
from firmware.common.runs import carried, ffill1


class Holds:
    """Runs of still under contact; `holds` are the completed ones, `active` says whether a
    run is open at the last frame."""

    def __init__(self, settings) -> None:
        self.settings = s = settings
        self._still_rate2 = (s.hold_speed_max_mps / s.radius_m) ** 2
        self._rock_rate2 = max(self._still_rate2, s.still_rock_rad_s**2)
        self.holds: list[Hold] = []
        self.last_t = -math.inf  # time of the last still-under-contact frame
        self.active = False
        self.start_t = math.nan  # start of the open run
        self._forces: list[np.ndarray] = []  # frame forces of the open run

    def still(self, ms, ml=None):
        """Per frame: the window-mean rotation `ms` (bias removed, rad/s) is slower than the
        hold speed at the tool's radius, or the long-window mean `ml` (net travel) is and `ms`
        is under the rocking cap."""
        ms2 = np.einsum("ij,ij->i", ms, ms)
        still = ms2 < self._still_rate2
        self.short = still  # the short-window test alone (the ZUPT restores past its last)
        if ml is None or still.all():
            return still
        return still | ((np.einsum("ij,ij->i", ml, ml) < self._still_rate2) & (ms2 < self._rock_rate2))

    def runs(self, t, hold_raw):
        """Per sample: time of the last still-under-contact sample, whether a hold run is
        active (gaps shorter than hold_merge_gap_s do not end it), when that run started and
        whether one was active at the sample before. None when no run is active anywhere in
        the block."""
        n = len(t)
        if not self.active and not hold_raw.any():
            return None
        if self.active and hold_raw.all():  # the run goes on through the whole group
            on = np.ones(n, dtype=bool)
            return t, on, np.full(n, self.start_t), on
        last_t = carried(t, self.last_t)[ffill1(hold_raw)]
        active = (t - last_t) < self.settings.hold_merge_gap_s
        prev = np.empty(n, dtype=bool)
        prev[0] = self.active
        prev[1:] = active[:-1]
        start_t = carried(t, self.start_t)[ffill1(active & ~prev)]
        start_t[~active] = np.inf
        return last_t, active, start_t, prev

    def update(self, t, hold_raw, runs, fz, has_f, t0: float, out: list[Hold]) -> None:
        """Emit holds (appended to `out` and `holds`): runs of still under contact lasting at
        least hold_min_s. `runs` from `runs()`, `t0` the first sample of the data."""
        n = len(t)
        last_t, active, _, prev = runs
        edges = (active != prev).nonzero()[0]
        lo = 0
        forces = fz[hold_raw & has_f] if has_f.any() else None
        take = np.add.accumulate(hold_raw & has_f) if forces is not None and len(edges) else None
        for e in edges:
            self._accumulate(forces, take, lo, e)
            if active[e]:
                self.active = True
                self.start_t = float(t[e])
                self._forces = []
            else:
                self._close(float(last_t[e]), t0, out)
                self.active = False
            lo = e
        self._accumulate(forces, take, lo, n)
        self.last_t = float(last_t[-1])

    def finish(self, t0: float, out: list[Hold]) -> None:
        """Close the open run at the end of the data."""
        if self.active:
            self._close(self.last_t, t0, out)
            self.active = False

    def open_hold(self, t0: float) -> Hold | None:
        """The open run as finish() would close it (None if none, or too short)."""
        return self._make(self.last_t, t0) if self.active else None

    def rep_start(self, t0: float) -> float:
        """Reported start of the open run: the still window lags by about half its length."""
        return max(t0, self.start_t - 0.5 * self.settings.still_window_s)

    def _accumulate(self, forces, take, lo: int, hi: int) -> None:
        """Keep the forces of still-under-contact frames [lo, hi) for the hold's median;
        `forces` are those of the whole group, `take` their running count (None: no edges,
        all of them)."""
        if not self.active or forces is None or hi <= lo:
            return
        if take is None:
            self._forces.append(forces)
            return
        first = int(take[lo - 1]) if lo > 0 else 0
        self._forces.append(forces[first : int(take[hi - 1])])

    def _close(self, end_t: float, t0: float, out: list[Hold]) -> None:
        hold = self._make(end_t, t0)
        if hold is not None:
            self.holds.append(hold)
            out.append(hold)

    def _make(self, end_t: float, t0: float) -> Hold | None:
        """The current run ending at end_t, or None if it is shorter than hold_min_s."""
        start = self.rep_start(t0)
        end_t = max(start, end_t - 0.5 * self.settings.still_window_s)
        duration = end_t - start
        if duration < self.settings.hold_min_s:
            return None
        forces = np.concatenate(self._forces) if self._forces else np.empty(0)
        force = partition_median(forces) if len(forces) else math.nan
        return Hold(start_s=float(start), duration_s=float(duration), force_n=force)


def partition_median(x: np.ndarray) -> float:
    """Median by partition (np.median's first call in a process costs tens of ms of lazy
    set-up: a hiccup in the coaching loop at the end of the first hold)."""
    n = len(x)
    k = n // 2
    if n % 2:
        return float(np.partition(x, k)[k])
    p = np.partition(x, (k - 1, k))
    return float(0.5 * (p[k - 1] + p[k]))
