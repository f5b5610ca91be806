"""Prescriptions on the dashboard (issue 23): the form's bad values get the routine file's
own lines; a saved version reaches a paired device through the real broker with the real
device link (Journal + Link, the device's own prescription store), now if it is online,
when it comes back if it is not; adherence per ISO week against seeded sessions."""

from __future__ import annotations

import html
import uuid
from datetime import date

import pytest

from dashboard import adherence as ad
from dashboard import plans as pl
from dashboard import prescriptions as rx
from dashboard import queries as q
from dashboard import web
from dashboard.ingest import Ingest
from dashboard.store import open_store
from firmware.edge.prescriptions import Prescriptions
from tests.conftest import start_subscribed
from tests.dashboard.test_people import tagged
from tests.dashboard.test_web import Device, call, serve
from tests.firmware.core.test_prescription import CASES, file_problems
from tests.firmware.edge.test_link import wait_until


def _text(value) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, int | float) else str(value)


def rx_form(program_id: str, changes: dict | None = None, days=("mon", "thu")) -> dict:
    """The prescription form as the page fills it (each routine file's numbers), with
    ``changes`` ({(routine, dotted key): value or [lo, hi]}) typed over them."""
    program = pl.known_programs()[program_id]
    form: dict = {"program": program_id, "weekday": list(days)}
    for rid in rx.program_routines(program):
        base = rx.base_routine_dict(rid)
        for f in rx.fields_of(base):
            value = (changes or {}).get((rid, f.key), rx.get_key(base, f.key))
            name = f"{rid}|{f.key}"
            if f.kind == "band":
                lo, hi = value if isinstance(value, list) else (None, None)
                form[name + "|lo"], form[name + "|hi"] = _text(lo), _text(hi)
            else:
                form[name] = _text(value)
    return form


def encode(form: dict) -> list[tuple[str, str]]:
    return [(k, x) for k, v in form.items() for x in (v if isinstance(v, list) else [v])]


