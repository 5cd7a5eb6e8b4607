"""The sans-I/O state machine behind the Gemini Live bridge's connections.

It is told what happened (a connection opened or failed or was lost, the server sent
goAway or a resumption handle, a host turn started or ended, the guest spoke) and answers
with actions for the asyncio shell: connect (resuming a handle, after a delay), switch to a
new connection, arm the goAway deadline, tell the client, give up. It owns no socket, task
or clock (one is injected), so every path is unit-tested without I/O.

Phases:

- CONNECTING: the first connection is being opened.
- OPEN: audio and client turns flow to the active connection.
- GOING_AWAY: the server announced the connection's end. Audio still flows, client turns
  are held, and the machine waits for a resumable point, or the deadline, to rotate.
- RESUMING: connecting with the newest handle; audio and client turns are held.
- RESTARTING: connecting a fresh session (no usable handle, or the service refused it).
- CLOSED: closed, or given up.

A resumable point is a handle that arrives while no host turn is under way and the guest's
last utterance has been answered, with nothing sent since: resuming from an older handle
loses whatever happened after it (the shell then catches the new connection up). The
service's `resumable` flag alone is not enough, as Vertex AI sets it mid-answer too.

A switch while the guest's latest utterance is unanswered (a forced rotation, a loss)
tells the shell so: the new connection gets that utterance's audio again, from its start,
so an answer that straddles a switch reaches the model whole.

Rotation is make-before-break (the next connection opens while the old one still takes
audio) unless the tuning says break-before-make or the service refused a second socket of
the session: the Gemini API closes a resume with 1011 while the session's earlier socket is
open. Then the machine closes the old connection and resumes once more, break-before-make,
for this rotation and every later one: a refusal costs one extra connection, never a loop.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rtc.bridge.gemini.tuning import GeminiTuning

REFUSED = 1007
"""The close code the service refuses a resumption handle with (unknown or expired)."""
OVERLAP_REFUSED = 1011
"""The close code the Gemini API refuses a resume with while the session's earlier socket
is still open (aicc2025/sip-to-ai pull request 14, verified against the live API)."""

SwitchKind = Literal["opened", "rotated", "resumed", "restarted"]


class Phase(enum.Enum):
    """Where the bridge's connection stands (see the module docstring)."""

    CONNECTING = "connecting"
    OPEN = "open"
    GOING_AWAY = "going_away"
    RESUMING = "resuming"
    RESTARTING = "restarting"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Connect:
    """Open connection `link` after `delay` s, resuming `handle` (None: a fresh session)."""

    link: int
    handle: str | None
    delay: float
    overlap: bool = False
    """Make-before-break: keep the active connection open meanwhile (else close it first)."""


@dataclass(frozen=True, slots=True)
class Switch:
    """Make the newly opened `link` the active connection and send it what was held."""

    link: int
    kind: SwitchKind
    mark: int | None
    """The history mark of the handle resumed from: what came after it must be caught up."""
    held_since: float | None
    """When audio stopped flowing to the previous connection (None: the first one)."""
    go_away_at: float | None
    """When the goAway that started this rotation arrived, if one did."""
    forced: bool
    """A rotation that did not wait for a resumable point (deadline, or an early close)."""
    guest_active: bool
    """The guest spoke while audio was held, or is speaking, and the host has not begun to
    answer: do not make the host talk."""
    guest_unanswered: bool = False
    """The guest's latest utterance has not been answered: the shell replays it to the new
    connection, whose service answers it, so no client turn completes."""


@dataclass(frozen=True, slots=True)
class Status:
    """Tell the client about the connection (a `HostStatus` event)."""

    state: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ArmDeadline:
    """Call `deadline(link)` after `seconds`, unless a switch happened first."""

    link: int
    seconds: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """No connection can be had: end the bridge's events with `reason`."""

    reason: str


Action = Connect | Switch | Status | ArmDeadline | GiveUp


