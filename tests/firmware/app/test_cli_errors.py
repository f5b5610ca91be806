"""Issue 17 §2: nothing a user can type or point at ends in a traceback. Every bad value, path,
URL and number gets one line on stderr naming it and what to do, and exit 2; --version; every
option has help; help and routine files name only files that exist."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import pytest

from dashboard.store import open_store
from device.sim import SCENARIOS
from firmware.app import brokeradmin, cli
from firmware.app.cli import build_parser, main, package_version
from firmware.app.demo import DemoOptions, run_demo
from firmware.edge import recording
from firmware.edge.config import ensure_state_dir

REPO = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).parent / "rollsense"
ROLLSENSE = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "firmware.app.cli"]
PYPROJECT_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
ROW_TIMEOUT_S = 20.0  # each row fails before any hardware, broker or server starts: ~0.6 s

# (argv, phrase expected in the one stderr line). {tmp} is a fresh directory holding
# `existing.csv` (a file) and `notes.txt` (not a recording); {existing} is that CSV file.
BAD_INPUT = [
    (["nosuch"], "invalid choice: 'nosuch'"),
    (["demo", "--protocol", "nope"], "unknown routine 'nope'"),
    (["demo", "--scenario", "nope"], "invalid choice: 'nope'"),
    (["demo", "--port", "0"], "port 0 is out of range; give 1 to 65535"),
    (["demo", "--port", "70000"], "port 70000 is out of range"),
    (["demo", "--seed", "x"], "argument --seed"),
    (["demo", "--speed", "nan"], "argument --speed"),
    (["demo", "--speed", "1e300"], "speed 1e300: give 0.01 to 1000"),
    (["run", "--sim", "--speed", "5000"], "speed 5000: give 0.01 to 1000"),
    (["demo", "--broker", "ftp://x"], "scheme"),
    (["demo", "--device-id", "Bad Id"], "argument --device-id: device id 'Bad Id'"),
    (["demo", "--db", "bogus://x"], "store URL 'bogus://x'"),
    (["demo", "--db", "/etc"], "/etc is a directory"),
    (["run", "--sim", "--once", "--protocol", "no-such-routine", "--state-dir", "{tmp}/state"],
     "unknown routine 'no-such-routine'"),
    (["run", "--sim", "--once", "--speed", "-3", "--protocol", "quads-roller", "--state-dir", "/proc/nowhere"],
     "argument --speed: '-3': give a positive number"),
    (["run", "--sim", "--once", "--protocol", "quads-roller", "--state-dir", "/proc/nowhere"],
     "state directory /proc/nowhere: cannot create it"),
    (["run", "--sim", "--once", "--protocol", "quads-roller", "--state-dir", "{existing}"],
     "is a file, not a directory"),
    (["run", "--sim", "--once", "--program", "nope", "--state-dir", "{tmp}/state"],
     "unknown programme 'nope' (known: hips, lower-body"),
    (["run", "--sim", "--program", "hips", "--state-dir", "{tmp}/state"],  # a roller by default
     "hips has no roller steps from step 0; next is the ball: piriformis-ball left"),
    (["run", "--sim", "--program", "lower-body", "--protocol", "calf-stick", "--state-dir", "{tmp}/state"],
     "lower-body plays it-band-stick left first on this stick (step 2), not calf-stick"),
    (["demo", "--program", "nope"], "unknown programme 'nope'"),
    (["demo", "--program", "hips", "--protocol", "quads-roller"],
     "hips has no roller steps from step 0; next is the ball: piriformis-ball left"),
    (["demo", "--program", "lower-body", "--protocol", "nope"], "unknown routine 'nope'"),
    (["run", "--config", "/nonexistent.toml"], "/nonexistent.toml: cannot read the config file"),
    (["run", "--config", "/etc"], "/etc: cannot read the config file"),
    (["run", "--broker", "ftp://x"], "scheme must be mqtt://"),
    (["run", "--broker", "mqtt://host:99999"], "bad port"),
    (["replay", "/nonexistent.csv"], "no such recording"),
    (["replay", "/etc"], "/etc"),
    (["replay", "{tmp}/notes.txt"], "not a rollsense recording"),
    (["replay", "{existing}", "--radius-m", "2"], "radius must be at most 0.5 m"),
    (["replay", "{existing}", "--tool", "spoon"], "invalid choice: 'spoon'"),
    (["simulate", "--protocol", "quads-roller", "--seed", "x", "--out", "{tmp}/y.csv"], "argument --seed"),
    (["simulate", "--protocol", "quads-roller", "--seed", "-1", "--out", "{tmp}/y.csv"],
     "seed -1 is out of range"),
    (["simulate", "--protocol", "quads-roller", "--out", "{tmp}/x.json"], "give a name ending in .csv or .csv.gz"),
    (["simulate", "--protocol", "quads-roller", "--out", "{existing}"], "refusing to overwrite"),
    (["simulate", "--protocol", "quads-roller", "--out", "/no/such/dir/x.csv"], "/no/such/dir/x.csv"),
    (["simulate", "--protocol", "nope", "--out", "{tmp}/z.csv"], "'nope'"),
    (["simulate", "--protocol", "quads-roller", "--scenario", "nope", "--out", "{tmp}/z.csv"],
     "invalid choice: 'nope'"),
    (["simulate", "--protocol", "quads-roller", "--rate-hz", "0", "--out", "{tmp}/z.csv"], "argument --rate-hz"),
    (["record", "--out", "{existing}", "--sim"], "refusing to overwrite"),
    (["record", "--out", "{tmp}/r.json", "--sim"], "give a name ending in .csv or .csv.gz"),
    (["record", "--out", "{tmp}/r.csv", "--sim", "--seconds", "-1"], "argument --seconds"),
    (["calibrate", "radius", "--distance-m", "-1", "--sim"], "argument --distance-m"),
    (["calibrate", "force", "--weights-kg", "a,b", "--sim"], "--weights-kg 'a,b'"),
    (["calibrate", "gyro", "--sim", "--seconds", "abc"], "argument --seconds: 'abc' is not a number"),
    # issue: bounds at parsing, in the user's units (a 31-year countdown, a 1 km roll, ...)
    (["calibrate", "gyro", "--sim", "--seconds", "1e9"],
     "argument --seconds: 1e9 s is out of range; give 1 to 120 s"),
    (["calibrate", "gyro", "--sim", "--seconds", "inf"], "argument --seconds: inf s is out of range"),
    (["calibrate", "radius", "--distance-m", "1000", "--sim"],
     "argument --distance-m: 1000 m is out of range; give 0.1 to 2 m"),
    (["calibrate", "radius", "--distance-m", "0.01", "--sim"], "0.01 m is out of range; give 0.1 to 2 m"),
    (["record", "--out", "{tmp}/r.csv", "--sim", "--seconds", "1e12"],
     "argument --seconds: 1e12 s is out of range; give 1 s to 4 hours (14400 s)"),
    (["simulate", "--protocol", "quads-roller", "--rate-hz", "1e6", "--out", "{tmp}/z.csv"],
     "argument --rate-hz: 1e6 Hz is out of range; give 50 to 1000 Hz"),
    (["calibrate", "force", "--weights-kg", "0,5000", "--sim"],
     "--weights-kg '0,5000': 5000 kg is out of range; give 1 to 20 comma-separated kilograms, each 0 to 300 kg"),
    (["calibrate", "force", "--weights-kg", ",".join(["1"] * 21), "--sim"], "21 weights are too many; give 1 to 20"),
    (["calibrate", "bogus"], "invalid choice: 'bogus'"),
    (["calibrate", "gyro", "--sim", "--config", "{tmp}/cal.toml"], "calibration directory /proc/nowhere: cannot create it"),
    (["protocols", "--routines-dir", "/nonexistent"], "/nonexistent: no such directory"),
    (["protocols", "--routines-dir", "{existing}"], "not a directory"),
    (["dashboard", "--port", "99999"], "port 99999 is out of range"),
    (["dashboard", "--port", "abc"], "'abc' is not a port number"),
    (["dashboard", "--db", "bogus://x"], "store URL 'bogus://x'"),
    (["dashboard", "--db", "/etc"], "/etc is a directory"),
    (["dashboard", "--db", "sqlite:////proc/nowhere/d.db"], "cannot create /proc/nowhere"),
    (["dashboard", "--broker", "mqtt://host:99999"], "bad port"),
    (["dashboard", "--ingest-workers", "0"], "give 1 to 16"),
    (["dashboard", "--telemetry-retention-days", "-1", "--db", "{tmp}/d.db"],
     "--telemetry-retention-days -1: give 0 (keep for ever) to 36600"),
    (["dashboard", "--telemetry-retention-days", "ninety", "--db", "{tmp}/d.db"],
     "--telemetry-retention-days 'ninety': give a whole number of days"),
    (["dashboard", "--host", "999.1.1.1", "--db", "{tmp}/d.db"], "cannot listen on 999.1.1.1"),
    (["dashboard", "--add-user", "", "--db", "{tmp}/u.db"], "user name ''"),
    (["dashboard", "--add-user", "a b", "--db", "{tmp}/u.db"], "user name 'a b'"),
    (["dashboard", "--replace"], "--replace only applies with --add-user"),
    (["dashboard", "--role", "boss"], "argument --role: invalid choice: 'boss'"),
    (["dashboard", "--person", "ann"], "--role and --person only apply with --add-user NAME"),
    (["dashboard", "--link-client", "theo"], "argument --link-client: expected 2 arguments"),
    (["dashboard", "--link-client", "theo", "ann", "--db", "{tmp}/u.db"], "u.db: no dashboard store there"),
    (["dashboard", "--unlink-client", "theo", "ann", "--role", "admin"], "--link-client and --unlink-client go alone"),
    (["dashboard", "--trust-device", "Roller 1"], "argument --trust-device: device id 'Roller 1'"),
    (["dashboard", "--trust-device", "a.b.c"], "argument --trust-device: device id 'a.b.c'"),
    (["dashboard", "--trust-device", "vm", "--role", "admin"], "--trust-device goes alone"),
    (["dashboard", "--add-user", "x", "--trust-device", "vm"], "--add-user and --trust-device: give one at a time"),
    (["dashboard", "--link-client", "t", "p", "--unlink-client", "t", "p"],
     "--link-client and --unlink-client: give one at a time"),
    (["pair", "--state-dir", "/proc/nope"], "state directory /proc/nope: cannot create it"),
    (["pair", "--config", "/nonexistent"], "/nonexistent: cannot read the config file"),
    (["pair", "--state-dir", ""], "argument --state-dir: empty path"),  # not the default dir
    (["run", "--sim", "--state-dir", " "], "argument --state-dir: empty path"),
    (["protocols", "--routines-dir", ""], "argument --routines-dir: empty path"),  # not the current dir
    (["programs", "--routines-dir", "/nonexistent"], "/nonexistent: no such directory"),
    (["programs", "--routines-dir", "{existing}"], "not a directory"),
    (["programs", "--routines-dir", ""], "argument --routines-dir: empty path"),
    (["programs", "--config", "/nonexistent"], "/nonexistent: cannot read the config file"),
    (["programs", "--routines-dir", "{tmp}/mine"],  # a programme of an unknown routine
     "legs.toml: steps[0].routine: 'quads' is not a routine (known: calf-stick"),
    (["programs", "--config", "{tmp}/mine.toml"],  # the same, through the config's routines_dir
     "legs.toml: steps[0].routine: 'quads' is not a routine"),
    (["replay", ""], "argument FILE: empty path"),
    (["doctor", "--config", ""], "argument --config: empty path"),
    (["doctor", "--config", "/nonexistent"], "/nonexistent: cannot read the config file"),
    (["broker", "add-device", "BAD ID!"], "device id 'BAD ID!'"),
    (["broker", "remove-everything"], "invalid choice"),
    (["broker", "add-device", "x", "--port", "abc"], "'abc' is not a port number"),
    (["broker", "add-device", "x", "--port", "0"], "port 0 is out of range"),
    (["broker", "add-device"], "required: device_id"),
]


def _row_id(row) -> str:
    return " ".join(a or "''" for a in row[0])[:70]


@pytest.fixture
def files(tmp_path, monkeypatch):
    """{tmp} and {existing} for the rows; the working directory there; no ROLLSENSE_* settings."""
    (tmp_path / "existing.csv").write_text("t,gx\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "cal.toml").write_text('calibration_path = "/proc/nowhere/calibration.json"\n')
    _bad_programme(tmp_path)
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("ROLLSENSE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr("signal.signal", lambda *_: None)  # `run` sets handlers before failing
    return tmp_path


FIXTURES = ["cal.toml", "existing.csv", "mine", "mine.toml", "notes.txt"]


def _bad_programme(tmp: Path) -> None:
    """{tmp}/mine: a routines directory whose one programme has one problem; {tmp}/mine.toml: a
    config naming it."""
    (tmp / "mine" / "programs").mkdir(parents=True)
    (tmp / "mine" / "programs" / "legs.toml").write_text('title = "Legs"\n[[steps]]\nroutine = "quads"\n')
    (tmp / "mine.toml").write_text(f'routines_dir = "{tmp / "mine"}"\n')


def _args(argv: list[str], tmp: Path) -> list[str]:
    return [a.format(tmp=tmp, existing=tmp / "existing.csv") for a in argv]


def _check_one_line(argv: list[str], phrase: str, code: int, out: str, err: str) -> None:
    assert "Traceback" not in out + err, err
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    command = argv[0] if argv[0] in cli.COMMANDS else ""
    assert re.match(rf"rollsense( {command}( [a-z-]+)?)?: ", lines[0]) and command in lines[0], lines[0]
    assert phrase in lines[0], lines[0]
    assert out == ""


@pytest.mark.parametrize("argv, phrase", BAD_INPUT, ids=[_row_id(r) for r in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(files, capsys, argv, phrase):
    """In this process (quick): nothing but SystemExit(2) or a return of 2 leaves main()."""
    try:
        code = main(_args(argv, files))
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    _check_one_line(argv, phrase, code, captured.out, captured.err)
    assert sorted(p.name for p in files.iterdir()) == FIXTURES  # nothing written
    assert (files / "existing.csv").read_text() == "t,gx\n"  # never overwritten


# the same as real processes of the installed script, which is what users see: one row of each
# kind (argparse type, RollsenseError from a command, state dir, store path, routine dir...)
AS_PROCESS = [row for row in BAD_INPUT if tuple(row[0][:3]) in {
    ("nosuch",), ("demo", "--protocol", "nope"), ("demo", "--port", "70000"),
    ("run", "--sim", "--once"), ("run", "--config", "/etc"), ("replay", "/etc"),
    ("simulate", "--protocol", "quads-roller"), ("dashboard", "--port", "99999"),
    ("dashboard", "--db", "sqlite:////proc/nowhere/d.db"), ("pair", "--state-dir", "/proc/nope"),
    ("protocols", "--routines-dir", "/nonexistent"), ("broker", "add-device", "BAD ID!"),
    ("programs", "--routines-dir", "{tmp}/mine"),
    ("calibrate", "force", "--weights-kg"), ("doctor", "--config", "/nonexistent"),
    ("record", "--out", "{existing}"),
}]


@pytest.fixture(scope="module")
def process_results(tmp_path_factory):
    """AS_PROCESS rows as real `rollsense` processes, a few at a time (each takes ~0.6 s)."""
    tmp = tmp_path_factory.mktemp("cli-errors")
    (tmp / "existing.csv").write_text("t,gx\n")
    (tmp / "notes.txt").write_text("hello\n")
    _bad_programme(tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLSENSE_")}

    def run(argv):
        proc = subprocess.run([*ROLLSENSE, *_args(argv, tmp)], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, env=env, cwd=tmp, timeout=ROW_TIMEOUT_S)
        return tuple(argv), (proc.returncode, proc.stdout, proc.stderr)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(pool.map(run, [argv for argv, _ in AS_PROCESS]))
    results["tmp"] = tmp
    return results


@pytest.mark.parametrize("argv, phrase", AS_PROCESS, ids=[_row_id(r) for r in AS_PROCESS])
def test_bad_input_as_a_real_process(process_results, argv, phrase):
    _check_one_line(argv, phrase, *process_results[tuple(argv)])


def test_bad_input_as_a_real_process_writes_nothing(process_results):
    tmp = process_results["tmp"]
    assert sorted(p.name for p in tmp.iterdir()) == ["existing.csv", "mine", "mine.toml", "notes.txt"]


def test_state_dir_is_created_with_its_parents(tmp_path):
    state = tmp_path / "no" / "such" / "dir"
    assert ensure_state_dir(state) == state and state.is_dir()
    assert ensure_state_dir(str(state)) == state  # already there: fine


def test_every_subcommand_is_in_the_table():
    assert {argv[0] for argv, _ in BAD_INPUT} >= set(cli.COMMANDS)


def test_bad_port_in_the_environment_is_one_line(capsys, monkeypatch):
    monkeypatch.setenv("ROLLSENSE_DASHBOARD_PORT", "http")
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["dashboard"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "rollsense dashboard: argument --port: 'http' is not a port number; give 1 to 65535 "
        "(see 'rollsense dashboard --help')"]


def test_an_unexpected_error_is_one_line_that_asks_for_a_report(capsys, monkeypatch):
    def broken(_args):
        raise KeyError("surprise")

    monkeypatch.setitem(cli.COMMANDS, "protocols", broken)
    assert main(["protocols"]) == 70
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "rollsense protocols: unexpected KeyError: 'surprise'; this is a bug; please report it"]


# ------------------------------------------------------------------------------- --version


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    proc = subprocess.run([*ROLLSENSE, flag], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"rollsense {PYPROJECT_VERSION}"


def test_version_from_pyproject_when_not_installed(monkeypatch):
    def missing(_name):
        raise metadata.PackageNotFoundError("rollsense")

    monkeypatch.setattr(metadata, "version", missing)
    assert package_version() == PYPROJECT_VERSION


# ------------------------------------------------------------------------------- help


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _all_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser a user meets: rollsense, each subcommand, and rollsense broker's own."""
    parser, broker = build_parser(), brokeradmin.build_parser()
    return {"rollsense": parser, **{f"rollsense {n}": p for n, p in _subparsers(parser).items()},
            **{f"rollsense broker {n}": p for n, p in _subparsers(broker).items()}}


