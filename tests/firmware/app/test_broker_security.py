"""The shipped broker security (systemd/mosquitto/rollsense.conf and its ACLs) on a real
Mosquitto: devices log in only on the TLS listener and only the dashboard on the loopback one,
devices are confined to their own topics and cannot take another client's id or a share of the
dashboard's subscription, anonymous and wrong passwords are refused, the dashboard reads all
and writes only commands, acks and its Home Assistant plan reminders, TLS works with a CA made here."""

from __future__ import annotations

import grp
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dashboard.ingest import Ingest, client_id_for, share_group_for
from dashboard.server import secret_key_for
from dashboard.store import open_store
from dashboard.workers import STORED
from firmware.app import brokeradmin
from firmware.app.doctor import check_broker
from firmware.common.clock import MonotonicClock
from firmware.common.errors import ConfigError
from firmware.common.mqtt_url import make_client, parse_broker_url
from firmware.edge.broker import PrivateBroker, free_port
from firmware.edge.config import Config, apply_overrides
from firmware.edge.journal import Journal
from firmware.edge.link import Link, LinkSettings
from tests.conftest import Subacks
from tests.firmware.edge.test_link import StateLines, wait_until

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "systemd" / "mosquitto"
PASSWORDS = {"dev-a": "pw-a", "dev-b": "pw-b", "dashboard": "pw-dash"}


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d: Path, name: str) -> None:
    """A CA and a server certificate for 127.0.0.1 / localhost, signed by it."""
    d.mkdir(parents=True, exist_ok=True)
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={name} CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=d,
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=d,
    )
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
        cwd=d,
    )


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    """A Mosquitto running the shipped config (paths and ports moved into a temp dir)."""
    etc = tmp_path_factory.mktemp("etc-mosquitto")
    make_ca(etc / "certs", "rollsense test")
    make_ca(etc / "other", "untrusted")
    for f in SHIPPED.iterdir():  # the ACLs, installed under their own names (install-pi.sh)
        if f.suffix != ".conf":
            (etc / f.name).write_text(f.read_text())
    for dev in ("dev-a", "dev-b"):
        brokeradmin.add_device(
            dev, etc / "rollsense.passwd", password=PASSWORDS[dev], acl_file=etc / "rollsense.acl"
        )
    # the dashboard user the way an admin adds it: with mosquitto_passwd itself, in a file of its own
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(etc / "rollsense-dashboard.passwd"), "dashboard",
         PASSWORDS["dashboard"]],
        check=True,
        capture_output=True,
    )
    conf = (SHIPPED / "rollsense.conf").read_text()
    plain, tls = free_port(), free_port()
    assert "listener 1883 127.0.0.1" in conf and "\nlistener 8883\n" in conf
    conf = conf.replace("/etc/mosquitto/", f"{etc}/")
    conf = conf.replace("listener 1883 127.0.0.1", f"listener {plain} 127.0.0.1")
    conf = conf.replace("\nlistener 8883\n", f"\nlistener {tls} 127.0.0.1\n")
    broker = PrivateBroker(etc / "broker", anonymous=False, extra_conf=conf)
    broker.start()
    yield {"broker": broker, "etc": etc, "plain": plain, "tls": tls}
    broker.close()


def url(
    secure, user: str | None, password: str | None = None, tls: bool = False, ca: Path | None = None
) -> str:
    cred = f"{user}:{password if password is not None else PASSWORDS[user]}@" if user else ""
    if tls:
        ca = ca or secure["etc"] / "certs" / "ca.crt"
        return f"mqtts://{cred}127.0.0.1:{secure['tls']}?ca={ca}"
    return f"mqtt://{cred}127.0.0.1:{secure['plain']}"


