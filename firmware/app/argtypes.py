"""Argument types for the command line: each checks one kind of value a user types (a port,
a seed, a broker or store URL, a recording's name, a directory) and says in one line what to
give instead; ``OneLineParser`` prints usage errors as that one line (exit 2)."""

from __future__ import annotations

import argparse
import ipaddress
import math
from pathlib import Path

from firmware.common import wire
from firmware.common.errors import ConfigError
from firmware.common.mqtt_url import parse_broker_url
from firmware.edge.config import ID_RE


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (which option, what is wrong, where help is), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def positive_float(text: str) -> float:
    """A finite number above 0 (seconds, speeds, rates, distances)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number")
    return value


def bounded(lo: float, hi: float, unit: str, spelled: str = ""):
    """An argument type: a number from ``lo`` to ``hi`` in ``unit`` (``spelled``: the range
    as people say it, e.g. "1 s to 4 hours"); anything else says the range in one line."""
    give = f"give {spelled or f'{lo:g} to {hi:g} {unit}'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; {give}") from None
        if not (math.isfinite(value) and lo <= value <= hi):
            raise argparse.ArgumentTypeError(f"{text} {unit} is out of range; {give}")
        return value

    return parse


# The ranges of the device's numbers, as a user or physio would find sensible:
RECORD_S = bounded(1.0, 4 * 3600.0, "s", "1 s to 4 hours (14400 s)")  # a session, or a programme
GYRO_STILL_S = bounded(1.0, 120.0, "s")  # the bias needs 1 s still; two minutes is plenty
# the radius roll: 10 cm is long enough to measure against a tape; 2 m can be rolled in the
# step's 10 s window (a limb is shorter: 0.5 m is typical)
CAL_DISTANCE_M = bounded(0.1, 2.0, "m")
SIM_RATE_HZ = bounded(50.0, 1000.0, "Hz")  # the MPU-6050's FIFO runs at 100-1000 Hz on the device


def pressures(text: str) -> int:
    """How many calibration rolls at different pressures: a whole number 1 to 10."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 to 10 rolls (2 or more for a radius curve)")
    return value


SPEED_MIN, SPEED_MAX = 0.01, 1000.0  # as the config's sim.speed


def speed(text: str) -> float:
    """Simulated time X times faster than the wall clock: 0.01 to 1000."""
    value = positive_float(text)
    if not SPEED_MIN <= value <= SPEED_MAX:
        raise argparse.ArgumentTypeError(f"speed {text}: give {SPEED_MIN:g} to {SPEED_MAX:g}")
    return value


def port(text: str) -> int:
    """A TCP port to listen on: a whole number 1..65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number; give 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range; give 1 to 65535")
    return port


SEED_MAX = 2**32 - 1  # numpy's seed range


def seed(text: str) -> int:
    """A random seed: a whole number 0..2**32-1."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give 0 to {SEED_MAX}") from None
    if not 0 <= seed <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"seed {seed} is out of range; give 0 to {SEED_MAX}")
    return seed


def broker_url(text: str) -> str:
    """A broker URL (DESIGN §3.4), checked now so nothing starts with a bad one."""
    try:
        parse_broker_url(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(f"{e}; e.g. mqtt://host:1883") from None
    return text


def db_url(text: str) -> str:
    """A dashboard store: sqlite:///path.db, postgresql://..., or a plain file path."""
    if text.startswith(("sqlite:///", "postgresql://", "postgres://")) or ("://" not in text and text.strip()):
        return text
    raise argparse.ArgumentTypeError(f"store URL {text!r}: use sqlite:///path.db, a plain path, "
                                     "or postgresql://user@host/db")


RECORDING_SUFFIXES = (".csv", ".csv.gz")


def recording_out(text: str) -> str:
    """A recording file to write: its name ends in .csv or .csv.gz (DESIGN §3.1)."""
    if not text.endswith(RECORDING_SUFFIXES) or Path(text).name in RECORDING_SUFFIXES:
        raise argparse.ArgumentTypeError(f"{text!r}: a recording is CSV; give a name ending in "
                                         ".csv or .csv.gz")
    return text


def device_id(text: str) -> str:
    """A device id as in MQTT topics and the config: 1-64 characters of a-z, 0-9 and '-'."""
    if not ID_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"device id {text!r}: use 1-64 characters of a-z, 0-9 and '-'")
    return text


def device_key(text: str) -> str:
    """A device id as the dashboard knows it: a device id, or a bridged site's device as
    ``site.id`` (docs/sites.md)."""
    if not wire.DEVICE_KEY_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"device id {text!r}: use 1-64 characters of a-z, 0-9 and '-' "
                                         "(a site's device: site.id)")
    return text


def share_name(text: str) -> str:
    """The name of a shared ingest (``--ingest-share``): 1-64 characters of a-z, 0-9 and '-'."""
    if not ID_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: use 1-64 characters of a-z, 0-9 and '-'")
    return text


def path_text(text: str) -> str:
    """A file or directory name: not empty (an empty one would quietly mean the default, or
    the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path; give a file or directory name")
    return text


def directory(text: str) -> str:
    """An existing directory to read from."""
    path = Path(path_text(text))
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such directory")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: not a directory")
    return text


def check_sqlite_path(db_url: str) -> None:
    """A SQLite store's file must be a file in a directory that exists or can be made; say
    so in one line before anything starts (PostgreSQL URLs are checked by connecting)."""
    if db_url.startswith(("postgresql://", "postgres://")):
        return
    path = Path(db_url[len("sqlite:///"):] if db_url.startswith("sqlite:///") else db_url)
    if path.is_dir():
        raise ConfigError(f"--db {db_url}: {path} is a directory; give a file, e.g. sqlite:///{path / 'dashboard.db'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--db {db_url}: cannot create {path.parent} ({e.strerror or e}); "
                          "give a file in a writable directory") from e


def workers(text: str) -> int:
    """--ingest-workers: a whole number 1..16."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= n <= 16:
        raise argparse.ArgumentTypeError(f"{n} workers: give 1 to 16")
    return n


def proxies(text: str) -> list[str]:
    """--trusted-proxy: IP addresses or networks, comma-separated."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)) if "/" in item else str(ipaddress.ip_address(item)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
    return out


def radius_m(text: str) -> float:
    value = positive_float(text)
    if value > 0.5:
        raise argparse.ArgumentTypeError(f"radius must be at most 0.5 m: {text}")
    return value
