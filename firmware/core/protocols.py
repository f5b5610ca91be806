"""Routine definitions: load the TOML routine files, validate them, and hand out frozen
``Routine`` trees (SI units in the field names).

Built-in routines live in ``firmware/routines/<id>.toml``; a user directory of ``*.toml``
files adds routines or overrides a built-in one with the same id (the file stem). Every
problem in a file becomes one line of the raised ``ConfigError``::

    quads.toml: targets.speed.pass_s: low 5 > high 4
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.common.errors import ConfigError
from firmware.common.tomlfile import read_toml

ROUTINES_DIR = Path(__file__).resolve().parents[1] / "routines"  # firmware/routines
TOOLS = ("roller", "ball", "stick")
MODES = ("roll", "hold")
G_M_S2 = 9.80665
REFERENCE_BODY_MASS_KG = 75.0  # used only for a force band given purely as body-weight fraction


@dataclass(frozen=True)
class Band:
    """A closed interval [lo, hi] in the unit named by the field that holds it."""

    lo: float
    hi: float

    def contains(self, x: float) -> bool:
        return self.lo <= x <= self.hi

    @property
    def mid(self) -> float:
        return 0.5 * (self.lo + self.hi)

    def as_list(self) -> list[float]:
        return [self.lo, self.hi]


@dataclass(frozen=True)
class Profile:
    """What the coach knows about the user; body mass turns %BW force targets into newtons."""

    body_mass_kg: float | None = None

    def __post_init__(self) -> None:
        m = self.body_mass_kg
        if m is not None and not (isinstance(m, int | float) and 20.0 <= m <= 300.0):
            raise ConfigError(f"profile: body_mass_kg: {m!r} is not a mass in 20..300 kg")


@dataclass(frozen=True)
class ForceTarget:
    """A force band and over-pressure limit, in newtons and/or body-weight fractions.

    The body-weight form wins when the profile has a body mass; the newton form is the
    fallback (a fraction-only target falls back to a 75 kg reference user).
    """

    band_n: Band | None
    band_bw: Band | None  # fraction of body weight (m * g)
    max_n: float | None
    max_bw: float | None

    def resolve_band_n(self, profile: Profile | None) -> Band:
        weight_n = _weight_n(profile, self.band_n is None)
        if self.band_bw is not None and weight_n is not None:
            return Band(self.band_bw.lo * weight_n, self.band_bw.hi * weight_n)
        assert self.band_n is not None
        return self.band_n

    def resolve_max_n(self, profile: Profile | None) -> float:
        weight_n = _weight_n(profile, self.max_n is None)
        if self.max_bw is not None and weight_n is not None:
            return self.max_bw * weight_n
        assert self.max_n is not None
        return self.max_n


def check_soreness(rating: int | None) -> int | None:
    """A soreness rating as the coach takes it: a whole number 0..10, or None (not rated)."""
    if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int)
                               or not 0 <= rating <= 10):
        raise ConfigError(f"soreness_before: {rating!r} is not a rating 0..10")
    return rating


def _weight_n(profile: Profile | None, need: bool) -> float | None:
    mass = profile.body_mass_kg if profile is not None else None
    if mass is None and need:
        mass = REFERENCE_BODY_MASS_KG
    return None if mass is None else mass * G_M_S2


@dataclass(frozen=True)
class SpeedTarget:
    """Rolling pace: the one-way pass time band and the speed band it implies."""

    pass_s: Band
    speed_mps: Band  # derived: pass_length_m.lo / pass_s.hi .. pass_length_m.hi / pass_s.lo


@dataclass(frozen=True)
class HoldTarget:
    """Static compression: hold time band per spot, stillness limit, number of spots."""

    hold_s: Band
    still_max_mps: float
    spots: int


SORE_FROM = 6  # soreness_before (0-10) from which a routine eases in more, unless it says
SORE_CAP_SCALE = 0.8  # the ease-in cap's multiplier when sore, unless the routine says


@dataclass(frozen=True)
class EaseIn:
    """Force cap that ramps from ``start_fraction`` x the band top to the band top over ``s``.

    Easing in by soreness (issue 22): tissue that is already painful before the session is
    more sensitive to pressure (lower pressure-pain threshold), so when the person rated it
    ``sore_from`` or more (0-10) the ramp is ``sore_extra_s`` longer (default: half of ``s``)
    and the whole ramp's cap is multiplied by ``sore_cap_scale``: it starts at
    ``sore_cap_scale x start_fraction`` of the band top and reaches ``sore_cap_scale`` x the
    band top at the end of the longer ramp, after which the band itself applies. The
    over-pressure limit does not change (it is a safety limit, not a target).
    """

    s: float
    start_fraction: float
    sore_from: int = SORE_FROM
    sore_extra_s: float | None = None  # None: half of s
    sore_cap_scale: float = SORE_CAP_SCALE

    def is_sore(self, soreness_before: int | None) -> bool:
        """The rule applies: a "before" rating at or above ``sore_from``."""
        return soreness_before is not None and soreness_before >= self.sore_from

    def ramp_s(self, soreness_before: int | None = None) -> float:
        """The ramp's length (s) for this soreness: ``s``, or ``s + sore_extra_s`` when sore."""
        if not self.is_sore(soreness_before):
            return self.s
        return self.s + (0.5 * self.s if self.sore_extra_s is None else self.sore_extra_s)

    def cap_scale(self, soreness_before: int | None = None) -> float:
        """The multiplier of the ramp's cap for this soreness: 1, or ``sore_cap_scale``."""
        return self.sore_cap_scale if self.is_sore(soreness_before) else 1.0


