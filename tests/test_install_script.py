"""scripts/install-pi.sh: valid bash, a dry run that prints every step and changes nothing,
and an idempotent install into a scratch root (ROLLSENSE_ROOT) with the system commands
(apt-get, systemctl, useradd, ...) replaced by stubs that log their arguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from firmware.edge.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-pi.sh"
SYSTEM_CMDS = ["apt-get", "systemctl", "useradd", "usermod", "groupadd", "chown"]
FILE_CMDS = ["install", "mkdir", "chmod", "mv", "cp", "python3", "pip"]
BOOT_TXT = "# Raspberry Pi OS\ndtparam=audio=on\ndtparam=i2c_arm_baudrate=100000\n"


def make_stubs(tmp_path: Path, names: list[str]) -> tuple[Path, Path]:
    bin_dir, log = tmp_path / "stubs", tmp_path / "calls.log"
    bin_dir.mkdir()
    for name in names:
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        stub.chmod(0o755)
    getent = bin_dir / "getent"  # read-only lookup: "no such user"
    getent.write_text("#!/bin/sh\nexit 2\n")
    getent.chmod(0o755)
    return bin_dir, log


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "boot" / "firmware").mkdir(parents=True)
    (root / "boot" / "firmware" / "config.txt").write_text(BOOT_TXT)
    (root / "etc").mkdir()
    return root


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
            for p in sorted(root.rglob("*"))}


def run_script(root: Path, bin_dir: Path, *args: str, python: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ROLLSENSE_ROOT": str(root), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    if python:
        env["PYTHON"] = python
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def test_bash_syntax():
    r = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.access(SCRIPT, os.X_OK)


def test_dry_run_prints_every_step_and_touches_nothing(tmp_path):
    root = make_root(tmp_path)
    bin_dir, log = make_stubs(tmp_path, SYSTEM_CMDS + FILE_CMDS)
    before = snapshot(root)
    r = run_script(root, bin_dir, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert snapshot(root) == before
    assert not log.exists(), log.read_text()  # no command ran
    out = r.stdout
    for expected in [
        "apt-get install -y -qq python3-venv python3-pip python3-dev python3-lgpio mosquitto mosquitto-clients i2c-tools openssl",  # openssl: the dashboard's certificate
        "useradd --system --user-group",
        "usermod --append --groups i2c rollsense",
        "usermod --append --groups gpio rollsense",
        "append \"dtparam=i2c_arm=on\" to",
        "replace dtparam=i2c_arm_baudrate=... with dtparam=i2c_arm_baudrate=400000",
        "-m venv --system-site-packages",
        f"{root}/opt/rollsense/venv/bin/pip install --quiet --upgrade {ROOT}",
        f"run --print-config > {root}/etc/rollsense/config.toml",
        f"install -m 0644 {ROOT}/systemd/rollsense.service {root}/etc/systemd/system/rollsense.service",
        "RuntimeWatchdogSec=15",
        "systemctl daemon-reload",
        "systemctl enable rollsense.service",
        "systemctl restart rollsense-dashboard.service",
        "reboot needed",
    ]:
        assert expected in out, expected


def test_dry_run_without_dashboard(tmp_path):
    root = make_root(tmp_path)
    bin_dir, _ = make_stubs(tmp_path, SYSTEM_CMDS)
    r = run_script(root, bin_dir, "--dry-run", "--no-dashboard")
    assert r.returncode == 0
    # no dashboard user or unit; the broker config still names the dashboard's login files
    assert [ln for ln in r.stdout.splitlines()
            if "rollsense-dashboard" in ln and "/etc/mosquitto/" not in ln] == []


def test_unknown_option():
    r = subprocess.run(["bash", str(SCRIPT), "--frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown option --frobnicate" in r.stderr


def fake_python(tmp_path: Path, log: Path) -> Path:
    """Stands in for python3 -m venv: a venv whose pip logs and whose rollsense is the project's."""
    py = tmp_path / "fake-python3"
    real_bin = Path(sys.executable).parent
    py.write_text(f"""#!/bin/sh
echo "python3 $*" >> "{log}"
venv="$4"
mkdir -p "$venv/bin"
ln -sf "{sys.executable}" "$venv/bin/python"
ln -sf "{real_bin}/rollsense" "$venv/bin/rollsense"
printf '#!/bin/sh\\necho "pip $*" >> "{log}"\\n' > "$venv/bin/pip"
chmod +x "$venv/bin/pip"
""")
    py.chmod(0o755)
    return py