class ConnectionMachine:
    """Decides when to rotate, reconnect, restart or give up (see the module docstring)."""

    def __init__(self, tuning: GeminiTuning, clock: Callable[[], float] = time.monotonic) -> None:
        """A machine in CONNECTING; `clock` gives monotonic seconds."""
        self._tuning = tuning
        self._clock = clock
        self.phase = Phase.CONNECTING
        self.active: int | None = None
        """The connection audio flows (or last flowed) to."""
        self._pending: int | None = None
        self._links = 0
        self._handle: str | None = None
        self._handle_mark = 0
        self._handle_at = 0.0
        self._resume_mark: int | None = None
        self._attempts = 0
        self._announced = False
        self._forced = False
        self._held_since: float | None = None
        self._go_away_at: float | None = None
        self._seq = 0
        self._host_busy = False
        self._host_turn_seq = 0
        self._host_began_seq = 0
        self._guest_start_seq = 0
        self._guest_speaking = False
        self._guest_in_hold = False
        self._clean = False
        self._break_first = tuning.rotation == "break-before-make"
        self._active_open = False
        self._overlapping = False
        self._content_unanswered = False
        self.overlaps_refused = 0
        """Make-before-break attempts the service refused (then break-before-make)."""

    @property
    def handle(self) -> str | None:
        """The newest resumption handle (None before the first, or after a refusal)."""
        return self._handle

    @property
    def guest_unanswered(self) -> bool:
        """Whether the guest spoke since the host last began a turn."""
        return self._guest_start_seq > self._host_turn_seq

    @property
    def guest_continues(self) -> bool:
        """Whether the guest spoke since the host last began a turn of any kind: speech now
        adds to the same unanswered turn (a replay starts where that turn started)."""
        return self._guest_start_seq > self._host_began_seq

    @property
    def sending(self) -> bool:
        """Whether guest audio may go to the active connection now."""
        return self.phase in (Phase.OPEN, Phase.GOING_AWAY)

    @property
    def taking_content(self) -> bool:
        """Whether client turns may go to the active connection now (else they are held)."""
        return self.phase is Phase.OPEN

    def start(self) -> list[Action]:
        """Open the first connection."""
        return [self._connect(None, 0.0)]

    def connected(self, link: int) -> list[Action]:
        """Connection `link` is open (setup complete)."""
        if link != self._pending:
            return []
        self._pending = None
        kind: SwitchKind
        if self.phase is Phase.CONNECTING:
            kind = "opened"
        elif self.phase is Phase.RESTARTING:
            kind = "restarted"
        else:
            kind = "resumed" if self._announced else "rotated"
        switch = Switch(
            link=link,
            kind=kind,
            mark=self._resume_mark,
            held_since=self._held_since,
            go_away_at=self._go_away_at,
            forced=self._forced,
            # Still "speaking" once the host answered is only the engine's VAD hang-over.
            guest_active=self.guest_unanswered and (self._guest_in_hold or self._guest_speaking),
            guest_unanswered=kind != "opened" and self.guest_unanswered,
        )
        self.phase = Phase.OPEN
        self.active = link
        self._active_open = True
        self._overlapping = False
        self._attempts = 0
        self._announced = self._forced = self._host_busy = self._clean = False
        self._held_since = self._go_away_at = None
        self._guest_in_hold = False
        if kind in ("resumed", "restarted"):
            return [switch, Status(kind)]
        return [switch]

    def connect_failed(self, link: int, code: int | None, reason: str) -> list[Action]:
        """Opening connection `link` failed; `code` is the close code if the service sent one."""
        if link != self._pending:
            return []
        self._pending = None
        if self.phase is Phase.CONNECTING:
            self.phase = Phase.CLOSED
            return [GiveUp(reason)]
        if code == OVERLAP_REFUSED and self._overlapping:
            self.overlaps_refused += 1
            self._break_first = True  # and stay so: the service does not change its mind
            return [self._connect(self._usable_handle(), 0.0)]
        if code == REFUSED and self.phase is Phase.RESUMING:
            self._handle = None
            self.phase = Phase.RESTARTING
            return [self._connect(None, 0.0)]
        return self._retry(reason)

    def lost(self, link: int, reason: str) -> list[Action]:
        """The active connection `link` ended without the machine asking for it."""
        if link == self.active:
            self._active_open = False
        if link != self.active or not self.sending:
            return []  # an old connection, or the one a rotation is already leaving
        self._hold()
        if self.phase is Phase.GOING_AWAY:
            return self._rotate(forced=True)
        return self._retry(reason)

    def go_away(self, link: int, time_left: str) -> list[Action]:
        """The server will close `link` in `time_left` (a proto JSON duration: "10s")."""
        if link != self.active or self.phase is not Phase.OPEN:
            return []
        self.phase = Phase.GOING_AWAY
        self._go_away_at = self._clock()
        if self._clean:
            return self._rotate(forced=False)
        left = _seconds(time_left)
        return [ArmDeadline(link, max(left - self._tuning.rotation_margin_s, left / 2))]

    def deadline(self, link: int) -> list[Action]:
        """The deadline armed for `link` passed."""
        if link != self.active or self.phase is not Phase.GOING_AWAY:
            return []
        return self._rotate(forced=True)

    def handle_update(self, link: int, handle: str, mark: int) -> list[Action]:
        """`link` offered a resumable `handle`; `mark` is the history's mark at that moment."""
        if link != self.active or not self.sending:
            return []
        self._handle, self._handle_mark, self._handle_at = handle, mark, self._clock()
        self._clean = not self._host_busy and not self.guest_unanswered
        if self.phase is Phase.GOING_AWAY and self._clean:
            return self._rotate(forced=False)
        return []

    def host_output(self, link: int) -> None:
        """`link` sent some of the host's turn (its audio, or its transcription): a turn is
        under way. It answers the guest, unless it answers a client turn sent since."""
        if link == self.active and not self._host_busy:
            self._host_busy = True
            self._host_began_seq = self._next()
            if self._content_unanswered:
                self._content_unanswered = False
            else:
                self._host_turn_seq = self._host_began_seq
        self._clean = False

    def turn_complete(self, link: int) -> None:
        """`link` finished a turn."""
        if link == self.active:
            self._host_busy = False

    def guest_started(self) -> None:
        """The engine heard the guest start speaking."""
        self._guest_start_seq = self._next()
        self._guest_speaking = True
        self._clean = False
        if self.phase in (Phase.RESUMING, Phase.RESTARTING):
            self._guest_in_hold = True

    def guest_stopped(self) -> None:
        """The engine heard the guest stop speaking."""
        self._guest_speaking = False

    def content_sent(self, *, complete: bool) -> None:
        """A client turn went to the active connection: the newest handle predates it. A
        `complete` one makes the host answer it (a note, the opening), not the guest."""
        self._clean = False
        self._content_unanswered |= complete

    def close(self) -> None:
        """The bridge is closing: nothing more happens."""
        self.phase = Phase.CLOSED
        self._pending = None

    def _retry(self, reason: str) -> list[Action]:
        self._attempts += 1
        if self._attempts > self._tuning.reconnect_attempts:
            self.phase = Phase.CLOSED
            return [GiveUp(reason)]
        actions: list[Action] = []
        if not self._announced:
            self._announced = True
            actions.append(Status("reconnecting", reason))
        tuning = self._tuning
        delay = 0.0
        if self._attempts > 1:
            delay = min(tuning.backoff_max_s, tuning.backoff_initial_s * 2 ** (self._attempts - 2))
        handle = self._usable_handle()
        self.phase = Phase.RESUMING if handle else Phase.RESTARTING
        actions.append(self._connect(handle, delay))
        return actions

    def _rotate(self, *, forced: bool) -> list[Action]:
        self._hold()
        self._forced = forced
        handle = self._usable_handle()
        self.phase = Phase.RESUMING if handle else Phase.RESTARTING
        return [self._connect(handle, 0.0)]

    def _hold(self) -> None:
        if self._held_since is None:
            self._held_since = self._clock()
            self._guest_in_hold = self._guest_speaking

    def _usable_handle(self) -> str | None:
        if self._handle is None:
            return None
        if self._clock() - self._handle_at > self._tuning.handle_max_age_s:
            self._handle = None
        return self._handle

    def _connect(self, handle: str | None, delay: float) -> Connect:
        self._links += 1
        self._pending = self._links
        self._resume_mark = self._handle_mark if handle else None
        self._overlapping = self._active_open and not self._break_first
        self._active_open &= self._overlapping  # the shell closes it first otherwise
        return Connect(self._links, handle, delay, self._overlapping)

    def _next(self) -> int:
        self._seq += 1
        return self._seq


def _seconds(duration: str) -> float:
    """A proto JSON duration such as "10s" or "0.5s" in seconds (0 if it cannot be read)."""
    try:
        return max(0.0, float(duration.removesuffix("s")))
    except ValueError:
        return 0.0
