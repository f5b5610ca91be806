#!/usr/bin/env bash
# Install rollsense on Raspberry Pi OS (Bookworm): Debian packages, a venv under
# /opt/rollsense, the rollsense user in the i2c/gpio groups, I2C at 400 kHz, the Mosquitto
# config, /etc/rollsense/config.toml, and the systemd units (enabled and started).
#
#   sudo scripts/install-pi.sh              install or upgrade (safe to run again)
#   scripts/install-pi.sh --dry-run         print every step, change nothing
#   sudo scripts/install-pi.sh --no-dashboard   the device only (dashboard elsewhere)
#
# Idempotent: packages, users and boot settings are only added when missing, an existing
# config.toml is never overwritten, and units are re-installed and restarted.
# ROLLSENSE_ROOT=/some/dir installs into that directory tree instead of / (for tests).
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${ROLLSENSE_ROOT:-}"
PREFIX="/opt/rollsense"
PYTHON="${PYTHON:-python3}"
DRY_RUN=0
DASHBOARD=1
# openssl: the dashboard makes its self-signed HTTPS certificate with it on first start
APT_PACKAGES=(python3-venv python3-pip python3-dev python3-lgpio mosquitto mosquitto-clients i2c-tools openssl)
REBOOT_NEEDED=0

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run|-n) DRY_RUN=1 ;;
    --no-dashboard) DASHBOARD=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-pi.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

VENV="$ROOT$PREFIX/venv"
ETC="$ROOT/etc"

step() { printf '\n==> %s\n' "$*"; }
# run CMD...: print it, and run it unless --dry-run.
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}
# write_file PATH MODE: stdin -> PATH (atomically), printed instead under --dry-run.
write_file() {
  local path="$1" mode="$2" tmp
  printf '+ write %s (mode %s)\n' "$path" "$mode"
  if [ "$DRY_RUN" = 1 ]; then sed 's/^/    | /'; return; fi
  tmp="$(mktemp "$path.XXXXXX")"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
}
# ensure_line FILE LINE: append LINE unless it is already there.
ensure_line() {
  local file="$1" line="$2"
  if [ -f "$file" ] && grep -qxF "$line" "$file"; then
    printf '  already set: %s in %s\n' "$line" "$file"
    return
  fi
  printf '+ append "%s" to %s\n' "$line" "$file"
  REBOOT_NEEDED=1
  if [ "$DRY_RUN" = 0 ]; then printf '%s\n' "$line" >>"$file"; fi
}
# set_dtparam FILE NAME VALUE: dtparam=NAME=VALUE, replacing another value of NAME.
set_dtparam() {
  local file="$1" name="$2" value="$3"
  if [ -f "$file" ] && grep -qE "^dtparam=$name=" "$file" && ! grep -qxF "dtparam=$name=$value" "$file"; then
    printf '+ replace dtparam=%s=... with dtparam=%s=%s in %s\n' "$name" "$name" "$value" "$file"
    REBOOT_NEEDED=1
    if [ "$DRY_RUN" = 0 ]; then sed -i -E "s/^dtparam=$name=.*/dtparam=$name=$value/" "$file"; fi
  else
    ensure_line "$file" "dtparam=$name=$value"
  fi
}

preflight() {
  if [ "$DRY_RUN" = 1 ]; then
    echo "install-pi.sh: dry run: printing every step, changing nothing"
  elif [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    echo "install-pi.sh: run as root (sudo $0), or try --dry-run" >&2
    exit 1
  fi
  [ -f "$SRC/pyproject.toml" ] || { echo "install-pi.sh: no pyproject.toml in $SRC" >&2; exit 1; }
}

install_packages() {
  step "Debian packages: ${APT_PACKAGES[*]}"
  run env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_PACKAGES[@]}"
}

