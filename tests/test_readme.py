"""The README stays true: its cue table is the device's, its pictures exist, its commands exist."""

import re
from pathlib import Path

from firmware.app.cli import build_parser
from firmware.common.cues import cue_table_markdown
from firmware.core.commands import SCHEMAS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_cue_table_is_the_devices():
    assert cue_table_markdown().strip() in README


def test_readme_pictures_exist():
    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / path).is_file(), path


def test_readme_commands_exist():
    assert "make demo" in README and "make test" in README
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for name in re.findall(r"^rollsense (\w+)", README, flags=re.M):
        assert name in commands, name


def test_readme_routines_are_the_shipped_ones():
    from firmware.core.protocols import list_routines

    for r in list_routines():
        assert f"`{r.id}`" in README


def test_readme_command_table_is_the_devices():
    table = README.split("| command | fields |", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"^\s*\| `(\w+)` \|", table, flags=re.M)) == set(SCHEMAS)
