"""Recording reader/writer: round trip (.csv, .csv.gz), metadata typing, and one clear
ConfigError line for every kind of bad file; never overwrites."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from firmware.app.cli import main
from firmware.common.errors import ConfigError
from firmware.common.model import Block
from firmware.edge.recording import FORMAT, RecordingWriter, read_recording, write_recording

HEADER = "t,gx,gy,gz,ax,ay,az,force"
GOOD_META = f"# format: {FORMAT}\n# tool: roller\n# radius_m: 0.075\n"


def _block(n: int = 50, force=True) -> Block:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.004, 0.006, n))
    f = rng.uniform(0, 300, n) if force else np.full(n, np.nan)
    return Block(t, rng.normal(0, 1, (n, 3)), rng.normal(0, 9.8, (n, 3)), f)


def _write(tmp_path, text: str, name: str = "r.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", ["rec.csv", "rec.csv.gz"])
def test_round_trip_keeps_samples_and_typed_meta(tmp_path, name):
    block = _block()
    meta = {"tool": "stick", "radius_m": 0.015, "axis": (0.0, 0.6, 0.8), "up": -1, "seed": 4}
    path = write_recording(tmp_path / name, meta, block)
    rec = read_recording(path)
    assert rec.meta["format"] == FORMAT
    assert rec.meta["tool"] == "stick" and rec.meta["radius_m"] == 0.015
    assert rec.meta["axis"] == pytest.approx((0.0, 0.6, 0.8))
    assert rec.meta["up"] == -1 and rec.meta["seed"] == "4"
    np.testing.assert_allclose(rec.block.t_s, block.t_s, atol=1e-6)
    np.testing.assert_allclose(rec.block.gyro_rad_s, block.gyro_rad_s, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rec.block.accel_m_s2, block.accel_m_s2, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rec.block.force_n, block.force_n, rtol=1e-6)
    if name.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"


def test_tool_without_force_sensor_reads_nan_force(tmp_path):
    path = write_recording(
        tmp_path / "r.csv", {"tool": "ball", "radius_m": 0.03}, _block(force=False)
    )
    assert np.isnan(read_recording(path).block.force_n).all()


def test_write_never_overwrites(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("precious")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        write_recording(path, {"tool": "roller", "radius_m": 0.075}, _block())
    assert path.read_text() == "precious"


def test_design_example_with_inline_comments_parses(tmp_path):
    text = (
        f"# format: {FORMAT}\n# tool: roller            (roller | ball | stick)\n"
        "# radius_m: 0.075         (effective rolling radius)\n# axis: 0,1,0\n# up: +\n"
        f"{HEADER}\n0.000000,0.0012,-0.0003,0.0101,0.12,9.79,0.31,0.0\n"
        "0.005,0.0012,-0.0003,0.0101,0.12,9.79,0.31,0.0\n"
    )
    rec = read_recording(_write(tmp_path, text))
    assert rec.meta["tool"] == "roller" and rec.meta["axis"] == (0.0, 1.0, 0.0)
    assert rec.meta["up"] == 1 and len(rec.block) == 2


ROW = "0.0,0,0,0,0,0,9.8,10\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD_META + "t,gx,gy,gz,ax,ay,az\n" + "0,0,0,0,0,0,9.8\n", "missing columns: force"),
        (GOOD_META + "t,gx,gy,ax,ay,az,force\n" + "0,0,0,0,0,9.8,1\n", "missing columns: gz"),
        (GOOD_META + HEADER + "\n" + ROW + ROW, "line 6: time is not increasing"),
        (
            GOOD_META + HEADER + "\n" + ROW + "0.01,nan,0,0,0,0,9.8,10\n",
            "line 6: non-finite value in column 'gx'",
        ),
        (
            GOOD_META + HEADER + "\n" + ROW + "0.01,0,0,0,inf,0,9.8,10\n",
            "non-finite value in column 'ax'",
        ),
        (
            GOOD_META + HEADER + "\n" + ROW + "0.01,0,0,0,0,0,9.8,inf\n",
            "non-finite value in column 'force'",
        ),
        (GOOD_META + HEADER + "\n" + ROW + "0.01,0,zero,0,0,0,9.8,10\n", "line 6: column 'gy': 'zero' is not a number"),
        (GOOD_META + HEADER + "\n", "no samples after the header"),
        (
            "# format: rollsense-recording/2\n# tool: roller\n" + HEADER + "\n" + ROW,
            "unsupported format",
        ),
        ("# tool: roller\n# radius_m: 0.075\n" + HEADER + "\n" + ROW, "no '# format:"),
        (HEADER + "\n" + ROW, "not a rollsense recording"),
        ("hello world, this is a shopping list\neggs\nmilk\n", "not a rollsense recording"),
        ("", "empty file"),
        (f"# format: {FORMAT}\n# radius_m: 0\n" + HEADER + "\n" + ROW, "must be > 0 and <= 0.5"),
        (f"# format: {FORMAT}\n# radius_m: -0.1\n" + HEADER + "\n" + ROW, "must be > 0 and <= 0.5"),
        (f"# format: {FORMAT}\n# radius_m: 0.6\n" + HEADER + "\n" + ROW, "must be > 0 and <= 0.5"),
        (f"# format: {FORMAT}\n# radius_m: big\n" + HEADER + "\n" + ROW, "not a number"),
        (f"# format: {FORMAT}\n# tool: trampoline\n" + HEADER + "\n" + ROW, "unknown tool"),
        (f"# format: {FORMAT}\n# axis: 1,0\n" + HEADER + "\n" + ROW, "axis"),
        (f"# format: {FORMAT}\n# up: sideways\n" + HEADER + "\n" + ROW, "up"),
        (f"# format: {FORMAT}\n# no colon here\n" + HEADER + "\n" + ROW, "metadata must be"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as err:
        read_recording(_write(tmp_path, text))
    assert "\n" not in str(err.value)
    assert "r.csv" in str(err.value)


def test_png_and_missing_and_corrupt_gzip(tmp_path):
    png = tmp_path / "photo.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(ConfigError, match="not a rollsense recording"):
        read_recording(png)
    with pytest.raises(ConfigError, match="no such recording"):
        read_recording(tmp_path / "missing.csv")
    gz = tmp_path / "r.csv.gz"
    data = bytearray(gzip.compress((GOOD_META + HEADER + "\n" + ROW * 50).encode()))
    data[12:20] = b"\xff" * 8  # damage inside the deflate stream
    gz.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="corrupt gzip data"):
        read_recording(gz)
    fake_gz = _write(tmp_path, GOOD_META + HEADER + "\n" + ROW, "plain.csv.gz")
    with pytest.raises(ConfigError, match="not gzip"):
        read_recording(fake_gz)


def test_unusual_radius_for_the_tool_only_warns(tmp_path):
    text = f"# format: {FORMAT}\n# tool: stick\n# radius_m: 0.3\n{HEADER}\n{ROW}"
    rec = read_recording(_write(tmp_path, text))
    assert rec.meta["radius_m"] == 0.3
    assert any("unusual for a stick" in w for w in rec.warnings)
    ok = read_recording(_write(tmp_path, GOOD_META + HEADER + "\n" + ROW, "ok.csv"))
    assert ok.warnings == ()


# ---------------------------------------------------------------- damaged and cut-short files
def _rows_text(n: int) -> str:
    return "".join(f"{i * 0.005:.3f},0.01,0,0,0,0,9.8,{10 + i}\n" for i in range(n))


FIRST_ROW_LINE = 5  # GOOD_META is 3 lines, the header line 4


def test_damage_in_the_middle_names_the_files_own_line(tmp_path):
    rows = _rows_text(20).splitlines(keepends=True)
    rows[7] = "0.035,0.01\n"  # data row 8 -> file line 12
    with pytest.raises(ConfigError) as err:
        read_recording(_write(tmp_path, GOOD_META + HEADER + "\n" + "".join(rows)))
    msg = str(err.value)
    assert msg.endswith(f"r.csv: line {FIRST_ROW_LINE + 7}: 2 columns, expected 8 (truncated?)")
    assert "usecols" not in msg and "\n" not in msg


def test_non_numeric_cell_names_line_and_column(tmp_path):
    rows = _rows_text(10).splitlines(keepends=True)
    rows[3] = "0.015,0.01,0,0,0,abc,9.8,10\n"
    with pytest.raises(ConfigError, match=rf"line {FIRST_ROW_LINE + 3}: column 'ay': 'abc' is not a number"):
        read_recording(_write(tmp_path, GOOD_META + HEADER + "\n" + "".join(rows)))


@pytest.mark.parametrize("tail", ["0.050,0.01,0,0", "0.050,0.01,0,0\n", "0.050,0.01,0,0,0,0,9.8,1e"])
def test_last_row_cut_short_replays_up_to_the_last_whole_row(tmp_path, tail):
    text = GOOD_META + HEADER + "\n" + _rows_text(10) + tail
    rec = read_recording(_write(tmp_path, text))
    assert len(rec.block) == 10 and rec.block.force_n[-1] == 19
    (note,) = rec.warnings
    assert f"line {FIRST_ROW_LINE + 10}: the last row is cut short" in note
    assert f"up to line {FIRST_ROW_LINE + 9}" in note and "\n" not in note


def test_last_row_whole_but_bad_is_an_error(tmp_path):
    text = GOOD_META + HEADER + "\n" + _rows_text(10) + "0.050,0.01,0,0,0,0,9.8,oops\n"
    with pytest.raises(ConfigError, match=rf"line {FIRST_ROW_LINE + 10}: column 'force'"):
        read_recording(_write(tmp_path, text))


def test_truncated_gzip_replays_its_whole_rows(tmp_path):
    block = _block(2000)
    path = write_recording(tmp_path / "r.csv.gz", {"tool": "roller", "radius_m": 0.075}, block)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(path.read_bytes()[:-300])  # power lost while writing: no end, last row partial
    rec = read_recording(cut)
    n = len(rec.block)
    assert 100 < n < 2000
    np.testing.assert_allclose(rec.block.t_s, block.t_s[:n], atol=1e-6)
    (note,) = rec.warnings
    assert "cut.csv.gz: truncated gzip file (ends before its last row)" in note
    assert "corrupt" not in note


def test_gzip_cut_before_the_samples_is_one_line(tmp_path):
    path = write_recording(tmp_path / "r.csv.gz", {"tool": "roller", "radius_m": 0.075}, _block(50))
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(path.read_bytes()[:30])
    with pytest.raises(ConfigError, match="cut.csv.gz: truncated gzip file") as err:
        read_recording(cut)
    assert "corrupt" not in str(err.value)


def test_replay_cli_warns_in_one_line_for_a_cut_recording(tmp_path, capsys):
    path = write_recording(tmp_path / "r.csv", {"tool": "roller", "radius_m": 0.075}, _block(400))
    whole = path.read_text()
    path.write_text(whole[: whole.rstrip("\n").rfind(",")])  # last row loses its force column
    assert main(["replay", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("rollsense replay: warning: ")
    assert "the last row is cut short" in err
    assert '"format": "rollsense-summary/1"' in out


# ---------------------------------------------------------------- physical range of every column
def _with_row(k: int, row: str, meta: str = GOOD_META, n: int = 100) -> str:
    rows = _rows_text(n).splitlines(keepends=True)
    rows[k] = row
    return meta + HEADER + "\n" + "".join(rows)


@pytest.mark.parametrize("row, says", [
    ("0.275,0.01,0,0,0,0,9.8,1e308\n", "force 1e+308 N is out of range (-2500 to 5000 N"),
    ("0.275,0.01,0,0,0,0,9.8,-3000\n", "force -3000 N is out of range (-2500 to 5000 N"),
    ("0.275,0.01,0,0,0,0,9.8,5001\n", "force 5001 N is out of range"),
    ("0.275,100,0,0,0,0,9.8,10\n", "gx 100 rad/s is out of range (±69.8 rad/s: twice the gyro's "
                                   "widest full scale, ±2000 °/s)"),
    ("0.275,0.01,0,-1e9,0,0,9.8,10\n", "gz -1e+09 rad/s is out of range"),
    ("0.275,0.01,0,0,0,0,9806.65,10\n", "az 9806.65 m/s² is out of range (±314 m/s²: twice the "
                                        "accelerometer's widest full scale, ±16 g)"),  # mg, not m/s²
    ("1e12,0.01,0,0,0,0,9.8,10\n", "t 1e+12 s is out of range (sensor time is within ±1e+10 s)"),
])
def test_a_value_no_sensor_reports_is_refused_like_a_nan(tmp_path, capsys, row, says):
    path = _write(tmp_path, _with_row(55, row))
    with pytest.raises(ConfigError) as err:
        read_recording(path)
    assert str(err.value).startswith(f"{path}: line {FIRST_ROW_LINE + 55}: {says}")
    assert main(["replay", str(path), "--json"]) == 2
    out, err_text = capsys.readouterr()
    assert out == "" and err_text.count("\n") == 1
    assert err_text.startswith(f"rollsense replay: {path}: line {FIRST_ROW_LINE + 55}: {says}")


def test_the_values_at_the_edge_of_each_range_are_taken(tmp_path):
    edge = "0.275,69.8,-69.8,0,313,-313,9.8,5000\n"
    rec = read_recording(_write(tmp_path, _with_row(55, edge)))
    assert rec.block.force_n[55] == 5000 and rec.block.gyro_rad_s[55, 0] == 69.8
    assert len(read_recording(_write(tmp_path, _with_row(55, "0.275,0,0,0,0,0,9.8,-2500\n"), "neg.csv")).block) == 100


def test_a_declared_wider_gyro_widens_the_gyro_range(tmp_path):
    fast = "0.275,100,0,0,0,0,9.8,10\n"  # 5730 °/s: past twice ±2000, within twice ±4000
    wide = GOOD_META + "# gyro_full_scale_dps: 4000\n"
    rec = read_recording(_write(tmp_path, _with_row(55, fast, wide)))
    assert rec.block.gyro_rad_s[55, 0] == 100
    narrow = GOOD_META + "# gyro_full_scale_dps: 500\n"  # a narrower range never narrows the check
    assert len(read_recording(_write(tmp_path, _with_row(55, "0.275,60,0,0,0,0,9.8,10\n", narrow),
                                     "narrow.csv")).block) == 100
    with pytest.raises(ConfigError, match="gx 200 rad/s is out of range .*±4000 °/s"):
        read_recording(_write(tmp_path, _with_row(56, "0.280,200,0,0,0,0,9.8,10\n", wide), "w2.csv"))


def test_the_first_bad_row_is_said_whatever_its_kind(tmp_path):
    rows = _rows_text(100).splitlines(keepends=True)
    rows[30] = "0.150,0.01,0,0,0,0,9.8,1e308\n"
    rows[20] = "0.100,0.01,nan,0,0,0,9.8,10\n"
    with pytest.raises(ConfigError, match=rf"line {FIRST_ROW_LINE + 20}: non-finite value in column 'gy'"):
        read_recording(_write(tmp_path, GOOD_META + HEADER + "\n" + "".join(rows)))
    rows[20] = _rows_text(21).splitlines(keepends=True)[20]
    rows[40] = "0.100,0.01,0,0,0,0,9.8,10\n"  # time goes back, after the force
    with pytest.raises(ConfigError, match=rf"line {FIRST_ROW_LINE + 30}: force 1e\+308 N"):
        read_recording(_write(tmp_path, GOOD_META + HEADER + "\n" + "".join(rows), "b.csv"))


def test_the_writer_leaves_out_a_sample_the_reader_would_refuse_and_keeps_the_rest(tmp_path):
    """A glitch (or a force curve far past its weights) must neither make the file one the
    reader refuses nor end the recording: that sample is left out, counted and named, and the
    samples after it are written."""
    block = _block(50)
    block.force_n[30] = 1e308
    block.gyro_rad_s[31, 1] = -500.0  # two in a row
    block.force_n[45] = -1e6
    path = tmp_path / "r.csv"
    with RecordingWriter(path, {"tool": "roller", "radius_m": 0.075}) as writer:
        writer.write(block.slice(0, 40))
        writer.write(block.slice(40, 50))
    assert (writer.samples, writer.skipped) == (47, 3)
    assert writer.first_skipped == (f"at t = {block.t_s[30]:.3f} s: force 1e+308 N is out of range "
                                    "(-2500 to 5000 N: a person's whole weight and the force front "
                                    "ends' full scale, with a margin)")
    rec = read_recording(path)  # the file reads back: every sample but the three
    keep = np.ones(50, bool)
    keep[[30, 31, 45]] = False
    np.testing.assert_allclose(rec.block.t_s, block.t_s[keep], atol=1e-6)  # written to the µs
    np.testing.assert_allclose(rec.block.force_n, block.force_n[keep], rtol=1e-6)


def test_a_real_imu_recording_is_within_range(tmp_path):
    """The x-io NGIMU recording (tests/data/xio-fusion, real hand-held motion up to 365 °/s)
    written as a recording, without force: every sample reads back and replays."""
    raw = np.loadtxt(Path(__file__).resolve().parents[2] / "data" / "xio-fusion" / "sensor_data.csv",
                     delimiter=",", skiprows=1)
    block = Block(raw[:, 0], np.radians(raw[:, 1:4]), raw[:, 4:7] * 9.80665, np.full(len(raw), np.nan))
    path = write_recording(tmp_path / "xio.csv.gz", {"tool": "ball", "radius_m": 0.05,
                                                     "gyro_full_scale_dps": 2000}, block)
    assert len(read_recording(path).block) == len(raw) == 13514
    assert main(["replay", str(path), "--json"]) == 0
