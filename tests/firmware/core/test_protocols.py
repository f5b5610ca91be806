"""Routine files: the six seed routines carry the DESIGN §1 targets, user files override or
add, and every bad file gets one clear line per problem."""

from __future__ import annotations

import json
import shutil

import pytest

from firmware.app.cli import main
from firmware.common.errors import ConfigError
from firmware.core.protocols import (
    ROUTINES_DIR,
    Band,
    Profile,
    list_routines,
    load_routine,
    load_routine_file,
)

SEED_IDS = [
    "calf-stick",
    "it-band-stick",
    "piriformis-ball",
    "quads-roller",
    "thoracic-roller",
    "upper-back-ball",
]


def test_the_six_seed_routines_load():
    routines = list_routines()
    assert [r.id for r in routines] == SEED_IDS
    tools = {r.id: (r.tool, r.mode) for r in routines}
    assert tools == {
        "quads-roller": ("roller", "roll"),
        "thoracic-roller": ("roller", "roll"),
        "piriformis-ball": ("ball", "hold"),
        "upper-back-ball": ("ball", "hold"),
        "it-band-stick": ("stick", "roll"),
        "calf-stick": ("stick", "roll"),
    }
    for r in routines:
        assert r.title and r.muscle and r.instruction
        assert 0 < r.radius_m <= 0.1
        assert 10.0 <= r.targets.ease_in.s <= 20.0  # "ease in over the first 10-20 s"
        assert r.force_max_n() > r.force_band_n().hi


def test_rolling_routines_are_slow_and_at_least_60_s():
    for r in list_routines():
        if r.mode != "roll":
            continue
        t = r.targets
        assert t.rolling_min_s >= 60.0
        assert t.speed.pass_s == Band(2.0, 4.0)
        # the speed band is derived from the pass length band and the pass time band
        assert t.speed.speed_mps.lo == pytest.approx(t.pass_length_m.lo / 4.0)
        assert t.speed.speed_mps.hi == pytest.approx(t.pass_length_m.hi / 2.0)
    quads = load_routine("quads-roller")
    assert quads.targets.pass_length_m == Band(0.15, 0.30)
    assert quads.targets.speed.speed_mps == Band(0.0375, 0.15)
    assert load_routine("it-band-stick").targets.pass_length_m == Band(0.25, 0.40)


def test_roller_force_is_a_body_weight_fraction_and_balls_sticks_press_less():
    quads = load_routine("quads-roller")
    assert quads.targets.force.band_bw == Band(0.25, 0.45)
    assert 0.25 <= quads.targets.force.band_bw.lo and quads.targets.force.max_bw <= 0.6
    p80 = Profile(body_mass_kg=80.0)
    assert quads.force_band_n(p80).lo == pytest.approx(0.25 * 80 * 9.80665)
    assert quads.force_max_n(p80) == pytest.approx(0.60 * 80 * 9.80665)
    assert quads.force_band_n() == Band(180.0, 330.0)  # newton fallback without a profile
    for rid in ("piriformis-ball", "upper-back-ball", "it-band-stick", "calf-stick"):
        assert load_routine(rid).force_band_n(p80).hi < quads.force_band_n(p80).hi


def test_holds_spots_and_the_calf_direction_rule():
    piri, back = load_routine("piriformis-ball"), load_routine("upper-back-ball")
    assert piri.targets.hold.hold_s == Band(30.0, 60.0) and piri.targets.hold.spots == 1
    assert back.targets.hold.spots == 3 and back.targets.hold.still_max_mps == 0.01
    calf = load_routine("calf-stick")
    assert calf.directional and calf.targets.per_direction
    assert calf.targets.rolling_min_s == 60.0
    up, down = calf.force_band_n(direction=1), calf.force_band_n(direction=-1)
    assert up.lo > down.hi  # up firm, down light
    assert not load_routine("quads-roller").directional


