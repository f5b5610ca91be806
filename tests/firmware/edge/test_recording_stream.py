"""The streaming recording reader (issue 21, item 6): read in chunks of any size, a recording
gives the very samples, warnings and errors of reading it whole: .csv and .csv.gz (several
members too), line numbers of a damaged row deep in the file exact, a last row cut short left
out with its note, a gzip file cut short read to its last whole row; and a replay streamed in
chunks gives the whole file's summary, blocks and per-second series alike."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from device.sim import sample_block
from firmware.app.replay import iter_blocks, replay_file
from firmware.app.simulate import scenario
from firmware.common.errors import ConfigError
from firmware.common.model import Block
from firmware.edge.recording import (
    FORMAT,
    RecordingReader,
    RecordingWriter,
    read_recording,
    write_recording,
)

CHUNKS = [1, 7, 100, 4096, 65536, 1 << 20]  # bytes read at a time
HEADER = "t,gx,gy,gz,ax,ay,az,force"
META = f"# format: {FORMAT}\n# tool: roller\n# radius_m: 0.075\n"
FIRST_ROW_LINE = 5  # META is 3 lines, the header line 4


def _rows(n: int, start: int = 0) -> str:
    """Sample rows with a force that varies within what a person presses (10-409 N)."""
    return "".join(f"{i * 0.005:.3f},0.01,0,0,0,0,9.8,{10 + i % 400}\n" for i in range(start, start + n))


def _write(tmp_path, text: str, name: str = "r.csv"):
    p = tmp_path / name
    if name.endswith(".gz"):
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_bytes(text.encode())
    return p


def _streamed(path, chunk_bytes: int):
    """(samples concatenated, warnings) of the streaming reader at ``chunk_bytes``."""
    with RecordingReader(path, chunk_bytes=chunk_bytes) as reader:
        blocks = list(reader.blocks())
        return Block.concat(blocks), reader.warnings, reader.meta


def _error(fn) -> str:
    with pytest.raises(ConfigError) as err:
        fn()
    return str(err.value)


def _same_block(a: Block, b: Block) -> None:
    for name in ("t_s", "gyro_rad_s", "accel_m_s2", "force_n"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.fixture(scope="module")
def session_block() -> Block:
    """A simulated roller session, 40 s at 1 kHz (passes, a force, the coach has work)."""
    user = scenario("quads-roller", "moved-hold", 2)
    return sample_block(user, 1000.0, seed=2, duration_s=40.0)


@pytest.mark.parametrize("name", ["rec.csv", "rec.csv.gz"])
def test_chunks_of_any_size_read_the_samples_of_the_whole_file(tmp_path, session_block, name):
    path = write_recording(tmp_path / name, {"tool": "roller", "radius_m": 0.075}, session_block)
    whole = read_recording(path)
    for chunk in [100, 4096, 65536, 1 << 20]:
        block, warnings, meta = _streamed(path, chunk)
        _same_block(block, whole.block)
        assert warnings == list(whole.warnings) and meta == whole.meta


@pytest.mark.parametrize("name", ["rec.csv", "rec.csv.gz"])
def test_replay_in_chunks_gives_the_whole_files_summary(tmp_path, session_block, name):
    meta = {"tool": "roller", "radius_m": 0.075, "protocol": "quads-roller", "session_id": "s1"}
    path = write_recording(tmp_path / name, meta, session_block)
    whole = replay_file(path, chunk_bytes=path.stat().st_size + 10)  # one chunk: the whole file
    assert whole["passes"] > 0 and len(whole["series_1hz"]["t_s"]) > 30
    for chunk in [4096, 65536, 300_000]:
        assert replay_file(path, chunk_bytes=chunk) == whole


def _old_iter_blocks(block: Block, block_s: float = 0.02):
    """iter_blocks before streaming (whole recording in memory): the reference cut."""
    t = block.t_s
    edges = np.arange(t[0], t[-1] + block_s, block_s)[1:]
    cuts = np.searchsorted(t, edges, side="left")
    start = 0
    for stop in [*cuts.tolist(), len(t)]:
        if stop > start:
            yield block.slice(start, stop)
            start = stop


@pytest.mark.parametrize("seed", range(6))
def test_iter_blocks_cuts_the_same_blocks_from_any_split(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    dt = [0.001, 0.005, 0.0173][seed % 3]
    t = rng.uniform(0, 5000) * (seed % 2) + np.cumsum(rng.uniform(0.2, 1.8, n) * dt)
    t[n // 2 :] += 37.0 * (seed % 3)  # a gap in sensor time
    block = Block(t, rng.normal(size=(n, 3)), rng.normal(size=(n, 3)), rng.normal(size=n))
    want = [b.t_s for b in _old_iter_blocks(block)]
    for size in (1, 13, 500, n):
        got = [b.t_s for b in iter_blocks(block.slice(i, i + size) for i in range(0, n, size))]
        assert len(got) == len(want)
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("name", ["r.csv", "r.csv.gz"])
def test_a_damaged_row_deep_in_the_file_names_its_own_line(tmp_path, name):
    rows = _rows(30_000).splitlines(keepends=True)
    rows[25_000] = "125.000,0.01,0,0,oops,0,9.8,10\n"
    rows.insert(12_000, "# a comment line in the data\n")  # counted as a line, not a row
    rows.insert(20_000, "\n")
    path = _write(tmp_path, META + HEADER + "\n" + "".join(rows), name)
    line = FIRST_ROW_LINE + 25_000 + 2
    want = f"{path}: line {line}: column 'ax': 'oops' is not a number"
    assert _error(lambda: read_recording(path)) == want
    for chunk in CHUNKS[2:]:
        assert _error(lambda c=chunk: _streamed(path, c)) == want


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("{t:.3f},0.01\n", "2 columns, expected 8 (truncated?)"),
        ("{t:.3f},0.01,0,0,0,nan,9.8,10\n", "non-finite value in column 'ay'"),
        ("0.001,0.01,0,0,0,0,9.8,10\n", "time is not increasing (t=0.001 s after"),
        ("{t:.3f},0.01,0,0,0,0,9.8,1e308\n", "force 1e+308 N is out of range (-2500 to 5000 N"),
        ("{t:.3f},0.01,0,0,0,0,-981,10\n", "az -981 m/s² is out of range (±314 m/s²"),
        ("{t:.3f},0.01,0,0,0,nan,9.8,1e308\n", "non-finite value in column 'ay'"),  # the first said
    ],
)
def test_every_kind_of_damage_names_the_same_line_at_any_chunk(tmp_path, damage, message):
    k = 700
    rows = _rows(1000).splitlines(keepends=True)
    rows[k] = damage.format(t=k * 0.005)
    path = _write(tmp_path, META + HEADER + "\n" + "".join(rows))
    whole = _error(lambda: read_recording(path))
    assert f"line {FIRST_ROW_LINE + k}: {message}" in whole
    for chunk in CHUNKS:
        assert _error(lambda c=chunk: _streamed(path, c)) == whole


def test_a_value_out_of_range_before_a_nan_is_said_at_any_chunk(tmp_path):
    rows = _rows(1000).splitlines(keepends=True)
    rows[300] = f"{300 * 0.005:.3f},0.01,0,0,0,0,9.8,1e308\n"
    rows[700] = f"{700 * 0.005:.3f},nan,0,0,0,0,9.8,10\n"
    path = _write(tmp_path, META + HEADER + "\n" + "".join(rows))
    whole = _error(lambda: read_recording(path))
    assert f"line {FIRST_ROW_LINE + 300}: force 1e+308 N is out of range" in whole
    for chunk in CHUNKS:
        assert _error(lambda c=chunk: _streamed(path, c)) == whole


def test_force_nan_throughout_is_a_tool_without_force_but_nan_then_numbers_is_an_error(tmp_path):
    nan_rows = "".join(f"{i * 0.005:.3f},0.01,0,0,0,0,9.8,nan\n" for i in range(3000))
    path = _write(tmp_path, META + HEADER + "\n" + nan_rows)
    for chunk in [64, 4096, 1 << 20]:
        block, _, _ = _streamed(path, chunk)
        assert len(block) == 3000 and np.isnan(block.force_n).all()
    mixed = nan_rows + _rows(5, start=3000)
    bad = _write(tmp_path, META + HEADER + "\n" + mixed, "bad.csv")
    whole = _error(lambda: read_recording(bad))
    assert whole.endswith(f"line {FIRST_ROW_LINE}: non-finite value in column 'force'")
    for chunk in [64, 4096, 1 << 20]:
        assert _error(lambda c=chunk: _streamed(bad, c)) == whole


@pytest.mark.parametrize("tail", ["0.050,0.01,0,0", "0.050,0.01,0,0\n", "0.050,0.01,0,0,0,0,9.8,1e"])
def test_last_row_cut_short_at_any_chunk(tmp_path, tail):
    path = _write(tmp_path, META + HEADER + "\n" + _rows(10) + tail)
    whole = read_recording(path)
    assert len(whole.block) == 10
    for chunk in CHUNKS:
        block, warnings, _ = _streamed(path, chunk)
        _same_block(block, whole.block)
        assert warnings == list(whole.warnings)
        (note,) = warnings
        assert f"line {FIRST_ROW_LINE + 10}: the last row is cut short" in note
        assert f"up to line {FIRST_ROW_LINE + 9}" in note


def test_crlf_and_several_gzip_members_with_padding(tmp_path):
    text = (META + HEADER + "\n" + _rows(400)).replace("\n", "\r\n")
    half = len(text) // 2
    cut = text.index("\r\n", half) + 1  # the second member starts between \r and \n
    data = gzip.compress(text[:cut].encode()) + b"\x00" * 9 + gzip.compress(text[cut:].encode())
    path = tmp_path / "r.csv.gz"
    path.write_bytes(data)
    whole = read_recording(path)
    assert len(whole.block) == 400 and whole.warnings == ()
    for chunk in CHUNKS:
        block, warnings, _ = _streamed(path, chunk)
        _same_block(block, whole.block)
        assert warnings == []
    damaged = (META + HEADER + "\n" + _rows(400)).splitlines(keepends=True)
    damaged[300] = "1.0,x,0,0,0,0,9.8,1\n"
    bad = tmp_path / "bad.csv"
    bad.write_bytes("".join(damaged).replace("\n", "\r\n").encode())
    want = _error(lambda: read_recording(bad))
    assert "line 301: column 'gx'" in want
    for chunk in CHUNKS:
        assert _error(lambda c=chunk: _streamed(bad, c)) == want


def test_truncated_gzip_reads_its_whole_rows_at_any_chunk(tmp_path, session_block):
    path = write_recording(tmp_path / "r.csv.gz", {"tool": "roller", "radius_m": 0.075},
                           session_block.slice(0, 5000))
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(path.read_bytes()[:-2000])
    whole = read_recording(cut)
    assert 1000 < len(whole.block) < 5000
    (note,) = whole.warnings
    assert "cut.csv.gz: truncated gzip file (ends before its last row); replaying up to line" in note
    for chunk in CHUNKS[1:]:
        block, warnings, _ = _streamed(cut, chunk)
        _same_block(block, whole.block)
        assert warnings == [note]


def test_writer_writes_as_it_goes_the_text_write_recording_writes(tmp_path, session_block):
    meta = {"tool": "ball", "radius_m": 0.03, "axis": (0.0, 1.0, 0.0)}
    one = write_recording(tmp_path / "one.csv", meta, session_block)
    with RecordingWriter(tmp_path / "many.csv", meta) as writer:
        for b in iter_blocks(session_block):
            writer.write(b)
    assert writer.samples == len(session_block)
    assert (tmp_path / "many.csv").read_bytes() == one.read_bytes()
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        RecordingWriter(one, meta)
