"""A site bridged to a centre (``rollsense broker add-bridge``, docs/sites.md) on two real
Mosquitto brokers: the generated bridge config, the centre running the shipped config (TLS,
logins, ACLs) with the bridge's login and ACL lines added by the command, a real device link
and journal on the site's broker, the dashboard ingest and its SQLite store at the centre.
The centre is stopped mid-session several times and comes back on the same port with its
persistence: every session and event reaches the centre's store once, commands sent from the
centre reach the device through the bridge and their results come back."""

from __future__ import annotations

import subprocess
import threading

import pytest

from dashboard import web
from dashboard.ingest import Ingest
from dashboard.store import open_store
from firmware.app import bridgeadmin
from firmware.app.brokeradmin import check_password
from firmware.common import wire
from firmware.common.clock import MonotonicClock
from firmware.common.errors import ConfigError
from firmware.edge.broker import PrivateBroker, free_port
from firmware.edge.journal import Journal
from firmware.edge.link import Link
from tests.conftest import start_subscribed
from tests.dashboard.test_web import Device, call, serve
from tests.firmware.app.test_broker_security import SHIPPED, make_ca
from tests.firmware.edge.test_link import FAST, wait_until

SITE = "clinic-a"
DASH_PW = "pw-dash"


# -- the generator --------------------------------------------------------------------------


def test_config_maps_device_topics_under_the_site_and_confines_the_bridge(tmp_path):
    acl = tmp_path / "rollsense.acl"
    acl.write_text((SHIPPED / "rollsense.acl").read_text())
    made = bridgeadmin.add_bridge(SITE, "centre.example.org", tmp_path / "rollsense.passwd",
                                  conf_out=tmp_path / "bridge.conf", acl_file=acl,
                                  ca_path="/etc/mosquitto/certs/centre-ca.crt")
    conf = (tmp_path / "bridge.conf").read_text().splitlines()
    for line in ("address centre.example.org:8883", "bridge_protocol_version mqttv311",
                 "cleansession false", "notifications true", "bridge_insecure false",
                 "bridge_cafile /etc/mosquitto/certs/centre-ca.crt",
                 "remote_username site.clinic-a", "remote_clientid site.clinic-a",
                 "topic +/event out 1 rollsense/ sites/clinic-a/rollsense/",
                 "topic +/session out 1 rollsense/ sites/clinic-a/rollsense/",
                 "topic +/telemetry out 0 rollsense/ sites/clinic-a/rollsense/",
                 "topic +/cmd/+ in 1 rollsense/ sites/clinic-a/rollsense/",
                 "topic +/ack in 1 rollsense/ sites/clinic-a/rollsense/"):
        assert line in conf, line
    password = next(ln.split(" ", 1)[1] for ln in conf if ln.startswith("remote_password "))
    users = dict(ln.split(":", 1) for ln in (tmp_path / "rollsense.passwd").read_text().splitlines())
    assert check_password(password, users["site.clinic-a"])
    assert acl.read_text().endswith("user site.clinic-a\ntopic readwrite sites/clinic-a/#\n")
    assert made.user == "site.clinic-a"
    # nothing is overwritten without --replace; with it the old ACL block goes
    with pytest.raises(ConfigError, match="exists"):
        bridgeadmin.add_bridge(SITE, "c", tmp_path / "rollsense.passwd",
                               conf_out=tmp_path / "bridge.conf", tls=False)
    bridgeadmin.add_bridge(SITE, "c:1884", tmp_path / "rollsense.passwd", conf_out=tmp_path / "bridge.conf",
                           acl_file=acl, tls=False, replace=True)
    assert acl.read_text().count("user site.clinic-a") == 1
    assert "address c:1884" in (tmp_path / "bridge.conf").read_text()


