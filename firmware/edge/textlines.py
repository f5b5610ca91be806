"""A text file (plain or gzip) read a chunk at a time, as whole numbered lines, in bounded
memory: a recording of an hour at 1 kHz is 250 MB of text, half the RAM of a Pi Zero 2 W,
so nothing here ever holds more than a chunk of it.

Lines are what ``str.splitlines`` makes of the whole text (``\\r\\n`` and lone ``\\r`` end a
line too), numbered from 1 as in the file, whatever the chunk size. A gzip file may have
several members (with zero padding between them, as gzip allows); one that ends inside a
member (power lost while writing it) gives its whole lines and says so (``cut``), and its last
line, which may end anywhere, even inside a number, is left out. Every bad file is one
ConfigError line: missing, unreadable, damaged gzip, binary, not UTF-8.
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Iterator
from pathlib import Path

from firmware.common.errors import ConfigError

CHUNK_BYTES = 1 << 20  # read (and, for gzip, inflate) this much at a time
BINARY_PROBE_BYTES = 4096  # a NUL byte among the first of these: binary data, not text
_ASCII_SPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() strips: a file of only these is empty


class TextLines:
    """Iterate to get ``(first_line_number, lines)`` chunk by chunk; after the end, ``cut``
    (a gzip file that ends inside a member), ``ends_with_newline`` and ``empty`` (nothing
    but ASCII whitespace) describe the whole text. ``what`` names the file in errors."""

    def __init__(self, path: str | Path, *, chunk_bytes: int = CHUNK_BYTES, what: str = "file") -> None:
        self.path = Path(path)
        self.chunk_bytes = max(1, int(chunk_bytes))
        self.what = what
        self.cut = False
        self.ends_with_newline = False
        self.empty = True
        try:
            self._fh = open(self.path, "rb")  # noqa: SIM115 - closed by close(), at the end or by the caller
        except FileNotFoundError as exc:
            raise ConfigError(f"{self.path}: no such {what}") from exc
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read {what}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> TextLines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        decoder = codecs.getincrementaldecoder("utf-8")()
        carry = ""  # text after the last "\n" seen: the start of a line not yet whole
        lineno = 1
        for raw in self._probed(self._bytes()):
            try:
                text = decoder.decode(raw)
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{self.path}: not a rollsense {self.what} (not UTF-8 text)") from exc
            if not text:
                continue
            self.ends_with_newline = text.endswith("\n")
            end = text.rfind("\n")
            if end < 0:
                carry += text
                continue
            whole = carry + text[: end + 1]
            carry = text[end + 1 :]
            self.empty = self.empty and not whole.strip(_ASCII_SPACE)
            lines = whole.splitlines()
            if lines:
                yield lineno, lines
                lineno += len(lines)
        if self.cut:  # the last line may be cut anywhere: only whole lines count
            self.ends_with_newline = not self.empty
            return
        try:
            carry += decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{self.path}: not a rollsense {self.what} (not UTF-8 text)") from exc
        if carry:
            self.empty = self.empty and not carry.strip(_ASCII_SPACE)
            yield lineno, carry.splitlines()

    # ------------------------------------------------------------------ bytes
    def _probed(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The chunks, once their first BINARY_PROBE_BYTES (or all, if fewer) hold no NUL."""
        head = b""
        for raw in chunks:
            head += raw
            if len(head) >= BINARY_PROBE_BYTES:
                break
        self._probe(head)
        if head:
            yield head
        yield from chunks

    def _probe(self, head: bytes) -> None:
        if b"\x00" in head[:BINARY_PROBE_BYTES]:
            raise ConfigError(f"{self.path}: not a rollsense {self.what} (binary data)")

    def _bytes(self) -> Iterator[bytes]:
        """The file's bytes, inflated if it is gzip (by its magic number, whatever its name)."""
        try:
            first = self._fh.read(max(2, self.chunk_bytes))
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read {self.what}: {exc.strerror or exc}") from exc
        if first[:2] == b"\x1f\x8b":
            yield from self._gunzip(first)
            return
        if self.path.name.endswith(".gz"):
            raise ConfigError(f"{self.path}: not gzip data although the name ends in .gz")
        while first:
            yield first
            first = self._read()

    def _read(self) -> bytes:
        try:
            return self._fh.read(self.chunk_bytes)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read {self.what}: {exc.strerror or exc}") from exc

    def _gunzip(self, data: bytes) -> Iterator[bytes]:
        """Inflate every gzip member, at most chunk_bytes of output at a time (a small file
        of zeros can inflate to gigabytes). Sets ``cut`` when the file ends inside a member;
        damaged data is a ConfigError."""
        member = zlib.decompressobj(wbits=31)
        while data:
            while data:
                if member is None:  # between members: gzip allows zero padding here
                    data = data.lstrip(b"\x00")
                    if not data:
                        break
                    member = zlib.decompressobj(wbits=31)
                try:
                    out = member.decompress(data, self.chunk_bytes)
                    # more output may wait inside zlib (or in the unconsumed tail); never call
                    # a member past its end: it would add its tail to unused_data again
                    while out and not member.eof:
                        yield out
                        out = member.decompress(member.unconsumed_tail, self.chunk_bytes)
                except zlib.error as exc:
                    raise ConfigError(f"{self.path}: corrupt gzip data") from exc
                if out:
                    yield out
                if member.eof:
                    data, member = member.unused_data, None
                else:  # output ended with room to spare: zlib took every byte, wants more
                    data = b""
            data = self._read()
        self.cut = member is not None