create_user() {
  step "users: rollsense (in the i2c and gpio groups)$([ "$DASHBOARD" = 1 ] && echo ", rollsense-dashboard")"
  local group
  for group in i2c gpio; do
    run groupadd --force --system "$group"
  done
  if getent passwd rollsense >/dev/null 2>&1; then
    echo "  already exists: user rollsense"
  else
    run useradd --system --user-group --home-dir /var/lib/rollsense --no-create-home \
      --shell /usr/sbin/nologin --comment "rollsense daemon" rollsense
  fi
  for group in i2c gpio; do
    run usermod --append --groups "$group" rollsense
  done
  if [ "$DASHBOARD" = 1 ]; then
    if getent passwd rollsense-dashboard >/dev/null 2>&1; then
      echo "  already exists: user rollsense-dashboard"
    else
      run useradd --system --user-group --home-dir /var/lib/rollsense-dashboard --no-create-home \
        --shell /usr/sbin/nologin --comment "rollsense dashboard" rollsense-dashboard
    fi
  fi
}

enable_i2c() {
  local boot="$ROOT/boot/firmware/config.txt"
  [ -f "$boot" ] || [ ! -f "$ROOT/boot/config.txt" ] || boot="$ROOT/boot/config.txt"
  step "I2C on, at 400 kHz ($boot)"
  if [ ! -f "$boot" ]; then
    echo "  warning: $boot not found (not Raspberry Pi OS?); enable I2C at 400 kHz yourself"
  else
    set_dtparam "$boot" i2c_arm on
    set_dtparam "$boot" i2c_arm_baudrate 400000
  fi
  run mkdir -p "$ETC/modules-load.d"
  if [ -f "$ETC/modules-load.d/rollsense.conf" ] && grep -qxF i2c-dev "$ETC/modules-load.d/rollsense.conf"; then
    echo "  already set: i2c-dev in $ETC/modules-load.d/rollsense.conf"
  else
    echo i2c-dev | write_file "$ETC/modules-load.d/rollsense.conf" 0644
  fi
}

install_venv() {
  step "venv $VENV with rollsense from $SRC"
  if [ -x "$VENV/bin/python" ]; then
    echo "  already exists: $VENV"
  else
    run mkdir -p "$ROOT$PREFIX"
    # system site packages: python3-lgpio comes from Debian
    run "$PYTHON" -m venv --system-site-packages "$VENV"
  fi
  run "$VENV/bin/pip" install --quiet --upgrade pip
  run "$VENV/bin/pip" install --quiet --upgrade "$SRC"
  if [ -f "$SRC/README.md" ]; then run install -m 0644 "$SRC/README.md" "$ROOT$PREFIX/README.md"; fi
}

install_config() {
  local conf="$ETC/rollsense/config.toml"
  step "device config $conf"
  run install -d -m 0755 "$ETC/rollsense"
  if [ -f "$conf" ]; then
    echo "  kept: $conf exists (not overwritten); defaults: $PREFIX/venv/bin/rollsense run --print-config"
    return
  fi
  printf '+ %s run --print-config > %s\n' "$VENV/bin/rollsense" "$conf"
  if [ "$DRY_RUN" = 0 ]; then
    "$VENV/bin/rollsense" run --print-config >"$conf.new"
    mv -f "$conf.new" "$conf"
  fi
  run chown root:rollsense "$conf"
  run chmod 0640 "$conf"
}

