"""Broker administration: give a device its own Mosquitto credentials.

Writes the same ``$7$`` PBKDF2-SHA512 hash ``mosquitto_passwd`` writes (101 iterations,
12-byte salt), so no password appears on a command line, and never rewrites an existing user
unless asked. The ACL needs no per-device line: ``pattern readwrite rollsense/%u/#`` in the
shipped ``systemd/mosquitto/rollsense.acl`` confines each device to its own topics. The
shipped config takes device logins only on its TLS listener, where a device's client id is its
user name; device ids starting with ``rollsense-`` are refused, so a device can never hold one
of the dashboard's client ids (``rollsense-dashboard-...``), and ``dashboard`` is refused: the
dashboard's login lives in a password file of its own, valid only on the loopback listener
(systemd/mosquitto/rollsense.conf). Mosquitto re-reads the password file on SIGHUP
(``systemctl reload mosquitto``).

    python -m firmware.app.brokeradmin add-device ID --password-file /etc/mosquitto/rollsense.passwd
"""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from firmware.app import argtypes
from firmware.common import wire
from firmware.common.errors import ConfigError, RollsenseError

DEVICE_ID_RE = re.compile(r"[a-z0-9-]+")
RESERVED_USERS = {"dashboard"}
RESERVED_PREFIX = "rollsense-"
# The dashboard's own password file (systemd/mosquitto/rollsense.conf): its logins pick their
# client ids, so a device login there could take the dashboard's.
DASHBOARD_PASSWORD_FILE = "rollsense-dashboard.passwd"
ACL_PATTERN = f"pattern readwrite {wire.topic('%u', '#')}"
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12


@dataclass(frozen=True)
class DeviceCredentials:
    """What to put in the device's config: ``broker_url`` carries user and password."""

    device_id: str
    password: str
    broker_url: str


def hash_password(
    password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS
) -> str:
    """A Mosquitto 2.0 password hash: ``$7$<iterations>$<b64 salt>$<b64 sha512-pbkdf2>``."""
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    """True if ``password`` matches a ``$7$`` hash line part."""
    try:
        _, seven, iterations, salt, digest = hashed.split("$")
        if seven != "7":
            return False
        expected = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    return secrets.compare_digest(base64.b64encode(expected).decode(), digest)


def broker_url(
    device_id: str, password: str, host: str, port: int, tls: bool, ca_path: str | None
) -> str:
    """``mqtts://id:password@host:port?ca=...`` (or mqtt://) with the password URL-quoted."""
    scheme = "mqtts" if tls else "mqtt"
    url = f"{scheme}://{quote(device_id, safe='')}:{quote(password, safe='')}@{host}:{port}"
    return url + (f"?ca={quote(ca_path, safe='/')}" if tls and ca_path else "")


def _users(text: str) -> set[str]:
    return {
        line.split(":", 1)[0]
        for line in text.splitlines()
        if ":" in line and not line.startswith("#")
    }


def add_device(
    device_id: str,
    password_file: str | Path,
    *,
    password: str | None = None,
    acl_file: str | Path | None = None,
    host: str = "localhost",
    port: int = 8883,
    tls: bool = True,
    ca_path: str | None = None,
    replace: bool = False,
) -> DeviceCredentials:
    """Add ``device_id`` (a random password unless given) to ``password_file``.

    Refuses an existing user unless ``replace``; with ``acl_file``, checks that the ACL confines
    devices to their own topics. Returns the credentials and the broker URL for the device.
    """
    if (
        not DEVICE_ID_RE.fullmatch(device_id or "")
        or device_id in RESERVED_USERS
        or device_id.startswith(RESERVED_PREFIX)
    ):
        raise ConfigError(
            f"device id {device_id!r} must match [a-z0-9-]+, not be 'dashboard' "
            f"and not start with {RESERVED_PREFIX!r} (the dashboard's client ids)"
        )
    if acl_file is not None:
        try:
            acl = Path(acl_file).read_text()
        except OSError as e:
            raise ConfigError(f"cannot read ACL file {acl_file}: {e.strerror}") from e
        if ACL_PATTERN not in acl.splitlines():
            raise ConfigError(
                f"ACL file {acl_file} lacks '{ACL_PATTERN}': devices would not be confined"
            )
    path = Path(password_file)
    if path.name == DASHBOARD_PASSWORD_FILE:
        raise ConfigError(
            f"{path} holds the dashboard's login only: a device login there could take the "
            "dashboard's client id (devices go in rollsense.passwd)"
        )
    password = set_password(path, device_id, password, replace=replace, who="device")
    return DeviceCredentials(
        device_id, password, broker_url(device_id, password, host, port, tls, ca_path)
    )