class Probe:
    """A blocking-style test client: connect, publish (PUBACK reason), subscribe (SUBACK reasons)."""

    def __init__(self, broker_url: str, client_id: str):
        self.client = make_client(parse_broker_url(broker_url), client_id)
        self.connack = None
        self.acks: dict[int, object] = {}
        self.subacks: dict[int, list] = {}
        self.messages: list = []
        self.done = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda c, u, mid, rc, p: self._put(self.acks, mid, rc)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._put(self.subacks, mid, rcs)
        self.client.on_message = lambda c, u, m: self.messages.append(m)
        a = parse_broker_url(broker_url)
        self.client.connect(a.host, a.port)
        self.client.loop_start()
        self._wait(lambda: self.connack is not None)

    def _on_connect(self, client, userdata, flags, rc, props):
        with self.done:
            self.connack = rc
            self.done.notify_all()

    def _put(self, d, k, v):
        with self.done:
            d[k] = v
            self.done.notify_all()

    def _wait(self, pred, timeout_s: float = 5.0):
        with self.done:
            assert self.done.wait_for(pred, timeout_s), "no answer from the broker"

    def publish(self, topic: str, payload="x") -> int:
        info = self.client.publish(topic, payload, qos=1)
        self._wait(lambda: info.mid in self.acks)
        return self.acks[info.mid].value

    def subscribe(self, topic: str) -> int:
        rc, mid = self.client.subscribe(topic, qos=1)
        self._wait(lambda: mid in self.subacks)
        return self.subacks[mid][0].value

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def test_device_cannot_publish_or_subscribe_as_another(secure):
    a = Probe(url(secure, "dev-a", tls=True), "probe-a")
    try:
        assert a.connack.value == 0
        assert a.publish("rollsense/dev-a/event") < 0x80
        assert a.publish("homeassistant/device/dev-a/config", "{}") < 0x80
        assert a.publish("rollsense/dev-b/event") == 135  # v5 PUBACK: Not authorized
        assert a.publish("rollsense/dev-b/session") == 135
        assert a.publish("homeassistant/device/dev-b/config", "{}") == 135
        assert a.publish("rollsense/dev-a-evil/event") == 135
        assert a.subscribe("rollsense/dev-a/cmd/+") == 1
        # Mosquitto 2.0's acl_file answers every SUBACK with success (eclipse/mosquitto#803) and
        # applies the read ACL when it delivers: a subscription to B's topics receives nothing.
        for topic in ("rollsense/dev-b/#", "rollsense/#", "rollsense/+/session", "#"):
            a.subscribe(topic)
        b = Probe(url(secure, "dev-b", tls=True), "probe-b2")
        try:
            assert b.publish("rollsense/dev-b/session", '{"session_id": "private"}') < 0x80
            assert b.publish("rollsense/dev-b/cmd/ping/result", "{}") < 0x80
            assert b.publish("rollsense/dev-a/event", "{}") == 135
        finally:
            b.close()
        assert a.publish("rollsense/dev-a/telemetry", "mine") < 0x80  # delivered to a itself
        wait_until(
            lambda: any(m.topic == "rollsense/dev-a/telemetry" for m in a.messages), what="own data"
        )
        assert [m.topic for m in a.messages if "dev-b" in m.topic] == []
    finally:
        a.close()


def test_anonymous_and_wrong_password_are_refused(secure):
    for broker_url in (
        url(secure, None),
        url(secure, "dev-a", "wrong"),
        url(secure, "nobody", "x"),
        url(secure, "dev-a", "pw-b"),
        url(secure, "dev-a", tls=True, password="pw-b"),
        url(secure, "dev-a"),  # a device's right login, on the dashboard's listener
        url(secure, "dashboard", tls=True),  # the dashboard's, on the devices' listener
    ):
        p = Probe(broker_url, "intruder")
        try:
            assert p.connack.is_failure and p.connack.value in (134, 135), p.connack
        finally:
            p.close()
    # the broker's own listener (PrivateBroker's) is locked down the same way
    p = Probe(secure["broker"].url, "intruder2")
    try:
        assert p.connack.is_failure
    finally:
        p.close()


