"""The device config: a TOML file -> one frozen ``Config``, validated, defaults documented.

    cfg = load_config("/etc/rollsense/config.toml")   # or load_config(None) for the defaults
    cfg.imu.sample_rate_hz, cfg.force.frontend, cfg.calibration_file, ...

Every setting is declared once (default, unit in the name, doc line, allowed values); the
validator and ``default_config_text()`` both read those declarations. A bad file raises
``ConfigError`` whose message has one line per problem, each of the form
``<file>: <table.key>: <what is wrong> (got <value>)``. Unknown keys are errors with a
did-you-mean suggestion.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.common.errors import ConfigError
from firmware.common.mqtt_url import parse_broker_url
from firmware.common.tomlfile import read_toml

ID_RE = re.compile(r"^[a-z0-9-]{1,64}$")
DEFAULT_STATE_DIR = Path("/var/lib/rollsense")
DEFAULT_CONFIG_PATH = Path("/etc/rollsense/config.toml")
CALIBRATION_FILE_NAME = "calibration.json"
I2C_PINS = (2, 3)  # BCM GPIO 2/3 = SDA/SCL of I2C bus 1 (header pins 3 and 5)
ADS1115_RATES_SPS = (8, 16, 32, 64, 128, 250, 475, 860)


def _opt(default: Any = None, doc: str = "", *, kind: str, factory: Any = None, **rules: Any) -> Any:
    """A dataclass field carrying its TOML kind, doc line and validation rules as metadata.

    kind: int | float | str | path | pins3; rules: choices, lo, hi, pattern, optional, hex.
    """
    meta = {"doc": doc, "kind": kind, **rules}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def default_device_id() -> str:
    """The host name, lower-cased, with anything outside [a-z0-9-] turned into '-'."""
    name = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-")[:64]
    return name or "rollsense"


def sim_calibration_file(path: str | os.PathLike) -> Path:
    """The simulator's calibration file beside a device's: calibration.json ->
    calibration.sim.json (cal -> cal.sim)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.sim{path.suffix}")


def default_state_dir() -> Path:
    """$STATE_DIRECTORY (set by systemd's StateDirectory=; first entry) or /var/lib/rollsense."""
    env = os.environ.get("STATE_DIRECTORY", "")
    return Path(env.split(":")[0]) if env else DEFAULT_STATE_DIR


@dataclass(frozen=True)
class ProfileConfig:
    body_mass_kg: float | None = _opt(
        None, "user's body mass; enables force targets in % body weight", kind="float",
        optional=True, lo=20.0, hi=300.0)


@dataclass(frozen=True)
class I2CConfig:
    bus: int = _opt(1, "I2C bus number: /dev/i2c-<bus> (1 = header pins 3/5 on a Pi)",
                    kind="int", lo=0, hi=99)


@dataclass(frozen=True)
class ImuConfig:
    address: int = _opt(0x68, "MPU-6050 I2C address (0x68 AD0 low, 0x69 AD0 high)",
                        kind="int", choices=(0x68, 0x69), hex=True)
    sample_rate_hz: int = _opt(200, "IMU sample rate (FIFO output rate)", kind="int",
                               choices=(100, 200, 500, 1000))
    gyro_range_dps: int | None = _opt(
        None, "gyro full scale in deg/s; unset = picked per tool and radius so that clipping is "
        "rare (roller 7.5 cm: 500; ball, stick: 2000; see firmware.app.wiring.gyro_range_for)",
        kind="int", optional=True, choices=(250, 500, 1000, 2000))
    accel_range_g: int = _opt(8, "accelerometer full scale in g", kind="int", choices=(4, 8))


