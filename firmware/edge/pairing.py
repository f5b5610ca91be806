"""Pairing codes: ``rollsense pair`` writes a short-lived 6-digit code into the state
directory; the device answers the dashboard's ``cmd/pair`` only for that code."""

from __future__ import annotations

import hmac
import json
import secrets
import time
from pathlib import Path

from firmware.common.files import write_atomic

PAIRING_FILE = "pairing.json"
CODE_TTL_S = 600


def new_code(state_dir: str | Path, *, now_s: float | None = None, ttl_s: float = CODE_TTL_S) -> str:
    """Make, store (atomically, mode 0600) and return a fresh 6-digit code."""
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    code = f"{secrets.randbelow(1_000_000):06d}"
    expires = (time.time() if now_s is None else now_s) + ttl_s
    write_atomic(state / PAIRING_FILE, json.dumps({"code": code, "expires_at_s": expires}))
    return code


def check_code(state_dir: str | Path, code: str, *, now_s: float | None = None) -> bool:
    """True only for the current, unexpired code (constant-time compare)."""
    try:
        data = json.loads((Path(state_dir) / PAIRING_FILE).read_text())
        stored, expires = str(data["code"]), float(data["expires_at_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if (time.time() if now_s is None else now_s) > expires:
        return False
    return hmac.compare_digest(stored.encode(), code.encode())
