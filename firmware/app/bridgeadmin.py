"""Sites bridged to a centre: the site broker's bridge config and the centre's login for it.

``rollsense broker add-bridge SITE --centre HOST[:PORT] --password-file F`` runs on the
centre's broker host. It gives the site's bridge a login of its own there (user
``site.<SITE>``: a "." is in no device id, so no device's ``rollsense/%u/#`` ACL pattern ever
names a device's topics for it), confines it in the centre's ACL to ``sites/<SITE>/#``, and
writes the Mosquitto bridge configuration to copy to the site as
``/etc/mosquitto/conf.d/rollsense-bridge-<SITE>.conf``: Mosquitto's own bridge, a
persistent bridge session (``cleansession false``: the centre keeps what it owes the site
while the link is down, the site what it owes the centre), QoS 1 mappings of each device
topic to ``sites/<SITE>/rollsense/...`` at the centre (telemetry QoS 0, as it is sent), the
commands and acks mapped back ``in``, TLS that checks the centre's name, and the bridge's
state retained on ``sites/<SITE>/bridge/state`` at both ends. docs/sites.md tells the rest.

The bridge speaks MQTT 3.1.1 by default, not v5: with a v5 bridge (``cleansession false``
all the same) Mosquitto 2.0 does not keep the bridge's session at the centre across a cut, so
a command sent to a site while it is cut off never reaches it (measured on 2.0.11: the test
of this module fails so with ``--protocol mqttv50`` and passes with 3.1.1, whose session
with ``cleansession false`` is kept until the bridge comes back). The devices and the dashboard speak v5 on either side; a
bridge carries no v5 properties they rely on (a command's message expiry is also in its
``expires_at``).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from firmware.app import argtypes, brokeradmin
from firmware.common import wire
from firmware.common.errors import ConfigError
from firmware.common.files import write_atomic

SITE_RE = re.compile(wire.SITE_ID)
HOST_RE = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
USER_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")  # no ':' (password file), '+', '#', '/' (ACL)
PROTOCOLS = ("mqttv311", "mqttv50")  # the first is the default (module docstring)
USER_PREFIX = "site."
ACL_FILE = "rollsense.acl"  # the centre's devices' listener, where bridges log in


@dataclass(frozen=True)
class Bridge:
    """What ``add_bridge`` made: the site's config (written to ``conf_path``), the bridge's
    login at the centre, and the centre's ACL lines for it."""

    site: str
    user: str
    conf_path: Path
    conf: str
    acl_lines: tuple[str, ...]


def bridge_user(site: str) -> str:
    return USER_PREFIX + site


def parse_centre(text: str, tls: bool) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[v6]:PORT`` for IPv6) -> (host, port); 8883 with TLS, 1883 without."""
    host, port = text, 8883 if tls else 1883
    if text.startswith("[") and "]:" in text or (":" in text and not text.startswith("[")):
        host, _, port_text = text.rpartition(":")
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ConfigError(f"centre {text!r}: the port must be 1 to 65535")
        port = int(port_text)
    if not HOST_RE.fullmatch(host):
        raise ConfigError(f"centre {text!r}: give HOST[:PORT], a host name or address")
    return host, port


def _path_value(text: str, what: str) -> str:
    if not text or any(c.isspace() for c in text) or not text.startswith("/"):
        raise ConfigError(f"{what} {text!r}: give an absolute path on the site, without spaces")
    return text


def bridge_conf(site: str, host: str, port: int, user: str, password: str, *,
                ca_path: str | None, protocol: str = PROTOCOLS[0]) -> str:
    """The site's Mosquitto bridge section (a conf.d snippet)."""
    state = wire.site_bridge_state_topic(site)
    lines = [
        f"# rollsense: site {site} bridged to its centre (rollsense broker add-bridge; docs/sites.md)",
        "# Install on the site's broker as /etc/mosquitto/conf.d/rollsense-bridge-"
        f"{site}.conf (mode 0640, group mosquitto: it holds the bridge's password),",
        "# then: systemctl restart mosquitto",
        f"connection rollsense-{site}",
        f"address {host}:{port}",
        f"bridge_protocol_version {protocol}",
        "# a persistent bridge session: what either end owes the other waits out an outage",
        "cleansession false",
        "local_cleansession false",
        "bridge_attempt_unsubscribe false",
        "start_type automatic",
        "restart_timeout 2 30",
        "keepalive_interval 30",
        "try_private true",
        "notifications true",
        f"notification_topic {state}",
        f"remote_clientid {user}",
        f"remote_username {user}",
        f"remote_password {password}",
    ]
    if ca_path:
        lines += [f"bridge_cafile {ca_path}", "bridge_insecure false", "bridge_tls_version tlsv1.2"]
    lines.append("# device topics out (QoS as sent, at most 1), commands and acks in")
    lines += [f"topic {pattern} {direction} {qos} {local} {remote}"
              for pattern, direction, qos, local, remote in wire.bridge_topics(site)]
    return "\n".join(lines) + "\n"


