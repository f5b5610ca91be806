"""Carried state for the metrics engine: a buffer of running cumulative sums for exact
time-window means across block boundaries, and quantiles from fixed-bin histograms."""

from __future__ import annotations

import numpy as np

from firmware.common.runs import carried, ffill1


class WindowBuffer:
    """Cumulative sums of per-sample rows over the whole stream, keeping a tail of `keep_s`.

    A window sum over (t_i - W, t_i] is C[i] - C[j-1] (with a count column among the rows, a
    mean); the cumulative sums are computed sequentially from the carried total, so they are
    bit-identical for any block split.
    """

    def __init__(self, keep_s: float, ncols: int = 8, capacity: int = 4096) -> None:
        self.keep_s = keep_s
        self._t = np.empty(capacity)
        self._c = np.empty((capacity, ncols))
        self._t[0] = -np.inf  # sentinel row: before the first sample, sums are zero
        self._c[0] = 0.0
        self._len = 1
        self._first = 1

    def append(self, t: np.ndarray, *parts: np.ndarray) -> tuple[np.ndarray, int]:
        """Add rows given as consecutive column blocks ((n, k) or (n,) arrays); returns
        (cumulative rows of the block, buffer index of its first row)."""
        n = len(t)
        self._make_room(n, t[0])
        start = self._len
        seg = self._c[start - 1 : start + n]  # the carried total, then the new rows
        col = 0
        for part in parts:
            if part.ndim == 1:
                seg[1:, col] = part
                col += 1
            else:
                seg[1:, col : col + part.shape[1]] = part
                col += part.shape[1]
        np.add.accumulate(seg, axis=0, out=seg)
        self._t[start : start + n] = t
        self._len = start + n
        self._first = start
        return self._c[start : start + n], start

    @property
    def prev_cum(self) -> np.ndarray:
        """The cumulative row before the last append."""
        return self._c[self._first - 1]

    def window_delta(self, t: np.ndarray, first_row: int, window_s: float, cols=slice(None)):
        """Sum of the rows over (t_i - window_s, t_i] for each row of the last append."""
        n = len(t)
        lo = self._t[: first_row + n].searchsorted(t - window_s, side="right")
        lo -= 1
        return self._c[first_row : first_row + n, cols] - self._c[lo, cols]

    def cum_at(self, times: np.ndarray, first_row: int, n: int, cols=slice(None)) -> np.ndarray:
        """The running sums of every row at or before each of `times` (rows of the last append
        at `first_row`, `n` long, and the kept tail before them)."""
        idx = self._t[: first_row + n].searchsorted(times, side="right")
        idx -= 1
        np.maximum(idx, 0, out=idx)
        return self._c[idx, cols]

    def window_sum_at(self, t: np.ndarray, first_row: int, idx: np.ndarray, window_s: float):
        """Sum of the rows over (t_i - window_s, t_i] for the block samples `idx`."""
        n = len(t)
        lo = np.searchsorted(self._t[: first_row + n], t[idx] - window_s, side="right")
        return self._c[first_row + idx] - self._c[lo - 1]

    def _make_room(self, n: int, t_first: float) -> None:
        cap = len(self._t)
        if self._len + n <= cap:
            return
        keep_from = int(np.searchsorted(self._t[: self._len], t_first - self.keep_s)) - 1
        keep_from = max(0, min(keep_from, self._len - 1))
        kept = self._len - keep_from
        if kept + n > cap // 2:
            new_cap = max(2 * cap, 2 * (kept + n))
            t_new = np.empty(new_cap)
            c_new = np.empty((new_cap, self._c.shape[1]))
        else:
            t_new, c_new = self._t, self._c
        t_new[:kept] = self._t[keep_from : self._len]
        c_new[:kept] = self._c[keep_from : self._len]
        self._t, self._c, self._len = t_new, c_new, kept


