"""The guided calibration runs: tell the user what to do, collect Blocks with a progress bar
on stderr, run the pure estimator, and save the result into the one calibration file.

A block source is ``source(seconds) -> iterable of Blocks`` covering about that much sensor
time (the CLI passes the real Sampler; tests pass simulated data). For ``calibrate_force`` the
source must deliver the force front end's RAW reading in ``Block.force_n`` (ADS1115: volts at
AIN0; HX711: counts), i.e. hardware opened without a force calibration.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from calibration.axis import estimate_axis
from calibration.force import FORCE_FIT_MAX_REL, fit_force, raw_level
from calibration.gyro import estimate_gyro_bias, find_still_bias
from calibration.radius import estimate_radius, estimate_radius_curve
from calibration.show import show_calibration
from calibration.store import STANDARD_GRAVITY_M_S2, Calibration, load_calibration, save_calibration
from firmware.common.errors import CalibrationError
from firmware.common.model import Block
from firmware.common.units import plural

BlockSource = Callable[[float], Iterable[Block]]
Ask = Callable[[str], None]


def press_enter(message: str, *, out: TextIO | None = None, inp: TextIO | None = None) -> None:
    """Show an instruction and wait for Enter (returns at once at end of input)."""
    out = out or sys.stderr
    out.write(f"{message} [Enter] ")
    out.flush()
    (inp or sys.stdin).readline()


class ProgressBar:
    """``label [#########.........]  45%  2.3/5.0 s`` redrawn in place on a text stream."""

    def __init__(self, label: str, total_s: float, out: TextIO, width: int = 30) -> None:
        self.label, self.total_s, self.out, self.width = label, total_s, out, width
        self._shown = -1

    def update(self, done_s: float) -> None:
        frac = min(max(done_s / self.total_s, 0.0), 1.0) if self.total_s > 0 else 1.0
        pct = int(frac * 100)
        if pct // 5 == self._shown // 5 and pct != 100:
            return  # redraw every 5 %
        self._shown = pct
        filled = int(round(frac * self.width))
        self.out.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {pct:3d}%  "
                       f"{min(done_s, self.total_s):.1f}/{self.total_s:.1f} s")
        self.out.flush()

    def finish(self) -> None:
        self.update(self.total_s)
        self.out.write("\n")
        self.out.flush()


def collect(source: BlockSource, seconds: float, label: str, out: TextIO) -> Block:
    """All Blocks the source yields for ``seconds``, joined, with a progress bar on ``out``."""
    bar = ProgressBar(label, seconds, out)
    blocks: list[Block] = []
    t0 = None
    for block in source(seconds):
        if len(block) == 0:
            continue
        blocks.append(block)
        t0 = block.t_s[0] if t0 is None else t0
        bar.update(float(block.t_s[-1] - t0))
    if not blocks:
        out.write("\n")
        raise CalibrationError(f"{label}: no samples from the sensors in {seconds:g} s; run `rollsense doctor`")
    bar.finish()
    return Block.concat(blocks)


def sampler_source(sampler, clock, *, settle_s: float = 0.5, poll_s: float = 0.01,
                   timeout_s: float = 5.0) -> BlockSource:
    """A block source over a started ``firmware.edge.sampler.Sampler``: each call skips what the
    sensors buffered before it (and ``settle_s`` more, for a weight to settle), then yields
    Blocks until ``seconds`` of sensor time are covered. Gives up (yields no more) after
    ``seconds + timeout_s`` without enough data; waits on ``clock``."""

    def source(seconds: float):
        started = clock.now_s()
        begin_s = float(sampler.imu.timebase.to_sensor(started)) + settle_s
        covered_from = None
        while clock.now_s() - started < settle_s + seconds + timeout_s:
            block = sampler.poll()
            if block is None or len(block) == 0:
                clock.sleep_s(poll_s)
                continue
            fresh = np.flatnonzero(block.t_s >= begin_s)
            if fresh.size == 0:
                continue
            block = block.slice(int(fresh[0]), len(block))
            covered_from = block.t_s[0] if covered_from is None else covered_from
            yield block
            if block.t_s[-1] - covered_from >= seconds:
                return

    return source


