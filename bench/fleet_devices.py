"""Simulated devices for ``bench/fleet.py``: many MQTT v5 connections driven by one thread.

A load generator, not device code. Each simulated device speaks to the broker exactly as a
device's Link does on the wire (DESIGN §3.3): its own TCP connection and client id, MQTT v5
CONNECT with ``clean_start=False``, a 3600 s session expiry and the retained ``offline`` will,
a QoS 1 subscription to its ``ack`` topic, retained ``status``/``info``, QoS 0 telemetry at
10 Hz, QoS 1 events and summary (the summary re-sent every ``resend_s`` until its ``ack``
arrives). What it leaves out is what a Link does around the wire: the journal, its threads.

Why not a paho client per device: each paho client runs its own network thread and builds a
message object, locks and (in v5) property objects per publish; measured here that costs
~240 µs of CPU per message, so a thousand devices at 10 Hz would need more cores than this
machine has and the benchmark would measure its own load generator. Here the packets are
encoded by hand (a few struct packs) and every socket is served by one selector loop: about
10-20 µs per message, most of it ``json.dumps`` and the ``send`` system call.
"""

from __future__ import annotations

import json
import selectors
import socket
import struct
import time
import uuid
from datetime import UTC, datetime

TELEMETRY_HZ = 10.0


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + _varint(len(body)) + body


def connect_packet(client_id: str, will_topic: str, keepalive_s: int = 30) -> bytes:
    """MQTT v5 CONNECT: clean_start=False, Session Expiry 3600 s, will ``offline`` (QoS 1,
    retained)."""
    flags = 0x04 | 0x08 | 0x20  # will, will QoS 1, will retain; clean start off
    props = b"\x11" + struct.pack("!I", 3600)  # Session Expiry Interval
    var = _str("MQTT") + bytes((5, flags)) + struct.pack("!H", keepalive_s)
    var += _varint(len(props)) + props
    payload = _str(client_id) + b"\x00" + _str(will_topic) + _str(b"offline")
    return _packet(0x10, var + payload)


def subscribe_packet(mid: int, topic: str, qos: int = 1) -> bytes:
    return _packet(0x82, struct.pack("!H", mid) + b"\x00" + _str(topic) + bytes((qos,)))


def publish_packet(topic: bytes, payload: bytes, qos: int = 0, mid: int = 0,
                   retain: bool = False) -> bytes:
    body = _str(topic) + (struct.pack("!H", mid) if qos else b"") + b"\x00" + payload
    return _packet(0x30 | (qos << 1) | int(retain), body)


def puback_packet(mid: int) -> bytes:
    return b"\x40\x02" + struct.pack("!H", mid)


def split_packets(buf: bytearray) -> list[tuple[int, bytes]]:
    """Take every whole packet off the front of ``buf``: [(first byte, body)]."""
    out, pos = [], 0
    while len(buf) - pos >= 2:
        mult, length, i = 1, 0, pos + 1
        while True:
            if i >= len(buf):
                del buf[:pos]
                return out
            b = buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        if len(buf) - i < length:
            break
        out.append((buf[pos], bytes(buf[i:i + length])))
        pos = i + length
    del buf[:pos]
    return out


