"""``rollsense record`` and ``rollsense calibrate``: the device's sensors put to other work
than coaching. Apart from the daemon so that ``rollsense run`` never loads the calibration
procedures or the recording writer (start-up time and memory on a Pi Zero, issue 25)."""

from __future__ import annotations

import sys
from pathlib import Path

from calibration.procedures import parse_weights_kg, run_step, sampler_source
from calibration.store import RawForce
from firmware.app.daemon import load_with_overrides, open_runtime
from firmware.app.simulate import calibration_user_for
from firmware.common.errors import ConfigError
from firmware.common.units import plural
from firmware.core.protocols import load_routine
from firmware.edge.config import ensure_state_dir
from firmware.edge.recording import RecordingWriter


def record(args) -> int:
    """Record the sensors (real, or simulated with --sim) to a recording file, written as the
    Blocks come (memory flat however long; stopped early, the file keeps what was recorded)."""
    cfg = load_with_overrides(args)
    out = Path(args.out)
    if out.exists():
        raise ConfigError(f"{out}: already exists; refusing to overwrite")
    rt = open_runtime(cfg)
    try:
        meta = {"tool": "roller", "radius_m": 0.075}
        if rt.source is not None:
            meta.update(tool=rt.source.tool, radius_m=rt.source.radius_m)
        with RecordingWriter(out, meta) as writer:
            rt.sampler.start()
            t0 = None
            while True:
                block = rt.sampler.poll()
                if block is not None and len(block):
                    writer.write(block)
                    t0 = block.t_s[0] if t0 is None else t0
                    if block.t_s[-1] - t0 >= args.seconds:
                        break
                rt.clock.sleep_s(0.02)
    finally:
        rt.hardware.close()
    print(f"wrote {writer.samples} samples ({args.seconds:g} s) to {out}")
    if writer.skipped:
        print(f"note: {plural(writer.skipped, 'sample', 'samples')} outside the sensor's range left out "
              f"(the first {writer.first_skipped})", file=sys.stderr)
    return 0


def calibrate(args) -> int:
    """``rollsense calibrate STEP``: guided, with progress on stderr; writes the versioned
    calibration file (previous versions kept)."""
    cfg = load_with_overrides(args)
    if args.step == "show":
        return run_step("show", cfg, None, out=sys.stdout)
    weights = parse_weights_kg(args.weights_kg) if args.weights_kg else None
    ensure_state_dir(cfg.calibration_file.parent, "calibration directory",  # before the user's work
                     "give a writable state_dir or calibration_path in the config")
    sim_user = None
    if cfg.hardware == "sim":  # a simulated user who does what each instruction asks
        sim_user = calibration_user_for(args.step, load_routine(cfg.protocol, cfg.routines_dir),
                                         cfg.sim.seed, distance_m=args.distance_m,
                                         weights_kg=weights or (),
                                         pressures=getattr(args, "pressures", 1))
    rt = open_runtime(cfg, force_calibration=RawForce() if args.step == "force" else None,
                      sim_user=sim_user)
    try:
        rt.sampler.start()
        tool = rt.source.tool if rt.source is not None else load_routine(cfg.protocol, cfg.routines_dir).tool
        return run_step(args.step, cfg, sampler_source(rt.sampler, rt.clock),
                        seconds=args.seconds if args.step == "gyro" else None,
                        distance_m=args.distance_m, weights_kg=weights, tool=tool,
                        ask=None if sim_user is None else _sim_follows(sim_user, rt.clock),
                        save_anyway=getattr(args, "save_anyway", False),
                        pressures=getattr(args, "pressures", 1))
    finally:
        rt.hardware.close()


def _sim_follows(sim_user, clock):
    """The calibration prompt for a simulated user: shown, then done at once (no Enter)."""

    def ask(message: str) -> None:
        done = sim_user.follow(message, clock.now_s())
        sys.stderr.write(f"{message} [simulated user: {done}]\n")

    return ask
