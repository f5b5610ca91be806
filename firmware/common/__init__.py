"""Layer 0, what every other layer shares: the error hierarchy, the clocks, the data model,
people's units, the wire contract (topics, envelope, strict JSON), TOML reading and broker URLs.

Imports nothing of the project's outside ``firmware.common``.
"""
