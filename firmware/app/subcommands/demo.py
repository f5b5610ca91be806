"""``rollsense demo``."""

from __future__ import annotations

from firmware.app.demo import DemoOptions, run_demo


def demo(a) -> int:
    return run_demo(DemoOptions(
        protocol=a.protocol, program=a.program, scenario=a.scenario, seed=a.seed, fast=a.fast, speed=a.speed,
        broker_url=a.broker, dashboard=not a.no_dashboard, port=a.port, db_url=a.db,
        device_id=a.device_id, json=a.json,
    ))
