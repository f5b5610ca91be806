"""``rollsense dashboard`` (and ``--add-user``)."""

from __future__ import annotations

import argparse
import os
import sys

from dashboard.auth import add_user, check_username
from dashboard.reminders import parse_reminder_at
from dashboard.server import check_port, fingerprint, run_dashboard, tls_files
from dashboard.store import open_store
from firmware.app import argtypes
from firmware.common.errors import ConfigError
from firmware.common.mqtt_url import parse_broker_url


def dashboard(a) -> int:
    if a.add_user is not None:
        check_username(a.add_user)
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise ConfigError("--add-user: give the password on standard input")
        argtypes.check_sqlite_path(a.db)
        store = open_store(a.db)
        try:
            replaced = add_user(store, a.add_user, password, replace=a.replace)
        finally:
            store.close()
        print(f"user {a.add_user} {'password replaced' if replaced else 'added'}")
        return 0
    if a.replace:
        raise ConfigError("--replace only applies with --add-user NAME")
    argtypes.check_sqlite_path(a.db)
    reminder_at = parse_reminder_at(a.reminder_at)  # a bad time: one line, exit 2, before anything starts
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
    run_dashboard(a.broker, a.db, a.host, a.port, trust_devices=a.trust_device,
                  workers=a.ingest_workers, tls_cert=str(tls.cert) if tls else None,
                  tls_key=str(tls.key) if tls else None, trusted_proxies=proxies, reminder_at=reminder_at,
                  ingest_share=a.ingest_share)
    return 0
