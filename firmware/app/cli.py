"""The ``rollsense`` command (DESIGN.md §3.4). Parses arguments, calls one function per
subcommand, and turns every RollsenseError into one clear line and a non-zero exit."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from device.scenarios import SCENARIOS
from firmware.app import argtypes
from firmware.common.errors import RollsenseError, first_line

# subcommand -> "module:function" that runs it (python-can's BACKENDS manner): a module is
# imported only when its subcommand runs, so the device daemon never loads the dashboard's web
# stack and `rollsense replay` never loads paho (start-up time and memory on a Pi Zero)
SUBCOMMANDS = {
    "demo": "firmware.app.subcommands.demo:demo",
    "run": "firmware.app.subcommands.device:run",
    "replay": "firmware.app.subcommands.offline:replay",
    "simulate": "firmware.app.subcommands.offline:simulate",
    "record": "firmware.app.subcommands.tools:record",
    "calibrate": "firmware.app.subcommands.tools:calibrate",
    "protocols": "firmware.app.subcommands.offline:protocols",
    "programs": "firmware.app.subcommands.offline:programs",
    "dashboard": "firmware.app.subcommands.dashboard:dashboard",
    "pair": "firmware.app.subcommands.device:pair",
    "doctor": "firmware.app.subcommands.doctor:doctor",
    "broker": "firmware.app.subcommands.broker:broker",
}


def _runner(target: str) -> Callable[[argparse.Namespace], int]:
    """The function ``target`` names, imported when it is called."""
    module, name = target.split(":")

    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), name)(args)

    run.__qualname__ = target
    return run


COMMANDS = {name: _runner(target) for name, target in SUBCOMMANDS.items()}

EPILOG = """\
examples:
  rollsense demo                          watch a simulated quads session live at http://127.0.0.1:8080
  rollsense demo --fast --protocol calf-stick
  rollsense demo --fast --program lower-body --protocol it-band-stick     the stick's steps, both legs
  rollsense simulate --protocol quads-roller --scenario too-fast --seed 3 --out fast.csv
  rollsense replay fast.csv --json        the session summary of a recording
  rollsense protocols                     the routines and their targets
  rollsense programs                      the programmes: routines in order, side by side
  rollsense run --config /etc/rollsense/config.toml     the device daemon (systemd runs this)

Broker URLs: mqtt://[user:pass@]host[:port], mqtts://host[:port]?ca=/path/ca.crt, unix:///path/to/socket
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=34)

    def _split_lines(self, text, width):
        """Wrap help at spaces only: a name with a hyphen (tender-spots) stays whole."""
        return textwrap.wrap(self._whitespace_matcher.sub(" ", text).strip(), width,
                             break_on_hyphens=False)


