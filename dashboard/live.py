"""The live data hub: fans ingest callbacks (MQTT thread) out to Server-Sent-Event
subscribers (asyncio loop) and matches command results to the requests waiting for them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

TELEMETRY_MIN_PERIOD_S = 0.05
ENDED_KEEP = 64  # per device: stored sessions whose late telemetry is ignored
BULKY_SUMMARY_FIELDS = ("series_1hz", "pass_list")  # the session page reads them from the store
OWNED_KINDS = ("telemetry", "info", "session", "event")  # a person's live data: not status (issue 23)
UNKNOWN = object()  # whose: the hub has heard no info from the device yet (the store may know)



# ================================================================= live data hub


class LiveHub:
    """Fans ingest callbacks (MQTT thread) out to SSE subscribers (asyncio loop), keeps the
    latest state per device for new subscribers, and matches command results to waiters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue, str | None]] = []
        # device_id -> {"telemetry", "status", "info", "session", "sent_at", "owner": {kind: person}}
        self.latest: dict[str, dict] = {}
        self._results: OrderedDict[str, dict] = OrderedDict()
        self._result_cond = threading.Condition(self._lock)
        self.closed = False

    # -- ingest side (any thread)
    def on_ingest(self, kind: str, device_id: str, payload) -> None:
        if kind == "result":
            self._on_result(payload)
            return
        if kind == "session" and isinstance(payload, dict):
            payload = {k: v for k, v in payload.items() if k not in BULKY_SUMMARY_FIELDS}
        with self._lock:
            state = self.latest.setdefault(device_id, {})
            ended = state.setdefault("ended", OrderedDict())
            if kind == "telemetry" and isinstance(payload, dict) and payload.get("session_id") in ended:
                return  # a stored session is over, whatever telemetry arrives late
            if kind == "status":
                state["status"] = status_text(payload)
            elif kind in ("telemetry", "info", "session"):
                state[kind] = payload
            owner = owner_of(state, kind, payload)
            if kind in ("telemetry", "info", "session"):
                state.setdefault("owner", {})[kind] = owner
            if kind == "session" and isinstance(payload, dict):
                # once its summary is stored a session has ended on every page, whatever
                # live telemetry was missed (issue 19): its last telemetry is no longer live
                ended[payload.get("session_id")] = True
                while len(ended) > ENDED_KEEP:
                    ended.popitem(last=False)
                telemetry = state.get("telemetry")
                if isinstance(telemetry, dict) and telemetry.get("session_id") in ended:
                    del state["telemetry"]
            if kind == "telemetry":
                now = time.monotonic()
                if now - state.get("sent_at", 0.0) < TELEMETRY_MIN_PERIOD_S:
                    return  # a fast (e.g. 20x demo) device: browsers get at most ~20 updates/s
                state["sent_at"] = now
                state["status"] = "online"
            subs = list(self._subs)
        message = {"kind": kind, "device_id": device_id, "payload": payload, "owner": owner}
        if kind == "status":
            message["payload"] = {"status": status_text(payload)}
        for loop, queue, want in subs:
            if want is None or want == device_id:
                with contextlib.suppress(RuntimeError):  # loop already closed
                    loop.call_soon_threadsafe(_offer, queue, message)

    def _on_result(self, payload) -> None:
        if not isinstance(payload, dict) or not payload.get("id"):
            return
        with self._result_cond:
            self._results[str(payload["id"])] = payload
            while len(self._results) > 256:
                self._results.popitem(last=False)
            self._result_cond.notify_all()

    def wait_result(self, command_id: str, timeout_s: float) -> dict | None:
        """Block until the device's result for ``command_id`` arrives, or None on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._result_cond:
            while command_id not in self._results:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._result_cond.wait(left)
            return self._results.pop(command_id)

    # -- web side (event loop)
    def subscribe(self, device_id: str | None) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=200)
        with self._lock:
            self._subs.append((asyncio.get_running_loop(), queue, device_id))
        return queue

    @property
    def streams(self) -> int:
        """How many live streams are subscribed now."""
        with self._lock:
            return len(self._subs)

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with self._lock:
            self._subs = [s for s in self._subs if s[1] is not queue]

    def snapshot(self, device_id: str) -> dict:
        with self._lock:
            snap = dict(self.latest.get(device_id, {}))
        snap.pop("ended", None)
        snap.pop("owner", None)
        return snap

    def snapshot_for(self, device_id: str, may_see: Callable[[object], bool]) -> dict:
        """The snapshot with only what ``may_see`` allows of it (issue 23): ``may_see`` is
        asked with the person each part was live for (UNKNOWN: no info heard yet); the
        status is everyone's."""
        with self._lock:
            snap = dict(self.latest.get(device_id, {}))
        owners = snap.pop("owner", None) or {}
        snap.pop("ended", None)
        return {k: v for k, v in snap.items() if k not in OWNED_KINDS or may_see(owners.get(k, UNKNOWN))}

    def close(self) -> None:
        """End every open stream (before the server shuts down)."""
        with self._lock:
            self.closed = True
            subs = list(self._subs)
        for loop, queue, _ in subs:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_offer, queue, None)


def owner_of(state: dict, kind: str, payload) -> object:
    """Whose live data a message is (issue 23): a stored session's own person when its summary
    names one, else the person the device's latest info names (None: nobody chosen; UNKNOWN:
    no info heard yet)."""
    if kind == "session" and isinstance(payload, dict) and "person_id" in payload:
        person = payload["person_id"]
        return person if isinstance(person, str) else None
    if "info" not in state:
        return UNKNOWN
    return info_person(state["info"])


def info_person(info) -> str | None:
    """The current person a device's ``info`` names (``info["person"]``), or None."""
    person = info.get("person") if isinstance(info, dict) else None
    return person if isinstance(person, str) else None


def _offer(queue: asyncio.Queue, message) -> None:
    """Put without blocking; a slow browser loses its oldest messages, never the newest."""
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(message)


def status_text(payload) -> str:
    """``online``/``offline`` from a status payload (a plain string or a dict)."""
    if isinstance(payload, dict):
        payload = payload.get("status", payload.get("state", payload.get("value", "")))
    if isinstance(payload, bytes):
        payload = payload.decode(errors="replace")
    return str(payload or "unknown").strip().lower()


def sse(event: str, data) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()