def test_dashboard_reads_all_writes_only_commands_and_acks(secure):
    dash = Probe(url(secure, "dashboard"), "dash-probe")
    dev = Probe(url(secure, "dev-b", tls=True), "probe-b")
    try:
        assert dash.subscribe("rollsense/#") == 1
        assert dev.subscribe("rollsense/dev-b/cmd/+") == 1
        assert dev.publish("rollsense/dev-b/telemetry", "{}") < 0x80
        assert dash.publish("rollsense/dev-b/cmd/ping", '{"id": "1"}') < 0x80
        assert dash.publish("rollsense/dev-b/ack", '{"session_id": "s"}') < 0x80
        assert dash.publish("rollsense/dev-b/session", "{}") == 135  # cannot forge device data
        assert dash.publish("rollsense/dev-b/status", "offline") == 135
        assert dash.publish("homeassistant/device/dev-b/config", "{}") == 135
        # its plan reminders for Home Assistant (dashboard/reminders.py), and only those
        assert dash.publish("homeassistant/event/rollsense_reminder_ann/config", "{}") < 0x80
        assert dash.publish("homeassistant/event/rollsense_reminder_ann/state", '{"event_type": "due"}') < 0x80
        assert dash.publish("homeassistant/sensor/x/config", "{}") == 135
        assert dev.publish("homeassistant/event/rollsense_reminder_ann/state", "{}") == 135  # no device forges one
        wait_until(
            lambda: any(m.topic == "rollsense/dev-b/cmd/ping" for m in dev.messages), what="command"
        )
        wait_until(
            lambda: any(m.topic == "rollsense/dev-b/telemetry" for m in dash.messages),
            what="telemetry",
        )
    finally:
        dash.close()
        dev.close()


def test_tls_link_and_ingest_with_the_shipped_config(secure, tmp_path):
    store = open_store(str(tmp_path / "dash.db"))
    ingest = Ingest(url(secure, "dashboard"), store, client_id="dash-sec", shared_group="ingest")
    subacks = Subacks.of(ingest)
    ingest.start()
    journal = Journal(tmp_path / "j.db")
    link = Link(
        "dev-a",
        url(secure, "dev-a", tls=True),
        journal,
        MonotonicClock(),
        {"version": "t"},
        LinkSettings(reconnect_max_s=1, resend_min_s=0.5),
    )
    try:
        assert ingest.wait_connected(10)
        subacks.wait()
        link.start()
        journal.start_session("tls-1", "quads-roller", "roller", "2026-01-01T10:00:00Z")
        journal.record_event("tls-1", {"event_type": "cue", "t_s": 1.0})
        journal.finish_session("tls-1", {"protocol": "quads-roller", "tool": "roller",
                                         "duration_s": 1.0, "completed": True, "passes": 2})
        wait_until(lambda: journal.outbox() == [], what="summary acked over TLS")
        assert store.query("SELECT session_id, device_id FROM sessions") == [
            {"session_id": "tls-1", "device_id": "dev-a"}
        ]
        wait_until(
            lambda: (
                store.query("SELECT status FROM devices WHERE device_id = 'dev-a'")
                == [{"status": "online"}]
            ),
            what="status",
        )
        assert link.client._ssl  # really TLS
    finally:
        link.stop()
        ingest.stop()
        journal.close()
        store.close()


def test_link_treats_puback_135_as_failure(secure, tmp_path):
    journal = Journal(tmp_path / "j.db")
    # credentials of dev-a, but claiming to be dev-b: every publish is refused
    link = Link(
        "dev-b",
        url(secure, "dev-a", tls=True),
        journal,
        MonotonicClock(),
        {},
        LinkSettings(reconnect_max_s=1, retry_failed_s=60),
    )
    try:
        link.start()
        journal.record_event("s", {"event_type": "cue", "t_s": 0.0})
        wait_until(lambda: link.stats["outbox_puback_failed"] >= 1, what="PUBACK 135")
        rows = journal.outbox()
        assert len(rows) == 1 and rows[0].state == "pending"  # kept, retried later, never lost
        assert journal.due(link.clock.now_s(), 10) == []  # backed off
    finally:
        link.stop()
        journal.close()


