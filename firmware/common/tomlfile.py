"""Read a TOML file with one clear ConfigError line for each way it can be unreadable."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from firmware.common.errors import ConfigError


def read_toml(path: str | os.PathLike, label: str | None = None, kind: str = "") -> dict:
    """The parsed document; ``label`` names the file in messages (default: the path),
    ``kind`` says what it is ("config", "routine")."""
    path = Path(path)
    name = label or str(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        what = f" the {kind} file" if kind else ""
        raise ConfigError(f"{name}: cannot read{what}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{name}: not UTF-8 text") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{name}: not valid TOML: {e}") from e
