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
        self._theta_pre = np.zeros(3)  # integrated rotation before any axis is known
        self._first_strong: np.ndarray | None = None

    def project(self, wc, dtheta, dt, gate, rate2):
        """Projection of each rotation increment on the roll axis and the axis in use (None
        while not known yet). The axis is re-estimated at the end of a group of frames that
        brings axis_update_s of rotation, and that axis is used for the whole group."""
        if self._fixed is not None:
            return dtheta @ self._fixed, self._fixed
        s = self.settings
        wdt = dt * (gate & (rate2 > s.axis_weak_rad_s**2))
        weak_s = float(wdt.sum())
        first = self.axis is None
        if weak_s > 0:
            if self._first_strong is None:
                self._first_strong = wc[int(wdt.argmax())].copy()
            sdt = wdt * (rate2 > s.axis_strong_rad_s**2)
            if self._strong_s < s.axis_update_s:  # the weak scatter is still in use
                self._pending_weak += (wc * wdt[:, None]).T @ wc
            self._pending += (wc * sdt[:, None]).T @ wc
            self._strong_s += float(sdt.sum())
            self._weak_s += weak_s
            if self._weak_s >= s.axis_update_s:
                self._update(self._weak_s / s.axis_update_s)
                self._weak_s = 0.0
        if self.axis is None:
            self._theta_pre += dtheta.sum(axis=0)
            return np.zeros(len(wc)), None
        proj = dtheta @ self.axis
        if first:  # the rotation before the axis was known
            proj[0] += float(self.axis @ self._theta_pre)
        return proj, self.axis

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
        ref = self.axis if self.axis is not None else self._first_strong
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
