"""``rollsense run`` as systemd starts it on a Pi, for ``bench/device_cpu.py``'s start-up and
memory figures: the real command line, the real ("pi") hardware path and the unit's
environment, with only the I2C device file and the GPIO chip replaced. The bus is answered
over an inherited socket by the fake chips (and the simulated user) in the bench's process;
the pins are gpiozero's mock factory (``GPIOZERO_PIN_FACTORY=mock``, set by the bench). So no
simulator is imported here and what this process holds is what the device holds.

At the first Block fed to the coach it prints the monotonic time, its CPU, its memory and
what it imported (in import order) as one JSON line and leaves at once.

With ``--preimport FILE`` (a JSON list of module names: what an earlier run imported) it first
imports those modules part by part (``PARTS``: numpy, TLS, paho-mqtt, gpiozero, ...; the
device's own code last) and notes the memory after each, so the report says where the
device's memory is.

This file imports only what the device imports anyway (and ``marshal``, built in), so it adds
nothing measurable to the figures.

    python bench/device_child.py FD [--preimport FILE] -- <rollsense run arguments>
"""

from __future__ import annotations

import ctypes
import importlib
import json
import marshal
import os
import socket
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

I2C_M_RD = 0x0001  # smbus2's read flag on an i2c_msg
HEADER = struct.Struct("<I")
OURS = ("firmware", "device", "calibration")
# where the memory is: each part's top-level module names, imported in this order
PARTS = (("numpy", ("numpy",)), ("TLS (ssl, OpenSSL)", ("ssl", "_ssl")),
         ("paho-mqtt", ("paho",)), ("gpiozero", ("gpiozero", "colorzero")),
         ("sqlite3", ("sqlite3", "_sqlite3")), ("smbus2, fastjsonschema", ("smbus2", "fastjsonschema")))

def call(sock: socket.socket, request: tuple):
    """One request to the bench's fake bus and its answer (``marshal``, length-prefixed); an
    OSError the fake chips raised (a NACK, a hung bus) is raised here as the kernel would."""
    data = marshal.dumps(request)
    sock.sendall(HEADER.pack(len(data)) + data)
    answer = marshal.loads(recv_exact(sock, HEADER.unpack(recv_exact(sock, HEADER.size))[0]))
    if answer[0] == "error":
        raise OSError(answer[1], os.strerror(answer[1]))
    return answer[1]


def recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            raise OSError("the bench's fake bus went away")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class SocketSMBus:
    """The ``smbus2.SMBus`` subset the drivers use, forwarded to the bench's fake chips."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def i2c_rdwr(self, *msgs) -> None:
        spec = [(m.addr, m.flags, m.len, b"" if m.flags & I2C_M_RD else bytes(m)) for m in msgs]
        reads = iter(call(self.sock, ("i2c_rdwr", spec)))
        for m in msgs:
            if m.flags & I2C_M_RD:
                data = next(reads)
                ctypes.memmove(m.buf, data, len(data))

    def read_i2c_block_data(self, addr, register, length, force=None):
        return call(self.sock, ("read_i2c_block_data", addr, register, length))

    def read_byte_data(self, addr, register, force=None):
        return call(self.sock, ("read_byte_data", addr, register))

    def write_i2c_block_data(self, addr, register, data, force=None) -> None:
        call(self.sock, ("write_i2c_block_data", addr, register, list(data)))

    def write_byte_data(self, addr, register, value, force=None) -> None:
        call(self.sock, ("write_byte_data", addr, register, value))

    def close(self) -> None:
        pass


def memory_mb() -> dict:
    """VmRSS and its anonymous and file-backed parts (/proc/self/status), MB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) / 1024
    return out


def import_parts(modules: list[str]) -> list[tuple[str, float]]:
    """Import ``modules`` part by part (``PARTS``, then the rest of the standard library, then
    the device's own code); VmRSS (MB) after the interpreter and after each part."""
    steps = [("Python", memory_mb()["VmRSS"])]
    named = {top for _label, tops in PARTS for top in tops}
    parts = [*PARTS, ("other standard library", None), ("rollsense code", OURS)]
    for label, tops in parts:
        for name in modules:
            top = name.split(".")[0]
            if (top in tops if tops is not None else top not in named and top not in OURS):
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 (a module some other import made: it is there)
                    pass
        steps.append((label, memory_mb()["VmRSS"]))
    return steps


def main(argv: list[str]) -> int:
    fd, run_args = int(argv[0]), argv[argv.index("--") + 1:]
    steps = []
    if "--preimport" in argv[:argv.index("--")]:
        with open(argv[argv.index("--preimport") + 1]) as f:
            steps = import_parts(json.load(f))
    sock = socket.socket(fileno=fd)
    importlib.import_module("device.bus").SMBus = lambda number: SocketSMBus(sock)
    session = importlib.import_module("firmware.core.session").Session
    feed = session.feed

    def first_feed(self, block):
        if len(block):
            print(json.dumps({"t_mono": time.monotonic(), "cpu_s": time.process_time(),
                              "memory_mb": memory_mb(), "modules": len(sys.modules),
                              "module_names": list(sys.modules), "import_steps_mb": steps,
                              "sim": "device.sim" in sys.modules,
                              "dashboard": any(m.startswith(("dashboard", "starlette"))
                                               for m in sys.modules)}), flush=True)
            os._exit(0)
        return feed(self, block)

    session.feed = first_feed
    return importlib.import_module("firmware.app.cli").main(["run", *run_args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