class Device:
    """One simulated device: a connection and the session it publishes."""

    def __init__(self, device_id: str, tag: str) -> None:
        self.device_id = device_id
        self.base = f"rollsense/{device_id}"
        self.session_id = f"{tag}-{device_id}-{uuid.uuid4().hex[:8]}"
        self.t_tele = f"{self.base}/telemetry".encode()
        self.t_event = f"{self.base}/event".encode()
        self.t_session = f"{self.base}/session".encode()
        self.sock: socket.socket | None = None
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.connected = self.acked = False
        self.seq = self.mid = 0
        self.unacked: set[int] = set()  # QoS 1 packet ids without a PUBACK yet
        self.sent = {"telemetry": 0, "event": 0, "session": 0}

    def _next_mid(self) -> int:
        self.mid = self.mid % 65535 + 1
        return self.mid

    def _stamp(self, payload: dict) -> bytes:
        self.seq += 1
        return json.dumps({**payload, "v": 1, "ts": iso_now(), "seq": self.seq,
                           "bench_sent_s": time.time()}).encode()

    def publish(self, topic: bytes, payload: bytes, qos: int, retain: bool = False) -> None:
        mid = self._next_mid() if qos else 0
        if qos:
            self.unacked.add(mid)
        self.write(publish_packet(topic, payload, qos, mid, retain))

    def write(self, data: bytes) -> None:
        if self.outbuf:
            self.outbuf += data
            return
        try:
            n = self.sock.send(data)
        except BlockingIOError:
            n = 0
        if n < len(data):
            self.outbuf += data[n:]

    def flush(self) -> None:
        if self.outbuf:
            try:
                n = self.sock.send(self.outbuf)
            except BlockingIOError:
                return
            del self.outbuf[:n]

    def on_packets(self) -> None:
        for first, body in split_packets(self.inbuf):
            kind = first >> 4
            if kind == 2:  # CONNACK
                if len(body) >= 2 and body[1] == 0:
                    self._online()
            elif kind == 4:  # PUBACK
                self.unacked.discard(struct.unpack_from("!H", body)[0])
            elif kind == 3:  # PUBLISH: the dashboard's ack
                qos = (first >> 1) & 3
                (tlen,) = struct.unpack_from("!H", body)
                pos = 2 + tlen
                if qos:
                    (mid,) = struct.unpack_from("!H", body, pos)
                    pos += 2
                    self.write(puback_packet(mid))
                plen, mult = 0, 1
                while True:  # properties length (variable byte integer)
                    b = body[pos]
                    pos += 1
                    plen += (b & 0x7F) * mult
                    mult *= 128
                    if not b & 0x80:
                        break
                try:
                    if json.loads(body[pos + plen:]).get("session_id") == self.session_id:
                        self.acked = True
                except ValueError:
                    pass

    def _online(self) -> None:
        self.connected = True
        self.write(subscribe_packet(self._next_mid(), f"{self.base}/ack"))
        self.publish(f"{self.base}/status".encode(), b"online", 1, retain=True)
        self.publish(f"{self.base}/info".encode(), self._stamp(
            {"hardware": "bench", "firmware": "bench-fleet"}), 1, retain=True)

    def telemetry(self, t_s: float, passes: int) -> None:
        p = {"session_id": self.session_id, "protocol": "quads-roller", "tool": "roller",
             "phase": "active", "t_s": round(t_s, 3), "elapsed_s": round(t_s, 3),
             "target_s": 60.0, "remaining_s": max(0.0, round(60.0 - t_s, 3)),
             "progress": min(1.0, round(t_s / 60.0, 4)), "speed_mps": 0.08,
             "velocity_mps": 0.08, "position_m": 0.12, "force_n": 231.5, "contact": True,
             "passes": passes, "hold_s": 0.0, "spots_done": None, "spots_target": None,
             "cue": "tick", "speed_band_mps": [0.0375, 0.15], "force_band_n": [180.0, 330.0],
             "force_max_n": 440.0}
        self.publish(self.t_tele, self._stamp(p), 0)
        self.sent["telemetry"] += 1

    def event(self, event_type: str, t_s: float, **data) -> None:
        p = {"msg_id": uuid.uuid4().hex, "session_id": self.session_id,
             "event_type": event_type, "t_s": round(t_s, 3), **data}
        self.publish(self.t_event, self._stamp(p), 1)
        self.sent["event"] += 1

    def summary(self, duration_s: float, passes: int) -> None:
        p = {"format": "rollsense-summary/1", "session_id": self.session_id,
             "msg_id": uuid.uuid4().hex, "device_id": self.device_id,
             "protocol": "quads-roller", "tool": "roller", "started_at": iso_now(),
             "duration_s": duration_s, "contact_s": duration_s, "distance_m": 0.2 * passes,
             "passes": passes, "pass_length_m": {"mean": 0.2, "max": 0.25},
             "speed_mps": {"mean": 0.08, "p95": 0.12}, "holds": [],
             "force_n": {"mean": 231.5, "peak": 310.0},
             "force_by_direction_n": {"up": 230.0, "down": 233.0},
             "targets": [], "completed": False, "interrupted": "bench"}
        self.publish(self.t_session, self._stamp(p), 1)
        self.sent["session"] += 1


