"""The command line: every subcommand explains itself, and bad input gets one clear line."""

import subprocess
import sys

import pytest

from firmware.app.cli import build_parser, main

COMMANDS = ["demo", "run", "replay", "simulate", "record", "calibrate", "protocols", "programs",
            "dashboard", "pair", "doctor", "broker"]


def test_every_subcommand_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: rollsense {name}") and len(out.splitlines()) > 4, name


def test_top_level_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "firmware.app.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for name in COMMANDS:
        assert f"    {name}" in out
    assert "examples:" in out


def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path):
    bad = tmp_path / "not-a-recording.csv"
    bad.write_text("hello\n")
    proc = subprocess.run([sys.executable, "-m", "firmware.app.cli", "replay", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_dashboard_takes_its_secrets_from_the_environment(monkeypatch):
    monkeypatch.setenv("ROLLSENSE_DASHBOARD_BROKER", "mqtt://dash:s3cret@broker:1883")
    monkeypatch.setenv("ROLLSENSE_DASHBOARD_PORT", "9090")
    args = build_parser().parse_args(["dashboard"])
    assert args.broker == "mqtt://dash:s3cret@broker:1883" and args.port == 9090


def test_shipped_dashboard_unit_keeps_the_password_off_the_command_line():
    from pathlib import Path

    unit = (Path(__file__).resolve().parents[3] / "systemd" / "rollsense-dashboard.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert "BROKER" not in exec_start and "--broker" not in exec_start
    assert "EnvironmentFile=-/etc/rollsense/dashboard.env" in unit


def test_dashboard_says_where_it_is_without_the_password(tmp_path, broker):
    import signal

    from firmware.edge.broker import free_port

    port = free_port()
    url = broker.url.replace("mqtt://", "mqtt://dash:s3cret@")
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware.app.cli", "dashboard", "--db", f"sqlite:///{tmp_path / 'd.db'}",
         "--port", str(port), "--broker", url],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"http://127.0.0.1:{port}" in first
    assert "s3cret" not in first and "dash:" not in first


def test_dashboard_ingest_workers_from_flag_or_environment(monkeypatch, capsys):
    monkeypatch.setenv("ROLLSENSE_DASHBOARD_INGEST_WORKERS", "3")
    assert build_parser().parse_args(["dashboard"]).ingest_workers == 3
    assert build_parser().parse_args(["dashboard", "--ingest-workers", "2"]).ingest_workers == 2
    for bad in ("0", "x", "17"):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["dashboard", "--ingest-workers", bad])
        assert exc.value.code == 2
    assert "--ingest-workers" in capsys.readouterr().err


def test_programs_lists_id_tools_steps_and_title(capsys):
    assert main(["programs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["hips", "ball", "2"], ["lower-body", "roller,stick", "6"], ["upper-back", "roller,ball", "2"],
        ["whole-article", "roller,ball,stick", "10"]]
    assert lines[1].endswith("6 steps  Lower body")


def test_programs_json_is_the_validated_tree_with_the_users_own(tmp_path, capsys):
    import json

    mine = tmp_path / "routines"
    (mine / "programs").mkdir(parents=True)
    (mine / "programs" / "calves.toml").write_text(
        'title = "Calves"\n[[steps]]\nroutine = "calf-stick"\nside = "left"\n')
    config = tmp_path / "config.toml"
    config.write_text(f'routines_dir = "{mine}"\n')
    for argv in (["--routines-dir", str(mine)], ["--config", str(config)]):
        assert main(["programs", "--json", *argv]) == 0
        tree = {p["id"]: p for p in json.loads(capsys.readouterr().out)}
        assert sorted(tree) == ["calves", "hips", "lower-body", "upper-back", "whole-article"]
        assert tree["calves"]["steps"] == [{"index": 0, "routine": "calf-stick", "tool": "stick",
                                            "side": "left", "rest_s": 0.0}]
        assert tree["lower-body"]["tools"] == ["roller", "stick"]


def test_programs_with_a_bad_file_is_one_line_per_problem_and_exit_2(tmp_path, capsys):
    (tmp_path / "programs").mkdir()
    (tmp_path / "programs" / "back.toml").write_text(
        'title = "Back"\n[[steps]]\nroutine = "thoracic-roller"\nside = "left"\nrest_s = 9999\n')
    assert main(["programs", "--routines-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "rollsense programs: back.toml: steps[0].side: thoracic-roller (thoracic paraspinals) is "
        "not on a limb: leave side out",
        "back.toml: steps[0].rest_s: 9999 is outside 0..600"]