def test_every_option_of_every_subcommand_has_help():
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}"
               for name, sub in _all_parsers().items()
               for a in sub._actions
               if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction) and not (a.help or "").strip()]
    assert missing == []


def test_numbers_at_the_ends_of_their_ranges_are_taken_and_the_help_says_the_ranges():
    parser = build_parser()
    for argv, dest, value in [
        (["calibrate", "gyro", "--seconds", "1"], "seconds", 1.0),
        (["calibrate", "gyro", "--seconds", "120"], "seconds", 120.0),
        (["calibrate", "radius", "--distance-m", "0.1"], "distance_m", 0.1),
        (["calibrate", "radius", "--distance-m", "2"], "distance_m", 2.0),
        (["record", "--out", "r.csv", "--seconds", "14400"], "seconds", 14400.0),
        (["simulate", "--protocol", "p", "--out", "r.csv", "--rate-hz", "1000"], "rate_hz", 1000.0),
        (["simulate", "--protocol", "p", "--out", "r.csv", "--rate-hz", "50"], "rate_hz", 50.0),
    ]:
        assert getattr(parser.parse_args(argv), dest) == value, argv
    subs = _subparsers(parser)
    helps = {name: " ".join(subs[name].format_help().split()) for name in subs}
    assert "gyro: how long to keep still, 1 to 120 s" in helps["calibrate"]
    assert "0.1 to 2 m" in helps["calibrate"] and "each 0 to 300 kg" in helps["calibrate"]
    assert "roll N times (1 to 10)" in helps["calibrate"]
    assert "how long to record, 1 s to 4 hours (14400 s)" in helps["record"]
    assert "IMU sample rate, 50 to 1000 Hz" in helps["simulate"] and "0 to 4294967295" in helps["simulate"]
    assert "0.01 to 1000" in helps["demo"] and "0.01 to 1000" in helps["run"]
    assert "above 0 and up to 0.5" in helps["replay"]
    # the recording's physical ranges as the reader has them (firmware.edge.recording)
    assert f"±{recording.GYRO_FULL_SCALE_MAX_DPS:g} °/s" in helps["replay"]
    assert f"±{recording.ACCEL_FULL_SCALE_MAX_G:g} g" in helps["replay"]
    assert f"force outside {recording.FORCE_MIN_N:g} to {recording.FORCE_MAX_N:g} N" in helps["replay"]
    assert recording.FULL_SCALE_MARGIN == 2.0 and "beyond twice the widest full scale" in helps["replay"]


