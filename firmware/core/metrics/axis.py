"""The roll axis and the tissue speed along it, frame by frame. Pure numpy, no I/O, no clock.

The axis is given (roller, stick with a calibrated axis), or the principal axis of the scatter
of strong rotation (> 30 °/s; weaker rotation only until there is some), re-estimated at the
end of each group of frames that brings at least 0.25 s of rotation: the ball's scatter fades,
so its axis can turn. Its sign is kept continuous (the first strong rotation fixes it); which
way is "up the limb" is the passes' business (`passes.Passes.sign`).
"""

from __future__ import annotations

import math

import numpy as np


class RollAxis:
    """The roll axis in use (`axis`, a unit vector in the sensor frame; None until known)."""

    def __init__(self, settings) -> None:
        self.settings = s = settings
        self._fixed = (
            None
            if s.axis_xyz is None or s.tool == "ball"
            else (np.asarray(s.axis_xyz, float) / np.linalg.norm(s.axis_xyz))
        )
        self.axis = None if self._fixed is None else self._fixed.copy()
        self._scatter = np.zeros((3, 3))
        self._pending = np.zeros((3, 3))
        self._scatter_weak = np.zeros((3, 3))
        self._pending_weak = np.zeros((3, 3))
        self._strong_s = 0.0  # time of strong rotation seen (s)
        self._weak_s = 0.0  # time of rotation above the weak threshold (s)
        self._theta_pre = np.zeros(3)  # integrated rotation before any axis is known ...
        self._proj_pre = 0.0  # ... and what of it was projected on the provisional axes
        self._prov: np.ndarray | None = None  # the provisional axis before the first one
        self._first_strong: np.ndarray | None = None

    @property
    def best(self) -> np.ndarray | None:
        """The best axis known: the axis in use, else the provisional one (None before any
        rotation)."""
        return self.axis if self.axis is not None else self._prov

    def project(self, wc, dtheta, dt, gate, rate2):
        """Projection of each rotation increment on the roll axis and the axis in use (None
        while not known yet). The axis is re-estimated at the end of a group of frames that
        brings axis_update_s of rotation, and that axis is used for the whole group. Before
        the first axis, see _project_early."""
        if self._fixed is not None:
            return dtheta @ self._fixed, self._fixed
        s = self.settings
        wdt = dt * (gate & (rate2 > s.axis_weak_rad_s**2))
        if self.axis is None:
            return self._project_early(wc, dtheta, wdt, rate2)
        self._learn(wc, wdt, rate2)
        return dtheta @ self.axis, self.axis

    def _project_early(self, wc, dtheta, wdt, rate2):
        """Before the first axis, frame by frame (so the same for any grouping): each frame is
        projected on the provisional axis, the principal axis of the rotation seen so far
        (updated at each frame that brings some; the rotation before any enters at the first
        one). The first pass then has its turnarounds where they are, even when it ends before
        axis_update_s of rotation is seen (a fast pass that clips the gyro, a short one). At the
        frame where the axis becomes known, what the provisional axes missed of the projection
        on it enters (axis·Θ minus the projections so far, Θ the rotation since the start): the
        rotation before the axis counts in full, on the axis."""
        n = len(wc)
        proj = np.zeros(n)
        rows = np.flatnonzero(wdt > 0).tolist()
        lo = 0
        for i in rows:
            if self._prov is not None and i > lo:  # frames without rotation of their own
                part = dtheta[lo:i]
                proj[lo:i] = part @ self._prov
                self._proj_pre += float(proj[lo:i].sum())
                self._theta_pre += part.sum(axis=0)
            elif i > lo:
                self._theta_pre += dtheta[lo:i].sum(axis=0)
            self._learn(wc[i : i + 1], wdt[i : i + 1], rate2[i : i + 1])
            self._theta_pre += dtheta[i]
            if self.axis is not None:  # known at this frame: the rest of the group uses it
                proj[i] = float(self.axis @ self._theta_pre) - self._proj_pre
                proj[i + 1 :] = dtheta[i + 1 :] @ self.axis
                self._learn(wc[i + 1 :], wdt[i + 1 :], rate2[i + 1 :])
                return proj, self.axis
            ref = self._prov if self._prov is not None else self._first_strong
            prov = principal_axis(self._pending_weak.tolist(), None if self._prov is None
                                  else self._prov.tolist())
            self._prov = prov if float(prov @ ref) >= 0 else -prov
            proj[i] = float(self._prov @ self._theta_pre) - self._proj_pre
            self._proj_pre += float(proj[i])
            lo = i + 1
        if lo < n:
            part = dtheta[lo:]
            self._theta_pre += part.sum(axis=0)
            if self._prov is not None:
                proj[lo:] = part @ self._prov
                self._proj_pre += float(proj[lo:].sum())
        return proj, None

    def _learn(self, wc, wdt, rate2) -> None:
        """Add rotation to the scatters; re-estimate the axis once it brings axis_update_s."""
        s = self.settings
        weak_s = float(wdt.sum()) if len(wdt) else 0.0
        if weak_s <= 0:
            return
        if self._first_strong is None:  # the first rotation fixes the axis's sign
            self._first_strong = wc[int((wdt > 0).argmax())].copy()
        sdt = wdt * (rate2 > s.axis_strong_rad_s**2)
        if self._strong_s < s.axis_update_s:  # the weak scatter is still in use
            self._pending_weak += (wc * wdt[:, None]).T @ wc
        self._pending += (wc * sdt[:, None]).T @ wc
        self._strong_s += float(sdt.sum())
        self._weak_s += weak_s
        if self._weak_s >= s.axis_update_s:
            self._update(self._weak_s / s.axis_update_s)
            self._weak_s = 0.0

    def speeds(self, wc, gate, axis, rate2):
        """Signed velocity along `axis` (m/s, raw sign) and unsigned tissue speed (m/s):
        |ω·axis|·r for the roller and stick, |ω|·r (above the dead band) for the ball."""
        s = self.settings
        rg = s.radius_m * gate
        if axis is None:
            return np.zeros(len(wc)), np.sqrt(rate2) * rg
        vel = (wc @ axis) * rg
        if s.tool != "ball":
            return vel, np.abs(vel)
        norm = np.sqrt(rate2) * rg
        norm[norm < s.ball_deadband_mps] = 0.0
        return vel, norm

    def _update(self, periods: float) -> None:
        """Principal axis of the strong-rotation scatter (weak rotation until there is some);
        the sign kept continuous. The ball forgets its old scatter by ball_axis_memory per
        axis_update_s of rotation (`periods` of them since the last update)."""
        s = self.settings
        keep = s.ball_axis_memory**periods if s.tool == "ball" else 1.0
        self._scatter = keep * self._scatter + self._pending
        self._scatter_weak = keep * self._scatter_weak + self._pending_weak
        self._pending = np.zeros((3, 3))
        self._pending_weak = np.zeros((3, 3))
        use = self._scatter if self._strong_s >= s.axis_update_s else self._scatter_weak
        ref = self.axis if self.axis is not None else (
            self._prov if self._prov is not None else self._first_strong)
        axis = principal_axis(use.tolist(), None if self.axis is None else self.axis.tolist())
        if ref is not None and float(axis @ ref) < 0:
            axis = -axis
        self.axis = axis


