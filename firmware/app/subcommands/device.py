"""The subcommands of the device itself: ``run``, ``record``, ``calibrate``, ``pair``. Each
imports what only it needs when it runs (``rollsense run`` loads neither the calibration
procedures nor the doctor: start-up on a Pi Zero)."""

from __future__ import annotations

from firmware.app import daemon
from firmware.edge.config import ensure_state_dir, load_config
from firmware.edge.pairing import CODE_TTL_S, new_code


def _config(a):
    return load_config(getattr(a, "config", None))


def run(a) -> int:
    return daemon.run_daemon(a)




def pair(a) -> int:
    state_dir = ensure_state_dir(a.state_dir or _config(a).state_dir)
    code = new_code(state_dir)
    print(f"pairing code: {code}  (valid {CODE_TTL_S // 60} minutes; enter it on the dashboard's Devices page)")
    return 0