def test_a_device_cannot_push_others_off_by_reusing_their_client_id(secure):
    dash = Probe(url(secure, "dashboard"), "rollsense-dashboard")
    b = Probe(url(secure, "dev-b", tls=True), "rollsense-dev-b")
    try:
        for stolen in ("rollsense-dashboard", "rollsense-dev-b", "dev-b"):
            evil = Probe(url(secure, "dev-a", tls=True), stolen)
            assert evil.connack.value == 0  # connected, but under its own name
            evil.close()
        # a round trip each: a takeover's DISCONNECT would have reached them before the PUBACK
        assert b.publish("rollsense/dev-b/telemetry", "{}") < 0x80
        assert dash.publish("rollsense/dev-b/cmd/ping", '{"id": "round-trip"}') < 0x80
        assert dash.client.is_connected() and b.client.is_connected()
        assert dash.publish("rollsense/dev-b/cmd/ping", '{"id": "still-here"}') < 0x80
    finally:
        dash.close()
        b.close()


def test_untrusted_ca_and_plaintext_on_tls_port_fail(secure):
    c = make_client(
        parse_broker_url(url(secure, "dev-a", tls=True, ca=secure["etc"] / "other" / "ca.crt")), "x"
    )
    with pytest.raises(ssl.SSLError):
        c.connect("127.0.0.1", secure["tls"])
    # a client that skips TLS cannot talk to the TLS listener
    p = make_client(parse_broker_url(url(secure, "dev-a")), "y")
    got = []
    dropped = threading.Event()  # the TLS listener hung up instead of answering
    p.on_connect = lambda *a: got.append(a[3])
    p.on_disconnect = lambda *a: dropped.set()
    p.connect("127.0.0.1", secure["tls"])
    p.loop_start()
    assert dropped.wait(10)
    p.loop_stop()
    assert got == []


def test_add_device_writes_a_hash_mosquitto_accepts(secure, tmp_path):
    pw = tmp_path / "passwd"
    creds = brokeradmin.add_device("roller-7", pw, host="pi.local", ca_path="/etc/rollsense/ca.crt")
    line = pw.read_text().strip()
    assert line.startswith("roller-7:$7$101$") and creds.password not in pw.read_text()
    assert brokeradmin.check_password(creds.password, line.split(":", 1)[1])
    assert not brokeradmin.check_password("guess", line.split(":", 1)[1])
    a = parse_broker_url(creds.broker_url)
    assert (a.username, a.password, a.host, a.port, a.tls, a.ca_path) == (
        "roller-7",
        creds.password,
        "pi.local",
        8883,
        True,
        "/etc/rollsense/ca.crt",
    )
    with pytest.raises(ConfigError):
        brokeradmin.add_device("roller-7", pw)  # never silently overwritten
    before = pw.read_text()
    for bad in ("Roller", "dashboard", "rollsense-dashboard", "a/b", ""):
        with pytest.raises(ConfigError):
            brokeradmin.add_device(bad, pw)
    with pytest.raises(ConfigError, match="dashboard's login only"):
        brokeradmin.add_device("roller-8", tmp_path / "rollsense-dashboard.passwd")
    assert not (tmp_path / "rollsense-dashboard.passwd").exists()
    bad_acl = tmp_path / "acl"
    bad_acl.write_text("topic readwrite #\n")
    with pytest.raises(ConfigError):
        brokeradmin.add_device("roller-8", pw, acl_file=bad_acl)
    assert pw.read_text() == before
    brokeradmin.add_device("roller-7", pw, password="new", replace=True)
    assert brokeradmin.check_password("new", pw.read_text().strip().split(":", 1)[1])
    # mosquitto_passwd's own hashes check out with the same code (same format)
    mp = [
        ln
        for ln in (secure["etc"] / "rollsense-dashboard.passwd").read_text().splitlines()
        if ln.startswith("dashboard:")
    ]
    assert brokeradmin.check_password(PASSWORDS["dashboard"], mp[0].split(":", 1)[1])