def test_to_dict_is_json_ready_with_both_pace_bands():
    for r in list_routines():
        d = json.loads(json.dumps(r.to_dict()))
        assert d["id"] == r.id and d["tool"] == r.tool
        assert d["targets"]["force_band_n"] == r.force_band_n().as_list()
    quads = load_routine("quads-roller").to_dict(Profile(body_mass_kg=60.0))
    assert quads["targets"]["pass_s"] == [2.0, 4.0]
    assert quads["targets"]["speed_mps"] == [0.0375, 0.15]
    assert quads["targets"]["force_band_n"][0] == pytest.approx(0.25 * 60 * 9.80665)


def test_user_directory_overrides_and_adds(tmp_path):
    text = (ROUTINES_DIR / "quads-roller.toml").read_text()
    (tmp_path / "quads-roller.toml").write_text(
        text.replace("rolling_min_s = 60.0", "rolling_min_s = 90.0")
    )
    (tmp_path / "hamstrings-roller.toml").write_text(text.replace("quadriceps", "hamstrings"))
    assert load_routine("quads-roller", user_dir=tmp_path).targets.rolling_min_s == 90.0
    assert load_routine("quads-roller").targets.rolling_min_s == 60.0
    ids = [r.id for r in list_routines(user_dir=tmp_path)]
    assert ids == sorted(SEED_IDS + ["hamstrings-roller"])
    ham = load_routine("hamstrings-roller", user_dir=tmp_path)
    assert ham.muscle == "hamstrings" and ham.source == str(tmp_path / "hamstrings-roller.toml")


def _bad(tmp_path, name: str, old: str, new: str, base: str = "quads-roller") -> list[str]:
    text = (ROUTINES_DIR / f"{base}.toml").read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_routine_file(path)
    lines = str(info.value).splitlines()
    assert lines == info.value.problems
    return lines


def test_inverted_band_is_one_clear_line(tmp_path):
    lines = _bad(tmp_path, "quads.toml", "pass_s = [2.0, 4.0]", "pass_s = [5, 4]")
    assert lines == ["quads.toml: targets.speed.pass_s: low 5 > high 4"]


def test_every_problem_gets_its_own_line(tmp_path):
    text = (ROUTINES_DIR / "quads-roller.toml").read_text()
    text = (
        text.replace('tool = "roller"', 'tool = "hammer"')
        .replace("radius_m = 0.075", "radius_m = -1")
        .replace("rolling_min_s = 60.0", 'rolling_min_s = "long"')
        .replace("max_n = 440.0", "max_n = 300.0\ncolour = 'red'")
    )
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_routine_file(path)
    assert str(info.value).splitlines() == [
        "x.toml: tool: 'hammer' is not one of roller, ball, stick",
        "x.toml: radius_m: -1 is outside 0.001..0.5",
        "x.toml: targets.rolling_min_s: expected a number, got 'long'",
        "x.toml: targets.force.colour: unknown key",
        "x.toml: targets.force.max_n: 300 is below the band top 330",
    ]


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        (
            "[targets.speed]\npass_s = [2.0, 4.0]",
            "[targets.speed]\npass_s = [2.0]",
            "targets.speed.pass_s: expected [low, high] numbers, got [2.0]",
        ),
        ('mode = "roll"', 'mode = "stroll"', "mode: 'stroll' is not one of roll, hold"),
        ('title = "Quads on the foam roller"\n', "", "title: missing"),
        (
            "bw = [0.25, 0.45]",
            "bw = [0.25, true]",
            "targets.force.bw: expected [low, high] numbers, got [0.25, True]",
        ),
        (
            "[targets.ease_in]\ns = 15.0",
            "[targets.ease_in]\ns = 500",
            "targets.ease_in.s: 500 is outside 0..120",
        ),
        (
            "pass_length_m = [0.15, 0.30]      # knee to mid-thigh\n",
            "",
            "targets.pass_length_m: missing",
        ),
    ],
)
def test_single_problems(tmp_path, old, new, line):
    lines = _bad(tmp_path, "q.toml", old, new)
    assert f"q.toml: {line}" in lines