class RxDevice(Device):
    """The real device link, keeping prescriptions in its own state dir as a device does."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.rx = Prescriptions(self.state_dir)

    def on_command(self, name: str, args: dict) -> dict:
        if name == "set_prescription":
            self.commands.append((name, args))
            return self.rx.store(args)
        return super().on_command(name, args)


@pytest.fixture
def site(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    s.add_person("Ann", 60.0, person_id="ann")
    yield s
    s.close()


@pytest.mark.parametrize(("rid", "edit", "overrides"), [c for c in CASES if c[0] in ("quads-roller", "calf-stick")])
def test_the_forms_bad_values_get_the_routine_files_own_lines(site, tmp_path, rid, edit, overrides):
    from_file = file_problems(tmp_path, rid, *edit)
    app = web.create_app(site, None, auth_required=False, secret_key="k")
    form = rx_form("lower-body", {(rid, k): v for k, v in overrides.items()})
    with serve(app) as addr:
        status, _, page = call(addr, "POST", "/person/ann/prescription", form=encode(form))
    assert status == 400
    errors = page.split('id="rx-errors"', 1)[1].split("</ul>", 1)[0]
    assert [html.unescape(li.split("</li>")[0]) for li in errors.split("<li>")[1:]] == from_file
    assert rx.versions(site, "ann") == []  # nothing kept


def test_a_version_reaches_a_device_now_or_when_it_comes_back(broker, site, tmp_path):
    ingest = Ingest(broker.url, site, client_id="rx-sync-" + uuid.uuid4().hex[:8])
    start_subscribed(ingest)
    app = web.create_app(site, ingest, auth_required=False, secret_key="k")
    hub, sync = app.state.dashboard.hub, app.state.rx_sync
    (tmp_path / "first").mkdir()
    (tmp_path / "again").mkdir()
    device = RxDevice(broker.url, tmp_path / "first")
    site.set_device_paired(device.device_id, True)
    try:
        with serve(app) as addr:
            device.start()
            wait_until(lambda: hub.snapshot(device.device_id).get("status") == "online", what="device online")
            slower = rx_form("lower-body", {("quads-roller", "targets.speed.pass_s"): [3.0, 6.0]})
            status, headers, _ = call(addr, "POST", "/person/ann/prescription", form=encode(slower))
            # Post/Redirect/Get: the page after a save is a GET, so a reload saves nothing again
            assert status == 303 and headers["location"] == "/person/ann/prescription?saved=1"
            status, _, page = call(addr, "GET", headers["location"])
            assert status == 200 and "Saved as version 1." in page
            assert call(addr, "GET", headers["location"])[0] == 200  # the reload
            assert [v["version"] for v in rx.versions(site, "ann")] == [1]
            assert (f'<li data-device-id="{device.device_id}"><strong>{device.device_id}</strong>: '
                    '<span class="push-state">sent</span></li>') in page
            assert device.rx.versions() == {"ann": 1}
            quads = device.rx.get("ann").routines["quads-roller"]
            assert quads.targets.speed.pass_s.as_list() == [3.0, 6.0]
            assert quads.targets.speed.speed_mps.as_list() == [0.025, 0.1]  # derived as from a file
            assert sync.confirmed("ann")[device.device_id]["version"] == 1
            assert pl.plans(site, "ann")[0]["weekdays"] == (0, 3)

            device.stop()
            wait_until(lambda: hub.snapshot(device.device_id).get("status") == "offline", what="device offline")
            faster = rx_form("lower-body", {("quads-roller", "targets.speed.pass_s"): [1.0, 2.0]}, days=("tue",))
            status, headers, _ = call(addr, "POST", "/person/ann/prescription", form=encode(faster))
            status, _, page = call(addr, "GET", headers["location"])
            assert status == 200 and f'<span class="push-state">{rx.OFFLINE}</span>' in page
            assert [v["version"] for v in rx.versions(site, "ann")] == [2, 1]
            assert sync.confirmed("ann")[device.device_id]["version"] == 1

            back = RxDevice(broker.url, tmp_path / "again", device_id=device.device_id).start()
            try:
                wait_until(lambda: back.rx.versions() == {"ann": 2}, what="version 2 sent on reconnect")
                assert back.rx.get("ann").routines["quads-roller"].targets.speed.pass_s.as_list() == [1.0, 2.0]
                wait_until(lambda: sync.confirmed("ann")[device.device_id]["version"] == 2,
                           what="the device's answer recorded")
                assert sync.sync_device(device.device_id) == []  # up to date: nothing sent again
                page = call(addr, "GET", "/person/ann/prescription")[2]
                assert f'<tr data-device-id="{device.device_id}"><td>{device.device_id}</td>' \
                       '<td class="rx-state">has the latest</td>' in page
            finally:
                back.stop()
    finally:
        ingest.stop()


TODAY = date(2026, 3, 11)  # a Wednesday: ISO week 2026-W11 runs from Monday 9 March


def made_on(store, person_id: str, version: int, day: date) -> None:
    store.execute("UPDATE prescriptions SET created_at = ? WHERE person_id = ? AND version = ?",
                  (f"{day.isoformat()}T12:00:00.000Z", person_id, version))


def test_adherence_per_iso_week_against_seeded_sessions(site):
    site.set_device_paired("home-roller", True)
    rx.ensure_rx_tables(site)
    pl.ensure_plan_tables(site)
    rx.save_version(site, "ann", "lower-body", (0, 3), {}, "Dr Lee", today=date(2026, 3, 2))  # Mon, Thu
    made_on(site, "ann", 1, date(2026, 3, 2))
    rx.save_version(site, "ann", "lower-body", (0, 2), {}, "Dr Lee", today=date(2026, 3, 10))  # Mon, Wed
    made_on(site, "ann", 2, date(2026, 3, 10))

    def seed(sid, day, **kw):
        summary = tagged(sid, day, **{k: v for k, v in kw.items() if k not in ("prescription", "after")})
        if kw.get("prescription"):
            summary["prescription"] = kw["prescription"]
        site.save_session("home-roller", summary)
        if kw.get("after") is not None:
            site.set_soreness_after(sid, kw["after"])

    # week 10: three quads sessions of the programme (one 50 s: its duration target missed)
    seed("w10a", date(2026, 3, 2), side="left", before=6, after=3)
    seed("w10b", date(2026, 3, 2), side="right", duration_s=50.0, before=4)
    seed("w10c", date(2026, 3, 5), side="left")
    seed("w10-ball", date(2026, 3, 5), protocol="piriformis-ball", side="left")  # not prescribed
    # week 11: two calf sessions the device coached with version 2
    seed("w11a", date(2026, 3, 11), protocol="calf-stick", side="left", prescription={"version": 2, "by": "Dr Lee"})
    seed("w11b", date(2026, 3, 11), protocol="calf-stick", side="right", prescription={"version": 2})

    weeks = ad.weekly(q.person_sessions(site, "ann"), rx.versions(site, "ann"), pl.known_programs(), TODAY)
    w10, w11 = weeks[-2], weeks[-1]
    assert [w["week"] for w in weeks] == ["2026-W06", "2026-W07", "2026-W08", "2026-W09", "2026-W10", "2026-W11"]
    assert weeks[0]["prescribed"] == 0 and weeks[0]["done"] == 0  # before any prescription
    # week 10: v1 on Monday and Thursday, 6 steps each; week 11 to Wednesday: Monday under v1,
    # Wednesday under v2 (Tuesday, v2's first day, is not one of its days)
    assert (w10["prescribed"], w10["done"], w10["followed"]) == (12, 3, 0)
    assert (w10["targets_met"], w10["targets_total"], w10["targets_share"]) == (5, 6, 0.833)
    assert w10["time_s"] == {("quadriceps", "left"): 120.0, ("quadriceps", "right"): 50.0}
    assert (w10["sore_before"], w10["sore_after"]) == (5.0, 3.0)
    assert (w11["prescribed"], w11["done"], w11["followed"]) == (12, 2, 2)
    assert w11["time_s"] == {("calf (gastrocnemius, soleus)", "left"): 60.0,
                             ("calf (gastrocnemius, soleus)", "right"): 60.0}
    assert (w11["sore_before"], w11["sore_after"]) == (None, None)

    app = web.create_app(site, None, auth_required=False, secret_key="k", today=lambda: TODAY)
    with serve(app) as addr:
        status, _, page = call(addr, "GET", "/person/ann/adherence")
        assert status == 200
        row = page.split('<tr data-week="2026-W10">', 1)[1].split("</tr>", 1)[0]
        assert '<td class="num done">3 of 12</td>' in row and "83 %" in row and "5 → 3" in row
        assert "Following version 2 (Lower body, Monday, Wednesday)" in page
        assert call(addr, "GET", "/person/nobody/adherence")[0] == 404
        assert call(addr, "GET", "/person/nobody/prescription")[0] == 404
