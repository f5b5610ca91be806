"""Files that a power cut cannot leave half-written.

``write_atomic`` is how rollsense replaces a small state file (the calibration, the people
on a device, the pairing code): a reader, or the device after a power cut, sees the old file
or the new one, never a mix. The journal is SQLite and does this itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | os.PathLike, text: str, *, mode: int = 0o600,
                 before_replace: Callable[[], None] | None = None) -> Path:
    """Write ``text`` to ``path``: a temporary file in the same directory (so the rename
    stays on one file system), flushed and fsynced, given ``mode``, renamed over ``path``,
    then the directory fsynced so the rename itself survives a power cut.
    ``before_replace`` runs just before the rename (the calibration keeps its history there).
    Raises OSError; the temporary file is removed when anything fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable; best effort where a directory cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