install_broker_config() {
  step "Mosquitto config"
  local dir="$SRC/systemd/mosquitto" f
  if ! compgen -G "$dir/*" >/dev/null; then
    echo "  warning: no broker config in $dir; Mosquitto keeps its defaults"
    return
  fi
  run install -d -m 0755 "$ETC/mosquitto/conf.d"
  for f in "$dir"/*; do
    case "$f" in
      *.conf) run install -m 0644 "$f" "$ETC/mosquitto/conf.d/$(basename "$f")" ;;
      *) run install -m 0644 "$f" "$ETC/mosquitto/$(basename "$f")" ;;
    esac
  done
  install_broker_passwords
}

# Two password files (see rollsense.conf): the devices' logins, valid only on the TLS
# listener, and the dashboard's alone, valid only on the loopback one. Mosquitto does not
# start without them, so empty ones are made (readable by the mosquitto user); a dashboard
# login an older install kept among the devices' moves to its own file.
install_broker_passwords() {
  local dev="$ETC/mosquitto/rollsense.passwd" dash="$ETC/mosquitto/rollsense-dashboard.passwd" f tmp
  if [ -f "$dev" ] && grep -q '^dashboard:' "$dev" && ! { [ -f "$dash" ] && grep -q '^dashboard:' "$dash"; }; then
    printf '+ move the dashboard login from %s to %s\n' "$dev" "$dash"
    if [ "$DRY_RUN" = 0 ]; then
      [ -f "$dash" ] || install -m 0640 /dev/null "$dash"
      grep '^dashboard:' "$dev" >>"$dash"
      tmp="$(mktemp "$dev.XXXXXX")"
      grep -v '^dashboard:' "$dev" >"$tmp" || true
      chmod --reference="$dev" "$tmp"
      chown --reference="$dev" "$tmp"
      mv -f "$tmp" "$dev"
      chown root:mosquitto "$dash"
    fi
  fi
  for f in "$dev" "$dash"; do
    if [ -f "$f" ]; then
      echo "  kept: $f"
    else
      run install -m 0640 /dev/null "$f"
      run chown root:mosquitto "$f"
    fi
  done
}

install_units() {
  local units=(rollsense.service) unit
  if [ "$DASHBOARD" = 1 ]; then units+=(rollsense-dashboard.service); fi
  step "systemd units: ${units[*]}"
  run install -d -m 0755 "$ETC/systemd/system" "$ETC/systemd/system.conf.d"
  for unit in "${units[@]}"; do
    run install -m 0644 "$SRC/systemd/$unit" "$ETC/systemd/system/$unit"
  done
  # the board's hardware watchdog (bcm2835_wdt) resets a hung Pi
  printf '[Manager]\nRuntimeWatchdogSec=15\n' | write_file "$ETC/systemd/system.conf.d/rollsense-watchdog.conf" 0644
  run systemctl daemon-reload
  run systemctl enable --now mosquitto.service
  run systemctl restart mosquitto.service
  for unit in "${units[@]}"; do
    run systemctl enable "$unit"
    run systemctl restart "$unit"
  done
}

main() {
  preflight
  install_packages
  create_user
  enable_i2c
  install_venv
  install_config
  install_broker_config
  install_units
  step "done"
  echo "  check:   sudo -u rollsense $PREFIX/venv/bin/rollsense doctor --config /etc/rollsense/config.toml"
  echo "  status:  systemctl status rollsense; journalctl -u rollsense -f"
  echo "  pair:    sudo -u rollsense $PREFIX/venv/bin/rollsense pair --config /etc/rollsense/config.toml"
  echo "  broker:  sudo $PREFIX/venv/bin/rollsense broker add-device <device_id>, then put the login in broker_url"
  echo "           (devices log in on the TLS listener, 8883: certificates in /etc/mosquitto/certs)"
  if [ "$DASHBOARD" = 1 ]; then
    echo "  broker:  sudo mosquitto_passwd /etc/mosquitto/rollsense-dashboard.passwd dashboard, then"
    echo "             ROLLSENSE_DASHBOARD_BROKER=mqtt://dashboard:<password>@localhost:1883 in /etc/rollsense/dashboard.env"
    echo "  login:   sudo -u rollsense-dashboard $PREFIX/venv/bin/rollsense dashboard --add-user <name> \\"
    echo "             --db sqlite:////var/lib/rollsense-dashboard/dashboard.db   (password on stdin)"
    echo "  web:     https://$(hostname).local:8080 (self-signed: compare the browser's SHA-256 with"
    echo "             journalctl -u rollsense-dashboard | grep SHA-256)"
  fi
  if [ "$REBOOT_NEEDED" = 1 ]; then
    echo "  reboot needed: the I2C settings change at the next boot (sudo reboot)"
  fi
}

main
