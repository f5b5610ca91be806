"""Layer 1, the pure core: metrics, the coach, routines, sessions and summaries, commands.

No I/O, no clock of its own (time comes from the samples). Imports ``firmware.common`` only.
"""
