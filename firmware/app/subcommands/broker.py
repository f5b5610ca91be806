"""``rollsense broker``: the broker's users and config (firmware.app.brokeradmin)."""

from __future__ import annotations

from firmware.app.brokeradmin import main as broker_main


def broker(a) -> int:
    return broker_main([a.action, *a.broker_args])
