"""One routine run over Blocks: metrics, then the coach, then the summary. Pure: no I/O,
no clock. The device loop (``firmware.app.loop``) and ``rollsense replay`` both drive it."""

from __future__ import annotations

import math
from dataclasses import replace

from firmware.common.model import Block, Metrics
from firmware.core.coach import Coach, Cue, Event
from firmware.core.metrics import MetricsEngine, MetricsSettings
from firmware.core.protocols import Profile, Routine
from firmware.core.series import SeriesBuilder
from firmware.core.summary import SessionTags, build_summary


class Session:
    def __init__(
        self,
        *,
        session_id: str,
        routine: Routine | None,
        settings: MetricsSettings,
        profile: Profile | None = None,
        started_at: str | None = None,
        soreness_before: int | None = None,
        tags: SessionTags | None = None,
        remembered_soreness: int | None = None,
    ) -> None:
        """``soreness_before``: the person's 0-10 rating of the area before the session (the
        start command's ``soreness_before``); the coach eases in by it (``EaseIn``). ``tags``:
        who rolls, which side, which programme step (issue 22), carried into every summary
        and checkpoint (their ``soreness_before`` is the same rating: either may give it).
        ``remembered_soreness``: the person's last "before" rating of the area, which the coach
        eases in by when this session has no rating of its own (it stays out of the summary's
        ``soreness``: nobody rated this session)."""
        self.session_id = session_id
        tags = tags or SessionTags()
        if soreness_before is None:
            soreness_before = tags.soreness_before
        elif tags.soreness_before is None:
            tags = replace(tags, soreness_before=soreness_before)
        self.tags = tags
        self.routine = routine
        self.settings = settings
        self.started_at = started_at
        self.soreness_before = soreness_before
        self.ease_soreness = soreness_before if soreness_before is not None else remembered_soreness
        self.engine = MetricsEngine(settings)
        self.coach = (Coach(routine, profile, soreness_before=self.ease_soreness)
                      if routine is not None else None)
        self.last: Metrics | None = None
        self.last_cue = ""
        self.stopped_reason: str | None = None
        self.series = SeriesBuilder()  # the summary's series_1hz

    @property
    def finished(self) -> bool:
        return self.stopped_reason is not None or bool(self.coach and self.coach.finished)

    def feed(self, block: Block) -> list[Cue | Event]:
        """Process one Block; return the coach's cues and events for it, in order."""
        if len(block) == 0:
            return []
        m = self.last = self.engine.update(block)
        if self.coach is None:
            self.series.add(m.t_s, m.speed_mps, m.force_n, m.position_m, "replay")
            return []
        actions = self.coach.step(m)  # once finished: counts on, cues nothing
        self._note_cues(actions)
        self.series.add(m.t_s, m.speed_mps, m.force_n, m.position_m, self.coach.phase)
        return actions

    def stop(self, reason: str) -> list[Cue | Event]:
        """End early (user stop, SIGTERM, stepped off for good)."""
        if self.stopped_reason is not None:
            return []
        self.stopped_reason = reason
        if self.coach is None or self.coach.finished:
            return []
        actions = self.coach.stop(reason)
        self._note_cues(actions)
        return actions

    def _note_cues(self, actions: list[Cue | Event]) -> None:
        for a in actions:
            if isinstance(a, Cue) and a.name != "tick":
                self.last_cue = a.name

    def summary(self) -> dict:
        """The §3.2 summary of everything fed so far (closes an open hold or pass)."""
        self.engine.finish()
        return self._summary(self.engine.summary())

    def checkpoint(self, *, encoded: bool = False) -> dict:
        """The summary so far (an open pass or hold counted as if the data ended here), for
        the journal to recover from if the device loses power mid-routine. ``encoded``: the
        long lists (the pass list's and the series' columns) as ``JsonText``, the text they
        were kept as while they grew; ``dumps`` writes the same JSON as without, but a
        checkpoint of an hour-long session then costs about what one of its first minute did
        (none of it is rounded, made into Python objects or encoded again)."""
        return self._summary(self.engine.summary(encoded=encoded), encoded=encoded)

    def _summary(self, metrics: dict, *, encoded: bool = False) -> dict:
        targets = self.coach.targets(metrics) if self.coach else []
        completed = bool(self.coach and self.coach.completed)
        interrupted = None if completed else self.stopped_reason
        return build_summary(
            session_id=self.session_id,
            protocol=self.routine.id if self.routine else None,
            tool=self.settings.tool,
            metrics=metrics,
            targets=targets,
            completed=completed,
            interrupted=interrupted,
            started_at=self.started_at,
            tags=self.tags,
            extra={"rolling_s": self.coach.rolling_s if self.coach else None,
                   "pass_list": metrics.get("pass_list"),
                   "series_1hz": self.series.to_json(encoded=encoded)},
        )

    def telemetry(self) -> dict:
        """Live values for the display and the telemetry topic (without v/ts/seq)."""
        m = self.last
        out = {
            "session_id": self.session_id,
            "protocol": self.routine.id if self.routine else None,
            "tool": self.settings.tool,
            "phase": self.coach.phase if self.coach else "replay",
            "cue": self.last_cue,
        }
        if m is not None:
            out.update(
                t_s=m.t_s,
                speed_mps=m.speed_mps,
                velocity_mps=m.velocity_mps,
                position_m=m.position_m,
                force_n=None if math.isnan(m.force_n) else m.force_n,
                contact=m.contact,
                passes=m.passes,
                hold_s=m.hold_s,
                distance_m=m.distance_m,
                degraded=m.degraded,
            )
        if self.coach is not None:
            progress = self.coach.progress()
            out.update(
                elapsed_s=progress.get("elapsed_s"),
                done_s=progress.get("done_s"),
                target_s=progress.get("target_s"),
                remaining_s=progress.get("remaining_s"),
                progress=progress.get("fraction"),
                spots_done=progress.get("spots_done"),
                spots_target=progress.get("spots_target"),
            )
            bands = self.coach.bands()
            out.update(
                speed_band_mps=bands.get("speed_mps"),
                force_band_n=bands.get("force_n"),
                force_max_n=bands.get("force_max_n"),
            )
            # the coach's verdicts, so a gauge agrees with the cue (added, issue 19)
            verdicts = self.coach.verdicts()
            out.update(speed_state=verdicts["speed"], force_state=verdicts["force"])
            t = self.routine.targets
            if self.routine.directional:  # both bands, and the way the band in force is for
                up, down = self.coach.direction_bands()
                out.update(force_band_up_n=up, force_band_down_n=down,
                           direction=bands.get("direction"))
            if t.hold is not None:
                out.update(hold_band_s=t.hold.hold_s.as_list(), still_max_mps=t.hold.still_max_mps)
        return out