def weighted_quantile(hist: np.ndarray, bin_width: float, q: float) -> float | None:
    """Quantile q of a histogram of weights over bins [k*w, (k+1)*w), linear inside a bin."""
    total = float(hist.sum())
    if total <= 0:
        return None
    cum = hist.cumsum()
    k = int(np.searchsorted(cum, q * total))
    below = float(cum[k - 1]) if k > 0 else 0.0
    frac = (q * total - below) / float(hist[k]) if hist[k] > 0 else 0.0
    return float((k + min(max(frac, 0.0), 1.0)) * bin_width)


class SpeedHistogram:
    """Time-weighted histogram of speeds in fixed bins; samples are buffered and binned in
    bulk (weight 0 samples are harmless), so adding a block costs two array copies."""

    def __init__(self, bin_width: float, bins: int, buffer: int = 8192) -> None:
        self.bin_width = bin_width
        self.hist = np.zeros(bins)
        self._values = np.empty(buffer)
        self._weights = np.empty(buffer)
        self._len = 0

    def add(self, values: np.ndarray, weights: np.ndarray) -> None:
        n = len(values)
        if self._len + n > len(self._values):
            self._flush()
            if n > len(self._values):
                self._bin(values, weights)
                return
        self._values[self._len : self._len + n] = values
        self._weights[self._len : self._len + n] = weights
        self._len += n

    def quantile(self, q: float) -> float | None:
        """Quantile q of the weighted values (linear inside a bin), None if empty."""
        self._flush()
        return weighted_quantile(self.hist, self.bin_width, q)

    def _flush(self) -> None:
        if self._len:
            self._bin(self._values[: self._len], self._weights[: self._len])
            self._len = 0

    def _bin(self, values: np.ndarray, weights: np.ndarray) -> None:
        idx = np.minimum((values / self.bin_width).astype(np.int64), len(self.hist) - 1)
        h = np.bincount(idx, weights=weights)
        self.hist[: len(h)] += h


class RunMean:
    """Runs of a per-row flag lasting at least `min_s`; at each qualified row, the mean of a
    3-vector signal since its run started, from running sums [x, y, z, count] (so it is exact
    across block splits and weighs each row by its count). Remembers the mean at the last
    qualified row (`value`)."""

    def __init__(self, min_s: float, center=None, clip: float | None = None) -> None:
        self.min_s = min_s
        self.center = None if center is None else np.asarray(center, dtype=float)
        self.clip = clip  # if set, a run mean farther than this from `center` does not count
        self.value: np.ndarray | None = None
        self._raw = False
        self._start_t = np.nan
        self._prefix = np.zeros(4)

    def idle(self, flag: np.ndarray) -> bool:
        """True when no run is open and none starts in this block."""
        return not self._raw and not flag.any()

    def update(self, t, cum: np.ndarray, prev_cum: np.ndarray, flag: np.ndarray):
        """`cum`: (n, 4) running sums at each row, `prev_cum` the sums before the block.
        Returns (qualified mask, value per row (n, 3) or None before any qualified row, mask
        of rows that have a value)."""
        n = len(t)
        if self._raw and self.value is not None and flag.all():  # the run goes on throughout
            qual = t - self._start_t >= self.min_s
            values = self._means(cum - self._prefix, qual)
            if qual.all():
                self.value = values[-1].copy()
                return qual, values, np.ones(n, dtype=bool)
        prev = np.empty(n, dtype=bool)
        prev[0] = self._raw
        prev[1:] = flag[:-1]
        pick = ffill1(flag & ~prev)  # 0: the run started before this block
        start_t = carried(t, self._start_t)[pick]
        pre = np.empty((n + 1, 4))
        pre[0] = self._prefix
        pre[1] = prev_cum
        pre[2:] = cum[:-1]
        prefix = pre[pick]
        qual = flag & (t - start_t >= self.min_s)
        ext = np.empty((n + 1, 3))
        ext[1:] = self._means(cum - prefix, qual)
        ext[0] = np.nan if self.value is None else self.value
        last = ffill1(qual)
        values = ext[last]
        has = (last > 0) if self.value is None else np.ones(n, dtype=bool)
        if has[-1]:
            self.value = values[-1].copy()
        self._raw = bool(flag[-1])
        if self._raw:
            self._start_t = float(start_t[-1])
            self._prefix = prefix[-1].copy()
        return qual, values, has

    def _means(self, sums: np.ndarray, qual: np.ndarray) -> np.ndarray:
        """Run means from [x, y, z, count] sums; rows farther than `clip` from `center`
        are taken out of `qual` (in place)."""
        means = sums[:, 0:3] / sums[:, 3:4]
        if self.clip is not None:
            qual &= (np.abs(means - self.center) < self.clip).all(axis=1)
        return means


