"""The subcommands that work on files alone: ``replay``, ``simulate``, ``protocols``,
``programs``."""

from __future__ import annotations

import json

from firmware.app.replay import replay_file
from firmware.app.simulate import simulate_to_file
from firmware.common.units import summary_table  # the same table `rollsense demo` ends with
from firmware.core.programs import list_programs
from firmware.core.protocols import list_routines
from firmware.edge.config import routines_dir_for


def replay(a) -> int:
    summary = replay_file(a.file, protocol=a.protocol, tool=a.tool, radius_m=a.radius_m,
                          routines_dir=routines_dir_for(a.routines_dir, a.config))
    if a.json:
        print(json.dumps(summary, indent=2, allow_nan=False))
    else:
        print(summary_table(summary))
    return 0


def simulate(a) -> int:
    rec, truth = simulate_to_file(a.protocol, a.scenario, a.seed, a.out, rate_hz=a.rate_hz,
                                  routines_dir=routines_dir_for(a.routines_dir, a.config))
    print(f"wrote {rec} and {truth}")
    return 0


def protocols(a) -> int:
    routines = list_routines(a.routines_dir)
    if a.json:
        print(json.dumps([r.to_dict() for r in routines], indent=2))
        return 0
    width = max(len(r.id) for r in routines)
    for r in routines:
        print(f"{r.id:<{width}}  {r.tool:<6}  {r.title}")
    return 0


def programs(a) -> int:
    programmes = list_programs(routines_dir_for(a.routines_dir, a.config))
    if a.json:
        print(json.dumps([p.to_dict() for p in programmes], indent=2))
        return 0
    width = max(len(p.id) for p in programmes)
    tools = [",".join(p.tools) for p in programmes]
    tool_width = max(len(t) for t in tools)
    for p, t in zip(programmes, tools, strict=True):
        print(f"{p.id:<{width}}  {t:<{tool_width}}  {len(p.steps):>2} steps  {p.title}")
    return 0
