"""``rollsense broker``: the broker's users and config (firmware.app.brokeradmin; a site's
bridge to a centre: firmware.app.bridgeadmin)."""

from __future__ import annotations

from firmware.app.bridgeadmin import main as bridge_main
from firmware.app.brokeradmin import main as broker_main


def broker(a) -> int:
    if a.action == "add-bridge":
        return bridge_main(a.broker_args)
    return broker_main([a.action, *a.broker_args])
