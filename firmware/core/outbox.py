"""The outbox's delivery rules as a state machine that does no I/O (in the manner of h11):
events in (connected, a row is due, PUBACK, the dashboard's ack...), actions out (publish this,
mark that in the journal, wake at...). It reads no clock (times come in with the events) and
starts no thread, so every rule is tested by driving it with events and times.

The journal (``firmware.edge.journal``) keeps each row's state on disk; the link
(``firmware.edge.link``) feeds this machine paho's events and performs its actions. The rules:

- At start, rows a previous process had in flight go back to pending (``ResetInflight``).
- While connected, and the storage takes writes, up to ``inflight_max`` rows are handed to the
  MQTT client at once (``Fetch`` asks for the room that is left), oldest first, in order: each
  is marked in flight, then published at QoS 1 (``MarkInflight``, ``Publish``).
- An event is done at its PUBACK (reason < 0x80). A session summary then waits for the
  dashboard's app-level ack on ``.../ack``, re-sent with backoff until then: ``resend_min_s``
  after the first attempt, doubling per attempt up to ``resend_max_s`` (``MarkSent``).
- A PUBACK >= 0x80 or a client error puts the row back to pending, tried again after
  ``retry_failed_s`` (``MarkFailed``).
- The dashboard's ack removes the session's summary from the outbox, whatever its state
  (``AckSession``; the journal says whether it was waiting; an unknown id changes nothing).
- A disconnect keeps what is in flight: paho retransmits those messages itself when the
  persistent session resumes, and their PUBACKs settle them then; the outbox re-sends nothing
  of its own but the rows still pending. On every (re)connect, summaries awaiting the
  dashboard's ack are due at once (``ResendAwaiting``): the ack may have been lost meanwhile.
- A PUBACK that arrives before the client's publish() returned is kept and settled when it
  returns; a PUBACK for an unknown or already settled message id changes nothing.
- While the storage fails nothing is handed out (the bookkeeping could not be kept); the
  journal itself holds its writes in memory and puts rows in flight back to pending once the
  disk takes writes again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.common import wire
from firmware.common.wire import dumps

QOS = 1  # events and summaries: at least once, deduplicated by the dashboard


@dataclass(frozen=True)
class OutboxRow:
    """One message waiting in the outbox."""

    msg_id: str
    kind: str  # "event" | "session"
    session_id: str | None
    payload: dict
    state: str  # "pending" | "inflight" | "awaiting_ack"
    attempts: int


@dataclass(frozen=True)
class OutboxSettings:
    """Delivery timing (seconds) and the in-flight bound."""

    inflight_max: int = 20  # outbox rows handed to the MQTT client at once
    resend_min_s: float = 10.0  # first re-send of an un-acked summary
    resend_max_s: float = 600.0
    retry_failed_s: float = 30.0  # after a PUBACK >= 0x80 or a client error


# -- actions: what the machine asks the link to do ------------------------------------------------
@dataclass(frozen=True)
class ResetInflight:
    """Rows a previous process had in flight go back to pending (journal)."""


@dataclass(frozen=True)
class ResendAwaiting:
    """Summaries awaiting the dashboard's ack are due now (journal)."""


@dataclass(frozen=True)
class Fetch:
    """Read up to ``limit`` due rows (oldest first) and hand each to ``Outbox.send``."""

    limit: int
    now_s: float


@dataclass(frozen=True)
class MarkInflight:
    """The row is handed to the MQTT client (journal: state inflight, attempts + 1)."""

    msg_id: str


@dataclass(frozen=True)
class Publish:
    """Publish ``payload`` (JSON text) on ``topic``; report the result to ``Outbox.on_sent``."""

    row: OutboxRow
    topic: str
    payload: str
    qos: int = QOS


@dataclass(frozen=True)
class MarkSent:
    """PUBACK ok (journal): an event is deleted; a summary awaits the ack until ``resend_at_s``."""

    msg_id: str
    resend_at_s: float


@dataclass(frozen=True)
class MarkFailed:
    """Back to pending, tried again at ``retry_at_s`` (journal). ``refused``: the broker said
    no (PUBACK >= 0x80) rather than the client failing to take it."""

    msg_id: str
    error: str
    retry_at_s: float
    refused: bool


@dataclass(frozen=True)
class AckSession:
    """The dashboard stored the session: drop its summary from the outbox (journal)."""

    session_id: str


@dataclass(frozen=True)
class RetryAt:
    """Run the delivery again at ``t_s`` (at once when that is now)."""

    t_s: float


Action = (ResetInflight | ResendAwaiting | Fetch | MarkInflight | Publish | MarkSent | MarkFailed
          | AckSession | RetryAt)
_NO_EARLY = object()


@dataclass
class _Sending:
    """The row between ``send`` and ``on_sent`` (the client's publish() has not returned)."""

    msg_id: str
    attempts: int
    early: dict[int, str | None] = field(default_factory=dict)  # mid -> PUBACK that beat it