@dataclass(frozen=True)
class ForceConfig:
    frontend: str = _opt("ads1115", "force front end: ads1115 (FSR divider on AIN0), hx711 (load cell) or none",
                         kind="str", choices=("ads1115", "hx711", "none"))
    address: int = _opt(0x48, "ADS1115 I2C address (ADDR to GND 0x48, VDD 0x49, SDA 0x4A, SCL 0x4B)",
                        kind="int", choices=(0x48, 0x49, 0x4A, 0x4B), hex=True)
    data_rate_sps: int = _opt(860, "ADS1115 data rate in samples/s (the HX711 rate is set by its RATE pin: 10 or 80)",
                              kind="int", choices=ADS1115_RATES_SPS)
    fsr_divider_ohm: float = _opt(10_000.0, "FSR divider: FSR from 3V3 to AIN0, this resistor from AIN0 to GND (ohm)",
                                  kind="float", lo=100.0, hi=1_000_000.0)
    fsr_supply_v: float = _opt(3.3, "FSR divider supply voltage (V)", kind="float", lo=1.0, hi=5.5)
    hx711_dout_pin: int = _opt(5, "HX711 DOUT, BCM GPIO number", kind="int", lo=0, hi=27)
    hx711_sck_pin: int = _opt(6, "HX711 PD_SCK, BCM GPIO number", kind="int", lo=0, hi=27)


@dataclass(frozen=True)
class OutputsConfig:
    led_pins: tuple[int, int, int] = _opt((17, 27, 22), "RGB LED red, green, blue: BCM GPIO numbers",
                                          kind="pins3")
    buzzer_pin: int = _opt(18, "buzzer, BCM GPIO number (18 is PWM-capable)", kind="int", lo=0, hi=27)
    button_pin: int = _opt(23, "push button to GND, BCM GPIO number (internal pull-up)", kind="int",
                           lo=0, hi=27)


@dataclass(frozen=True)
class SimConfig:
    speed: float = _opt(1.0, "simulated time runs this many times faster than the wall clock",
                        kind="float", lo=0.01, hi=1000.0)
    scenario: str = _opt("good", "scripted user for hardware = \"sim\" (good, too-fast, reversed, ...)",
                         kind="str", pattern=ID_RE)
    seed: int = _opt(0, "random seed of the simulated user", kind="int", lo=0, hi=2**32 - 1)


SECTIONS: dict[str, type] = {
    "profile": ProfileConfig,
    "i2c": I2CConfig,
    "imu": ImuConfig,
    "force": ForceConfig,
    "outputs": OutputsConfig,
    "sim": SimConfig,
}


@dataclass(frozen=True)
class Config:
    device_id: str = _opt(doc="device id in MQTT topics, [a-z0-9-]+ (default: the host name)",
                          kind="str", factory=default_device_id, pattern=ID_RE)
    hardware: str = _opt("pi", "pi = real sensors on I2C/GPIO, sim = simulated user on fake chips",
                         kind="str", choices=("pi", "sim"))
    state_dir: Path = _opt(doc="journal, pairing and calibration live here (default: $STATE_DIRECTORY or /var/lib/rollsense)",
                           kind="path", factory=default_state_dir)
    broker_url: str = _opt("mqtt://localhost:1883", "MQTT broker: mqtt://[user:pass@]host[:port], mqtts://..., unix:///path",
                           kind="str", url=True)
    protocol: str = _opt("quads-roller", "routine started by the button / at start", kind="str",
                         pattern=ID_RE)
    routines_dir: Path | None = _opt(None, "extra user routines (*.toml); unset = built-in routines only",
                                     kind="path", optional=True)
    calibration_path: Path | None = _opt(None, "calibration file (unset = <state_dir>/calibration.json); "
                                         "simulated hardware keeps its own beside it (calibration.sim.json)",
                                         kind="path", optional=True)
    telemetry_hz: float = _opt(10.0, "live telemetry rate over MQTT", kind="float", lo=0.1, hi=50.0)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    i2c: I2CConfig = field(default_factory=I2CConfig)
    imu: ImuConfig = field(default_factory=ImuConfig)
    force: ForceConfig = field(default_factory=ForceConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    sim: SimConfig = field(default_factory=SimConfig)

    @property
    def calibration_file(self) -> Path:
        """Where the calibration file is: ``calibration_path`` or <state_dir>/calibration.json;
        on simulated hardware (``hardware = "sim"``, ``--sim``) the one beside it for the
        simulator (``sim_calibration_file``), so a simulated calibration never lands where the
        real device reads its own, and the real one is never applied to simulated chips."""
        path = self.calibration_path or self.state_dir / CALIBRATION_FILE_NAME
        return sim_calibration_file(path) if self.hardware == "sim" else path


# ----------------------------------------------------------------------------- loading

_TOP_LEVEL_NAMES = frozenset(f.name for f in dataclasses.fields(Config) if f.name not in SECTIONS)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and validate a TOML config; ``None`` gives the defaults. Raises ConfigError."""
    if path is None:
        return Config()
    path = Path(path)
    data = read_toml(path, kind="config")
    return config_from_dict(data, source=str(path), base_dir=path.parent)


def routines_dir_for(routines_dir: str | Path | None, config_path: str | Path | None) -> Path | None:
    """The user routines directory a command uses: ``--routines-dir``, else ``routines_dir``
    of the ``--config`` file, else None (built-in routines only)."""
    if routines_dir is not None:
        return Path(routines_dir)
    if config_path is not None:
        return load_config(config_path).routines_dir
    return None


def ensure_state_dir(path: str | os.PathLike, what: str = "state directory",
                     fix: str = "give a writable directory (--state-dir, or state_dir in the config)") -> Path:
    """The state directory (or another that ``what`` names), created with its parents when
    missing. ConfigError (one line ending in ``fix``) when it is a file, cannot be created or
    is not writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path}: is a file, not a directory; {fix}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot create it ({e.strerror or e}); {fix}") from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path}: not writable by this user; {fix}")
    return path


