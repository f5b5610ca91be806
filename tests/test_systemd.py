"""The systemd units: `systemd-analyze verify` passes and the sandbox scores well.

verify needs ExecStart's binary to exist, so each unit is copied into a temp dir with only
the install path /opt/rollsense/venv/bin/rollsense replaced by a stub executable there.
"""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = ["rollsense.service", "rollsense-dashboard.service"]
INSTALLED_BIN = "/opt/rollsense/venv/bin/rollsense"


def staged(tmp_path: Path, name: str, text: str | None = None) -> Path:
    """The unit under tmp_path with ExecStart pointing at a stub executable."""
    stub = tmp_path / "bin" / "rollsense"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = (ROOT / "systemd" / name).read_text() if text is None else text
    assert INSTALLED_BIN in text
    unit = tmp_path / name
    unit.write_text(text.replace(INSTALLED_BIN, str(stub)))
    return unit


def analyze(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60)


def exposure(unit: Path) -> float:
    out = analyze("security", "--offline=true", "--no-pager", str(unit)).stdout
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", out)
    assert m, out[-500:]
    return float(m.group(1))


def unit_settings(name: str) -> configparser.ConfigParser:
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str
    p.read_string((ROOT / "systemd" / name).read_text())
    return p


@pytest.mark.parametrize("name", UNITS)
def test_verify_passes(tmp_path, name):
    r = analyze("verify", str(staged(tmp_path, name)))
    assert r.returncode == 0, r.stderr
    assert name not in r.stderr, r.stderr  # no warnings about our unit either


def test_verify_catches_a_typo(tmp_path):
    text = (ROOT / "systemd" / "rollsense.service").read_text().replace("WatchdogSec=", "WatchdogSecs=")
    r = analyze("verify", str(staged(tmp_path, "rollsense.service", text)))
    assert "Unknown key" in r.stderr and "WatchdogSecs" in r.stderr


def test_device_unit_security_exposure_at_most_2_5(tmp_path):
    unit = staged(tmp_path, "rollsense.service")
    assert exposure(unit) <= 2.5
    gate = analyze("security", "--offline=true", "--threshold=25", "--no-pager", str(unit))
    assert gate.returncode == 0, gate.stdout[-500:]


def test_dashboard_unit_security_exposure_at_most_2_5(tmp_path):
    assert exposure(staged(tmp_path, "rollsense-dashboard.service")) <= 2.5


def test_threshold_gate_fails_an_open_unit(tmp_path):
    open_unit = "[Service]\nExecStart=" + INSTALLED_BIN + " run\n"
    unit = staged(tmp_path, "rollsense.service", open_unit)
    assert exposure(unit) > 2.5
    r = analyze("security", "--offline=true", "--threshold=25", "--no-pager", str(unit))
    assert r.returncode != 0


def test_device_unit_contract():
    s = unit_settings("rollsense.service")["Service"]
    assert s["Type"] == "notify" and s["NotifyAccess"] == "main"
    assert int(s["WatchdogSec"]) > 0 and s["Restart"] == "on-failure"
    assert s["User"] == "rollsense" and s["StateDirectory"] == "rollsense"
    assert s["ConfigurationDirectory"] == "rollsense"
    assert s["SupplementaryGroups"].split() == ["i2c", "gpio"]
    assert s["ProtectSystem"] == "strict" and s["NoNewPrivileges"] == "yes"
    assert s["DevicePolicy"] == "closed"
    assert s["ExecStart"] == INSTALLED_BIN + " run --config /etc/rollsense/config.toml"
    text = (ROOT / "systemd" / "rollsense.service").read_text()
    assert "DeviceAllow=char-i2c rw" in text and "DeviceAllow=char-gpiochip rw" in text
    assert not re.search(r"^PrivateDevices=", text, re.M)  # it would hide /dev/i2c-* and gpiochips
    assert not re.search(r"^ProcSubset=pid", text, re.M)  # gpiozero needs /proc/cpuinfo, /proc/device-tree


def unit_text(name: str) -> str:
    return (Path(__file__).resolve().parents[1] / "systemd" / name).read_text()


def test_dashboard_unit_runs_the_dashboard():
    s = unit_settings("rollsense-dashboard.service")["Service"]
    assert s["ExecStart"] == INSTALLED_BIN + " dashboard"  # settings come from the environment
    assert "ROLLSENSE_DASHBOARD_BROKER=" in unit_text("rollsense-dashboard.service")
    assert s["ProtectSystem"] == "strict" and s["PrivateDevices"] == "yes"
    assert s["User"] == "rollsense-dashboard" and s["StateDirectory"] == "rollsense-dashboard"


def listener_blocks(conf: str) -> dict[str, list[str]]:
    """Mosquitto config -> {"<listener args>": its lines}, "" holding what comes first."""
    blocks: dict[str, list[str]] = {"": []}
    current = ""
    for line in conf.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("listener "):
            current = line[len("listener "):]
            blocks[current] = []
        else:
            blocks[current].append(line)
    return blocks


def test_broker_listeners_tie_client_ids_to_logins_and_the_dashboard_has_its_own():
    """Issue 18: every listener a device login can use ties the client id to the login; the
    one without that takes only the dashboard's login, and is where the dashboard unit goes."""
    blocks = listener_blocks((ROOT / "systemd" / "mosquitto" / "rollsense.conf").read_text())
    assert blocks[""][0] == "per_listener_settings true"  # before any security setting
    assert not any(ln.startswith(("password_file", "acl_file", "allow_anonymous")) for ln in blocks[""])
    for listener, lines in blocks.items():
        if not listener:
            continue
        assert "allow_anonymous false" in lines, listener
        if "password_file /etc/mosquitto/rollsense-dashboard.passwd" in lines:
            assert listener == "1883 127.0.0.1" and "acl_file /etc/mosquitto/rollsense-dashboard.acl" in lines
        else:
            assert "password_file /etc/mosquitto/rollsense.passwd" in lines, listener
            assert "use_username_as_clientid true" in lines, listener
            assert "acl_file /etc/mosquitto/rollsense.acl" in lines, listener
    unit = (ROOT / "systemd" / "rollsense-dashboard.service").read_text()
    broker = re.search(r"^Environment=ROLLSENSE_DASHBOARD_BROKER=(\S+)$", unit, re.M)
    assert broker and broker.group(1) == "mqtt://localhost:1883"