def test_scenario_choices_come_from_the_simulator():
    subs = _subparsers(build_parser())
    for name in ("demo", "simulate"):
        action = next(a for a in subs[name]._actions if a.dest == "scenario")
        assert tuple(action.choices) == SCENARIOS
        text = subs[name].format_help()
        assert all(s in text for s in SCENARIOS), name


FILE_RE = re.compile(r"(?<![\w/.-])([\w./-]+\.(?:md|toml|py|csv))\b")
# names the help uses as examples of files the user makes or the system has, not repo files
NOT_REPO_FILES = {"fast.csv", "/etc/rollsense/config.toml"}  # + absolute paths under /etc


def _named_files(text: str) -> set[str]:
    return {m.group(1) for m in FILE_RE.finditer(text)} | ({"DESIGN.md"} if "DESIGN.md" in text else set())


def test_help_and_routines_name_only_files_in_the_repository():
    texts = {f"{name} --help": p.format_help() for name, p in _all_parsers().items()}
    texts.update({str(p.relative_to(REPO)): p.read_text() for folder in ("routines", "programs")
                  for p in sorted((REPO / "firmware" / folder).glob("*.toml"))})
    missing = sorted(f"{where}: {name}" for where, text in texts.items()
                     for name in _named_files(text) - NOT_REPO_FILES if not (REPO / name).exists())
    assert missing == []


