"""The rolling radius under load: a foam roller's radius shrinks as the user leans on it (10-14 %
at 90-220 N for common foams), and the gyro cannot see it, so the radius is set sample by sample
from the force. Pure numpy, no I/O, no clock.

The curve is a list of (force N, radius m) points with strictly increasing force: linear between
points, held flat outside them (below the first point the radius at the first point, above the
last the last). It is written as text ``0:0.075,100:0.069,200:0.066`` (DESIGN §3.1, recording
key ``radius_m_at_force_n``); ``radius_m`` stays the radius at no load, used where there is no
force reading.
"""

from __future__ import annotations

import math

import numpy as np

RADIUS_MAX_M = 0.5

RadiusCurve = tuple[tuple[float, float], ...]


def check_radius_curve(points) -> RadiusCurve:
    """The curve as a tuple of (force_n, radius_m) float pairs; ValueError (one line) when it has
    no points, a force that does not increase, or a radius <= 0 or > 0.5 m."""
    try:
        pairs = [(float(f), float(r)) for f, r in points]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"radius curve {points!r}: must be (force N, radius m) pairs") from exc
    if not pairs:
        raise ValueError("radius curve: needs at least one force:radius point")
    for f, r in pairs:
        if not math.isfinite(f):
            raise ValueError(f"radius curve: force {f!r} N is not a finite number")
        if not (math.isfinite(r) and 0 < r <= RADIUS_MAX_M):
            raise ValueError(f"radius curve: radius {r!r} m at {f:g} N must be > 0 and <= "
                             f"{RADIUS_MAX_M} m")
    for (f0, _), (f1, _) in zip(pairs, pairs[1:], strict=False):
        if not f1 > f0:
            raise ValueError(f"radius curve: force must increase from point to point "
                             f"({f1:g} N after {f0:g} N)")
    return tuple(pairs)


def parse_radius_curve(text) -> RadiusCurve:
    """``"0:0.075,100:0.069,200:0.066"`` (force N : radius m, comma-separated) -> the checked
    curve; a sequence of pairs is checked as it is. ValueError (one line) on anything else."""
    if not isinstance(text, str):
        return check_radius_curve(text)
    points = []
    for item in text.replace(" ", "").split(","):
        force, sep, radius = item.partition(":")
        try:
            if not sep:
                raise ValueError
            points.append((float(force), float(radius)))
        except ValueError:
            raise ValueError(f"radius curve {text!r}: {item!r} is not 'force_n:radius_m' "
                             "(e.g. 0:0.075,100:0.069,200:0.066)") from None
    return check_radius_curve(points)


def format_radius_curve(curve) -> str:
    """The curve as the recording's text, ``0:0.075,100:0.069``."""
    return ",".join(f"{f:g}:{r:g}" for f, r in check_radius_curve(curve))


def radius_at(curve: RadiusCurve, force_n: float, no_load_m: float) -> float:
    """Radius (m) at one force (plain Python, for the per-Block live path); ``no_load_m`` where
    the force is NaN (no reading)."""
    if force_n != force_n:
        return no_load_m
    f0, r0 = curve[0]
    if force_n <= f0:
        return r0
    for f1, r1 in curve[1:]:
        if force_n <= f1:
            return r0 + (r1 - r0) * (force_n - f0) / (f1 - f0)
        f0, r0 = f1, r1
    return r0


class RadiusOfForce:
    """The curve as arrays, evaluated per sample: ``radius_m(force)`` (linear between points,
    flat outside, ``no_load_m`` where the force is NaN)."""

    def __init__(self, curve: RadiusCurve, no_load_m: float) -> None:
        self.curve = check_radius_curve(curve)
        self.no_load_m = float(no_load_m)
        self._f = np.array([f for f, _ in self.curve])
        self._r = np.array([r for _, r in self.curve])

    def radius_m(self, force_n: np.ndarray) -> np.ndarray:
        r = np.interp(force_n, self._f, self._r)  # flat outside the points
        if not math.isfinite(float(r.sum())):
            r[np.isnan(force_n)] = self.no_load_m
        return r