@dataclass(frozen=True)
class Targets:
    rolling_min_s: float | None  # roll mode: rolling time (per direction if per_direction)
    per_direction: bool
    speed: SpeedTarget | None
    pass_length_m: Band | None
    hold: HoldTarget | None
    force: ForceTarget
    force_up: ForceTarget | None  # direction-dependent force (calf); both or neither
    force_down: ForceTarget | None
    ease_in: EaseIn


@dataclass(frozen=True)
class Routine:
    """One routine: what the user does with which tool, and the targets the coach checks."""

    id: str
    title: str
    muscle: str
    tool: str
    radius_m: float
    mode: str  # "roll" | "hold"
    instruction: str
    targets: Targets
    note: str = ""
    source: str = ""  # file the routine came from

    @property
    def directional(self) -> bool:
        return self.targets.force_up is not None

    def force_band_n(self, profile: Profile | None = None, direction: int = 0) -> Band:
        """Force band in newtons; ``direction`` +1/-1 picks the up/down band when defined."""
        return self._force_target(direction).resolve_band_n(profile)

    def force_max_n(self, profile: Profile | None = None) -> float:
        """Over-pressure limit in newtons (the highest of the routine's limits)."""
        t = self.targets
        limits = [f.resolve_max_n(profile) for f in (t.force, t.force_up, t.force_down) if f]
        return max(limits)

    def _force_target(self, direction: int) -> ForceTarget:
        t = self.targets
        if direction > 0 and t.force_up is not None:
            return t.force_up
        if direction < 0 and t.force_down is not None:
            return t.force_down
        return t.force

    def to_dict(self, profile: Profile | None = None) -> dict[str, Any]:
        """JSON-ready description (bands as [lo, hi]) for ``rollsense protocols --json``."""
        t = self.targets
        out: dict[str, Any] = {
            "id": self.id, "title": self.title, "muscle": self.muscle, "tool": self.tool,
            "radius_m": self.radius_m, "mode": self.mode, "instruction": self.instruction,
            "note": self.note, "source": self.source,
        }
        ease = t.ease_in
        tg: dict[str, Any] = {"ease_in_s": ease.s, "ease_in_start_fraction": ease.start_fraction,
                              "ease_in_sore_from": ease.sore_from,
                              "ease_in_sore_extra_s": ease.ramp_s(ease.sore_from) - ease.s,
                              "ease_in_sore_cap_scale": ease.sore_cap_scale}
        if t.rolling_min_s is not None:
            tg["rolling_min_s"] = t.rolling_min_s
            tg["per_direction"] = t.per_direction
        if t.speed is not None:
            tg["pass_s"] = t.speed.pass_s.as_list()
            tg["speed_mps"] = t.speed.speed_mps.as_list()
        if t.pass_length_m is not None:
            tg["pass_length_m"] = t.pass_length_m.as_list()
        if t.hold is not None:
            tg["hold_s"] = t.hold.hold_s.as_list()
            tg["hold_still_max_mps"] = t.hold.still_max_mps
            tg["spots"] = t.hold.spots
        for name, f in (("force", t.force), ("force_up", t.force_up), ("force_down", t.force_down)):
            if f is not None:
                tg[name] = _force_dict(f)
        tg["force_band_n"] = self.force_band_n(profile).as_list()
        tg["force_max_n"] = round(self.force_max_n(profile), 1)
        out["targets"] = tg
        return out