def principal_axis(m: list[list[float]], start: list[float] | None) -> np.ndarray:
    """Unit eigenvector of the largest eigenvalue of the symmetric 3x3 matrix `m`, by power
    iteration from `start` (the previous axis) in plain Python: a few microseconds, where
    numpy.linalg.eigh costs tens. The scatter of a rolling tool is close to rank one, so it
    converges in a step or two; it stops when the direction moves less than 1e-12."""
    (a, b, c), (_, d, e), (_, _, f) = m
    if start is None:  # the column of the largest diagonal entry is a good first guess
        k = max(range(3), key=lambda i: m[i][i])
        start = m[k]
    x, y, z = start
    for _ in range(50):
        u, v, w = a * x + b * y + c * z, b * x + d * y + e * z, c * x + e * y + f * z
        norm = math.sqrt(u * u + v * v + w * w)
        if norm == 0.0:
            break
        u, v, w = u / norm, v / norm, w / norm
        if u * x + v * y + w * z < 0:  # keep the orientation while iterating
            u, v, w = -u, -v, -w
        moved = (u - x) ** 2 + (v - y) ** 2 + (w - z) ** 2
        x, y, z = u, v, w
        if moved < 1e-24:
            break
    norm = math.sqrt(x * x + y * y + z * z) or 1.0
    return np.array([x / norm, y / norm, z / norm])