def _streams(out: TextIO | None, ask: Ask | None) -> tuple[TextIO, Ask]:
    return (sys.stderr if out is None else out), (press_enter if ask is None else ask)


def _update(path: Path | str, **section) -> Calibration:
    cal = load_calibration(path, missing_ok=True)
    return save_calibration(path, dataclasses.replace(cal, **section))


def _bias(cal: Calibration, block: Block, step: str) -> np.ndarray:
    if cal.gyro is not None:
        return np.asarray(cal.gyro.bias_rad_s)
    bias = find_still_bias(block)
    if bias is None:
        raise CalibrationError(f"{step}: no gyro calibration and no still moment to find the bias; "
                               "run `rollsense calibrate gyro` first")
    return bias


def calibrate_gyro(source: BlockSource, path: Path | str, *, seconds: float = 5.0,
                   out: TextIO | None = None, ask: Ask | None = None) -> Calibration:
    """Keep still for ``seconds``: the gyro bias. Refused if the tool moved."""
    out, ask = _streams(out, ask)
    ask(f"Gyro bias: put the tool down on the floor and keep it still for {seconds:g} s.")
    g = estimate_gyro_bias(collect(source, seconds, "keep still", out))
    saved = _update(path, gyro=g)
    deg = [math.degrees(x) for x in g.bias_rad_s]
    out.write(f"gyro bias [{', '.join(f'{x:+.5f}' for x in g.bias_rad_s)}] rad/s "
              f"([{', '.join(f'{x:+.2f}' for x in deg)}] deg/s), noise {g.noise_rad_s:.5f} rad/s "
              f"over {g.duration_s:.1f} s -> {path} (revision {saved.revision})\n")
    return saved


def calibrate_axis(source: BlockSource, path: Path | str, *, seconds: float = 8.0,
                   direction: str = "up", out: TextIO | None = None, ask: Ask | None = None) -> Calibration:
    """Roll once up the limb (``direction``): the roller axis and which way is "up"."""
    out, ask = _streams(out, ask)
    ask(f"Roll axis: hold still for a moment, then roll the tool {direction} the limb once, "
        f"slowly, within {seconds:g} s.")
    cal = load_calibration(path, missing_ok=True)
    block = collect(source, seconds, f"roll {direction}", out)
    a = estimate_axis(block, _bias(cal, block, "axis"), direction=direction)
    saved = _update(path, axis=a)
    out.write(f"roll axis [{', '.join(f'{x:+.3f}' for x in a.axis_xyz)}], up = "
              f"{'+' if a.up_sign > 0 else '-'} rotation, {a.planarity:.1%} of the rotation about it "
              f"-> {path} (revision {saved.revision})\n")
    return saved


PRESSURE_WORDS = {
    2: ("lightly: let the tool carry little more than your limb's own weight",
        "firmly: lean in as hard as you do in a session"),
    3: ("lightly: let the tool carry little more than your limb's own weight",
        "moderately: lean in with about half your weight",
        "firmly: lean in as hard as you do in a session"),
}


def pressure_words(k: int, n: int) -> str:
    """How hard to press on roll ``k`` (0-based) of ``n``: from light to as hard as in a
    session."""
    if n in PRESSURE_WORDS:
        return PRESSURE_WORDS[n][k]
    if k == 0:
        return PRESSURE_WORDS[3][0]
    if k == n - 1:
        return PRESSURE_WORDS[3][2]
    return f"a little harder than the last roll (pressure {k + 1} of {n})"