class InnerRunMean:
    """Rest runs and their mean, for a per-row flag that looks back over a window of
    `window_s` (a row is flagged when the data over (t - window_s, t] passes the tests): a run
    vouches for the data from window_s before its first row to its latest row. It counts once
    that data spans `min_s`; its mean at each such row is over (start - window_s, t - window_s]:
    the last window is left out, because a flag that looks back over a window still passes a
    motion that has only just begun (a slow turn fading in passes the tests for a moment).
    `cum_at(times)` gives the running sums [x, y, z, count] of every row at or before each time
    (the window buffer's, reaching back at least window_s before the block). Remembers the
    mean at the last qualified row (`value`)."""

    def __init__(self, min_s: float, window_s: float) -> None:
        self.min_s = min_s
        self.window_s = window_s
        self.value: np.ndarray | None = None
        self._raw = False
        self._start_t = np.nan
        self._prefix: np.ndarray | None = None  # running sums at start - window_s

    def idle(self, flag: np.ndarray) -> bool:
        """True when no run is open and none starts in this block."""
        return not self._raw and not flag.any()

    def update(self, t, flag: np.ndarray, cum_at, t0: float):
        """`t0`: the first sample of the data (a run's data starts there at the earliest).
        Returns (qualified mask, value per row (n, 3), mask of rows that have a value)."""
        n = len(t)
        w = self.window_s
        if self._raw and self.value is not None and flag.all():
            qual = t - max(self._start_t - w, t0) >= self.min_s
            if qual.all():  # the run goes on throughout
                sums = cum_at(t - w) - self._prefix
                values = sums[:, 0:3] / sums[:, 3:4]
                self.value = values[-1].copy()
                return qual, values, np.ones(n, dtype=bool)
        prev = np.empty(n, dtype=bool)
        prev[0] = self._raw
        prev[1:] = flag[:-1]
        pick = ffill1(flag & ~prev)  # 0: the run started before this block
        start_t = carried(t, self._start_t)[pick]
        qual = flag & (t - np.maximum(start_t - w, t0) >= self.min_s)
        ext = np.empty((n + 1, 3))
        ext[0] = np.nan if self.value is None else self.value
        rows = qual.nonzero()[0]
        if len(rows):
            lo = cum_at(start_t[rows] - w)
            if self._raw:  # the carried run: its start may have left the buffer
                lo[pick[rows] == 0] = self._prefix
            sums = cum_at(t[rows] - w) - lo
            count = sums[:, 3]
            ok = count > 0
            qual[rows[~ok]] = False
            ext[1:][rows[ok]] = sums[ok, 0:3] / count[ok, None]
        last = ffill1(qual)
        values = ext[last]
        has = (last > 0) if self.value is None else np.ones(n, dtype=bool)
        if has[-1]:
            self.value = values[-1].copy()
        if flag[-1] and (pick[-1] != 0 or not self._raw):  # a run opened in this block
            self._start_t = float(start_t[-1])
            self._prefix = cum_at(np.array([self._start_t - w]))[0].copy()
        self._raw = bool(flag[-1])
        return qual, values, has
