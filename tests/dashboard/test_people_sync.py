"""The people reach every paired device (issue 22), through the real broker with the real
device link (Journal + Link): a change on /people is sent to a device that is online and the
page says "sent"; to an offline one it says it will be sent when the device comes back, and
it is: the ingest sees the device online with another people version and sends it. A device
that has the dashboard's version gets nothing again, until a stored "before" rating changes a
person's sore map: then every device that is not offline gets the people at once."""

from __future__ import annotations

import uuid
from datetime import date

from dashboard import web
from dashboard.ingest import Ingest
from dashboard.people_sync import OFFLINE, profile_payload
from dashboard.store import open_store
from tests.conftest import start_subscribed
from tests.dashboard.test_people import tagged
from tests.dashboard.test_web import Device, call, serve
from tests.firmware.edge.test_link import wait_until


def profiles(device: Device) -> list[dict]:
    return [args for name, args in device.commands if name == "set_profile"]


def test_people_reach_a_device_now_or_when_it_comes_back(broker, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    ingest = Ingest(broker.url, store, client_id="people-sync-" + uuid.uuid4().hex[:8])
    start_subscribed(ingest)
    app = web.create_app(store, ingest, auth_required=False, secret_key="k")
    hub, sync = app.state.dashboard.hub, app.state.people_sync
    (tmp_path / "first").mkdir()
    (tmp_path / "again").mkdir()
    device = Device(broker.url, tmp_path / "first")
    store.set_device_paired(device.device_id, True)
    try:
        with serve(app) as addr:
            device.start()
            wait_until(lambda: hub.snapshot(device.device_id).get("status") == "online", what="device online")
            assert profiles(device) == []  # nobody yet: nothing to send

            status, _, page = call(addr, "POST", "/people", form={"name": "Ann", "body_mass": "60", "units": "metric"})
            assert status == 200
            assert (f'<li data-device-id="{device.device_id}"><strong>{device.device_id}</strong>: '
                    '<span class="push-state">sent</span></li>') in page
            (sent,) = profiles(device)
            ann = store.people()[0]
            assert sent["people"] == [{"id": ann["id"], "name": "Ann", "body_mass_kg": 60.0, "units": "metric"}]
            assert sync.versions()[device.device_id]["version"] == sync.current_version()
            assert "has everyone as shown here" in call(addr, "GET", "/people")[2]

            device.stop()  # its Last Will / goodbye: offline
            wait_until(lambda: hub.snapshot(device.device_id).get("status") == "offline", what="device offline")
            status, _, page = call(addr, "POST", f"/people/{ann['id']}",
                                   form={"name": "Ann", "body_mass": "150", "units": "imperial"})
            assert status == 200 and f'<span class="push-state">{OFFLINE}</span>' in page
            assert sync.versions()[device.device_id]["version"] != sync.current_version()

            back = Device(broker.url, tmp_path / "again", device_id=device.device_id).start()
            try:
                wait_until(lambda: profiles(back), what="the people sent on reconnect")
                (resent,) = profiles(back)
                assert resent == profile_payload(store)
                assert resent["people"][0]["units"] == "imperial"
                assert abs(resent["people"][0]["body_mass_kg"] - 150 * 0.45359237) < 1e-9
                wait_until(lambda: sync.versions()[device.device_id]["version"] == sync.current_version(),
                           what="the device's answer recorded")
                assert sync.sync_device(device.device_id) is None  # up to date: nothing sent again

                # a session with a "before" rating is stored: Ann's sore map changed, so the
                # devices that are not offline get the people again at once
                summary = tagged("rated-1", date.today(), person=ann["id"], side="left",
                                 protocol="calf-stick", before=7)
                back.journal.start_session("rated-1", "calf-stick", "stick", summary["started_at"])
                back.journal.finish_session("rated-1", summary)
                back.link.wake()
                wait_until(lambda: len(profiles(back)) == 2, what="the people sent after a rating")
                assert profiles(back)[1]["people"][0]["sore"] == {"calf-stick/left": 7}
                wait_until(lambda: sync.versions()[device.device_id]["version"] == sync.current_version(),
                           what="the new version recorded")
            finally:
                back.stop()
    finally:
        ingest.stop()
        store.close()
