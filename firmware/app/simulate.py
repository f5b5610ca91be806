"""What the simulator knows of routines and recordings (the app layer): how each built-in
routine is performed (``PROTOCOLS``), a simulated user for any routine (a user's own TOML
too), the calibration user of a routine, and ``rollsense simulate`` (a recording plus its
ground truth). The physics (``device/sim.py``) takes plain parameters; this module picks them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from device.sim import (
    DEG,
    GYRO_FS_RAD_S,
    SCENARIOS,
    CalibrationUser,
    ProtocolSim,
    SimUser,
    performing,
    sample_blocks,
)
from firmware.common.errors import ConfigError
from firmware.core.protocols import ROUTINES_DIR, Routine, load_routine
from firmware.edge.recording import FORMAT, RecordingWriter

# how a simulated user performs each built-in routine: tool, radius, pass/hold pattern, force
PROTOCOLS = {
    "quads-roller": ProtocolSim("roller", 0.075, "roll", (0.15, 0.30), (2.0, 3.2), 220, 220),
    "thoracic-roller": ProtocolSim("roller", 0.075, "roll", (0.10, 0.20), (2.0, 3.2), 240, 240),
    "piriformis-ball": ProtocolSim(
        "ball", 0.03, "hold", force_up_n=150, force_down_n=150, spots=1, hold_s=(45.0, 55.0)
    ),
    "upper-back-ball": ProtocolSim(
        "ball", 0.035, "hold", force_up_n=180, force_down_n=180, spots=3, hold_s=(31.0, 36.0)
    ),
    "it-band-stick": ProtocolSim("stick", 0.015, "roll", (0.25, 0.38), (2.2, 3.3), 170, 170),
    # 60 s each direction: twice the rolling time
    "calf-stick": ProtocolSim(
        "stick", 0.015, "roll", (0.15, 0.25), (2.0, 3.2), 170, 70, rolling_s=140.0
    ),
}


def scenario(
    protocol_id: str,
    name: str = "good",
    seed: int = 1,
    *,
    radius_m: float | None = None,
    bias_rad_s=None,
    mount=None,
    **overrides,
) -> SimUser:
    """A scripted user performing `protocol_id` the way scenario `name` says (deterministic)."""
    if protocol_id not in PROTOCOLS:
        raise ConfigError(f"sim: unknown protocol {protocol_id!r} (known: {', '.join(PROTOCOLS)})")
    if name not in SCENARIOS:
        raise ConfigError(f"sim: unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    proto = PROTOCOLS[protocol_id]
    if overrides:
        proto = ProtocolSim(**{**proto.__dict__, **overrides})
    return performing(proto, protocol_id, name, seed, radius_m, bias_rad_s, mount)


def _built_in(routine: Routine) -> bool:
    """A built-in routine (its own entry in ``PROTOCOLS``), not a user's file of the same id."""
    return routine.id in PROTOCOLS and Path(routine.source).parent == ROUTINES_DIR