def set_password(path: Path, user: str, password: str | None, *, replace: bool,
                 who: str) -> str:
    """Give ``user`` (a ``who``: device, bridge) ``password`` (random unless given) in the
    password file ``path``; refuses an existing user unless ``replace``. Returns the password."""
    try:
        existing = path.read_text() if path.exists() else ""
    except OSError as e:
        raise ConfigError(f"cannot read password file {path}: {e.strerror}") from e
    if user in _users(existing) and not replace:
        raise ConfigError(
            f"{who} {user} already has a password in {path} (use --replace to change it)"
        )
    password = password or secrets.token_urlsafe(18)
    lines = [ln for ln in existing.splitlines() if ln and ln.split(":", 1)[0] != user]
    lines.append(f"{user}:{hash_password(password)}")
    write_broker_file(path, "\n".join(lines) + "\n", "password file")
    return password


def _owner(path: Path) -> tuple[int, int] | None:
    """Who the password file belongs to: its present owner and group, and for a new file made
    by root, group ``mosquitto`` (the broker reads the file after dropping to that user)."""
    if path.exists():
        st = path.stat()
        return st.st_uid, st.st_gid
    if os.geteuid() == 0:
        try:
            return 0, grp.getgrnam("mosquitto").gr_gid
        except KeyError:
            return None
    return None


def write_broker_file(path: Path, text: str, what: str) -> None:
    """Write a file the broker reads (``what``: password file, ACL file) atomically, keeping
    its owner, group and mode (a new one: 0640, group mosquitto when made by root)."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o640
    owner = _owner(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            if owner is not None:  # a root-made copy would leave the broker unable to read it
                try:
                    os.fchown(f.fileno(), *owner)
                except PermissionError:
                    pass  # not ours to give away: the caller owns the file and keeps it
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(f"cannot write {what} {path}: {e.strerror}") from e


def build_parser() -> argtypes.OneLineParser:
    """``rollsense broker``'s own parser (``rollsense broker add-device --help``)."""
    p = argtypes.OneLineParser(prog="rollsense broker",
                               description="Mosquitto credentials for devices, bridges for sites")
    sub = p.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add-device", help="add a device user and print its broker URL")
    add.add_argument("device_id", help="the device's id, [a-z0-9-]+ (its device_id in the config)")
    add.add_argument("--password-file", default="/etc/mosquitto/rollsense.passwd",
                     help="Mosquitto password file to add the user to (default: %(default)s)")
    add.add_argument("--acl-file", default=None, help="Mosquitto ACL file to check: it must confine "
                     "each device to its own topics")
    add.add_argument("--host", default="localhost", help="broker host name the device connects to "
                     "(default: %(default)s)")
    add.add_argument("--port", type=argtypes.port, default=None, help="broker port, 1-65535 (default: 8883 with "
                     "TLS, 1883 without)")
    add.add_argument("--ca", default=None, help="CA certificate path on the device")
    add.add_argument("--no-tls", action="store_true", help="plain mqtt:// instead of mqtts://")
    add.add_argument("--replace", action="store_true", help="give an existing device a new password")
    return p


def main(argv: list[str] | None = None) -> int:
    """``add-device ID --password-file F [--acl-file A] [--host H] [--port P] [--ca CA] [--no-tls]``."""
    args = build_parser().parse_args(argv)
    tls = not args.no_tls
    try:
        creds = add_device(
            args.device_id,
            args.password_file,
            acl_file=args.acl_file,
            host=args.host,
            port=args.port or (8883 if tls else 1883),
            tls=tls,
            ca_path=args.ca,
            replace=args.replace,
        )
    except RollsenseError as e:
        print(f"rollsense broker: {e}", file=sys.stderr)
        return 2
    print(creds.broker_url)
    print(
        f"added {creds.device_id} to {args.password_file}; reload the broker: systemctl reload mosquitto",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
