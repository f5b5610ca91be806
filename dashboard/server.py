"""Run the dashboard: open the store, start the MQTT ingest, build the web app and serve it
with uvicorn until Ctrl-C or ``stop_event`` (so ``rollsense demo`` can run it in a thread).
Beyond loopback it serves HTTPS only: with the certificate the admin gives, else with a
self-signed one made (by ``openssl``) on first start and kept beside the store."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import time as dt_time
from pathlib import Path

import uvicorn

from dashboard.devices import mark_paired
from dashboard.ingest import Ingest, client_id_for, share_group_for
from dashboard.reminders import Reminders
from dashboard.retention import DEFAULT_DAYS, TelemetryRetention
from dashboard.store import open_store
from dashboard.web import create_app
from dashboard.workers import IngestGroup
from firmware.common.errors import ConfigError, SetupError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SECRET_ENV = "ROLLSENSE_DASHBOARD_SECRET"
CERT_DAYS = 825  # the longest Apple platforms accept for a TLS server certificate
CERT_RENEW_S = 30 * 24 * 3600  # a certificate made here is made anew this long before it ends
log = logging.getLogger("rollsense.dashboard")


def is_loopback(host: str) -> bool:
    """True for localhost and any loopback address (127.0.0.0/8, ::1)."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def state_path(db_url: str, suffix: str) -> Path | None:
    """Where the dashboard keeps a file of its own (the cookie key, the TLS certificate):
    beside a SQLite store (``<db>`` + suffix), else in ~/.local/state/rollsense
    (``dashboard`` + suffix). None for an in-memory SQLite store."""
    if db_url.startswith(("postgresql://", "postgres://")):
        state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "rollsense"
        return state / ("dashboard" + suffix)
    db_path = db_url[len("sqlite:///"):] if db_url.startswith("sqlite:///") else db_url
    if db_path == ":memory:":
        return None
    return Path(db_path).with_name(Path(db_path).name + suffix)


