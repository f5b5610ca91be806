"""Guided calibration: gyro bias, roll axis and "up", effective radius, force curve, and the
one calibration file they write (``calibration.store``).

Pure estimators over Blocks live in ``gyro``, ``axis``, ``radius``, ``force``; the interactive
drivers (prompts, progress bar, saving) in ``procedures``; ``rollsense calibrate show`` in ``show``.
"""