def _force_dict(f: ForceTarget) -> dict[str, Any]:
    return {
        "n": f.band_n.as_list() if f.band_n else None,
        "bw": f.band_bw.as_list() if f.band_bw else None,
        "max_n": f.max_n,
        "max_bw": f.max_bw,
    }


# ------------------------------------------------------------------------------ loading


def load_routine_file(path: str | Path) -> Routine:
    """Parse and validate one routine file; ``ConfigError`` lists every problem, one per line."""
    path = Path(path)
    raw = read_toml(path, path.name)
    v = FileValidator(path.name)
    routine = v.routine(raw, path)
    v.raise_problems()
    assert routine is not None
    return routine


def _files(user_dir: str | Path | None) -> dict[str, Path]:
    files = {p.stem: p for p in sorted(ROUTINES_DIR.glob("*.toml"))}
    if user_dir is not None:
        d = Path(user_dir)
        if not d.is_dir():
            raise ConfigError(f"{d}: routine directory does not exist")
        files.update({p.stem: p for p in sorted(d.glob("*.toml"))})
    return files


def routine_ids(user_dir: str | Path | None = None) -> list[str]:
    """The id of every routine, built-in plus user ones, sorted (what the device can start)."""
    return sorted(_files(user_dir))


def list_routines(user_dir: str | Path | None = None) -> list[Routine]:
    """All routines, built-in plus user ones (a user file overrides the same id), by id."""
    return [load_routine_file(p) for _, p in sorted(_files(user_dir).items())]


def load_routine(routine_id: str, user_dir: str | Path | None = None) -> Routine:
    """The routine ``routine_id`` (user directory first); ``ConfigError`` if unknown or bad."""
    files = _files(user_dir)
    if routine_id not in files:
        known = ", ".join(sorted(files))
        raise ConfigError(f"unknown routine {routine_id!r} (known: {known})")
    return load_routine_file(files[routine_id])


# ------------------------------------------------------------------------------ validation

_TOP_KEYS = {"id", "title", "muscle", "tool", "radius_m", "mode", "instruction", "note", "targets"}
_TARGET_KEYS = {"rolling_min_s", "per_direction", "pass_length_m", "speed", "hold", "force",
                "force_up", "force_down", "ease_in"}
_FORCE_KEYS = {"n", "bw", "max_n", "max_bw"}