def package_version() -> str:
    """The installed package's version, or pyproject.toml's when running from a checkout."""
    try:
        return metadata.version("rollsense")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except (OSError, tomllib.TOMLDecodeError, KeyError):
            return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = argtypes.OneLineParser(
        prog="rollsense",
        description="rollsense turns a foam roller, massage ball or massage stick into a coach: it "
        "measures roll speed, pass length, holds and pressure, paces you with buzzer and LED cues, "
        "and sends every session to your dashboard.",
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    p.add_argument("-V", "--version", action="version", version=f"rollsense {package_version()}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    scenarios = ", ".join(SCENARIOS)

    d = sub.add_parser("demo", help="simulated tool + private broker + dashboard, end to end",
                       description="Run the whole product on this machine: a simulated user rolls "
                       "on simulated chips, read by the real drivers; cues show in the terminal; the "
                       "dashboard shows live values and the stored session (with --program: one per "
                       "step of the programme).", formatter_class=_Formatter)
    d.add_argument("--protocol", metavar="ID", help="routine to run (default: quads-roller); with "
                   "--program it picks the simulated tool and must be the programme's first "
                   "routine for that tool (default: the programme's first step)")
    d.add_argument("--program", metavar="ID", help="play this programme's steps for the tool end "
                   "to end (a simulated user per step, the cues and rests between steps); prints "
                   "one summary table per step")
    d.add_argument("--scenario", default="good", choices=SCENARIOS, metavar="NAME",
                   help=f"simulated user: {scenarios} (default: %(default)s)")
    d.add_argument("--seed", type=argtypes.seed, default=1, help="random seed of the simulated user, 0 to "
                   f"{argtypes.SEED_MAX} (default: %(default)s)")
    d.add_argument("--fast", action="store_true", help="run at 20x speed and exit 0 when the routine "
                   "(or programme) ends, printing the summary")
    d.add_argument("--speed", type=argtypes.speed, metavar="X", help="run simulated time X times faster than "
                   f"the wall clock, {argtypes.SPEED_MIN:g} to {argtypes.SPEED_MAX:g}")
    d.add_argument("--broker", type=argtypes.broker_url, metavar="URL",
                   help="use this broker instead of starting a private Mosquitto")
    d.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard (another one is listening)")
    d.add_argument("--port", type=argtypes.port, default=8080, help="dashboard port, 1-65535 (default: %(default)s)")
    d.add_argument("--db", type=argtypes.db_url, metavar="URL", help="dashboard store (default: a temporary SQLite file)")
    d.add_argument("--device-id", type=argtypes.device_id, default="demo-roller",
                   help="device id, a-z 0-9 and - (default: %(default)s)")
    d.add_argument("--json", action="store_true",
                   help="print the session summary as JSON (the format of 'rollsense replay --json') "
                   "instead of the table; with --program a JSON list, one per step")

    r = sub.add_parser("run", help="the device daemon: sensors, coach, cues, MQTT",
                       description="Run the device. With --sim the chips are simulated; otherwise the "
                       "config's hardware is used. Starts a routine at once with --protocol (a programme "
                       "with --program), otherwise waits for the button or a start command.",
                       formatter_class=_Formatter)
    r.add_argument("--config", type=argtypes.path_text, metavar="FILE", help="TOML config (default: built-in defaults)")
    r.add_argument("--sim", action="store_true", help="simulated hardware (overrides the config), "
                   "with the simulator's own calibration (calibration.sim.json, from "
                   "'rollsense calibrate STEP --sim')")
    r.add_argument("--protocol", metavar="ID", help="start this routine at once (with --program: "
                   "it must be the programme's first routine for this device's tool)")
    r.add_argument("--program", metavar="ID", help="play this programme's steps for this device's "
                   "tool at once; at idle the button starts it again (the routines dir's "
                   "programmes too)")
    r.add_argument("--broker", type=argtypes.broker_url, metavar="URL", help="broker URL (overrides the config)")
    r.add_argument("--state-dir", type=argtypes.path_text, metavar="DIR", help="journal and pairing state, created if missing "
                   "(overrides the config)")
    r.add_argument("--speed", type=argtypes.speed, metavar="X", help="with --sim: simulated time X times "
                   f"faster, {argtypes.SPEED_MIN:g} to {argtypes.SPEED_MAX:g}")
    r.add_argument("--once", action="store_true", help="exit after one routine (or programme)")
    r.add_argument("--print-config", action="store_true", help="print the commented default config and exit")

    rp = sub.add_parser("replay", help="session summary of a recording",
                        description="Feed a recording (CSV, optionally .csv.gz) through the same metrics "
                        "and coach the device runs and print the session summary. A row with a value no "
                        "sensor reports (not a number; a gyro or accelerometer reading beyond twice the "
                        "widest full scale, ±2000 °/s or the recording's gyro_full_scale_dps, ±16 g; a "
                        "force outside -2500 to 5000 N) is refused, naming its line.",
                        formatter_class=_Formatter)
    rp.add_argument("file", type=argtypes.path_text, metavar="FILE", help="the recording: .csv or .csv.gz")
    rp.add_argument("--protocol", metavar="ID", help="judge against this routine's targets")
    rp.add_argument("--tool", choices=("roller", "ball", "stick"), help="override the recording's tool")
    rp.add_argument("--radius-m", type=argtypes.radius_m, metavar="R", help="override the effective radius "
                    "in metres, above 0 and up to 0.5")
    rp.add_argument("--json", action="store_true", help="print the summary as one JSON object (format rollsense-summary/1)")
    rp.add_argument("--routines-dir", type=argtypes.path_text, metavar="DIR", help="your own routines (TOML) for --protocol (default: routines_dir of --config)")
    rp.add_argument("--config", type=argtypes.path_text, metavar="FILE", help="TOML config whose routines_dir has your own routines")

    s = sub.add_parser("simulate", help="write a simulated recording and its ground truth",
                       description="Write a recording of a scripted user (CSV: '# key: value' metadata, "
                       "then t,gx,gy,gz,ax,ay,az,force in SI units) and "
                       "FILE.truth.json with the true passes, holds and forces. Never overwrites.",
                       formatter_class=_Formatter)
    s.add_argument("--protocol", required=True, metavar="ID", help="routine the simulated user does")
    s.add_argument("--scenario", default="good", choices=SCENARIOS, metavar="NAME",
                   help=f"simulated user: {scenarios} (default: %(default)s)")
    s.add_argument("--seed", type=argtypes.seed, default=1,
                   help=f"random seed, 0 to {argtypes.SEED_MAX} (default: %(default)s)")
    s.add_argument("--rate-hz", type=argtypes.SIM_RATE_HZ, default=200.0, metavar="HZ",
                   help="IMU sample rate, 50 to 1000 Hz (default: %(default)g)")
    s.add_argument("--routines-dir", type=argtypes.path_text, metavar="DIR", help="your own routines (TOML) for --protocol (default: routines_dir of --config)")
    s.add_argument("--config", type=argtypes.path_text, metavar="FILE", help="TOML config whose routines_dir has your own routines")
    s.add_argument("--out", required=True, type=argtypes.recording_out, metavar="FILE",
                   help="the recording to write, ending in .csv or .csv.gz (never overwritten)")

    rec = sub.add_parser("record", help="record the sensors to a file",
                         description="Record the IMU and force sensor to a recording file.", formatter_class=_Formatter)
    rec.add_argument("--out", required=True, type=argtypes.recording_out, metavar="FILE",
                     help="the recording to write, ending in .csv or .csv.gz (never overwritten)")
    rec.add_argument("--seconds", type=argtypes.RECORD_S, default=30.0, metavar="S",
                     help="how long to record, 1 s to 4 hours (14400 s) (default: %(default)g)")
    rec.add_argument("--config", type=argtypes.path_text, metavar="FILE", help="TOML config (default: built-in defaults)")
    rec.add_argument("--sim", action="store_true", help="record the simulated hardware")

    c = sub.add_parser("calibrate", help="gyro bias, roll axis, radius and force calibration",
                       description="Guided calibration; results go into one versioned calibration file "
                       "(previous versions are kept). Stop the service first (sudo systemctl stop rollsense): "
                       "two programs must not share the sensor bus. With --sim the results go into the "
                       "simulator's own file beside it (calibration.sim.json), which 'run --sim' and "
                       "'doctor --sim' read: a simulated calibration never replaces the device's.",
                       epilog="steps, in order:\n"
                       "  gyro     keep the tool still on the floor for --seconds (gyro bias)\n"
                       "  axis     roll once up the limb (roll axis and which way is 'up')\n"
                       "  radius   roll exactly --distance-m along a tape measure (effective radius);\n"
                       "           with --pressures N, N times from light to firm (radius against force)\n"
                       "  force    tare, then put each of --weights-kg on the tool (force curve)\n"
                       "  show     print the calibration file", formatter_class=_Formatter)
    c.add_argument("step", choices=("gyro", "axis", "radius", "force", "show"), help="the step (see below)")
    c.add_argument("--config", type=argtypes.path_text, metavar="FILE", help="TOML config (default: built-in defaults)")
    c.add_argument("--sim", action="store_true", help="calibrate the simulated hardware, into "
                   "calibration.sim.json beside the device's calibration file (never into it)")
    c.add_argument("--seconds", type=argtypes.GYRO_STILL_S, default=5.0, metavar="S",
                   help="gyro: how long to keep still, 1 to 120 s (default: %(default)g)")
    c.add_argument("--distance-m", type=argtypes.CAL_DISTANCE_M, metavar="M",
                   help="radius: the known distance you will roll, 0.1 to 2 m, within the "
                   "step's 10 s (e.g. 0.5)")
    c.add_argument("--pressures", type=argtypes.pressures, default=1, metavar="N",
                   help="radius: roll N times (1 to 10), from light to firm, for the radius against force "
                   "(a foam roller compresses; needs the force sensor; default: %(default)s)")
    c.add_argument("--weights-kg", metavar="KG,KG,...", help="force: comma-separated known "
                   "weights, 1 to 20 of them, each 0 to 300 kg, e.g. 0,5,10,20")
    c.add_argument("--save-anyway", action="store_true", help="force: save a fit that is off by more than 10%% at a known weight (otherwise refused)")

    pr = sub.add_parser("protocols", help="list the routines and their targets",
                        description="The built-in routines plus your own from the routines directory.",
                        formatter_class=_Formatter)
    pr.add_argument("--json", action="store_true", help="print the routines and their targets as JSON")
    pr.add_argument("--routines-dir", type=argtypes.directory, metavar="DIR",
                    help="your own routines (TOML) that add or override")

    pg = sub.add_parser("programs", help="list the programmes (routines in order, per side)",
                        description="The built-in programmes plus your own from the programs/ "
                        "folder of the routines directory, validated against the routines.",
                        formatter_class=_Formatter)
    pg.add_argument("--json", action="store_true", help="print the programmes and their steps as JSON")
    pg.add_argument("--routines-dir", type=argtypes.directory, metavar="DIR",
                    help="your own routines (TOML), and programmes in its programs/ folder, that "
                    "add or override (default: routines_dir of --config)")
    pg.add_argument("--config", type=argtypes.path_text, metavar="FILE",
                    help="TOML config whose routines_dir has your own routines and programmes")

    db = sub.add_parser("dashboard", help="the dashboard: MQTT ingest, store, web UI",
                        description="Serve the dashboard. Whenever it listens beyond loopback a login is\n"
                        "required and it serves HTTPS only: with --tls-cert/--tls-key, else with a\n"
                        "self-signed certificate it makes (openssl) on first start and keeps beside the\n"
                        "store (<db>.tls.crt and .tls.key); its SHA-256 fingerprint is printed at start,\n"
                        "to compare with the one the browser shows. Logging out ends the session on the\n"
                        "server; --add-user NAME --replace logs out every browser of NAME.",
                        formatter_class=_Formatter)
    env = os.environ.get
    db.add_argument("--broker", default=env("ROLLSENSE_DASHBOARD_BROKER", "mqtt://127.0.0.1:1883"),
                    type=argtypes.broker_url, metavar="URL", help="broker URL (default: $ROLLSENSE_DASHBOARD_BROKER or "
                    "mqtt://127.0.0.1:1883; keep passwords in the environment, not on the command line)")
    db.add_argument("--db", default=env("ROLLSENSE_DASHBOARD_DB", "sqlite:///rollsense-dashboard.db"),
                    type=argtypes.db_url, metavar="URL", help="sqlite:///path.db or postgresql://user@host/db "
                    "(default: $ROLLSENSE_DASHBOARD_DB or sqlite:///rollsense-dashboard.db)")
    db.add_argument("--host", default=env("ROLLSENSE_DASHBOARD_HOST", "127.0.0.1"),
                    help="listen address; anything beyond loopback requires a login and HTTPS (default: "
                    "$ROLLSENSE_DASHBOARD_HOST or 127.0.0.1)")
    db.add_argument("--port", type=argtypes.port, default=env("ROLLSENSE_DASHBOARD_PORT", "8080"),
                    help="listen port, 1-65535 (default: $ROLLSENSE_DASHBOARD_PORT or 8080)")
    db.add_argument("--tls-cert", type=argtypes.path_text, default=env("ROLLSENSE_DASHBOARD_TLS_CERT") or None,
                    metavar="FILE", help="PEM certificate (chain) to serve HTTPS with, also on loopback "
                    "(default: $ROLLSENSE_DASHBOARD_TLS_CERT; beyond loopback without it: self-signed)")
    db.add_argument("--tls-key", type=argtypes.path_text, default=env("ROLLSENSE_DASHBOARD_TLS_KEY") or None,
                    metavar="FILE", help="its PEM private key (default: $ROLLSENSE_DASHBOARD_TLS_KEY)")
    db.add_argument("--trusted-proxy", type=argtypes.proxies, action="append", metavar="ADDR[,ADDR]",
                    help="a reverse proxy (IP address or network) whose X-Forwarded-For and "
                    "X-Forwarded-Proto are believed; repeatable; the login throttle counts the "
                    "client it names, and a login is required on loopback too "
                    "(default: $ROLLSENSE_DASHBOARD_TRUSTED_PROXY, else none)")
    db.add_argument("--reminder-at", default=env("ROLLSENSE_DASHBOARD_REMINDER_AT", "18:00"), metavar="HH:MM",
                    help="local time of the daily plan reminder sent to Home Assistant (an MQTT event "
                    "per person with a planned programme not done yet); off: none "
                    "(default: $ROLLSENSE_DASHBOARD_REMINDER_AT or 18:00)")
    db.add_argument("--telemetry-retention-days", metavar="N",
                    default=env("ROLLSENSE_DASHBOARD_TELEMETRY_RETENTION_DAYS", "90"),
                    help="keep live telemetry this many days, then drop it (checked hourly; on "
                    "PostgreSQL whole weekly partitions go, so up to a week more is kept); 0 keeps "
                    "it for ever; sessions and their per-second charts are always kept "
                    "(default: $ROLLSENSE_DASHBOARD_TELEMETRY_RETENTION_DAYS or 90)")
    db.add_argument("--add-user", metavar="NAME",
                    help="add a login (password read from stdin) and exit; NAME is 1-64 letters, "
                    "digits and . _ @ -")
    db.add_argument("--replace", action="store_true",
                    help="with --add-user: set a new password for an existing login (and end its sessions)")
    db.add_argument("--role", choices=("admin", "person", "therapist"),
                    help="with --add-user: what the login sees: admin (everything; the default for a new "
                    "login), person (their own data: give --person ID), therapist (their linked clients)")
    db.add_argument("--person", metavar="ID", help="with --add-user NAME --role person: the person's id "
                    "(the People page shows it)")
    db.add_argument("--link-client", nargs=2, metavar=("THERAPIST", "PERSON"),
                    help="link a person (their id) to a therapist login as a client, and exit")
    db.add_argument("--unlink-client", nargs=2, metavar=("THERAPIST", "PERSON"),
                    help="end a therapist's link to a person, and exit")
    db.add_argument("--trust-device", type=argtypes.device_key, action="append", default=[], metavar="ID",
                    help="mark a device the dashboard has seen as paired, without a code, and exit; "
                    "repeatable (the Devices page shows the ids)")
    db.add_argument("--ingest-workers", type=argtypes.workers,
                    default=env("ROLLSENSE_DASHBOARD_INGEST_WORKERS", "1"), metavar="N",
                    help="MQTT ingest workers sharing the load through a shared subscription, "
                    "each a process of its own with its own database connection; 2 or more "
                    "for many devices, PostgreSQL advised "
                    "(default: $ROLLSENSE_DASHBOARD_INGEST_WORKERS or 1)")
    db.add_argument("--ingest-share", type=argtypes.share_name, metavar="NAME",
                    default=env("ROLLSENSE_DASHBOARD_INGEST_SHARE", None) or None,
                    help="join the ingest workers of every dashboard given this NAME (other hosts, "
                    "the same --db and $ROLLSENSE_DASHBOARD_SECRET) on one shared subscription; "
                    "the live view then hears the broker and the store (docs/sites.md)")

    pa = sub.add_parser("pair", help="show a pairing code for the dashboard",
                        description="Print a 6-digit code, valid 10 minutes; enter it with this device's "
                        "id on the dashboard's Devices page.", formatter_class=_Formatter)
    pa.add_argument("--config", type=argtypes.path_text, metavar="FILE", help="TOML config (default: built-in defaults)")
    pa.add_argument("--state-dir", type=argtypes.path_text, metavar="DIR", help="pairing state (overrides the config)")

    doc = sub.add_parser("doctor", help="check the bus, chips, calibration, broker, config, routines and programmes",
                         description="Check everything the device needs and say what to fix.",
                         formatter_class=_Formatter)
    doc.add_argument("--config", type=argtypes.path_text, metavar="FILE", help="TOML config (default: built-in defaults)")
    doc.add_argument("--sim", action="store_true", help="check the simulated hardware and its "
                     "calibration (calibration.sim.json)")

    b = sub.add_parser("broker", help="broker administration (device credentials, site bridges)",
                       description="Manage the Mosquitto users of your devices (run on the broker host).",
                       formatter_class=_Formatter)
    b.add_argument("action", choices=("add-device", "add-bridge"), help="what to do")
    b.add_argument("broker_args", nargs=argparse.REMAINDER,
                   help="add-device ID [--password-file F] [--acl-file A] [--host H] [--port P] "
                   "[--ca CA] [--no-tls] [--replace]: create a device's broker user with a fresh "
                   "password (Mosquitto's own PBKDF2 hash) and print the URL for its config; "
                   "add-bridge SITE --centre HOST[:PORT] [--password-file F] [--acl-file A] [--out CONF] "
                   "[--ca CA | --no-tls] [--remote-user U] [--replace]: on the centre, bridge a site's "
                   "broker to it (docs/sites.md)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except RollsenseError as e:
        print(f"rollsense {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # the last net: every case a user can cause has its own message
        print(f"rollsense {args.command}: unexpected {type(e).__name__}: {first_line(e)}; "
              "this is a bug; please report it", file=sys.stderr)
        return 70  # EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
