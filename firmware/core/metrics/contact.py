"""Contact: force hysteresis on the frame mean force (on above contact_on_n, off below
contact_off_n), the state carried across calls. Pure numpy, no I/O, no clock."""

from __future__ import annotations

import numpy as np

from firmware.common.runs import schmitt


class Contact:
    """Contact per frame; `on` is the state at the last frame."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.on = False

    def update(self, fz, has_f, allf: bool):
        """Contact per frame from the forces `fz` (0 where `has_f` is False: no reading, which
        does not end contact); `allf` says every frame has a reading."""
        s = self.settings
        n = len(fz)
        if allf and self.on and fz.min() >= s.contact_off_n:
            return np.ones(n, dtype=bool)
        if allf and not self.on and fz.max() <= s.contact_on_n:
            return np.zeros(n, dtype=bool)
        off = fz < s.contact_off_n
        contact = schmitt(fz > s.contact_on_n, off if allf else off & has_f, self.on)
        self.on = bool(contact[-1])
        return contact