def test_install_is_idempotent(tmp_path):
    root = make_root(tmp_path)
    bin_dir, log = make_stubs(tmp_path, SYSTEM_CMDS)
    python = str(fake_python(tmp_path, log))

    first = run_script(root, bin_dir, python=python)
    assert first.returncode == 0, first.stderr + first.stdout
    boot = (root / "boot/firmware/config.txt").read_text()
    assert boot == BOOT_TXT.replace("i2c_arm_baudrate=100000", "i2c_arm_baudrate=400000") + "dtparam=i2c_arm=on\n"
    conf = root / "etc/rollsense/config.toml"
    assert load_config(conf) == Config()  # the rendered defaults
    assert (root / "etc/systemd/system/rollsense.service").read_bytes() == (ROOT / "systemd/rollsense.service").read_bytes()
    assert (root / "etc/modules-load.d/rollsense.conf").read_text() == "i2c-dev\n"
    calls = log.read_text()
    assert "useradd --system" in calls and "systemctl restart rollsense.service" in calls
    assert calls.count("useradd ") == 2 and "rollsense-dashboard" in calls
    assert f"pip install --quiet --upgrade {ROOT}" in calls
    assert "python3 -m venv --system-site-packages" in calls
    mosq = root / "etc/mosquitto"  # the broker config, each ACL under the name the config reads
    assert (mosq / "conf.d/rollsense.conf").read_bytes() == (ROOT / "systemd/mosquitto/rollsense.conf").read_bytes()
    for name in ("rollsense.acl", "rollsense-dashboard.acl"):
        assert (mosq / name).read_bytes() == (ROOT / "systemd/mosquitto" / name).read_bytes()
        assert f"/etc/mosquitto/{name}" in (mosq / "conf.d/rollsense.conf").read_text()
    for name in ("rollsense.passwd", "rollsense-dashboard.passwd"):  # Mosquitto needs them to start
        assert (mosq / name).read_text() == "" and (mosq / name).stat().st_mode & 0o777 == 0o640
        assert f"chown root:mosquitto {mosq / name}" in calls

    conf.write_text('hardware = "sim"\n')  # the user's edit must survive a re-install
    log.unlink()
    second = run_script(root, bin_dir, python=python)
    assert second.returncode == 0, second.stderr
    assert (root / "boot/firmware/config.txt").read_text() == boot
    assert conf.read_text() == 'hardware = "sim"\n'
    assert "kept:" in second.stdout and "already set: dtparam=i2c_arm=on" in second.stdout
    assert "reboot needed" not in second.stdout
    assert "python3 -m venv" not in log.read_text()  # the venv is reused, the package upgraded
    assert "pip install --quiet --upgrade" in log.read_text()
    for d, files in {"etc/rollsense": ["config.toml"], "etc/modules-load.d": ["rollsense.conf"],
                     "etc/systemd/system.conf.d": ["rollsense-watchdog.conf"],
                     "etc/mosquitto": ["conf.d", "rollsense-dashboard.acl", "rollsense-dashboard.passwd",
                                       "rollsense.acl", "rollsense.passwd"]}.items():
        assert sorted(os.listdir(root / d)) == files  # no temp files left behind


def test_install_moves_the_dashboard_login_to_its_own_password_file(tmp_path):
    """An older install kept the dashboard's broker login among the devices'; the shipped config
    now takes it only on the loopback listener, from a file of its own (issue 18)."""
    root = make_root(tmp_path)
    bin_dir, log = make_stubs(tmp_path, SYSTEM_CMDS)
    python = str(fake_python(tmp_path, log))
    mosq = root / "etc/mosquitto"
    mosq.mkdir()
    devices = mosq / "rollsense.passwd"
    devices.write_text("dev-a:$7$101$aaa$bbb\ndashboard:$7$101$ccc$ddd\ndev-b:$7$101$eee$fff\n")
    devices.chmod(0o640)
    for _ in range(2):  # and nothing more the second time
        r = run_script(root, bin_dir, python=python)
        assert r.returncode == 0, r.stderr + r.stdout
        assert devices.read_text() == "dev-a:$7$101$aaa$bbb\ndev-b:$7$101$eee$fff\n"
        assert devices.stat().st_mode & 0o777 == 0o640
        dash = mosq / "rollsense-dashboard.passwd"
        assert dash.read_text() == "dashboard:$7$101$ccc$ddd\n" and dash.stat().st_mode & 0o777 == 0o640
    assert [n for n in os.listdir(mosq) if "XXX" in n or n.count(".") > 1] == []  # no temp files
