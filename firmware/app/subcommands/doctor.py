"""``rollsense doctor`` (firmware.app.doctor): its own module, so that ``rollsense run``
does not load it."""

from __future__ import annotations

import sys
from dataclasses import replace

from firmware.app.doctor import run_doctor
from firmware.edge.config import load_config


def doctor(a) -> int:
    config = load_config(getattr(a, "config", None))
    return run_doctor(replace(config, hardware="sim") if a.sim else config, out=sys.stdout)
