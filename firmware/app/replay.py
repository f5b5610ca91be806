"""``rollsense replay``: a recording through the same metrics and coach the device runs,
fed in device-sized blocks, to the session summary (DESIGN.md §3.2)."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from firmware.common.errors import ConfigError
from firmware.common.model import Block
from firmware.core.metrics import settings_from_meta
from firmware.core.protocols import Profile, load_routine
from firmware.core.session import Session
from firmware.core.summary import new_session_id
from firmware.edge.recording import RecordingReader
from firmware.edge.textlines import CHUNK_BYTES

BLOCK_S = 0.02  # the device polls the FIFO every 20 ms


def iter_blocks(blocks: Block | Iterable[Block], block_s: float = BLOCK_S) -> Iterator[Block]:
    """A recording (one Block, or its Blocks in order, as ``RecordingReader`` yields them) as
    consecutive blocks of ``block_s`` seconds of sensor time: block k holds the samples in
    [e_k, e_k+1) of the edges e_k = t0 + k * block_s, t0 the first sample. The same blocks
    whatever the input's split, so a streamed replay is the whole-file replay, summary and
    per-second series alike. Memory: one open block, however long the recording (a gap of
    hours in sensor time costs nothing either)."""
    if isinstance(blocks, Block):
        blocks = (blocks,)
    edges = None
    open_k, open_parts = -1, []  # the block still open at the end of the last input, its index
    for chunk in blocks:
        if not len(chunk):
            continue
        if edges is None:
            edges = _Edges(float(chunk.t_s[0]), block_s)
        k = edges.index(chunk.t_s)
        starts = np.flatnonzero(k[1:] != k[:-1]) + 1
        bounds = [0, *starts.tolist(), len(k)]
        for j, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            part = chunk.slice(lo, hi)
            if j == 0 and open_parts and k[0] == open_k:
                open_parts.append(part)
                continue
            if open_parts:
                yield open_parts[0] if len(open_parts) == 1 else Block.concat(open_parts)
            open_k, open_parts = int(k[lo]), [part]
    if open_parts:
        yield open_parts[0] if len(open_parts) == 1 else Block.concat(open_parts)


class _Edges:
    """Block edges e_k = t0 + k * block_s, bit for bit as ``np.arange(t0, stop, block_s)``
    computes them (e_1 = t0 + block_s, then t0 + k * d with d = e_1 - t0, numpy's fill), so
    the blocks are the ones the whole-file replay always cut."""

    def __init__(self, t0: float, block_s: float) -> None:
        self.t0 = t0
        self.e1 = t0 + block_s
        self.d = self.e1 - t0

    def at(self, k: np.ndarray) -> np.ndarray:
        return np.where(k == 1, self.e1, self.t0 + k * self.d)

    def index(self, t: np.ndarray) -> np.ndarray:
        """The block of each sample: the largest k with e_k <= t (t >= t0)."""
        k = np.maximum(np.floor((t - self.t0) / self.d), 0.0).astype(np.int64)
        k -= self.at(k) > t  # the division may land one off either way
        k += self.at(k + 1) <= t
        return k


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
    chunk_bytes: int = CHUNK_BYTES,
) -> dict:
    """Summary of a recording. Flags override the recording's metadata, which overrides
    the routine's nominal tool and radius. The recording's warnings (a last row cut short,
    an unusual radius) go to ``warn``, one line each (default: stderr).

    Streamed: the file is read ``chunk_bytes`` at a time and fed in the device's blocks as it
    is read, so memory stays flat however long the recording (the summary is the same for
    any chunk size, the whole file's)."""
    warn = warn or _warn_stderr
    with RecordingReader(path, chunk_bytes=chunk_bytes) as recording:
        told = len(recording.warnings)
        for note in recording.warnings:
            warn(note)
        session = _session(path, recording.meta, protocol=protocol, tool=tool, radius_m=radius_m,
                           routines_dir=routines_dir, profile=profile, session_id=session_id)
        for b in iter_blocks(recording.blocks()):
            session.feed(b)
        for note in recording.warnings[told:]:  # found at the end: a last row cut short
            warn(note)
    return session.summary()


def _session(path, meta: dict, *, protocol, tool, radius_m, routines_dir, profile, session_id) -> Session:
    """The Session a recording replays into: flags over metadata over the routine's tool and
    radius."""
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
    return Session(
        session_id=session_id or meta.get("session_id") or new_session_id(),
        routine=routine,
        settings=settings,
        profile=profile,
    )


def _warn_stderr(message: str) -> None:
    print(f"rollsense replay: warning: {message}", file=sys.stderr)
