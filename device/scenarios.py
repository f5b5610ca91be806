"""The simulated user's scenarios, by name: what ``rollsense demo --scenario`` and ``simulate
--scenario`` offer. Apart from ``device.sim`` (the physics that plays them) so that the command
line can list them without loading numpy and the simulator (start-up time on a Pi Zero)."""

SCENARIOS = (
    "good",
    "too-fast",
    "too-short",
    "too-hard",
    "reversed",
    "moved-hold",
    "step-off",
    "starts-moving",
    "tender-spots",
)
