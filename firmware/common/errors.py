"""Every error rollsense raises on purpose, in one tree (python-can style: split by phase,
raised ``from`` the cause). Each is also the builtin it is, so code that knows nothing of
rollsense still catches it as what it is (a sensor timeout is a ``TimeoutError``, a bad file
a ``ValueError``), and ``except RollsenseError`` catches everything that has one clear line
for a user::

    Exception
     +-- RollsenseError                     every error below; str() is one line for a user
          +-- ConfigError (ValueError)      a config, routine, calibration or recording file,
          |                                 or a command-line value, is invalid
          +-- SetupError (OSError)          hardware or a service cannot be brought up
          |                                 (wiring, pins, permissions, broker, store, TLS)
          +-- SensorError (OSError)         a sensor failed while running (I2C errors after
          |    |                            retries, chip reset, lost frames)
          |    +-- SensorTimeout (TimeoutError)   a sensor or the bus did not answer in time
          +-- CalibrationError (ValueError) a calibration run's data gives no trustworthy
          |                                 result (moved, no rolling, bad fit)
          +-- WireError (ValueError)        an MQTT payload is not what its topic promises
          +-- CommandError (ValueError)     a command is refused (bad JSON, schema, expired,
               |                            duplicate) or its handler failed
               +-- CommandRejected          the device will not do what a command (or the
                                            button) asks, and says why in a user's words

Phases, as in python-can: ConfigError before anything is opened, SetupError while opening,
SensorError while running; the rest belong to one part each (calibration, the wire, commands).
"""


class RollsenseError(Exception):
    """Base of every error rollsense raises on purpose."""


class ConfigError(RollsenseError, ValueError):
    """A config, routine, calibration or recording file is invalid (one clear line)."""


class SetupError(RollsenseError, OSError):
    """Hardware or a service could not be brought up (wiring, permissions, broker URL)."""


class SensorError(RollsenseError, OSError):
    """A sensor failed while running (bus errors after retries, chip reset, lost frames)."""


class SensorTimeout(SensorError, TimeoutError):
    """A sensor or the bus did not answer in time."""


class CalibrationError(RollsenseError, ValueError):
    """A calibration run could not produce a trustworthy result (moved, no rolling, bad fit)."""


class WireError(RollsenseError, ValueError):
    """A message that is not what its topic promises (one line: why)."""


class CommandError(RollsenseError, ValueError):
    """A command is refused (bad JSON, schema, expired, duplicate) or its handler failed."""


class CommandRejected(CommandError):
    """The device will not do what a command (or the button) asks, and says why in a user's
    words: the reply's ``error`` (status ``error``), never an internal error."""


def first_line(error: BaseException) -> str:
    """An exception as one log line: its message's first line, or its class name."""
    text = str(error)
    return text.splitlines()[0] if text.strip() else type(error).__name__