def centre_acl_lines(site: str, user: str) -> tuple[str, ...]:
    """The centre ACL's lines for the bridge: its own site's topics and nothing else."""
    return (f"# the bridge of site {site} (rollsense broker add-bridge)",
            f"user {user}", f"topic readwrite {wire.site_prefix(site)}#")


def _with_acl(text: str, user: str, block: tuple[str, ...], replace: bool, path: Path) -> str:
    """``text`` (an ACL file) with ``block`` at its end, in place of an older one for ``user``."""
    lines = text.splitlines()
    try:
        at = lines.index(f"user {user}")
    except ValueError:
        at = -1
    if at >= 0:
        if not replace:
            raise ConfigError(f"{path} already has the lines of user {user} (use --replace)")
        end = at + 1
        while end < len(lines) and lines[end].startswith("topic "):
            end += 1
        start = at - 1 if at > 0 and lines[at - 1] == block[0] else at
        lines = lines[:start] + lines[end:]
    if any(ln.startswith("pattern ") for ln in lines) and not any(
            ln == brokeradmin.ACL_PATTERN for ln in lines):
        raise ConfigError(f"ACL file {path} lacks '{brokeradmin.ACL_PATTERN}': not the devices' ACL")
    return "\n".join([*lines, *block]) + "\n"


def add_bridge(site: str, centre: str, password_file: str | Path, *, conf_out: str | Path | None = None,
               acl_file: str | Path | None = None, ca_path: str | None = None, tls: bool = True,
               remote_user: str | None = None, password: str | None = None,
               protocol: str = PROTOCOLS[0], replace: bool = False) -> Bridge:
    """Add the bridge's login to the centre's ``password_file`` (and its lines to ``acl_file``)
    and write the site's bridge config to ``conf_out``. Checks every value first; writes
    nothing that exists already unless ``replace``."""
    if not SITE_RE.fullmatch(site or ""):
        raise ConfigError(f"site {site!r} must be 1-64 characters of a-z, 0-9 and '-'")
    host, port = parse_centre(centre, tls)
    user = remote_user or bridge_user(site)
    if not USER_RE.fullmatch(user) or brokeradmin.DEVICE_ID_RE.fullmatch(user):
        raise ConfigError(f"bridge user {user!r}: 1-64 of A-Z, a-z, 0-9, '.', '_', '-' with a "
                          "'.' or '_' or capital in it (so it can never be a device's id)")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol {protocol!r}: give {' or '.join(PROTOCOLS)}")
    if tls:
        if not ca_path:
            raise ConfigError("give --ca (the CA of the centre's certificate, as a path on the "
                              "site) or --no-tls for a link that never leaves a trusted network")
        ca_path = _path_value(ca_path, "--ca")
    conf_path = Path(conf_out or f"rollsense-bridge-{site}.conf")
    if conf_path.exists() and not replace:
        raise ConfigError(f"{conf_path} exists (use --replace to write it again)")
    pw_path = Path(password_file)
    if pw_path.name == brokeradmin.DASHBOARD_PASSWORD_FILE:
        raise ConfigError(f"{pw_path} holds the dashboard's login only: bridges log in where "
                          "devices do (rollsense.passwd)")
    block = centre_acl_lines(site, user)
    acl_text = None
    if acl_file is not None:
        acl_path = Path(acl_file)
        try:
            existing = acl_path.read_text() if acl_path.exists() else ""
        except OSError as e:
            raise ConfigError(f"cannot read ACL file {acl_path}: {e.strerror}") from e
        acl_text = _with_acl(existing, user, block, replace, acl_path)
    password = brokeradmin.set_password(pw_path, user, password, replace=replace, who="bridge")
    conf = bridge_conf(site, host, port, user, password, ca_path=ca_path if tls else None,
                       protocol=protocol)
    try:
        write_atomic(conf_path, conf, mode=0o640)
    except OSError as e:
        raise ConfigError(f"cannot write {conf_path}: {e.strerror}") from e
    if acl_text is not None:
        brokeradmin.write_broker_file(Path(acl_file), acl_text, "ACL file")
    return Bridge(site, user, conf_path, conf, block)


