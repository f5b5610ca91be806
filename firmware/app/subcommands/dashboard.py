"""``rollsense dashboard`` (and its one-shot changes to the store: ``--add-user``,
``--link-client``, ``--unlink-client``, ``--trust-device``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dashboard.access import add_login, link_client, unlink_client
from dashboard.auth import check_username
from dashboard.devices import mark_paired
from dashboard.queries import get_device
from dashboard.reminders import parse_reminder_at
from dashboard.retention import parse_retention_days
from dashboard.server import check_port, fingerprint, run_dashboard, tls_files
from dashboard.store import open_store
from firmware.app import argtypes
from firmware.common.errors import ConfigError
from firmware.common.mqtt_url import parse_broker_url


def dashboard(a) -> int:
    one_shots = [flag for flag, given in (("--add-user", a.add_user is not None),
                                          ("--link-client", a.link_client is not None),
                                          ("--unlink-client", a.unlink_client is not None),
                                          ("--trust-device", bool(a.trust_device))) if given]
    if len(one_shots) > 1:  # each does its one job and exits: two would leave one undone
        raise ConfigError(f"{' and '.join(one_shots)}: give one at a time")
    for link, change in ((a.link_client, link_client), (a.unlink_client, unlink_client)):
        if link is not None:  # issue 23: a therapist's clients
            return _link(a, link, change)
    if a.trust_device:
        return _trust(a)
    if a.add_user is not None:
        check_username(a.add_user)
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise ConfigError("--add-user: give the password on standard input")
        argtypes.check_sqlite_path(a.db)
        store = open_store(a.db)
        try:
            replaced = add_login(store, a.add_user, password, role=a.role, person_id=a.person, replace=a.replace)
        finally:
            store.close()
        role = f" ({a.role}{' ' + a.person if a.person else ''})" if a.role else ""
        print(f"user {a.add_user} {'password replaced' if replaced else 'added'}{role}")
        return 0
    if a.replace:
        raise ConfigError("--replace only applies with --add-user NAME")
    if a.role or a.person:
        raise ConfigError("--role and --person only apply with --add-user NAME")
    argtypes.check_sqlite_path(a.db)
    reminder_at = parse_reminder_at(a.reminder_at)  # a bad time: one line, exit 2, before anything starts
    retention_days = parse_retention_days(a.telemetry_retention_days)  # the same
    check_port(a.host, a.port)  # a bad or busy address: one line, before the line saying where
    tls = tls_files(a.host, a.db, a.tls_cert, a.tls_key)  # made or checked before saying where
    if a.trusted_proxy:
        proxies = [p for group in a.trusted_proxy for p in group]
    else:
        try:
            proxies = argtypes.proxies(os.environ.get("ROLLSENSE_DASHBOARD_TRUSTED_PROXY", ""))
        except argparse.ArgumentTypeError as e:
            raise ConfigError(f"$ROLLSENSE_DASHBOARD_TRUSTED_PROXY: {e}") from None
    store_kind = "PostgreSQL" if a.db.startswith("postgresql") else "SQLite"
    shown_host = "127.0.0.1" if a.host in ("0.0.0.0", "::") else a.host
    scheme = "https" if tls else "http"
    print(f"rollsense dashboard on {scheme}://{shown_host}:{a.port} (broker {parse_broker_url(a.broker)}, "
          f"{store_kind} store); Ctrl-C stops", file=sys.stderr, flush=True)
    if tls:
        print(f"HTTPS certificate {tls.cert}{' (self-signed)' if tls.made else ''}, "
              f"SHA-256 {fingerprint(tls.cert)}", file=sys.stderr, flush=True)
    run_dashboard(a.broker, a.db, a.host, a.port,
                  workers=a.ingest_workers, tls_cert=str(tls.cert) if tls else None,
                  tls_key=str(tls.key) if tls else None, trusted_proxies=proxies, reminder_at=reminder_at,
                  telemetry_retention_days=retention_days, ingest_share=a.ingest_share)
    return 0


def _link(a, names: list[str], change) -> int:
    """``--link-client THERAPIST PERSON`` / ``--unlink-client THERAPIST PERSON``."""
    if a.add_user is not None or a.role or a.person:
        raise ConfigError("--link-client and --unlink-client go alone (no --add-user, --role, --person)")
    therapist, person_id = names
    store = _existing_store(a.db, "add the therapist with --add-user first")  # a link needs its logins
    try:
        changed = change(store, therapist, person_id)
    finally:
        store.close()
    linked = change is link_client
    state = ("linked to" if changed else "was already linked to") if linked else \
        ("unlinked from" if changed else "was not linked to")
    print(f"person {person_id} {state} therapist {therapist}")
    return 0



def _trust(a) -> int:
    """``--trust-device ID`` (repeatable): mark devices the dashboard has seen as paired, as
    pairing with a code on the Devices page does, and exit. An id it has not seen is refused
    before anything changes: a typo would otherwise stand as a paired device that never was."""
    if a.role or a.person or a.replace:
        raise ConfigError("--trust-device goes alone (no --role, --person, --replace)")
    store = _existing_store(a.db, "a device is listed once the dashboard has heard it on its broker")
    try:
        devices = {}
        for device_id in dict.fromkeys(a.trust_device):
            device = get_device(store, device_id)
            if device is None:
                raise ConfigError(f"no device {device_id!r} in this store: a device is listed once the "
                                  "dashboard has heard it on its broker (the Devices page shows the ids)")
            devices[device_id] = device
        for device_id, device in devices.items():
            if not device["paired"]:
                mark_paired(store, device_id, True)
            print(f"device {device_id} {'was already paired' if device['paired'] else 'marked as paired'}")
    finally:
        store.close()
    return 0


def _existing_store(db_url: str, hint: str):
    """The dashboard's store at ``db_url``, which must exist already (a one-shot change makes
    no new SQLite file); ConfigError with ``hint`` if it does not."""
    argtypes.check_sqlite_path(db_url)
    sqlite_path = None if db_url.startswith(("postgresql://", "postgres://")) else db_url.removeprefix("sqlite:///")
    if sqlite_path and not Path(sqlite_path).is_file():
        raise ConfigError(f"{sqlite_path}: no dashboard store there ({hint})")
    return open_store(db_url)