@pytest.mark.parametrize("args, says", [
    (["Clinic", "--centre", "c", "--no-tls"], "site 'Clinic' must be"),
    (["a", "--centre", "c:0", "--no-tls"], "port must be 1 to 65535"),
    (["a", "--centre", "c d", "--no-tls"], "give HOST[:PORT]"),
    (["a", "--centre", "c"], "give --ca"),
    (["a", "--centre", "c", "--ca", "relative.crt"], "absolute path"),
    (["a", "--centre", "c", "--no-tls", "--remote-user", "dev-1"], "never be a device's id"),
    (["a", "--centre", "c", "--no-tls", "--remote-user", "a:b"], "bridge user"),
])
def test_bad_values_are_one_line_and_exit_2(tmp_path, capsys, args, says):
    rc = bridgeadmin.main([*args, "--password-file", str(tmp_path / "pw"), "--out", str(tmp_path / "b.conf")])
    err = capsys.readouterr().err
    assert rc == 2 and says in err and err.count("\n") == 1
    assert not (tmp_path / "pw").exists() and not (tmp_path / "b.conf").exists()


def summary(session_id: str, passes: int) -> dict:
    return {"format": wire.SUMMARY_FORMAT, "session_id": session_id, "protocol": "quads-roller",
            "tool": "roller", "duration_s": 60.0, "completed": True, "passes": passes}


# -- two brokers ----------------------------------------------------------------------------


@pytest.fixture
def sites(tmp_path, request):
    """A centre running the shipped broker config (TLS for devices and bridges, loopback for
    its dashboard) and a site broker bridged to it by the generated config."""
    etc = tmp_path / "centre-etc"
    make_ca(etc / "certs", "centre")
    for f in SHIPPED.iterdir():
        if f.suffix != ".conf":
            (etc / f.name).write_text(f.read_text())
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(etc / "rollsense-dashboard.passwd"),
                    "dashboard", DASH_PW], check=True, capture_output=True)
    plain, tls = free_port(), free_port()
    conf = (SHIPPED / "rollsense.conf").read_text().replace("/etc/mosquitto/", f"{etc}/")
    conf = conf.replace("listener 1883 127.0.0.1", f"listener {plain} 127.0.0.1")
    conf = conf.replace("\nlistener 8883\n", f"\nlistener {tls} 127.0.0.1\n")
    centre = PrivateBroker(etc / "broker", anonymous=False, extra_conf=conf)
    assert bridgeadmin.main([SITE, "--centre", f"127.0.0.1:{tls}", "--password-file",
                             str(etc / "rollsense.passwd"), "--acl-file", str(etc / "rollsense.acl"),
                             "--ca", str(etc / "certs" / "ca.crt"),
                             "--out", str(tmp_path / "bridge.conf")]) == 0
    site = PrivateBroker(tmp_path / "site", extra_conf=(tmp_path / "bridge.conf").read_text())
    centre.start()
    site.start()
    yield centre, site, f"mqtt://dashboard:{DASH_PW}@127.0.0.1:{plain}"
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        request.node.add_report_section("call", "centre log", centre.log_tail(60))
        request.node.add_report_section("call", "site log", site.log_tail(60))
    site.close()
    centre.close()


