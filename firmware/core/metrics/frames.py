"""Raw samples -> frames: the first stage of the metrics estimator.

A frame is every sample whose time falls in one `frame_s` slot of a grid anchored at the first
sample. Per frame it keeps the sums the estimator needs, which are exact whatever the sample
rate, jitter or gaps:

- window statistics: sum of gyro, accel, gyro², accel² and the sample count, so a mean or a
  variance over any run of frames is the per-sample one;
- the rotation integral: the trapezoid of the raw gyro over every sample interval (the bias is
  subtracted later as bias·duration, since it is constant between samples);
- force: mean and peak of the finite force samples (NaN when there are none);
- gyro saturation: how many samples had an axis at the full scale; those samples' clipped axes
  are rebuilt along the roll axis first (firmware.core.metrics.saturation), with the axis and
  bias the estimator holds at the start of the group, so only the first group of what one
  `frames` call emits may hold clipped samples (the engine runs the estimator between calls);
- with a radius-against-force curve (foam compresses under load), the arc rolled: the
  trapezoid of r(F)·ω over every sample interval, and of r(F) alone (for the bias), so the
  distance is the per-sample sum of ω·r(F), never a frame's rotation times one radius.

Frames come in groups of `group_frames` grid slots (the estimator's step). A group is emitted
only once a later sample shows it is complete, so splitting the samples into blocks anywhere
gives the same groups of the same frames. Samples that are non-finite or not later than the last
accepted one are dropped here (a bad sensor read costs one sample, not the session).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from firmware.core.metrics.radius import RadiusOfForce
from firmware.core.metrics.saturation import (
    any_clipped,
    clip_level_rad_s,
    clipped_rows,
    rebuild,
    strong_axis,
)


@dataclass(frozen=True)
class Frames:
    """Consecutive complete frames. `t_s` is each frame's last sample time, `dt_s` the time
    since the previous frame's last sample (so dt sums to elapsed time); sums over the frame's
    samples of gyro, accel (rad/s, m/s²; (n, 3)), of |gyro|², |accel|², and the trapezoid of
    the raw gyro over each sample interval (`theta_rad`, (n, 3)); `force_n`/`force_peak_n` the
    mean/peak finite force (NaN without one); `clipped` the samples with a gyro axis at full
    scale; with a radius curve `arc_m` the trapezoid of r(F)·ω (raw gyro; (n, 3), m) and
    `r_dt` that of r(F) (m·s; the bias arc is bias·r_dt), else None."""

    t_s: np.ndarray
    dt_s: np.ndarray
    count: np.ndarray
    gyro: np.ndarray
    accel: np.ndarray
    gyro2: np.ndarray
    accel2: np.ndarray
    theta_rad: np.ndarray
    force_n: np.ndarray
    force_peak_n: np.ndarray
    clipped: np.ndarray
    arc_m: np.ndarray | None = None
    r_dt: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.t_s)

    def slice(self, lo: int, hi: int) -> Frames:
        return Frames(*(None if (x := getattr(self, f)) is None else x[lo:hi] for f in _FIELDS))


_FIELDS = tuple(Frames.__dataclass_fields__)


class Framer:
    """Queue raw blocks with `push` (cheap: nothing is computed), turn what is queued into
    complete groups of frames with `frames`."""

    def __init__(self, frame_s: float, group_frames: int, max_samples: int = 16384, *,
                 full_scale_rad_s: float | None = None,
                 radius: RadiusOfForce | None = None) -> None:
        self.frame_s = frame_s
        self.group_frames = group_frames
        self.max_samples = max_samples  # frames() handles at most this many samples per call
        self.clip_level = math.inf if full_scale_rad_s is None else clip_level_rad_s(full_scale_rad_s)
        self.radius = radius  # the radius-against-force curve, or None (one radius)
        # what rebuilds clipped samples: the roll axis (None: not known, nothing rebuilt) and
        # the gyro bias, as the estimator holds them before the group (set by the engine)
        self.axis: np.ndarray | None = None
        self.bias = np.zeros(3)
        self._queue: tuple[list, list, list, list] = ([], [], [], [])  # t, gyro, accel, force
        self.queued = 0  # samples queued (before cleaning)
        self.t0 = math.nan  # grid origin: the first accepted sample
        self.t_last = -math.inf  # last accepted sample
        self._t_frame = math.nan  # last sample of the last emitted frame
        self._w_prev = np.zeros(3)  # gyro of the last framed sample
        self._rw_prev = np.zeros(3)  # ... times its radius, and that radius (with a curve)
        self._r_prev = 0.0
        self.truncated = False  # the last frames() left samples it did not look at

    def push(self, t, w, a, f) -> None:
        qt, qw, qa, qf = self._queue
        qt.append(t)
        qw.append(w)
        qa.append(a)
        qf.append(f)
        self.queued += len(t)

    def _requeue(self, t, w, a, f) -> None:
        """Put samples back at the front of the queue."""
        for q, x in zip(self._queue, (t, w, a, f), strict=True):
            q.insert(0, x)
        self.queued += len(t)

    def frames(self, final: bool = False) -> tuple[Frames, np.ndarray] | None:
        """Complete groups of frames from the queue (at most max_samples samples' worth) and
        the index of each group's first frame, or None. With `final` the last, open group is
        closed too. Call again while it returns something."""
        if not self.queued:
            return None
        t, w, a, f = _clean(*self._take(), self.t_last)
        if len(t) == 0:
            return None
        if math.isnan(self.t0):
            self.t0 = float(t[0])
            self._t_frame = self.t0
        slot = np.floor((t - self.t0) * (1.0 / self.frame_s))
        cut = len(t)
        if not final:  # the last group may go on in the next block: keep it queued
            last_group0 = (float(slot[-1]) // self.group_frames) * self.group_frames
            cut = int(slot.searchsorted(last_group0))  # its first sample (slot is sorted)
        clip_rows = clip_mask = None
        if any_clipped(w[:cut], self.clip_level):
            cut, clip_rows, clip_mask = self._clip_cut(w, slot, cut)
        if cut < len(t):
            self._requeue(t[cut:], w[cut:], a[cut:], f[cut:])
            self.truncated = self.truncated or clip_rows is not None
        if cut == 0:
            return None
        if cut < len(t):
            t, w, a, f, slot = t[:cut], w[:cut], a[:cut], f[:cut], slot[:cut]
        clipped = None
        if clip_rows is not None:
            clip_rows, clip_mask = clip_rows[clip_rows < cut], clip_mask[clip_rows < cut]
            axis = self.axis if self.axis is not None else strong_axis(w, clip_rows, self.bias)
            if axis is not None:
                w = w.copy()
                w[clip_rows] = rebuild(w[clip_rows], clip_mask, axis, self.bias, self.clip_level)
            clipped = np.zeros(len(t))
            clipped[clip_rows] = 1.0
        starts = np.empty(1, dtype=np.int64)  # each frame's first sample
        starts[0] = 0
        starts = np.concatenate((starts, (slot[1:] != slot[:-1]).nonzero()[0] + 1))
        frames = self._reduce(t, w, a, f, starts, clipped)
        fgroup = slot[starts] // self.group_frames
        new = np.empty(len(fgroup), dtype=bool)
        new[0] = True
        np.not_equal(fgroup[1:], fgroup[:-1], out=new[1:])
        return frames, new.nonzero()[0]

    def _clip_cut(self, w, slot, cut):
        """Where to end this call when samples clipped: a clipped sample is rebuilt with the
        axis the estimator holds at its group's start, so only this call's first group may
        hold one. Returns (new cut, clipped rows before it, their clipped-axis masks)."""
        rows, mask = clipped_rows(w[:cut], self.clip_level)
        group = slot[rows] // self.group_frames
        first_group = float(slot[0]) // self.group_frames
        later = group > first_group
        if later.any():  # end before the next group that holds a clipped sample
            start = float(group[later][0]) * self.group_frames
            cut = int(slot.searchsorted(start))
        return cut, rows, mask

    def _take(self):
        """The queued samples as four arrays, at most max_samples (more stays queued)."""
        if self.queued > self.max_samples:  # a long recording: only the parts needed
            qt = self._queue[0]
            k, n = 0, 0
            while n < self.max_samples:
                n += len(qt[k])
                k += 1
            parts = [q[:k] for q in self._queue]
            for q in self._queue:
                del q[:k]
            self.queued -= n
            arrays = [_join(p) for p in parts]
            if n > self.max_samples:
                self._requeue(*(x[self.max_samples :] for x in arrays))
                arrays = [x[: self.max_samples] for x in arrays]
            self.truncated = True
            return arrays
        arrays = [_join(q) for q in self._queue]
        for q in self._queue:
            q.clear()
        self.queued = 0
        self.truncated = False
        return arrays

    def _reduce(self, t, w, a, f, starts, clipped=None) -> Frames:
        """Frame sums, one reduceat per quantity (contiguous arrays: much cheaper than one
        reduceat over a wide matrix assembled from strided columns)."""
        n = len(t)
        dt = np.empty(n)
        dt[0] = t[0] - (self.t_last if self.t_last > -math.inf else t[0])
        np.subtract(t[1:], t[:-1], out=dt[1:])
        theta = np.empty((n, 3))
        theta[0] = self._w_prev + w[0]
        np.add(w[1:], w[:-1], out=theta[1:])
        dt *= 0.5
        theta *= dt[:, None]
        add = np.add.reduceat
        ends = np.empty(len(starts), dtype=np.int64)
        ends[:-1] = starts[1:]
        ends[-1] = n
        count = (ends - starts).astype(float)
        ends -= 1
        t_end = t[ends]
        dt_frame = np.empty(len(t_end))
        dt_frame[0] = t_end[0] - self._t_frame
        np.subtract(t_end[1:], t_end[:-1], out=dt_frame[1:])
        if math.isfinite(float(f.sum())):  # a force for every sample
            force = add(f, starts) / count
            peak = np.maximum.reduceat(f, starts)
        else:
            has_f = f == f
            with np.errstate(invalid="ignore", divide="ignore"):
                force = add(np.where(has_f, f, 0.0), starts) / add(has_f.astype(float), starts)
            peak = np.fmax.reduceat(f, starts)
        arc = r_dt = None
        if self.radius is not None:
            arc, r_dt = self._arc(w, f, dt, starts)
        frames = Frames(
            t_end,
            dt_frame,
            count,
            add(w, starts, axis=0),
            add(a, starts, axis=0),
            add((w * w).ravel(), starts * 3),  # rows are contiguous: |w|² summed per frame
            add((a * a).ravel(), starts * 3),
            add(theta, starts, axis=0),
            force,
            peak,
            np.zeros(len(starts)) if clipped is None else add(clipped, starts),
            arc,
            r_dt,
        )
        self.t_last = float(t[-1])
        self._t_frame = float(t_end[-1])
        self._w_prev = w[-1].copy()
        return frames


    def _arc(self, w, f, half_dt, starts):
        """Per frame the trapezoid of r(F)·ω and of r(F) over each sample interval (`half_dt`
        is half of each interval; the first reaches back to the last framed sample)."""
        r = self.radius.radius_m(f)
        rw = w * r[:, None]
        arc = np.empty_like(rw)
        arc[0] = self._rw_prev + rw[0]
        np.add(rw[1:], rw[:-1], out=arc[1:])
        arc *= half_dt[:, None]
        r_dt = np.empty_like(r)
        r_dt[0] = self._r_prev + r[0]
        np.add(r[1:], r[:-1], out=r_dt[1:])
        r_dt *= half_dt
        self._rw_prev = rw[-1].copy()
        self._r_prev = float(r[-1])
        add = np.add.reduceat
        return add(arc, starts, axis=0), add(r_dt, starts)


def _join(parts: list) -> np.ndarray:
    """One float array of the parts (no copy when there is one)."""
    return np.asarray(parts[0], float) if len(parts) == 1 else np.concatenate(parts)


def _clean(t, w, a, f, t_last: float):
    """The samples, dropping any with non-finite time/gyro/accel or not after `t_last` (running
    maximum); force stays NaN where it is not finite (no force sensor)."""
    if len(t) == 0:
        return t, w, a, f
    ok_sum = math.isfinite(float(t.sum()) + float(w.sum()) + float(a.sum()))
    if ok_sum and t[0] > t_last and (len(t) == 1 or bool((t[1:] > t[:-1]).all())):
        if not math.isfinite(float(f.sum())):
            f = np.where(np.isfinite(f), f, np.nan)  # +-inf: no reading, like NaN
        return t, w, a, f
    keep = np.isfinite(t) & np.isfinite(w).all(axis=1) & np.isfinite(a).all(axis=1)
    idx = np.flatnonzero(keep)
    if len(idx):
        tk = t[idx]
        running = np.maximum.accumulate(np.append(t_last, tk))[:-1]
        idx = idx[tk > running]
    f = f[idx]
    return t[idx], w[idx], a[idx], np.where(np.isfinite(f), f, np.nan)
