"""Layer 2, the edges that touch the world: the sampler (sensor drivers), the journal (SQLite),
the link (MQTT), recordings, the config file, systemd notify, the terminal display, pairing and
a private Mosquitto.

Imports ``firmware.common`` and ``firmware.core``; never ``device``, ``calibration``,
``dashboard`` or ``firmware.app``: drivers reach it through the protocols in ``firmware.common``.
"""