class Fleet:
    """Every device of one process on one selector."""

    def __init__(self, ids: list[str], host: str, port: int, tag: str) -> None:
        self.devices = [Device(i, tag) for i in ids]
        self.host, self.port = host, port
        self.sel = selectors.DefaultSelector()

    def connect(self, timeout_s: float = 30.0) -> None:
        for k, d in enumerate(self.devices):
            d.sock = socket.create_connection((self.host, self.port), timeout=10)
            d.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            d.sock.setblocking(False)
            self.sel.register(d.sock, selectors.EVENT_READ, d)
            d.write(connect_packet(f"rollsense-{d.device_id}", f"{d.base}/status"))
            if k % 25 == 24:
                self.pump(0.02)  # no connect storm
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(d.connected for d in self.devices):
            self.pump(0.05)

    def pump(self, timeout_s: float) -> None:
        """Serve readable sockets for up to ``timeout_s`` (one select)."""
        for key, _ in self.sel.select(max(0.0, timeout_s)):
            d: Device = key.data
            try:
                data = d.sock.recv(65536)
            except BlockingIOError:
                continue
            if data:
                d.inbuf += data
                d.on_packets()
        for d in self.devices:
            if d.outbuf:
                d.flush()

    def run_session(self, session_s: float, ack_timeout_s: float, resend_s: float,
                    start_spread_s: float = 0.0) -> dict:
        """Each device publishes in its own slot of the telemetry period, as independent
        devices do; the loop sleeps in ``select`` until the next slot is due. The sessions
        start (and so end) spread evenly over ``start_spread_s`` (0: all in one telemetry
        period); passes end at each user's own moment of the second, not all at once."""
        live = [d for d in self.devices if d.connected]
        period = 1.0 / TELEMETRY_HZ
        per_s = int(TELEMETRY_HZ)
        ticks = int(session_s * TELEMETRY_HZ)
        spread = max(1, round(start_spread_s * TELEMETRY_HZ))  # start ticks to spread over
        slot = period / max(1, len(live))
        t0 = time.monotonic() + 0.05
        late = 0
        for i in range(ticks + spread):
            for j, d in enumerate(live):
                tick = i - j % spread  # this device's own session clock (it starts in its slot)
                if not 0 <= tick <= ticks:
                    continue
                due = t0 + i * period + j * slot
                wait = due - time.monotonic()
                if wait > 0.001:
                    self.pump(wait)
                elif wait < -period:  # over one telemetry period behind its slot
                    late += 1
                if tick == ticks:
                    d.event("session_ended", session_s, reason="bench", completed=False)
                    d.summary(session_s, ticks // per_s)
                    continue
                if tick == 0:
                    d.event("session_started", 0.0, protocol="quads-roller")
                d.telemetry(tick * period, tick // per_s)
                if tick and (tick + j) % per_s == 0:  # a pass a second, at each user's moment
                    d.event("pass_completed", tick * period, length_m=0.2, duration_s=1.0,
                            direction=1, mean_speed_mps=0.2, mean_force_n=231.5)
        deadline = time.monotonic() + ack_timeout_s
        last_send = time.monotonic()
        while time.monotonic() < deadline and not all(d.acked and not d.unacked for d in live):
            self.pump(0.05)
            if time.monotonic() - last_send >= resend_s:
                last_send = time.monotonic()
                for d in live:
                    if not d.acked:
                        d.summary(session_s, ticks // per_s)
        return {"devices": len(self.devices), "connected": len(live),
                "acked": sum(d.acked for d in live),
                "sessions": [d.session_id for d in live],
                "sent": {k: sum(d.sent[k] for d in live) for k in ("telemetry", "event", "session")},
                "unacked_qos1": sum(len(d.unacked) for d in live),
                "late_publishes": late, "ticks": ticks}

    def close(self) -> None:
        for d in self.devices:
            if d.sock is None:
                continue
            if d.connected:  # retained offline first, then a clean DISCONNECT
                d.publish(f"{d.base}/status".encode(), b"offline", 1, retain=True)
                d.write(b"\xe0\x00")
                d.sock.setblocking(True)
                d.flush()
            self.sel.unregister(d.sock)
            d.sock.close()
        self.sel.close()