def test_the_file_name_check_sees_what_it_must():
    assert _named_files("see DESIGN.md §3.2 and reference/mission.md") == {"DESIGN.md", "reference/mission.md"}
    assert _named_files("(see docs/cues.md)") == {"docs/cues.md"}


# ------------------------------------------------------------------------------- demo


def _demo_tmp_left(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir())


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


@pytest.mark.parametrize("argv, phrase", [
    (["--protocol", "nope"], "unknown routine 'nope'"),
    (["--db", "/etc"], "/etc is a directory"),
    (["--scenario", "nope"], "invalid choice: 'nope'"),
    (["--port", "70000"], "port 70000 is out of range"),
])
def test_demo_checks_its_arguments_before_starting_anything(tmp_path, argv, phrase):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([*ROLLSENSE, "demo", *argv], capture_output=True, text=True, env=env, timeout=10)
    assert proc.returncode == 2 and phrase in proc.stderr
    assert "Traceback" not in proc.stderr and "Mosquitto" not in proc.stderr
    assert _demo_tmp_left(tmp_path) == []  # no temp dir, so no broker config was ever written
    assert _processes_mentioning(str(tmp_path)) == []


def test_demo_options_checked_in_run_demo_too(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(Exception, match="unknown scenario 'nope'"):
        run_demo(DemoOptions(scenario="nope"), out=io.StringIO(), err=io.StringIO())
    assert _demo_tmp_left(tmp_path) == []


def _dead_broker_demo(tmp_path, monkeypatch, **options):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    out, err = io.StringIO(), io.StringIO()
    opts = DemoOptions(protocol="piriformis-ball", fast=True, speed=1000.0, broker_url="mqtt://127.0.0.1:1",
                       dashboard=False, **options)
    assert run_demo(opts, out=out, err=err) == 0
    return out.getvalue(), err.getvalue()


def test_demo_on_a_dead_broker_says_so_and_keeps_the_outbox(tmp_path, monkeypatch):
    out, err = _dead_broker_demo(tmp_path, monkeypatch)
    said = [line for line in err.splitlines() if "not reachable" in line]  # on the terminal, once
    assert len(said) == 1 and "broker mqtt://127.0.0.1:1 " in said[0] and "refused" in said[0]
    assert err.index(said[0]) < err.index(">> Done")  # at the start, not after the routine
    [kept] = [line for line in err.splitlines() if "not delivered: kept in" in line]
    journal = Path(re.search(r"kept in (\S+journal\.db)", kept).group(1))
    assert journal.is_file() and journal.parent.parent.parent == tmp_path
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert rows > 0 and kept.startswith(f"{rows} outbox message(s) not delivered")
    assert _demo_tmp_left(journal.parent.parent) == ["device"]  # the broker's and dashboard's files went
    assert "session_id" in out  # the closing table names the session (tools grep for it)


def test_demo_json_prints_the_summary_as_json(tmp_path, monkeypatch):
    out, _ = _dead_broker_demo(tmp_path, monkeypatch, json=True)
    summary = json.loads(out)
    assert summary["format"] == "rollsense-summary/1" and summary["protocol"] == "piriformis-ball"


def test_demo_plays_a_programme_with_a_table_per_step(tmp_path, monkeypatch):
    out, err = _dead_broker_demo(tmp_path, monkeypatch, program="hips")
    assert out.startswith("step 0: piriformis-ball left\n")
    assert "\nstep 1: piriformis-ball right\n" in out
    assert out.count("session_id ") == 2 and out.count("routine     piriformis-ball (ball)") == 2
    assert err.index(">> Programme: same routine, other side") < err.index("hips: next piriformis-ball right")
    assert "hips: this tool's part is done; the programme is complete" in err


def test_demo_json_flag():
    assert build_parser().parse_args(["demo", "--json"]).json is True


# --------------------------------------------------------------------------- --trust-device


def _trust(db: Path, *ids: str) -> subprocess.CompletedProcess:
    """``rollsense dashboard --trust-device ID...`` as a user types it. The broker and port are
    ones where nothing listens: a dashboard started by mistake would serve there until killed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    flags = [x for device_id in ids for x in ("--trust-device", device_id)]
    return subprocess.run([*ROLLSENSE, "dashboard", "--db", f"sqlite:///{db}", "--port", str(port),
                           "--broker", "mqtt://127.0.0.1:9", *flags],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=ROW_TIMEOUT_S)


def _paired(db: Path) -> dict[str, bool]:
    store = open_store(f"sqlite:///{db}")
    try:
        return {r["device_id"]: bool(r["paired"]) for r in store.query("SELECT device_id, paired FROM devices")}
    finally:
        store.close()


def test_trust_device_marks_a_seen_device_paired_and_exits(tmp_path):
    db = tmp_path / "dash.db"
    store = open_store(f"sqlite:///{db}")
    store.save_many([("status", device_id, {"status": "online"}) for device_id in ("vm", "r2", "clinic-a.r1")])
    store.close()
    first = _trust(db, "vm")
    assert (first.returncode, first.stdout, first.stderr) == (0, "device vm marked as paired\n", "")
    assert _paired(db) == {"vm": True, "r2": False, "clinic-a.r1": False}
    again = _trust(db, "vm", "clinic-a.r1")  # a bridged site's device, as the Devices page names it
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout == "device vm was already paired\ndevice clinic-a.r1 marked as paired\n"
    # an id the dashboard never heard: one line, exit 2, and nothing changed (not even r2 before it)
    unknown = _trust(db, "r2", "ghost")
    assert (unknown.returncode, unknown.stdout) == (2, "") and "Traceback" not in unknown.stderr
    assert unknown.stderr.strip() == ("rollsense dashboard: no device 'ghost' in this store: a device is "
                                      "listed once the dashboard has heard it on its broker (the Devices "
                                      "page shows the ids)")
    assert _paired(db) == {"vm": True, "r2": False, "clinic-a.r1": True}
    nowhere = _trust(tmp_path / "none.db", "vm")  # a mistyped store: said, and no new file made
    assert (nowhere.returncode, nowhere.stdout) == (2, "")
    assert nowhere.stderr.strip().startswith(f"rollsense dashboard: {tmp_path / 'none.db'}: no dashboard store there")
    assert not (tmp_path / "none.db").exists()


def test_every_one_shot_dashboard_flag_says_and_exit():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.option_strings[0]: " ".join(a.help.split()) for a in sub.choices["dashboard"]._actions
             if a.option_strings}
    for flag in ("--add-user", "--link-client", "--unlink-client", "--trust-device"):
        assert "and exit" in helps[flag], (flag, helps[flag])


# ------------------------------------------------------------------------------- --add-user


def _add_user(db: Path, name: str, password: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ROLLSENSE, "dashboard", "--db", f"sqlite:///{db}", "--add-user", name, *extra],
                          input=password + "\n", capture_output=True, text=True, timeout=20)


def _password_hash(db: Path, name: str) -> str:
    store = open_store(f"sqlite:///{db}")
    try:
        return store.query("SELECT password_hash FROM users WHERE username = ?", (name,))[0]["password_hash"]
    finally:
        store.close()


def test_add_user_never_replaces_a_password_without_replace(tmp_path):
    db = tmp_path / "dash.db"
    first = _add_user(db, "ana@clinic.example", "correct horse")
    assert first.returncode == 0 and "user ana@clinic.example added" in first.stdout
    before = _password_hash(db, "ana@clinic.example")
    again = _add_user(db, "ana@clinic.example", "another password")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.strip() == ("rollsense dashboard: user 'ana@clinic.example' already exists; "
                                    "add --replace to set a new password")
    assert _password_hash(db, "ana@clinic.example") == before
    replaced = _add_user(db, "ana@clinic.example", "another password", "--replace")
    assert replaced.returncode == 0 and "password replaced" in replaced.stdout
    assert _password_hash(db, "ana@clinic.example") != before


@pytest.mark.parametrize("name", ["", " ", "ana smith", "x" * 65, "ana/../b", "ana;drop"])
def test_add_user_refuses_a_malformed_name(tmp_path, name):
    db = tmp_path / "dash.db"
    proc = _add_user(db, name, "correct horse")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith(f"rollsense dashboard: user name {name!r}: use 1 to 64")
    assert not db.exists()  # refused before the store was opened; no server was started