class FileValidator:
    """Collects one line per problem while building the Routine tree (the programme files'
    validator, ``programs``, builds on its helpers)."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[str] = []

    def raise_problems(self) -> None:
        """``ConfigError`` with one line per problem (also as ``.problems``), if any."""
        if self.problems:
            err = ConfigError("\n".join(self.problems))
            err.problems = list(self.problems)  # type: ignore[attr-defined]
            raise err

    def bad(self, key: str, what: str) -> None:
        self.problems.append(f"{self.filename}: {key}: {what}")

    def unknown(self, table: dict, allowed: set[str], prefix: str) -> None:
        for k in sorted(set(table) - allowed):
            self.bad(prefix + k, "unknown key")

    def text(self, d: dict, key: str, prefix: str = "", required: bool = True) -> str:
        val = d.get(key)
        if val is None:
            if required:
                self.bad(prefix + key, "missing")
            return ""
        if not isinstance(val, str) or (required and not val.strip()):
            self.bad(prefix + key, f"expected a non-empty string, got {val!r}")
            return ""
        return val.strip()

    def number(self, d: dict, key: str, prefix: str, lo: float, hi: float,
               required: bool = True) -> float | None:
        val = d.get(key)
        if val is None:
            if required:
                self.bad(prefix + key, "missing")
            return None
        if isinstance(val, bool) or not isinstance(val, int | float) or not math.isfinite(val):
            self.bad(prefix + key, f"expected a number, got {val!r}")
            return None
        if not lo <= val <= hi:
            self.bad(prefix + key, f"{val:g} is outside {lo:g}..{hi:g}")
            return None
        return float(val)

    def band(self, d: dict, key: str, prefix: str, lo: float, hi: float,
             required: bool = True) -> Band | None:
        val = d.get(key)
        if val is None:
            if required:
                self.bad(prefix + key, "missing")
            return None
        ok = isinstance(val, list) and len(val) == 2 and all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
            for x in val)
        if not ok:
            self.bad(prefix + key, f"expected [low, high] numbers, got {val!r}")
            return None
        a, b = float(val[0]), float(val[1])
        if a > b:
            self.bad(prefix + key, f"low {a:g} > high {b:g}")
            return None
        if a < lo or b > hi:
            self.bad(prefix + key, f"[{a:g}, {b:g}] is outside {lo:g}..{hi:g}")
            return None
        return Band(a, b)

    def table(self, d: dict, key: str, prefix: str, required: bool) -> dict | None:
        val = d.get(key)
        if val is None:
            if required:
                self.bad(prefix + key, "missing table")
            return None
        if not isinstance(val, dict):
            self.bad(prefix + key, f"expected a table, got {val!r}")
            return None
        return val

    # -- the tree

    def routine(self, raw: dict, path: Path) -> Routine | None:
        self.unknown(raw, _TOP_KEYS, "")
        rid = path.stem
        if "id" in raw and raw["id"] != rid:
            self.bad("id", f"{raw['id']!r} does not match the file name {rid!r}")
        tool = self.text(raw, "tool")
        if tool and tool not in TOOLS:
            self.bad("tool", f"{tool!r} is not one of {', '.join(TOOLS)}")
        mode = self.text(raw, "mode")
        if mode and mode not in MODES:
            self.bad("mode", f"{mode!r} is not one of {', '.join(MODES)}")
        radius = self.number(raw, "radius_m", "", 0.001, 0.5)
        title, muscle = self.text(raw, "title"), self.text(raw, "muscle")
        instruction = self.text(raw, "instruction")
        note = self.text(raw, "note", required=False)
        tg = self.table(raw, "targets", "", required=True)
        targets = self.targets(tg, mode) if tg is not None else None
        if self.problems or targets is None or radius is None:
            return None
        return Routine(rid, title, muscle, tool, radius, mode, instruction, targets, note,
                       str(path))

    def targets(self, tg: dict, mode: str) -> Targets | None:
        p = "targets."
        self.unknown(tg, _TARGET_KEYS, p)
        roll = mode == "roll"
        rolling = self.number(tg, "rolling_min_s", p, 1.0, 3600.0, required=roll)
        per_dir = tg.get("per_direction", False)
        if not isinstance(per_dir, bool):
            self.bad(p + "per_direction", f"expected true or false, got {per_dir!r}")
            per_dir = False
        length = self.band(tg, "pass_length_m", p, 0.01, 2.0, required=roll)
        speed = self.speed(tg, length, roll)
        hold = self.hold(tg, required=not roll)
        force = self.force(tg, "force", required=True)
        up, down = self.force(tg, "force_up", False), self.force(tg, "force_down", False)
        if ("force_up" in tg) != ("force_down" in tg):
            self.bad(p + ("force_down" if "force_up" in tg else "force_up"),
                     "missing (force_up and force_down go together)")
        if per_dir and "force_up" not in tg:
            self.bad(p + "per_direction", "needs targets.force_up and targets.force_down")
        ease = self.ease_in(tg)
        if force is None or ease is None:
            return None
        return Targets(rolling, per_dir, speed, length, hold, force, up, down, ease)

    def speed(self, tg: dict, length: Band | None, required: bool) -> SpeedTarget | None:
        p = "targets.speed."
        sp = self.table(tg, "speed", "targets.", required)
        if sp is None:
            return None
        self.unknown(sp, {"pass_s", "speed_mps"}, p)
        pass_s = self.band(sp, "pass_s", p, 0.2, 60.0)
        given = self.band(sp, "speed_mps", p, 0.001, 2.0, required=False)
        if pass_s is None:
            return None
        if given is not None:
            return SpeedTarget(pass_s, given)
        if length is None:
            self.bad(p + "speed_mps", "missing (no targets.pass_length_m to derive it from)")
            return None
        derived = Band(round(length.lo / pass_s.hi, 4), round(length.hi / pass_s.lo, 4))
        return SpeedTarget(pass_s, derived)

    def hold(self, tg: dict, required: bool) -> HoldTarget | None:
        p = "targets.hold."
        h = self.table(tg, "hold", "targets.", required)
        if h is None:
            return None
        self.unknown(h, {"s", "still_max_mps", "spots"}, p)
        hold_s = self.band(h, "s", p, 5.0, 600.0)
        still = self.number(h, "still_max_mps", p, 0.001, 0.1, required=False)
        spots = h.get("spots", 1)
        if isinstance(spots, bool) or not isinstance(spots, int) or not 1 <= spots <= 20:
            self.bad(p + "spots", f"expected a whole number 1..20, got {spots!r}")
            return None
        if hold_s is None:
            return None
        return HoldTarget(hold_s, 0.01 if still is None else still, spots)

    def force(self, tg: dict, key: str, required: bool) -> ForceTarget | None:
        p = f"targets.{key}."
        f = self.table(tg, key, "targets.", required)
        if f is None:
            return None
        self.unknown(f, _FORCE_KEYS, p)
        n = self.band(f, "n", p, 0.0, 2000.0, required=False)
        bw = self.band(f, "bw", p, 0.0, 1.5, required=False)
        max_n = self.number(f, "max_n", p, 1.0, 3000.0, required=False)
        max_bw = self.number(f, "max_bw", p, 0.01, 2.0, required=False)
        if "n" not in f and "bw" not in f:
            self.bad(p + "n", "missing (give n = [low, high] newtons or bw = body-weight fractions)")
        if "max_n" not in f and "max_bw" not in f:
            self.bad(p + "max_n", "missing (give max_n newtons or max_bw body-weight fraction)")
        if n is not None and max_n is not None and max_n < n.hi:
            self.bad(p + "max_n", f"{max_n:g} is below the band top {n.hi:g}")
        if bw is not None and max_bw is not None and max_bw < bw.hi:
            self.bad(p + "max_bw", f"{max_bw:g} is below the band top {bw.hi:g}")
        if (n is None and bw is None) or (max_n is None and max_bw is None):
            return None
        return ForceTarget(n, bw, max_n, max_bw)

    def ease_in(self, tg: dict) -> EaseIn | None:
        p = "targets.ease_in."
        e = self.table(tg, "ease_in", "targets.", required=False)
        if e is None:
            return EaseIn(15.0, 0.5) if "ease_in" not in tg else None
        self.unknown(e, {"s", "start_fraction", "sore_from", "sore_extra_s", "sore_cap_scale"}, p)
        s = self.number(e, "s", p, 0.0, 120.0)
        frac = self.number(e, "start_fraction", p, 0.05, 1.0, required=False)
        sore_from = e.get("sore_from", SORE_FROM)
        if isinstance(sore_from, bool) or not isinstance(sore_from, int) or not 0 <= sore_from <= 10:
            self.bad(p + "sore_from", f"expected a whole number 0..10 (a soreness rating), "
                     f"got {sore_from!r}")
            sore_from = None
        extra = self.number(e, "sore_extra_s", p, 0.0, 120.0, required=False)
        scale = self.number(e, "sore_cap_scale", p, 0.5, 1.0, required=False)
        bad = any(k in e and v is None for k, v in (("sore_extra_s", extra),
                                                    ("sore_cap_scale", scale)))
        if s is None or sore_from is None or bad:
            return None
        return EaseIn(s, 0.5 if frac is None else frac, sore_from, extra,
                      SORE_CAP_SCALE if scale is None else scale)
