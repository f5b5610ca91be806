"""Run the dashboard: open the store, start the MQTT ingest, build the web app and serve it
with uvicorn until Ctrl-C or ``stop_event`` (so ``rollsense demo`` can run it in a thread)."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from pathlib import Path

import uvicorn

from firmware.errors import SetupError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SECRET_ENV = "ROLLSENSE_DASHBOARD_SECRET"
log = logging.getLogger("rollsense.dashboard")


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
        db_path = db_url[len("sqlite:///"):] if db_url.startswith("sqlite:///") else db_url
        if db_url.startswith("sqlite:////"):
            db_path = db_url[len("sqlite:///") - 1:]
        if db_path == ":memory:":
            return secrets.token_hex(32)
        path = Path(db_path).with_name(Path(db_path).name + ".secret")
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
) -> None:
    """Serve the dashboard until Ctrl-C or ``stop_event``. ``workers`` > 1 runs that many
    ingest worker processes on an MQTT v5 shared subscription (dashboard/workers.py).
    ``trust_devices`` are marked paired without a code (the demo's own simulated device,
    administrators)."""
    from dashboard.ingest import Ingest, client_id_for, share_group_for
    from dashboard.store import open_store
    from dashboard.web import create_app, mark_paired
    from dashboard.workers import IngestGroup

    auth_required = host not in LOOPBACK_HOSTS
    check_port(host, port)
    store = open_store(db_url)
    ingest = None
    try:
        for device_id in trust_devices or ():
            mark_paired(store, device_id, True)
        client_id = client_id_for(db_url)  # two dashboards on one broker: two ids, two groups
        if workers > 1:  # worker processes on a shared subscription (dashboard/workers.py)
            group = share_group_for(client_id, secret_key_for(db_url))  # no device can join it
            ingest = IngestGroup(broker_url, db_url, store, workers, client_id=client_id,
                                 group=group)
        else:
            ingest = Ingest(broker_url, store, client_id=client_id)
        app = create_app(store, ingest, auth_required=auth_required, secret_key=secret_key_for(db_url))
        ingest.start()
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=3)
        server = uvicorn.Server(config)
        done = threading.Event()
        watcher = threading.Thread(target=_watch, args=(server, app, stop_event, ready_event, done),
                                   name="dashboard-watch", daemon=True)
        watcher.start()
        if auth_required:
            log.warning("dashboard on %s:%d: login required (add users with --add-user)", host, port)
        try:
            server.run()
        finally:
            done.set()
            watcher.join(2)
    finally:
        if ingest is not None:
            ingest.stop()
        store.close()
