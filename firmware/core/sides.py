"""Which routines are done per side (issue 22): a routine on a limb (or a hip) is rolled on
the left and then the right, so its sessions carry ``side``; a routine on the midline (the
spine, the upper back, the neck) is one area and carries ``side`` null.

Pure: decided from the routine's own data (its ``muscle`` text and id), so a user's routine
is judged the same way as a built-in one. Used by the device (a start with a side on a spine
routine is refused with this reason) and by the programmes (which steps get both sides).
"""

from __future__ import annotations

import re
from typing import Any

SIDES = ("left", "right")

# words that put a muscle on a limb (or a hip): done per side, whatever else the text says
# ("hamstrings (back of the thigh)" is on a limb)
LIMB_WORDS = (
    "thigh", "leg", "calf", "calves", "quad", "hamstring", "vastus", "gastrocnemius", "soleus",
    "shin", "tibialis", "foot", "plantar", "ankle", "knee", "it band", "iliotibial", "adductor",
    "groin", "glute", "hip", "piriformis", "arm", "forearm", "biceps", "triceps", "shoulder",
)
# words that put it on the midline: one area, no left and right ("thoracic paraspinals",
# "upper trapezius / rhomboids", "lumbar", "neck")
MIDLINE_WORDS = (
    "thoracic", "paraspinal", "spine", "spinal", "lumbar", "back", "trapezius", "rhomboid",
    "neck", "cervical", "erector", "midline",
)


def _words(words: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"\b(" + "|".join(words) + r")s?\b", re.IGNORECASE)


_LIMB_RE, _MIDLINE_RE = _words(LIMB_WORDS), _words(MIDLINE_WORDS)


def on_a_limb(routine: Any) -> bool:
    """True when ``routine`` (a ``Routine``, or anything with ``muscle`` and ``id``) is done
    per side. Its muscle text (then its id) decides: a limb word (thigh, calf, hip, arm...)
    means per side; else a midline word (thoracic, spine, back, trapezius, neck...) means one
    area; else per side, so a side is refused only where it cannot mean anything. The
    built-in ones: quads, IT band, calf and piriformis are per side; the thoracic roller and
    the upper-back ball are not."""
    text = f"{getattr(routine, 'muscle', '') or ''} {getattr(routine, 'id', '') or ''}"
    text = text.replace("-", " ").replace("_", " ")
    if _LIMB_RE.search(text):
        return True
    return _MIDLINE_RE.search(text) is None


def side_problem(routine: Any, side: str | None) -> str:
    """Why ``side`` cannot go with ``routine`` ("" when it can): a side must be left or
    right, and only a routine on a limb has one. One line, in a user's words."""
    if side is None:
        return ""
    if side not in SIDES:
        return f"side must be left, right or null, not {str(side)[:20]!r}"
    if not on_a_limb(routine):
        rid = getattr(routine, "id", "this routine")
        muscle = getattr(routine, "muscle", "") or "the midline"
        return (f"{rid} works on the {muscle}, one area on the midline with no left or right: "
                "start it without a side (side null)")
    return ""