class Outbox:
    """The delivery state machine of one device's outbox (see the module's docstring).

    Every method takes the time (monotonic seconds) and returns the actions to perform, in
    order. Not thread-safe: the caller serialises the calls (and performs the actions without
    holding its lock)."""

    def __init__(self, device_id: str, settings: OutboxSettings | None = None) -> None:
        self.settings = settings or OutboxSettings()
        self.topics = {"event": wire.topic(device_id, "event"),
                       "session": wire.topic(device_id, "session")}
        self.device_id = device_id
        self.connected = False
        self.storage = ""  # "" while the journal takes writes, else why not
        self.inflight: dict[int, str] = {}  # client message id (mid) -> outbox msg_id
        self._attempts: dict[str, int] = {}  # msg_id -> attempts, while in flight
        self._sending: _Sending | None = None

    # -- connection and storage ------------------------------------------------------------------
    def start(self, now_s: float) -> list[Action]:
        """The link starts: what a previous process had in flight is pending again."""
        return [ResetInflight()]

    def on_connect(self, now_s: float) -> list[Action]:
        """Connected (CONNACK ok): un-acked summaries are due now; deliver at once."""
        self.connected = True
        return [ResendAwaiting(), RetryAt(now_s)]

    def on_disconnect(self, now_s: float) -> list[Action]:
        """Lost the connection: hand out nothing; what is in flight stays in flight (the
        client retransmits it when the session resumes)."""
        self.connected = False
        return []

    def on_storage(self, problem: str, now_s: float) -> list[Action]:
        """The journal's storage failed (``problem``) or takes writes again ("")."""
        self.storage = problem
        return [] if problem else [RetryAt(now_s)]

    # -- delivery ----------------------------------------------------------------------------------
    def room(self) -> int:
        """How many more rows may be handed to the client now."""
        return self.settings.inflight_max - len(self.inflight)

    def on_tick(self, now_s: float) -> list[Action]:
        """Time to deliver: fetch the due rows there is room for."""
        if not self.connected or self.storage or self.room() <= 0:
            return []
        return [Fetch(self.room(), now_s)]

    def send(self, row: OutboxRow, now_s: float) -> list[Action]:
        """Hand a due row to the client (nothing while disconnected). Report the client's
        answer with ``on_sent`` before sending the next row."""
        if not self.connected:
            return []
        self._sending = _Sending(row.msg_id, row.attempts + 1)
        payload = {**row.payload, "device_id": self.device_id} if row.kind == "session" else row.payload
        topic = self.topics["session" if row.kind == "session" else "event"]
        return [MarkInflight(row.msg_id), Publish(row, topic, dumps(payload))]

    def on_sent(self, msg_id: str, mid: int | None, error: str | None, now_s: float) -> list[Action]:
        """The client's publish() returned: message id ``mid``, or ``error`` (it refused the
        message, or raised) and the row is tried again later."""
        sending, self._sending = self._sending, None
        if sending is None or sending.msg_id != msg_id:
            sending = _Sending(msg_id, 1)
        if error is not None or mid is None:
            return [MarkFailed(msg_id, error or "not published", now_s + self.settings.retry_failed_s,
                               refused=False)]
        self._attempts[msg_id] = sending.attempts
        early = sending.early.get(mid, _NO_EARLY)
        self.inflight[mid] = msg_id
        if early is _NO_EARLY:
            return []
        return self.on_puback(mid, early, now_s)

    def on_puback(self, mid: int, refused: str | None, now_s: float) -> list[Action]:
        """The broker's PUBACK for ``mid``: ``refused`` is its reason when >= 0x80, else None."""
        msg_id = self.inflight.pop(mid, None)
        if msg_id is None:
            if self._sending is not None:  # it beat publish() returning: settled in on_sent
                self._sending.early[mid] = refused
            return []
        attempts = self._attempts.get(msg_id, 1)
        if msg_id not in self.inflight.values():
            self._attempts.pop(msg_id, None)
        if refused is not None:
            action: Action = MarkFailed(msg_id, refused, now_s + self.settings.retry_failed_s,
                                        refused=True)
        else:
            action = MarkSent(msg_id, now_s + self.resend_delay_s(attempts))
        return [action, RetryAt(now_s)]

    def resend_delay_s(self, attempts: int) -> float:
        """How long a delivered summary waits for the dashboard's ack before it is sent again."""
        s = self.settings
        return min(s.resend_max_s, s.resend_min_s * 2 ** max(0, attempts - 1))

    def on_ack(self, session_id: str, now_s: float) -> list[Action]:
        """The dashboard's app-level ack: the session is stored, its summary leaves the outbox."""
        return [AckSession(session_id)]

    def on_idle(self, next_due_s: float | None, now_s: float) -> list[Action]:
        """Nothing more to do now: when to look again (the earliest retry time, at most 1 s
        away, at least 10 ms; 1 s while disconnected or nothing waits)."""
        if next_due_s is None or not self.connected:
            return [RetryAt(now_s + 1.0)]
        return [RetryAt(now_s + min(1.0, max(0.01, next_due_s - now_s)))]