def secret_key_for(db_url: str) -> str:
    """The cookie-signing key: $ROLLSENSE_DASHBOARD_SECRET, else a random key kept (mode 0600)
    next to a SQLite store or in ~/.local/state/rollsense for PostgreSQL, so logins survive a
    restart. An existing key file is never overwritten."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    if db_url.startswith(("postgresql://", "postgres://")):
        state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "rollsense"
        path = state / "dashboard-secret"
    else:
        path = state_path(db_url, ".secret")
        if path is None:
            return secrets.token_hex(32)
    try:
        return path.read_text().strip() or _write_secret(path)
    except FileNotFoundError:
        return _write_secret(path)
    except OSError as e:
        raise SetupError(f"cannot read the dashboard secret {path}: {e}") from e


def _write_secret(path: Path) -> str:
    key = secrets.token_hex(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


# ================================================================= HTTPS


@dataclass(frozen=True)
class TLSFiles:
    cert: Path
    key: Path
    made: bool  # a self-signed certificate made by the dashboard (not given by the admin)


def tls_files(host: str, db_url: str, cert: str | None, key: str | None) -> TLSFiles | None:
    """The certificate and key to serve HTTPS with, or None (plain HTTP: loopback without a
    certificate given). Given ones are checked (one line if unreadable or not a pair);
    beyond loopback without them, a self-signed certificate is made on first start beside
    the store and kept (made anew 30 days before it ends). SetupError when none can be made."""
    if bool(cert) != bool(key):
        raise ConfigError("give both --tls-cert and --tls-key (or neither)")
    if cert and key:
        files = TLSFiles(Path(cert), Path(key), made=False)
        check_tls(files)
        return files
    if is_loopback(host):
        return None
    cert_path = state_path(db_url, ".tls.crt") or state_path("postgresql://", ".tls.crt")
    files = TLSFiles(cert_path, cert_path.with_name(cert_path.name[: -len(".crt")] + ".key"), made=True)
    if not (files.cert.is_file() and files.key.is_file()) or _expiring(files.cert):
        make_self_signed(files, host)
    check_tls(files)
    return files


def check_tls(files: TLSFiles) -> None:
    """One line when the certificate or key cannot serve (missing, unreadable, not a pair)."""
    for path in (files.cert, files.key):
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise SetupError(f"dashboard TLS: cannot read {path}: {e.strerror or e}") from e
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(str(files.cert), str(files.key))
    except (ssl.SSLError, OSError) as e:
        reason = "the key does not match the certificate" if "KEY_VALUES_MISMATCH" in str(e) else \
            f"not a PEM certificate and its key ({getattr(e, 'reason', None) or e})"
        raise SetupError(f"dashboard TLS: {files.cert} / {files.key}: {reason}") from e


def fingerprint(cert: Path) -> str:
    """SHA-256 fingerprint of a PEM certificate, as browsers show it (AB:CD:...)."""
    der = ssl.PEM_cert_to_DER_cert(Path(cert).read_text())
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _expiring(cert: Path) -> bool:
    openssl = shutil.which("openssl")
    if openssl is None:
        return False
    r = subprocess.run([openssl, "x509", "-checkend", str(CERT_RENEW_S), "-noout", "-in", str(cert)],
                       capture_output=True, timeout=30)
    return r.returncode != 0


def _names(host: str) -> tuple[list[str], list[str]]:
    """DNS names and IP addresses the certificate is made for: this machine's name (and
    name.local for mDNS), localhost, loopback, the listen address and the address of the
    interface with the default route (found without sending anything)."""
    name = socket.gethostname() or "rollsense"
    dns = [name] + ([name + ".local"] if "." not in name else []) + ["localhost"]
    ips = ["127.0.0.1", "::1"]
    candidates = [host]
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))  # UDP: picks a route, sends nothing
                candidates.append(s.getsockname()[0])
        except OSError:
            pass
    for c in candidates:
        try:
            ip = ipaddress.ip_address(c.strip("[]").split("%")[0])
        except ValueError:
            if c and c not in dns:
                dns.append(c)
            continue
        if not ip.is_unspecified and str(ip) not in ips:
            ips.append(str(ip))
    return dns, ips


def make_self_signed(files: TLSFiles, host: str) -> None:
    """A self-signed certificate (EC P-256, CERT_DAYS) and its key (mode 0600), written
    atomically by ``openssl``; SetupError in one line when there is no openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SetupError(f"dashboard on {host} serves HTTPS but has no certificate: give --tls-cert and "
                         "--tls-key, or install openssl (apt install openssl) to make one")
    dns, ips = _names(host)
    san = ",".join([f"DNS:{n}" for n in dns] + [f"IP:{i}" for i in ips])
    files.cert.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=files.cert.parent, prefix=".tls-") as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        r = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-sha256", "-days", str(CERT_DAYS), "-subj", f"/O=rollsense/CN={dns[0]}",
             "-addext", f"subjectAltName={san}", "-addext", "extendedKeyUsage=serverAuth",
             "-keyout", str(key), "-out", str(cert)],
            capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["failed"])[-1]
            raise SetupError(f"dashboard TLS: openssl could not make a certificate: {last}")
        os.chmod(key, 0o600)
        os.chmod(cert, 0o644)
        os.replace(key, files.key)
        os.replace(cert, files.cert)
    log.info("dashboard TLS: made a self-signed certificate %s (SHA-256 %s)", files.cert,
             fingerprint(files.cert))