def calibrate_radius(source: BlockSource, path: Path | str, *, distance_m: float,
                     seconds: float = 10.0, tool: str | None = None, pressures: int = 1,
                     out: TextIO | None = None, ask: Ask | None = None) -> Calibration:
    """Roll a measured ``distance_m`` once: the effective rolling radius. With ``pressures``
    of 2 or more (a foam roller: foam compresses under load), roll it that many times, from
    light to firm: the radius against force (needs the force sensor), applied sample by
    sample by the metrics."""
    out, ask = _streams(out, ask)
    cal = load_calibration(path, missing_ok=True)
    axis = cal.axis.axis_xyz if cal.axis else None
    if pressures < 2:
        ask(f"Radius: mark {distance_m:g} m on the floor (or the limb), hold still for a moment, then roll "
            f"the tool exactly that far, once, within {seconds:g} s.")
        block = collect(source, seconds, f"roll {distance_m:g} m", out)
        r = estimate_radius(block, distance_m=distance_m, bias_rad_s=_bias(cal, block, "radius"),
                            axis_xyz=axis, tool=tool)
        saved = _update(path, radius=r)
        out.write(f"effective radius {r.radius_m * 1000:.1f} mm ({r.rotation_rad:.2f} rad over "
                  f"{r.distance_m:g} m) -> {path} (revision {saved.revision})\n")
        return saved
    blocks = []
    for k in range(pressures):
        ask(f"Radius, roll {k + 1} of {pressures}: on the {distance_m:g} m you marked (on the limb, "
            f"or on the floor with a hand on the tool), hold still for a moment, then roll exactly "
            f"that far, once, within {seconds:g} s, pressing {pressure_words(k, pressures)}.")
        blocks.append(collect(source, seconds, f"roll {k + 1} of {pressures}", out))
    bias = _bias(cal, Block.concat(blocks) if cal.gyro is None else blocks[0], "radius")
    r = estimate_radius_curve(blocks, distance_m=distance_m, bias_rad_s=bias, axis_xyz=axis,
                              tool=tool)
    saved = _update(path, radius=r)
    points = ", ".join(f"{r_m * 1000:.1f} mm at {f:.0f} N" for f, r_m in r.curve)
    out.write(f"rolling radius against force: {points} (no load {r.radius_m * 1000:.1f} mm) "
              f"-> {path} (revision {saved.revision})\n")
    return saved


def calibrate_force(source: BlockSource, path: Path | str, *, weights_kg: Sequence[float],
                    model: str = "fsr-power", supply_v: float = 3.3, divider_ohm: float = 10_000.0,
                    raw_unit: str = "counts", seconds: float = 3.0, out: TextIO | None = None,
                    ask: Ask | None = None, save_anyway: bool = False) -> Calibration:
    """Tare, then each known weight in turn: the force curve with its fit error.
    ``model``: "linear" (load cell + HX711, or any linear front end; ``raw_unit`` "counts" | "V")
    or "fsr-power" (FSR divider on the ADS1115, volts). A fit off by more than
    ``FORCE_FIT_MAX_REL`` at any weight is a CalibrationError and nothing is saved, unless
    ``save_anyway`` (then it is saved with a warning line)."""
    out, ask = _streams(out, ask)
    loads = [float(w) for w in weights_kg if float(w) > 0]
    if not loads:
        raise CalibrationError("force: give at least one known weight above 0 kg (--weights-kg 0,5,10)")
    ask("Force: take every load off the tool (tare).")
    tare = raw_level(collect(source, seconds, "tare", out))
    points = []
    for kg in loads:
        ask(f"Force: put {kg:g} kg on the sensor and let it settle.")
        points.append((raw_level(collect(source, seconds, f"{kg:g} kg", out)), kg * STANDARD_GRAVITY_M_S2))
    f = fit_force(points, tare_raw=tare, model=model, supply_v=supply_v, divider_ohm=divider_ohm,
                  raw_unit=raw_unit)
    if f.fit_max_rel > FORCE_FIT_MAX_REL:
        worst = f"the fit is off by up to {f.fit_max_rel:.0%} at a known weight (tolerance {FORCE_FIT_MAX_REL:.0%})"
        if not save_anyway:
            raise CalibrationError(
                f"force: {worst}; not saved. Check that each weight sits on the sensor alone and "
                "that --weights-kg lists them in the order you put them on, then try again "
                "(or add --save-anyway to keep this fit)")
        out.write(f"warning: force: {worst}; saved anyway (--save-anyway)\n")
    saved = _update(path, force=f)
    out.write(f"force {f.model} fit over {plural(len(points), 'weight', 'weights')}: RMS error {f.fit_rms_n:.2f} N, "
              f"worst {f.fit_max_rel:.1%} -> {path} (revision {saved.revision})\n")
    return saved