def test_force_needs_a_band_and_a_limit(tmp_path):
    text = (ROUTINES_DIR / "it-band-stick.toml").read_text()
    path = tmp_path / "itb.toml"
    path.write_text(text.replace("n = [100.0, 200.0]", "").replace("max_n = 260.0", ""))
    with pytest.raises(ConfigError) as info:
        load_routine_file(path)
    assert info.value.problems == [
        "itb.toml: targets.force.n: missing (give n = [low, high] newtons or bw = body-weight "
        "fractions)",
        "itb.toml: targets.force.max_n: missing (give max_n newtons or max_bw body-weight "
        "fraction)",
    ]


def test_direction_dependent_force_comes_in_pairs(tmp_path):
    text = (ROUTINES_DIR / "calf-stick.toml").read_text()
    start = text.index("[targets.force_down]")
    end = text.index("[targets.ease_in]")
    path = tmp_path / "calf.toml"
    path.write_text(text[:start] + text[end:])
    with pytest.raises(ConfigError) as info:
        load_routine_file(path)
    assert info.value.problems == [
        "calf.toml: targets.force_down: missing (force_up and force_down go together)"
    ]


def test_hold_routine_needs_its_hold_table(tmp_path):
    lines = _bad(tmp_path, "p.toml", "[targets.hold]", "[targets.holding]", base="piriformis-ball")
    assert lines[:2] == [
        "p.toml: targets.holding: unknown key",
        "p.toml: targets.hold: missing table",
    ]
    lines = _bad(tmp_path, "p2.toml", "spots = 1", "spots = 2.5", base="piriformis-ball")
    assert lines == ["p2.toml: targets.hold.spots: expected a whole number 1..20, got 2.5"]


def test_unreadable_and_malformed_files(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text('title = "unterminated\n')
    with pytest.raises(ConfigError, match=r"^broken.toml: not valid TOML: "):
        load_routine_file(broken)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"^bin.toml: not UTF-8 text$"):
        load_routine_file(binary)
    with pytest.raises(ConfigError, match=r"^gone.toml: cannot read: "):
        load_routine_file(tmp_path / "gone.toml")
    shutil.copy(ROUTINES_DIR / "quads-roller.toml", tmp_path / "quads-2.toml")
    text = (tmp_path / "quads-2.toml").read_text()
    (tmp_path / "quads-2.toml").write_text('id = "quads-roller"\n' + text)
    with pytest.raises(ConfigError) as info:
        load_routine_file(tmp_path / "quads-2.toml")
    assert info.value.problems == [
        "quads-2.toml: id: 'quads-roller' does not match the file name 'quads-2'"
    ]


def test_unknown_routine_and_missing_user_dir(tmp_path):
    with pytest.raises(ConfigError, match=r"^unknown routine 'knees' \(known: calf-stick, "):
        load_routine("knees")
    with pytest.raises(ConfigError, match=r"routine directory does not exist$"):
        list_routines(user_dir=tmp_path / "nope")


def test_a_bad_user_file_is_reported_and_the_builtins_still_load(tmp_path):
    (tmp_path / "mine.toml").write_text("title = 3\n")
    with pytest.raises(ConfigError) as info:
        list_routines(user_dir=tmp_path)
    assert "mine.toml: title: expected a non-empty string, got 3" in info.value.problems
    assert load_routine("quads-roller", user_dir=tmp_path).id == "quads-roller"


def test_profile_body_mass_is_checked():
    assert Profile().body_mass_kg is None
    assert Profile(body_mass_kg=72.5).body_mass_kg == 72.5
    for bad in (0, -5, 1000, "80"):
        with pytest.raises(ConfigError, match=r"^profile: body_mass_kg: "):
            Profile(body_mass_kg=bad)


def test_body_weight_only_force_uses_a_reference_user_without_a_profile(tmp_path):
    text = (ROUTINES_DIR / "quads-roller.toml").read_text()
    text = text.replace("n = [180.0, 330.0]", "").replace("max_n = 440.0", "")
    (tmp_path / "bw-only.toml").write_text(text)
    r = load_routine("bw-only", user_dir=tmp_path)
    assert r.targets.force.band_n is None
    assert r.force_band_n().lo == pytest.approx(0.25 * 75.0 * 9.80665)  # 75 kg reference
    assert r.force_max_n(Profile(body_mass_kg=90.0)) == pytest.approx(0.60 * 90.0 * 9.80665)