def config_from_dict(data: dict, *, source: str = "config", base_dir: Path | None = None) -> Config:
    """Validate a parsed TOML document (dict) into a Config; every problem is one line."""
    errors: list[str] = []
    top_names = [f.name for f in dataclasses.fields(Config) if f.name not in SECTIONS]
    kwargs = _convert_table(data, Config, top_names, "", errors, base_dir, sections=True)
    for name, cls in SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            errors.append(f"{name}: must be a table [{name}] (got {_show(table)})")
            continue
        names = [f.name for f in dataclasses.fields(cls)]
        kwargs[name] = cls(**_convert_table(table, cls, names, name + ".", errors, base_dir))
    config = Config(**kwargs) if not errors else None
    if config is not None:
        errors.extend(_cross_checks(config))
    if errors:
        err = ConfigError("\n".join(f"{source}: {e}" for e in errors))
        err.errors = [f"{source}: {e}" for e in errors]  # type: ignore[attr-defined]
        raise err
    return config


def apply_overrides(config: Config, **values: Any) -> Config:
    """A copy of ``config`` with command-line overrides (top-level keys, or "imu.sample_rate_hz"
    style keys via a dict), validated like the file. Values of None are ignored."""
    data = config_to_dict(config)
    for key, value in values.items():
        if value is None:
            continue
        table, _, name = key.rpartition(".")
        target = data.setdefault(table, {}) if table else data
        target[name] = str(value) if isinstance(value, Path) else value
    return config_from_dict(data, source="command line")