def test_add_device_cli(tmp_path, capsys):
    pw = tmp_path / "passwd"
    assert (
        brokeradmin.main(
            ["add-device", "dev-9", "--password-file", str(pw), "--host", "broker.lan"]
        )
        == 0
    )
    out = capsys.readouterr()
    assert out.out.startswith("mqtts://dev-9:") and "@broker.lan:8883" in out.out
    assert brokeradmin.main(["add-device", "dev-9", "--password-file", str(pw)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already has a password" in err[0]
    assert json.dumps(out.out)  # printable


def test_the_device_says_why_it_cannot_connect(secure, tmp_path):
    """An untrusted broker certificate and a wrong password are each one line naming the
    broker and the reason (firmware.edge.link's on_state), not a silent retry loop."""
    cases = [
        (url(secure, "dev-a", tls=True, ca=secure["etc"] / "other" / "ca.crt"), "TLS"),
        (url(secure, "dev-a", "s3cret-guess", tls=True), "not authorised (a wrong user name or password"),
    ]
    for i, (broker_url, reason) in enumerate(cases):
        journal = Journal(tmp_path / f"j{i}.db")
        link = Link("dev-a", broker_url, journal, MonotonicClock(), {}, LinkSettings(reconnect_max_s=1))
        said = StateLines(link)
        try:
            link.start()
            line = said.wait("not reachable", 15)
            assert f"mqtts://127.0.0.1:{secure['tls']}" in line and reason in line, line
            assert "s3cret-guess" not in line  # the password is never shown
        finally:
            link.stop()
            journal.close()


# -- issue 18: a device must not listen where it should not ------------------------------------
N_EVENTS = 60


def dashboard_ids(tmp_path):
    """The dashboard's client id and shared-subscription group as run_dashboard makes them."""
    db = str(tmp_path / "dash.db")
    client_id = client_id_for(db)
    return db, client_id, share_group_for(client_id, secret_key_for(db))


def send_events(secure, tmp_path, n: int, during=None) -> None:
    """dev-b (a real Link over TLS) sends ``n`` events; ``during()`` runs once they are queued."""
    journal = Journal(tmp_path / "dev-b.db")
    link = Link("dev-b", url(secure, "dev-b", tls=True), journal, MonotonicClock(), {"version": "t"},
                LinkSettings(reconnect_max_s=1, resend_min_s=0.5, ha_discovery=False))
    try:
        link.start()
        for i in range(n):
            journal.record_event("s-18", {"event_type": "cue", "t_s": float(i)})
        if during:
            during()
        wait_until(lambda: journal.outbox() == [], 20, what="dev-b's outbox PUBACKed")
    finally:
        link.stop()
        journal.close()


def stored_events(store, n: int = 0, timeout_s: float = 10.0) -> int:
    """How many of dev-b's events the store holds, once it holds ``n`` or after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = store.query("SELECT COUNT(*) AS n FROM events WHERE device_id = 'dev-b'")[0]["n"]
        if got >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_a_device_cannot_join_the_dashboards_shared_subscription(secure, tmp_path):
    """Mosquitto 2.0's acl_file grants every SUBSCRIBE, $share/... too, and a group member the
    read ACL refuses a message to loses it for the whole group (found: 40 of 60 stored). The
    dashboard's group has a name no device can know; what a device can name, it may join:
    it gets nothing of other devices, and the dashboard (two workers) stores every event."""
    db, client_id, group = dashboard_ids(tmp_path)
    assert group != client_id and client_id in group and len(group) > len(client_id) + 16
    store = open_store(db)
    workers = [Ingest(url(secure, "dashboard"), store, client_id=f"{client_id}-{i}",
                      shared_group=group, topics=STORED, telemetry=False) for i in (1, 2)]
    evil = Probe(url(secure, "dev-a", tls=True), "evil")
    subacks = Subacks(*(w.client for w in workers))
    try:
        for w in workers:
            w.start()
        assert all(w.wait_connected(10) for w in workers)
        subacks.wait()
        names = (client_id, f"{client_id}-1", "rollsense-dashboard", "ingest", "dashboard", "x")
        for name in names:  # what a device can know or guess of the dashboard's group
            for topic in ("rollsense/+/event", "rollsense/#", "#"):
                evil.subscribe(f"$share/{name}/{topic}")
        evil.subscribe("$share/x/rollsense/dev-b/event")
        send_events(secure, tmp_path, N_EVENTS)
        assert stored_events(store, N_EVENTS) == N_EVENTS
        assert sum(w.stats["events"] for w in workers) == N_EVENTS
        assert [m.topic for m in evil.messages if "dev-b" in m.topic] == []
    finally:
        evil.close()
        for w in workers:
            w.stop()
        store.close()


def test_a_device_login_cannot_take_the_dashboards_client_id_on_any_listener(secure, tmp_path):
    """Mosquitto closes the older of two connections with one client id. A device login that
    connects with the dashboard's id, on either listener, must neither push the dashboard off
    its persistent session nor cost it a message (found: 50 of 150 lost on the loopback
    listener, which did not tie client ids to logins)."""
    db, client_id, _ = dashboard_ids(tmp_path)
    store = open_store(db)
    ingest = Ingest(url(secure, "dashboard"), store, client_id=client_id)
    drops = []
    for client in (ingest.client, ingest.telemetry_client):
        watched = client.on_disconnect
        client.on_disconnect = lambda *a, _w=watched: (drops.append(a[3]), _w(*a))
    subacks = Subacks.of(ingest)
    evil: list[Probe] = []

    def steal() -> None:
        for tls in (False, True):
            for stolen in (client_id, f"{client_id}-telemetry"):
                p = Probe(url(secure, "dev-a", tls=tls), stolen)
                evil.append(p)
                # refused outright (the dashboard's listener), or connected under its own name
                assert p.connack.is_failure or p.subscribe("rollsense/#") == 1
        stored_events(store, 1)  # held open while the dashboard's events arrive

    try:
        ingest.start()
        assert ingest.wait_connected(10)
        subacks.wait()
        send_events(secure, tmp_path, 150, during=steal)
        assert stored_events(store, 150) == 150
        assert drops == [] and ingest.connected
        plain = [p for p in evil if not p.client._ssl]
        assert plain and all(p.connack.is_failure for p in plain)  # no device login there
    finally:
        for p in evil:
            p.close()
        ingest.stop()
        store.close()


def test_add_device_keeps_the_password_files_owner_so_the_broker_can_read_it(tmp_path):
    """Mosquitto reads its password file as user mosquitto: root rewriting it must not leave
    a root:root copy the broker cannot open (it would refuse to start or to reload)."""
    if os.geteuid() != 0:
        pytest.skip("giving a file to another group needs root")
    pw = tmp_path / "passwd"
    pw.write_text("")
    pw.chmod(0o640)
    os.chown(pw, os.getuid(), 4242)
    brokeradmin.add_device("roller-1", pw)
    st = pw.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (os.getuid(), 4242, 0o640)
    if _group("mosquitto") is not None:  # a new file, made by root
        brokeradmin.add_device("roller-2", tmp_path / "new")
        assert (tmp_path / "new").stat().st_gid == _group("mosquitto")


def _group(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def test_the_shipped_config_starts_as_installed_on_debian(secure, tmp_path):
    """As scripts/install-pi.sh installs it: Debian's mosquitto.conf (persistence, then
    include_dir) with rollsense.conf in conf.d. Mosquitto refuses per_listener_settings after
    any other security setting; the dashboard logs in on the loopback listener."""
    etc = secure["etc"]
    (tmp_path / "conf.d").mkdir()
    plain, tls = free_port(), free_port()
    conf = (SHIPPED / "rollsense.conf").read_text().replace("/etc/mosquitto/", f"{etc}/")
    conf = conf.replace("listener 1883 127.0.0.1", f"listener {plain} 127.0.0.1")
    (tmp_path / "conf.d" / "rollsense.conf").write_text(
        conf.replace("\nlistener 8883\n", f"\nlistener {tls} 127.0.0.1\n"))
    main = tmp_path / "mosquitto.conf"  # Debian 12's, with its paths moved here
    main.write_text(f"pid_file {tmp_path}/mosquitto.pid\npersistence true\n"
                    f"persistence_location {tmp_path}/\nlog_dest file {tmp_path}/mosquitto.log\n"
                    + ("user root\n" if os.geteuid() == 0 else "")
                    + f"include_dir {tmp_path}/conf.d\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(main)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_until(lambda: proc.poll() is not None or _listening(plain), what="mosquitto listening")
        assert proc.poll() is None, proc.stderr.read().decode()
        dash = Probe(f"mqtt://dashboard:{PASSWORDS['dashboard']}@127.0.0.1:{plain}", "dash-debian")
        try:
            assert dash.connack.value == 0
        finally:
            dash.close()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_run_dashboard_gives_its_workers_the_group_no_device_can_name(tmp_path, monkeypatch):
    """The group the tests above use is the one `rollsense dashboard --ingest-workers N` uses."""
    import dashboard.server
    from dashboard.server import run_dashboard

    class Made(Exception):
        pass

    def ingest_group(*args, **kwargs):
        raise Made(kwargs)

    monkeypatch.setattr(dashboard.server, "IngestGroup", ingest_group)
    db, client_id, group = dashboard_ids(tmp_path)
    with pytest.raises(Made) as made:
        run_dashboard("mqtt://127.0.0.1:1", db, port=free_port(), workers=2)
    assert made.value.args[0] == {"client_id": client_id, "group": group}


def test_doctor_leaves_the_devices_queued_commands_on_the_broker(secure, tmp_path):
    """On the shipped broker a device's client id is its login, so `rollsense doctor` (which
    logs in as the device) resumes the device's own session: a command queued there while the
    daemon was down must still reach the daemon afterwards (a clean start, or an automatic
    PUBACK, would have taken it)."""
    config = apply_overrides(Config(), broker_url=url(secure, "dev-a", tls=True), device_id="dev-a")
    settings = LinkSettings(reconnect_max_s=1, resend_min_s=0.5)
    journal = Journal(tmp_path / "j.db")
    link = Link("dev-a", config.broker_url, journal, MonotonicClock(), {"version": "t"}, settings)
    link.start()
    wait_until(lambda: link.subscribed, what="the device's session holds its subscriptions")
    link.stop()
    dash = Probe(url(secure, "dashboard"), "dash-doctor-test")
    results: list = []
    dash.client.on_message = lambda c, u, m: results.append(json.loads(m.payload))
    try:
        assert dash.subscribe("rollsense/dev-a/cmd/ping/result") == 1
        assert dash.publish("rollsense/dev-a/cmd/ping", json.dumps({"id": "while-down"})) == 0
        check = check_broker(config, 5.0)
        assert check.status == "ok", check
        again = Link("dev-a", config.broker_url, journal, MonotonicClock(), {"version": "t"}, settings)
        again.on_command = lambda name, payload: {"pong": True}
        again.start()
        try:
            wait_until(lambda: any(r.get("id") == "while-down" for r in results),
                       what="the command queued while the daemon was down")
        finally:
            again.stop()
    finally:
        dash.close()
        journal.close()
