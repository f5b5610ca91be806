"""The routine's targets made concrete for this user and this moment: the force bands from
the profile (per direction for the calf), the hard force limit, the ease-in cap that ramps
up after first contact, the metronome's period, and the bands a display shows now."""

from __future__ import annotations

from typing import Any

from firmware.core.coach.state import RunState
from firmware.core.protocols import Profile, Routine


class Limits:
    """Resolved once per run (a step runs every 40 ms); the moving parts read ``run``."""

    def __init__(self, routine: Routine, profile: Profile, run: RunState,
                 soreness_before: int | None = None) -> None:
        self.routine = routine
        self.run = run
        self.band = {d: routine.force_band_n(profile, d) for d in (0, 1, -1)}
        self.max_n = routine.force_max_n(profile)
        # easing in by soreness (the routine's rule, ``EaseIn``): a longer ramp, a lower cap
        ease = routine.targets.ease_in
        self.sore = ease.is_sore(soreness_before)
        self.ease_s = ease.ramp_s(soreness_before)
        self.ease_scale = ease.cap_scale(soreness_before)

    def tick_period_s(self) -> float:
        """The metronome's period: the middle of the pass time band (3 s without one)."""
        speed = self.routine.targets.speed
        return speed.pass_s.mid if speed else 3.0

    def ease_elapsed_s(self, t_s: float) -> float:
        t0 = self.run.t_contact0
        return 0.0 if t0 is None else t_s - t0

    def ease_cap_n(self, t_s: float) -> float:
        """Force cap (N) ramping from start_fraction x band top to the band top over the
        ease-in; when sore, over the longer ramp and scaled by the routine's cap multiplier
        (the band top applies again once the ramp is over)."""
        ease = self.routine.targets.ease_in
        top = self.band[0].hi
        t0 = self.run.t_contact0
        if self.ease_s <= 0:
            return top
        start = top * self.ease_scale * ease.start_fraction
        if t0 is None:
            return start
        x = (t_s - t0) / self.ease_s
        if x >= 1.0:
            return top
        return start + top * self.ease_scale * (1.0 - ease.start_fraction) * max(0.0, x)

    def bands(self) -> dict[str, Any]:
        """Current display bands: speed m/s, force N (ease-in cap and direction applied)."""
        speed = self.routine.targets.speed
        direction = 0
        velocity = self.run.last_velocity
        if self.routine.directional and abs(velocity) > 1e-3:
            direction = 1 if velocity > 0 else -1
        band = self.band[direction]
        hi = min(band.hi, self.ease_cap_n(self.run.t_last))
        return {
            "speed_mps": speed.speed_mps.as_list() if speed else None,
            "force_n": [round(min(band.lo, hi), 1), round(hi, 1)],
            "force_max_n": round(self.max_n, 1),
            "direction": {1: "up", -1: "down"}.get(direction),
        }

    def direction_bands(self) -> tuple[list[float], list[float]]:
        """The up and down force bands [lo, hi] N of a direction-dependent routine."""
        return tuple([round(self.band[d].lo, 1), round(self.band[d].hi, 1)]  # type: ignore[return-value]
                     for d in (1, -1))