def config_to_dict(config: Config) -> dict:
    """The TOML-shaped dict of a Config (None values left out, paths as strings)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Config):
        value = getattr(config, f.name)
        if f.name in SECTIONS:
            out[f.name] = {k: _plain(v) for k, v in dataclasses.asdict(value).items() if v is not None}
        elif value is not None:
            out[f.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _convert_table(table: dict, cls: type, names: list[str], prefix: str, errors: list[str],
                   base_dir: Path | None, sections: bool = False) -> dict:
    known = set(names) | (set(SECTIONS) if sections else set())
    for key in table:
        if key not in known:
            hint = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            where = f"[{prefix[:-1]}]" if prefix else "the top level"
            tip = f"; did you mean {prefix}{hint[0]}?" if hint else f"; known keys in {where}: {', '.join(sorted(known))}"
            if prefix and key in _TOP_LEVEL_NAMES:
                tip = f"; top-level keys such as {key} must come before the first [table]"
            errors.append(f"{prefix}{key}: unknown key{tip}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for name in names:
        if name in table:
            problem, value = _check(table[name], fields[name].metadata, base_dir)
            if problem:
                shown = _show(table[name], fields[name].metadata.get("hex", False))
                errors.append(f"{prefix}{name}: {problem} (got {shown})")
            else:
                kwargs[name] = value
    return kwargs


def _check(raw: Any, meta: dict, base_dir: Path | None) -> tuple[str, Any]:
    """(problem, converted value); problem is "" when the value is fine."""
    kind = meta["kind"]
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            return "must be an integer", None
        value: Any = raw
    elif kind == "float":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return "must be a number", None
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):
            return "must be a finite number", None
    elif kind == "str":
        if not isinstance(raw, str):
            return "must be a string", None
        value = raw
    elif kind == "path":
        if not isinstance(raw, str) or not raw.strip():
            return "must be a non-empty path string", None
        value = Path(raw).expanduser()
        if not value.is_absolute() and base_dir is not None:
            value = base_dir / value
    elif kind == "pins3":
        ok = isinstance(raw, list) and len(raw) == 3 and all(
            isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 27 for p in raw)
        if not ok:
            return "must be three BCM GPIO numbers 0..27 [red, green, blue]", None
        value = tuple(raw)
    else:  # pragma: no cover - a declaration error
        raise AssertionError(kind)
    return _rules(value, meta), value


def _rules(value: Any, meta: dict) -> str:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        shown = ", ".join(hex(c) if meta.get("hex") else str(c) for c in choices)
        return f"must be one of {shown}"
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and not lo <= value <= hi:
        return f"must be between {lo} and {hi}"
    pattern = meta.get("pattern")
    if pattern is not None and not pattern.fullmatch(value):
        return "must be 1-64 characters of a-z, 0-9 and '-'"
    if meta.get("url"):
        try:
            parse_broker_url(value)
        except ConfigError as e:
            return str(e).split(": ", 1)[-1]
    return ""


def _cross_checks(config: Config) -> list[str]:
    """Problems that involve more than one key: GPIO pins used twice or on the I2C pins."""
    pins = {"outputs.led_pins": config.outputs.led_pins,
            "outputs.buzzer_pin": (config.outputs.buzzer_pin,),
            "outputs.button_pin": (config.outputs.button_pin,)}
    if config.force.frontend == "hx711":
        pins["force.hx711_dout_pin"] = (config.force.hx711_dout_pin,)
        pins["force.hx711_sck_pin"] = (config.force.hx711_sck_pin,)
    errors, owner = [], {}
    for key, numbers in pins.items():
        for pin in numbers:
            if pin in I2C_PINS:
                errors.append(f"{key}: GPIO {pin} is an I2C pin (SDA/SCL of bus 1); pick another (got {pin})")
            elif pin in owner:
                errors.append(f"{key}: GPIO {pin} is already used by {owner[pin]} (got {pin})")
            else:
                owner[pin] = key
    return errors


def _show(value: Any, as_hex: bool = False) -> str:
    if as_hex and isinstance(value, int) and not isinstance(value, bool):
        return hex(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


# ----------------------------------------------------------------------------- rendering


def default_config_text() -> str:
    """A complete, commented config file with every default (``rollsense run --print-config``)."""
    defaults = Config()
    lines = [
        "# rollsense device config (TOML). Every setting is shown with its default;",
        "# delete or comment out a line to go back to the default.",
        "",
    ]
    for f in dataclasses.fields(Config):
        if f.name not in SECTIONS:
            lines += _render(f, getattr(defaults, f.name))
    for name, _cls in SECTIONS.items():
        lines += ["", f"[{name}]"]
        section = getattr(defaults, name)
        for f in dataclasses.fields(section):
            lines += _render(f, getattr(section, f.name))
    return "\n".join(lines) + "\n"


def _render(f: dataclasses.Field, value: Any) -> list[str]:
    meta = f.metadata
    doc = meta["doc"]
    if "choices" in meta and not meta.get("hex"):
        doc += "; one of " + ", ".join(str(c) for c in meta["choices"])
    if value is None:
        example = {"body_mass_kg": "70.0", "gyro_range_dps": "2000", "routines_dir": '"/etc/rollsense/routines"',
                   "calibration_path": '"/var/lib/rollsense/calibration.json"'}.get(f.name, '""')
        return [f"# {doc}", f"# {f.name} = {example}"]
    return [f"# {doc}", f"{f.name} = {_toml_value(value, meta.get('hex', False))}"]


def _toml_value(value: Any, as_hex: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"0x{value:02X}" if as_hex else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
