"""``rollsense replay``: a recording through the same metrics and coach the device runs,
fed in device-sized blocks, to the session summary (DESIGN.md §3.2)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from firmware.common.errors import ConfigError
from firmware.common.model import Block
from firmware.core.metrics import settings_from_meta
from firmware.core.protocols import Profile, load_routine
from firmware.core.session import Session
from firmware.core.summary import new_session_id
from firmware.edge.recording import read_recording

BLOCK_S = 0.02  # the device polls the FIFO every 20 ms


def iter_blocks(block: Block, block_s: float = BLOCK_S):
    """Split a recording into consecutive blocks of ``block_s`` seconds of sensor time."""
    if len(block) == 0:
        return
    t = block.t_s
    edges = np.arange(t[0], t[-1] + block_s, block_s)[1:]
    cuts = np.searchsorted(t, edges, side="left")
    start = 0
    for stop in [*cuts.tolist(), len(t)]:
        if stop > start:
            yield block.slice(start, stop)
            start = stop


def replay_file(
    path: str | Path,
    *,
    protocol: str | None = None,
    tool: str | None = None,
    radius_m: float | None = None,
    routines_dir: str | Path | None = None,
    profile: Profile | None = None,
    session_id: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict:
    """Summary of a recording. Flags override the recording's metadata, which overrides
    the routine's nominal tool and radius. The recording's warnings (a last row cut short,
    an unusual radius) go to ``warn``, one line each (default: stderr)."""
    recording = read_recording(path)
    for note in recording.warnings:
        (warn or _warn_stderr)(note)
    meta = dict(recording.meta)
    protocol = protocol or meta.get("protocol") or None
    routine = load_routine(protocol, routines_dir) if protocol else None
    tool = tool or meta.get("tool") or (routine.tool if routine else None)
    if tool is None:
        raise ConfigError(f"{path}: no tool in the recording; pass --tool roller|ball|stick or --protocol")
    if routine is not None and routine.tool != tool:
        raise ConfigError(
            f"{path}: routine {routine.id} is for a {routine.tool}, the recording is from a {tool}"
        )
    overrides = {"tool": tool}
    if radius_m is not None:
        overrides["radius_m"] = radius_m
    elif "radius_m" not in meta and "radius_m_at_force_n" not in meta and routine is not None:
        overrides["radius_m"] = routine.radius_m
    settings = settings_from_meta(meta, **overrides)
    session = Session(
        session_id=session_id or meta.get("session_id") or new_session_id(),
        routine=routine,
        settings=settings,
        profile=profile,
    )
    for b in iter_blocks(recording.block):
        session.feed(b)
    return session.summary()


def _warn_stderr(message: str) -> None:
    print(f"rollsense replay: warning: {message}", file=sys.stderr)