def test_an_explicit_speed_band_wins_over_the_derived_one(tmp_path):
    text = (ROUTINES_DIR / "quads-roller.toml").read_text()
    text = text.replace("pass_s = [2.0, 4.0]", "pass_s = [2.0, 4.0]\nspeed_mps = [0.04, 0.12]")
    (tmp_path / "quads-roller.toml").write_text(text)
    r = load_routine("quads-roller", user_dir=tmp_path)
    assert r.targets.speed.speed_mps == Band(0.04, 0.12)
    assert r.targets.speed.pass_s == Band(2.0, 4.0)


# ---------------------------------------------------------------- user routines everywhere
def _user_routines(tmp_path):
    """my-quads: the quads routine with longer passes; my-glutes: two 20-40 s holds on a ball."""
    d = tmp_path / "routines"
    d.mkdir()
    quads = (ROUTINES_DIR / "quads-roller.toml").read_text()
    (d / "my-quads.toml").write_text(quads.replace('title = "Quads on the foam roller"', 'title = "My quads"')
                                     .replace("pass_length_m = [0.15, 0.30]", "pass_length_m = [0.25, 0.40]"))
    ball = (ROUTINES_DIR / "piriformis-ball.toml").read_text()
    (d / "my-glutes.toml").write_text(ball.replace("s = [30.0, 60.0]", "s = [20.0, 40.0]")
                                      .replace("spots = 1", "spots = 2"))
    return d


def _cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_and_replay_a_user_roll_routine(tmp_path, capsys):
    d = _user_routines(tmp_path)
    rec = tmp_path / "mine.csv"
    code, out, err = _cli(["simulate", "--protocol", "my-quads", "--routines-dir", str(d), "--out", str(rec)], capsys)
    assert code == 0, err
    truth = json.loads((tmp_path / "mine.csv.truth.json").read_text())
    lengths = [p["length_m"] for p in truth["passes"]]
    assert truth["protocol"] == "my-quads" and min(lengths) >= 0.25 and max(lengths) <= 0.40
    code, out, err = _cli(["replay", str(rec), "--protocol", "my-quads", "--routines-dir", str(d), "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["protocol"] == "my-quads"
    by_name = {t["name"]: t for t in summary["targets"]}
    assert (by_name["pass_length_m"]["target"]["min"], by_name["pass_length_m"]["target"]["max"]) == (0.25, 0.40)
    assert all(t["met"] for t in summary["targets"]), summary["targets"]


def test_replay_and_simulate_find_user_routines_through_the_config(tmp_path, capsys):
    d = _user_routines(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(f'routines_dir = "{d}"\n')
    rec = tmp_path / "glutes.csv.gz"
    code, _, err = _cli(["simulate", "--protocol", "my-glutes", "--config", str(config), "--out", str(rec)], capsys)
    assert code == 0, err
    truth = json.loads((tmp_path / "glutes.csv.gz.truth.json").read_text())
    assert len(truth["holds"]) == 2 and all(20.0 <= h["duration_s"] <= 40.0 for h in truth["holds"])
    code, out, err = _cli(["replay", str(rec), "--config", str(config), "--json"], capsys)  # protocol from the file
    assert code == 0, err
    summary = json.loads(out)
    assert summary["protocol"] == "my-glutes" and len(summary["holds"]) == 2
    assert all(t["met"] for t in summary["targets"]), summary["targets"]


@pytest.mark.parametrize("command", ["replay", "simulate"])
def test_unknown_routine_is_one_line_listing_the_known_ids(tmp_path, capsys, command):
    d = _user_routines(tmp_path)
    rec = tmp_path / "r.csv"
    code, _, err = _cli(["simulate", "--protocol", "quads-roller", "--out", str(rec)], capsys)
    assert code == 0, err
    argv = (["replay", str(rec)] if command == "replay" else ["simulate", "--out", str(tmp_path / "n.csv")])
    code, out, err = _cli([*argv, "--protocol", "nope", "--routines-dir", str(d)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"rollsense {command}: unknown routine 'nope' (known: calf-stick, ")
    assert "my-glutes" in err and "my-quads" in err
