"""The subcommands of the device itself: ``run``, ``record``, ``calibrate``, ``doctor``, ``pair``."""

from __future__ import annotations

import sys
from dataclasses import replace

from firmware.app import daemon
from firmware.app.doctor import run_doctor
from firmware.edge.config import ensure_state_dir, load_config
from firmware.edge.pairing import CODE_TTL_S, new_code


def _config(a):
    return load_config(getattr(a, "config", None))


def run(a) -> int:
    return daemon.run_daemon(a)


def record(a) -> int:
    return daemon.record(a)


def calibrate(a) -> int:
    return daemon.calibrate(a)


def doctor(a) -> int:
    config = replace(_config(a), hardware="sim") if a.sim else _config(a)
    return run_doctor(config, out=sys.stdout)


def pair(a) -> int:
    state_dir = ensure_state_dir(a.state_dir or _config(a).state_dir)
    code = new_code(state_dir)
    print(f"pairing code: {code}  (valid {CODE_TTL_S // 60} minutes; enter it on the dashboard's Devices page)")
    return 0
