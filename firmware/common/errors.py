"""Error types, split by phase (python-can style). Raise them ``from`` the cause."""


class RollsenseError(Exception):
    """Base of every error rollsense raises on purpose."""


class ConfigError(RollsenseError):
    """A config, routine, calibration or recording file is invalid (one clear line)."""


class SetupError(RollsenseError):
    """Hardware or a service could not be brought up (wiring, permissions, broker URL)."""


class SensorError(RollsenseError):
    """A sensor failed while running (bus errors after retries, chip reset, lost frames)."""


class SensorTimeout(SensorError):
    """A sensor or the bus did not answer in time."""


def first_line(error: BaseException) -> str:
    """An exception as one log line: its message's first line, or its class name."""
    text = str(error)
    return text.splitlines()[0] if text.strip() else type(error).__name__
