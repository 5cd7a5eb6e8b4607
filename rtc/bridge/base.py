"""The interface every AI host implements, and the events it emits.

The engine feeds a bridge the guest's audio (16 kHz mono s16le) and what the guest's
voice-activity detector saw, and, when the host is to see the guest, stills of their camera;
the bridge answers with host audio, transcript lines and turn events. Director notes and
topic changes arrive through `inject` and `set_topics`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

GUEST_SAMPLE_RATE = 16_000


@dataclass(frozen=True, slots=True)
class HostAudio:
    """A chunk of the host's voice: mono s16le PCM at `sample_rate`."""

    pcm: bytes
    sample_rate: int


@dataclass(frozen=True, slots=True)
class Transcript:
    """A transcript line of either side; partial lines are followed by a final one."""

    role: Literal["user", "ai"]
    text: str
    final: bool


@dataclass(frozen=True, slots=True)
class TurnComplete:
    """The host finished its turn (all its audio for the turn has been emitted)."""


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The host stopped mid-turn because the guest spoke; drop its queued audio."""


@dataclass(frozen=True, slots=True)
class HostStatus:
    """Something the client should know about the host's connection (reconnecting, …)."""

    state: str
    detail: str = ""


HostEvent = HostAudio | Transcript | TurnComplete | Interrupted | HostStatus


class HostBridge(Protocol):
    """An AI host for one interview. Calls come from one task (`send_video` from one of its
    own); `events` is read by another."""

    async def start(self) -> None:
        """Connect and let the host open the interview."""

    async def send_audio(self, pcm: bytes) -> None:
        """The guest's audio, 16 kHz mono s16le, in order, without gaps."""

    async def send_video(self, jpeg: bytes) -> None:
        """A still of the guest's camera (JPEG, at most one a second). Only the newest
        matters: one that cannot be sent now is dropped, never held."""

    async def guest_started_speaking(self) -> None:
        """The engine's VAD heard the guest start a turn."""

    async def guest_stopped_speaking(self) -> None:
        """The engine's VAD heard the guest's turn end (after its hang-over)."""

    async def inject(self, text: str, *, now: bool) -> None:
        """A director's note: for the next turn, or (`now`) to address at once."""

    async def set_topics(self, topics: list[str]) -> None:
        """Replace the list of topics the host works through."""

    async def wrap_up(self) -> None:
        """The interview is about to end: the host should close it gracefully."""

    def events(self) -> AsyncIterator[HostEvent]:
        """What the host says and does, until `close`."""
        ...

    def report(self) -> dict[str, Any]:
        """What the host's connection went through, kept in the session's metadata after
        the interview (empty: nothing worth keeping)."""
        ...

    async def close(self) -> None:
        """Disconnect and release everything; `events` ends."""