def check_port(host: str, port: int) -> None:
    """Fail with one clear line when the address is taken (uvicorn would exit the process)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise SetupError(f"dashboard cannot listen on {host}:{port}: {e.strerror or e}") from e


def _watch(server: uvicorn.Server, app, stop_event: threading.Event | None, ready_event: threading.Event | None,
           done: threading.Event) -> None:
    """Set ``ready_event`` once serving; on ``stop_event`` (or uvicorn's own Ctrl-C) end the
    live streams so the shutdown is quick, and ask uvicorn to exit."""
    ready_sent = False
    while not done.wait(0.05):
        if not ready_sent and server.started:
            ready_sent = True
            if ready_event is not None:
                ready_event.set()
        if (stop_event is not None and stop_event.is_set()) or server.should_exit:
            app.state.dashboard.hub.close()
            server.should_exit = True
            return


def run_dashboard(
    broker_url: str,
    db_url: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    stop_event: threading.Event | None = None,
    ready_event: threading.Event | None = None,
    workers: int = 1,
    trust_devices=(),
    tls_cert: str | None = None,
    tls_key: str | None = None,
    trusted_proxies=(),
    reminder_at: dt_time | None = None,
    telemetry_retention_days: int = DEFAULT_DAYS,
    ingest_share: str | None = None,
) -> None:
    """Serve the dashboard until Ctrl-C or ``stop_event``. ``workers`` > 1 runs that many
    ingest worker processes on an MQTT v5 shared subscription (dashboard/workers.py).
    ``trust_devices`` are marked paired without a code (the demo's own simulated device,
    administrators). HTTPS with ``tls_cert``/``tls_key``, and always beyond loopback
    (tls_files). X-Forwarded-For/-Proto are believed only from ``trusted_proxies``
    (addresses or networks; none by default); with any, a login is required on loopback too.
    ``reminder_at`` (a local time, None: off): the plan reminders for Home Assistant
    (dashboard/reminders.py). ``telemetry_retention_days`` (0: for ever): telemetry received
    longer ago is dropped, checked hourly (dashboard/retention.py). ``ingest_share`` (a name):
    the workers join the shared subscription of that name with every other dashboard given it
    (other hosts, one store, one $ROLLSENSE_DASHBOARD_SECRET), and the live view hears the
    broker and the store (dashboard/ingest_live.py; docs/sites.md)."""
    # behind a reverse proxy the clients are elsewhere, whatever address the dashboard has
    auth_required = not is_loopback(host) or bool(trusted_proxies)
    check_port(host, port)
    tls = tls_files(host, db_url, tls_cert, tls_key)
    store = open_store(db_url)
    ingest = reminders = retention = None
    try:
        for device_id in trust_devices or ():
            mark_paired(store, device_id, True)
        client_id = client_id_for(db_url)  # two dashboards on one broker: two ids, two groups
        if ingest_share:  # workers on this and other hosts, one group (docs/sites.md)
            group = share_group_for(f"rollsense-dashboard-{ingest_share}", secret_key_for(db_url))
            ingest = IngestGroup(broker_url, db_url, store, workers, client_id=client_id,
                                 group=group, live="broker")
        elif workers > 1:  # worker processes on a shared subscription (dashboard/workers.py)
            group = share_group_for(client_id, secret_key_for(db_url))  # no device can join it
            ingest = IngestGroup(broker_url, db_url, store, workers, client_id=client_id,
                                 group=group)
        else:
            ingest = Ingest(broker_url, store, client_id=client_id)
        retention = TelemetryRetention(store, telemetry_retention_days)
        app = create_app(store, ingest, auth_required=auth_required, secret_key=secret_key_for(db_url),
                         secure_cookies=tls is not None, retention=retention)
        ingest.start()
        retention.start()
        if reminder_at is not None:  # issue 22: on a connection of its own (same login)
            reminders = Reminders(store, broker_url, reminder_at, client_id=client_id + "-reminders")
            reminders.start()
        proxies = [str(p) for p in trusted_proxies or ()]
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=3,
                                # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: a
                                # local process could pose as any address to the login throttle
                                proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None,
                                ssl_certfile=str(tls.cert) if tls else None,
                                ssl_keyfile=str(tls.key) if tls else None)
        server = uvicorn.Server(config)
        done = threading.Event()
        watcher = threading.Thread(target=_watch, args=(server, app, stop_event, ready_event, done),
                                   name="dashboard-watch", daemon=True)
        watcher.start()
        if auth_required:
            log.warning("dashboard on %s:%d: login required (add users with --add-user)", host, port)
        if tls is not None:
            log.info("dashboard HTTPS certificate %s (SHA-256 %s)", tls.cert, fingerprint(tls.cert))
        try:
            server.run()
        finally:
            done.set()
            watcher.join(2)
    finally:
        if retention is not None:
            retention.stop()
        if reminders is not None:
            reminders.stop()
        if ingest is not None:
            ingest.stop()
        store.close()