def test_a_cut_bridge_loses_and_duplicates_nothing_and_commands_cross_it(sites, tmp_path):
    centre, site, dash_url = sites
    store = open_store(f"sqlite:///{tmp_path / 'centre.db'}")
    ingest = Ingest(dash_url, store, client_id="rollsense-dashboard-centre")
    results: list[tuple[str, dict]] = []
    got = threading.Condition()

    def heard(kind, device_id, payload):
        if kind == "result":
            with got:
                results.append((device_id, payload))
                got.notify_all()

    ingest.add_listener(heard)
    start_subscribed(ingest)
    journal = Journal(tmp_path / "journal.db")
    link = Link("dev-1", site.url, journal, MonotonicClock(), {"version": "t"}, FAST)
    link.start()
    wait_until(lambda: link.subscribed, what="device subscribed at the site")
    device = f"{SITE}.dev-1"
    sessions: list[str] = []
    events: list[str] = []

    def stored(table: str, key: str) -> list[str]:
        return [r[key] for r in store.query(f"SELECT {key} FROM {table} WHERE device_id = ?", (device,))]

    def roll(n: int, name: str) -> None:
        """One session of ``n`` events, the device's way (journal, then outbox)."""
        journal.start_session(name, "quads-roller", "roller", wire.utc_now_iso())
        for i in range(n):
            events.append(journal.record_event(name, {"event_type": "cue", "t_s": float(i)}))
        journal.finish_session(name, summary(name, n))
        sessions.append(name)

    def all_stored(timeout_s: float = 20.0) -> None:
        wait_until(lambda: sorted(stored("sessions", "session_id")) == sorted(sessions)
                   and len(stored("events", "msg_id")) == len(events), timeout_s,
                   f"{len(sessions)} sessions and {len(events)} events at the centre")

    roll(5, "s-0")
    all_stored()
    for cut in range(1, 4):
        half = f"s-{cut}"
        journal.start_session(half, "quads-roller", "roller", wire.utc_now_iso())
        for i in range(5):
            events.append(journal.record_event(half, {"event_type": "cue", "t_s": float(i)}))
        centre.stop()  # mid-session: the link to the centre is cut
        for i in range(5, 10):  # the site broker takes these (the device's outbox lets go)
            events.append(journal.record_event(half, {"event_type": "cue", "t_s": float(i)}))
        journal.finish_session(half, summary(half, 10))
        sessions.append(half)
        wait_until(lambda: not [r for r in journal.outbox() if r.kind == "event"], 10,
                   "the site broker took the events")
        centre.start()  # same port, its persistence: the bridge session resumes
        all_stored()
    assert sorted(stored("sessions", "session_id")) == sorted(sessions)
    assert sorted(stored("events", "msg_id")) == sorted(events)  # each once, none missing
    wait_until(lambda: journal.outbox() == [], 10, "every summary acked through the bridge")
    status = store.query("SELECT status FROM devices WHERE device_id = ?", (device,))
    assert status and status[0]["status"] == "online"

    cmd_id = ingest.send_command(device, "ping")
    with got:
        assert got.wait_for(lambda: any(p["id"] == cmd_id for _, p in results), 10)
    device_id, reply = next(r for r in results if r[1]["id"] == cmd_id)
    assert device_id == device and reply["status"] == "ok" and reply["command"] == "ping"

    site.stop()  # the site cut off: a command sent now waits in the bridge's session here
    late_id = ingest.send_command(device, "ping")
    site.start()
    with got:
        assert got.wait_for(lambda: any(p["id"] == late_id for _, p in results), 30), (
            "a command sent while the site was cut off never came back")

    link.stop()
    ingest.stop()
    journal.close()
    store.close()


def test_the_centre_dashboard_pairs_a_site_device_through_the_bridge(sites, tmp_path):
    """The pairing form takes a site's device as SITE.ID; the pair command goes out on the
    site-prefixed topic, the bridge takes it to the device and brings its result back; the
    device's page is then at /device/SITE.ID."""
    centre, site, dash_url = sites
    store = open_store(f"sqlite:///{tmp_path / 'centre.db'}")
    ingest = Ingest(dash_url, store, client_id="rollsense-dashboard-pairing")
    start_subscribed(ingest)
    device = Device(site.url, tmp_path).start()
    app = web.create_app(store, ingest, auth_required=False, secret_key="k")
    qualified = f"{SITE}.{device.device_id}"
    try:
        with serve(app) as addr:
            status, _, page = call(addr, "POST", "/devices/pair",
                                   form={"device_id": qualified, "code": device.code})
            assert status == 200 and f"Paired with &#x27;{qualified}&#x27;" in page
            assert [c[0] for c in device.commands] == ["pair"]
            assert call(addr, "GET", f"/device/{qualified}")[0] == 200
            status, _, page = call(addr, "POST", "/devices/pair",
                                   form={"device_id": "clinic-a/dev", "code": "123456"})
            assert status == 400 and "site.id" in page
    finally:
        device.stop()
        ingest.stop()
        store.close()