def scenario_for(routine: Routine, name: str = "good", seed: int = 1) -> SimUser:
    """A scripted user performing any routine (a user's own TOML too) the way scenario
    ``name`` says. A built-in routine gets its own ``scenario``; any other gets
    ``protocol_sim_for`` (the built-in simulation for the same tool and kind, scaled)."""
    if name not in SCENARIOS:
        raise ConfigError(f"sim: unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    if _built_in(routine):
        return scenario(routine.id, name, seed)
    return performing(protocol_sim_for(routine), routine.id, name, seed)


def protocol_sim_for(routine: Routine) -> ProtocolSim:
    """How a simulated user performs ``routine``: the built-in simulation of the same tool and
    kind (rolling vs holds; a direction-dependent force picks one with it), its pass lengths,
    pass times, hold times, rolling time and forces moved to the same place inside this
    routine's target bands as they sit inside the built-in routine's; tool, radius and spots
    from the routine."""
    same_mode = [k for k, v in PROTOCOLS.items() if v.mode == routine.mode]
    same_tool = [k for k in same_mode if PROTOCOLS[k].tool == routine.tool] or same_mode
    directional = [k for k in same_tool if load_routine(k).directional == routine.directional]
    template_id = (directional or same_tool)[0]
    template, built_in = PROTOCOLS[template_id], load_routine(template_id)
    t, bt = routine.targets, built_in.targets
    values: dict = {"tool": routine.tool, "radius_m": routine.radius_m, "mode": routine.mode}
    up_band = routine.force_band_n(None, +1)
    down_band = routine.force_band_n(None, -1)
    values["force_up_n"] = _moved(template.force_up_n, built_in.force_band_n(None, +1), up_band)
    values["force_down_n"] = _moved(template.force_down_n, built_in.force_band_n(None, -1), down_band)
    if routine.mode == "roll" and t.pass_length_m and bt.pass_length_m and t.speed and bt.speed:
        values["pass_m"] = tuple(_moved(x, bt.pass_length_m, t.pass_length_m) for x in template.pass_m)
        values["pass_s"] = tuple(_moved(x, bt.speed.pass_s, t.speed.pass_s) for x in template.pass_s)
        per_direction = 2.0 if t.per_direction else 1.0
        built_in_per_direction = 2.0 if bt.per_direction else 1.0
        margin = template.rolling_s / (built_in_per_direction * (bt.rolling_min_s or 60.0))
        values["rolling_s"] = margin * per_direction * (t.rolling_min_s or 60.0)
    if routine.mode == "hold" and t.hold and bt.hold:
        values["hold_s"] = tuple(_moved(x, bt.hold.hold_s, t.hold.hold_s) for x in template.hold_s)
        values["spots"] = t.hold.spots
    return ProtocolSim(**{**template.__dict__, **values})


def _moved(x: float, band_from, band_to) -> float:
    """``x`` moved from its place inside ``band_from`` to the same place inside ``band_to``."""
    width = band_from.hi - band_from.lo
    frac = (x - band_from.lo) / width if width > 0 else 0.5
    return float(band_to.lo + frac * (band_to.hi - band_to.lo))


def routine_user(routine, name: str = "good", seed: int = 1, *, radius_m: float | None = None) -> SimUser:
    """A scripted user performing ``routine`` (built-in or a user's own TOML) as scenario
    ``name`` says, on a tool of ``radius_m`` (default: the routine's simulation)."""
    if _built_in(routine):
        return scenario(routine.id, name, seed, radius_m=radius_m)
    return scenario_for(routine, name, seed)


def calibration_user_for(step: str, routine: Routine, seed: int, *, pressures: int = 1,
                         **kw) -> CalibrationUser | PressingCalibrationUser:
    """The user of ``scenario_for(routine, ..., seed)`` calibrating its tool; for ``calibrate
    radius --pressures N`` (N >= 2) one who rolls N times from light to firm on a tool whose
    foam compresses (``PressingCalibrationUser``)."""
    proto = PROTOCOLS[routine.id] if _built_in(routine) else protocol_sim_for(routine)
    user = CalibrationUser(step, tool=proto.tool, radius_m=proto.radius_m, seed=seed, **kw)
    if step == "radius" and pressures >= 2:
        return PressingCalibrationUser(user, pressures, seed)
    return user


class PressingCalibrationUser:
    """``calibrate radius --pressures N`` on the simulator: each instruction is the next roll,
    pressed with the next force of ``forces_n`` (light to firm, held from the instruction to
    the next one), on a tool whose rolling radius under that force is ``radius_at`` (a foam
    roller compresses by up to FOAM_COMPRESSION at high force; a ball or stick is rigid). The
    roll is the calibration user's, over the distance that turns the tool as far as the
    compressed radius would (same rotation), so the gyro sees what a foam roller gives."""

    FOAM_COMPRESSION = 0.16  # relative, approached at high force: r = r0 (1 - c F / (F + F_HALF))
    FOAM_HALF_N = 80.0
    FORCE_LIGHT_N, FORCE_FIRM_N = 40.0, 220.0
    FORCE_NOISE_N = 1.0

    def __init__(self, user: CalibrationUser, pressures: int, seed: int) -> None:
        self._user = user
        self.tool, self.radius_m = user.tool, user.radius_m
        self.distance_m = float(user.distance_m or 0.0)
        self.forces_n = [float(f) for f in np.linspace(self.FORCE_LIGHT_N, self.FORCE_FIRM_N, pressures)]
        self._loads: list[tuple[float, float]] = [(-float("inf"), 0.0)]
        self._rng = np.random.default_rng([seed, 29])

    def radius_at(self, force_n: float) -> float:
        """The rolling radius (m) under ``force_n``."""
        c = self.FOAM_COMPRESSION if self.tool == "roller" else 0.0
        return self.radius_m * (1.0 - c * force_n / (force_n + self.FOAM_HALF_N))

    def follow(self, instruction: str, now_s: float) -> str:
        force_n = self.forces_n[min(len(self._loads) - 1, len(self.forces_n) - 1)]
        self._loads.append((now_s, force_n))
        self._user.distance_m = self.distance_m * self.radius_m / self.radius_at(force_n)
        done = self._user.follow(instruction, now_s)
        return f"{done.replace(f'{self._user.distance_m:g} m', f'{self.distance_m:g} m')}, pressing {force_n:.0f} N"

    def sample(self, t_s):
        gyro, accel, _ = self._user.sample(t_s)
        starts = np.array([t for t, _ in self._loads])
        loads = np.array([f for _, f in self._loads])
        t = np.asarray(t_s, float)
        force = loads[np.searchsorted(starts, t, side="right") - 1]
        return gyro, accel, force + self._rng.normal(0, self.FORCE_NOISE_N, len(t))

    @property
    def truth(self) -> dict:
        return dict(self._user.truth, radius_curve=[(f, self.radius_at(f)) for f in self.forces_n])


def simulate_to_file(
    protocol: str,
    scenario_name: str,
    seed: int,
    out_path,
    rate_hz: float = 200,
    *,
    jitter_frac: float = 0.0,
    drop_frac: float = 0.0,
    with_axis: bool = True,
    routines_dir=None,
) -> tuple[Path, Path]:
    """Write a recording of a simulated session and `<out>.truth.json`; never overwrites.
    ``protocol``: a built-in routine or one of ``routines_dir`` (``scenario_for``). Sampled
    and written a chunk at a time (``sample_blocks``), the truth computed in chunks too, so
    memory stays flat however long the session."""
    out = Path(out_path)
    truth_path = Path(str(out) + ".truth.json")
    for p in (out, truth_path):
        if p.exists():
            raise ConfigError(f"{p}: refusing to overwrite an existing file")
    user = scenario_for(load_routine(protocol, routines_dir), scenario_name, seed)
    meta = {"format": FORMAT, "tool": user.tool, "radius_m": f"{user.radius_m:g}",
            # the simulated chip's gyro range, so clipped samples are known as clipped
            "gyro_full_scale_dps": f"{GYRO_FS_RAD_S / DEG:g}"}
    if with_axis and user.tool != "ball":
        meta["axis"] = tuple(user.body_axis(0))
        meta["up"] = 1
    meta.update(
        {"seed": seed, "scenario": scenario_name, "protocol": protocol, "rate_hz": f"{rate_hz:g}"}
    )
    with RecordingWriter(out, meta) as writer:
        for block in sample_blocks(user, rate_hz, jitter_frac=jitter_frac, drop_frac=drop_frac, seed=seed):
            writer.write(block)
    truth = dict(user.truth, protocol=protocol, scenario=scenario_name, seed=seed, rate_hz=rate_hz)
    try:
        with open(truth_path, "x", encoding="utf-8") as fh:
            json.dump(truth, fh, indent=1)
    except FileExistsError as exc:
        raise ConfigError(f"{truth_path}: refusing to overwrite an existing file") from exc
    return out, truth_path