def build_parser() -> argtypes.OneLineParser:
    """``rollsense broker add-bridge``'s parser."""
    b = argtypes.OneLineParser(prog="rollsense broker add-bridge", description="Bridge a site's "
                               "broker to this centre: the site's bridge config and the bridge's "
                               "login and ACL lines here (run on the centre's broker host).")
    b.add_argument("site", help="the site's id, [a-z0-9-]+: its devices appear here as "
                   "sites/SITE/rollsense/ID/... and on the dashboard as SITE.ID")
    b.add_argument("--centre", required=True, metavar="HOST[:PORT]",
                   help="this centre's broker as the site reaches it (port: 8883 with TLS, 1883 without)")
    b.add_argument("--password-file", default="/etc/mosquitto/rollsense.passwd",
                   help="the centre's password file for the bridge's login (default: %(default)s)")
    b.add_argument("--acl-file", default=None, help=f"the centre's devices' ACL ({ACL_FILE}) to add "
                   "the bridge's lines to (else they are printed)")
    b.add_argument("--out", default=None, help="where to write the site's bridge config "
                   "(default: ./rollsense-bridge-SITE.conf)")
    b.add_argument("--ca", default=None, help="the CA certificate of the centre's broker, as a "
                   "path on the site (e.g. /etc/mosquitto/certs/centre-ca.crt)")
    b.add_argument("--no-tls", action="store_true", help="plain MQTT to the centre (a trusted network only)")
    b.add_argument("--remote-user", default=None, help="the bridge's user at the centre (default: site.SITE)")
    b.add_argument("--protocol", default=PROTOCOLS[0], choices=PROTOCOLS,
                   help="bridge protocol (default: %(default)s; with mqttv50, Mosquitto 2.0 "
                   "keeps no bridge session at the centre: commands sent while a site is cut "
                   "off are lost)")
    b.add_argument("--replace", action="store_true", help="new password, config and ACL lines for an existing bridge")
    return b


def main(argv: list[str] | None = None) -> int:
    """``rollsense broker add-bridge``: one line on stderr and exit 2 for a bad value."""
    args = build_parser().parse_args(argv)
    try:
        made = add_bridge(args.site, args.centre, args.password_file, conf_out=args.out,
                          acl_file=args.acl_file, ca_path=args.ca, tls=not args.no_tls,
                          remote_user=args.remote_user, protocol=args.protocol,
                          replace=args.replace)
    except ConfigError as e:
        print(f"rollsense broker: {e}", file=sys.stderr)
        return 2
    print(f"wrote {made.conf_path}: copy it to the site as "
          f"/etc/mosquitto/conf.d/rollsense-bridge-{made.site}.conf and restart its broker")
    print(f"added bridge user {made.user} to {args.password_file}")
    if args.acl_file:
        print(f"added its lines to {args.acl_file}")
    else:
        print(f"add these lines at the end of the centre's {ACL_FILE}:")
        print("\n".join(made.acl_lines))
    print("then reload the centre's broker: systemctl reload mosquitto")
    return 0


if __name__ == "__main__":
    sys.exit(main())
