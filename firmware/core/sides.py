"""Which routines are done per side (issue 22), and whether a side may go with a routine.

A routine on a limb (or one side of the pelvis) is rolled on the left and then the right, so
its sessions carry ``side``; a routine on the midline (the thoracic spine, the upper back)
is one area and carries ``side`` null. The rule is the programmes' (``firmware.core.programs.
on_a_limb``: the muscle's words name a leg, hip, glute or arm muscle), so a start command and
a programme file accept a side for the same routines. Pure. Used by the device: a start with
a side on a midline routine is refused with :func:`side_problem`'s reason.
"""

from __future__ import annotations

from typing import Any

from firmware.core.programs import SIDES, on_a_limb

__all__ = ["SIDES", "on_a_limb", "side_problem"]


def side_problem(routine: Any, side: str | None) -> str:
    """Why ``side`` cannot go with ``routine`` ("" when it can): a side must be left or
    right, and only a routine on a limb has one. One line, in a user's words."""
    if side is None:
        return ""
    if side not in SIDES:
        return f"side must be left, right or null, not {str(side)[:20]!r}"
    if not on_a_limb(routine):
        return (f"{routine.id} works on the {routine.muscle}, not on a limb: it has no left or "
                "right; start it without a side (side null)")
    return ""