STEPS = ("gyro", "axis", "radius", "force", "show")


def force_model_for(config) -> tuple[str, str]:
    """(model, raw_unit) for the configured front end: an HX711 load cell is linear in counts,
    an FSR divider on the ADS1115 a power law in volts; the simulator's front end is linear in volts."""
    if config.force.frontend == "hx711":
        return "linear", "counts"
    if config.hardware == "sim":
        return "linear", "V"
    return "fsr-power", "V"


def run_step(step: str, config, source: BlockSource | None, *, seconds: float | None = None,
             distance_m: float | None = None, weights_kg: Sequence[float] | None = None,
             tool: str | None = None, out: TextIO | None = None, ask: Ask | None = None,
             save_anyway: bool = False, pressures: int = 1) -> int:
    """``rollsense calibrate <step>`` for a loaded ``firmware.edge.config.Config``; returns the exit
    code. ``source`` is unused for "show". For "force" the source must deliver raw readings
    (open the hardware with ``force_calibration=calibration.store.RawForce()``)."""
    out = sys.stderr if out is None else out
    path = config.calibration_file
    if step == "show":
        return show_calibration(path, sys.stdout if out is sys.stderr else out)
    if step not in STEPS:
        raise CalibrationError(f"calibrate: unknown step {step!r}; use one of {', '.join(STEPS)}")
    if source is None:
        raise CalibrationError(f"calibrate {step}: no sensor data source")
    kw: dict = {"out": out, "ask": ask}
    if seconds is not None:
        kw["seconds"] = seconds
    if step == "gyro":
        calibrate_gyro(source, path, **kw)
    elif step == "axis":
        calibrate_axis(source, path, **kw)
    elif step == "radius":
        if distance_m is None:
            raise CalibrationError("calibrate radius: give the distance you will roll, e.g. --distance-m 0.5")
        if pressures > 1 and config.force.frontend == "none":
            raise CalibrationError("calibrate radius --pressures: a radius curve needs the force "
                                   "sensor (force.frontend = \"none\")")
        calibrate_radius(source, path, distance_m=distance_m, tool=tool, pressures=pressures, **kw)
    elif step == "force":
        if config.force.frontend == "none":
            raise CalibrationError("calibrate force: no force sensor configured (force.frontend = \"none\")")
        if not weights_kg:
            raise CalibrationError("calibrate force: give the known weights, e.g. --weights-kg 0,2,5,10")
        model, unit = force_model_for(config)
        calibrate_force(source, path, weights_kg=weights_kg, model=model, raw_unit=unit,
                        supply_v=config.force.fsr_supply_v, divider_ohm=config.force.fsr_divider_ohm,
                        save_anyway=save_anyway, **kw)
    return 0


WEIGHTS_MAX = 20  # known weights in one force calibration (each takes a prompt and 3 s)
WEIGHT_MAX_KG = 300.0  # a known weight on the tool: at most a person (the config's body mass)


def parse_weights_kg(text: str) -> list[float]:
    """"0,2,5,10" -> [0.0, 2.0, 5.0, 10.0]: 1 to WEIGHTS_MAX weights of 0 to WEIGHT_MAX_KG;
    CalibrationError (one line) on anything else."""
    give = f"give 1 to {WEIGHTS_MAX} comma-separated kilograms, each 0 to {WEIGHT_MAX_KG:g} kg, e.g. 0,2,5,10"
    try:
        weights = [float(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise CalibrationError(f"--weights-kg {text!r}: {give}") from e
    if not weights or any(not math.isfinite(w) or w < 0 for w in weights):
        raise CalibrationError(f"--weights-kg {text!r}: {give}")
    heavy = [w for w in weights if w > WEIGHT_MAX_KG]
    if heavy:
        raise CalibrationError(f"--weights-kg {text!r}: {heavy[0]:g} kg is out of range; {give}")
    if len(weights) > WEIGHTS_MAX:
        raise CalibrationError(f"--weights-kg {text!r}: {len(weights)} weights are too many; {give}")
    return weights
