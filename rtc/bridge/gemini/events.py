"""Server content as host events, and the bounded queue `events()` reads them from.

`TurnAssembler` turns `serverContent` into events. A partial `Transcript` carries the side's
text of the current turn so far; each turn ends in exactly one final line per side: the
guest's when the host starts answering or at turn end, the host's at turn end, when the
guest interrupts it, or when its connection is cut (a dropped connection, a forced switch).
Final lines are also written to the conversation history.

`EventQueue` holds a fixed number of events and never makes its writer wait. Should the
reader fall that far behind, room is made by dropping, in this order: a partial transcript
a later line of the same side already contains, else the oldest host audio (stale by then),
else (with hundreds of unread turn events, a reader gone for good) the oldest event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from google.genai import types

from rtc.bridge.base import HostAudio, HostEvent, Interrupted, Transcript, TurnComplete
from rtc.bridge.gemini.history import ConversationHistory

logger = logging.getLogger(__name__)

HOST_SAMPLE_RATE = 24_000
"""The rate Live models speak at, used when a chunk's mime type does not say."""


class TurnAssembler:
    """Joins transcription fragments into lines and turns server content into events."""

    def __init__(self, history: ConversationHistory) -> None:
        """An assembler that records final lines in `history`."""
        self._history = history
        self._guest: list[str] = []
        self._host: list[str] = []

    def feed(self, content: types.LiveServerContent) -> list[HostEvent]:
        """The events one `serverContent` message makes, in order."""
        events: list[HostEvent] = []
        heard = content.input_transcription
        if heard is not None and heard.text:
            self._guest.append(heard.text)
            events.append(Transcript("user", "".join(self._guest).strip(), final=False))
        if content.model_turn is not None:
            for part in content.model_turn.parts or []:
                blob = part.inline_data
                if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/"):
                    events += self._finish_guest()
                    events.append(HostAudio(blob.data, _sample_rate(blob.mime_type or "")))
        said = content.output_transcription
        if said is not None and said.text:
            events += self._finish_guest()
            self._host.append(said.text)
            events.append(Transcript("ai", "".join(self._host).strip(), final=False))
        if content.interrupted:
            events.append(Interrupted())
            events += self._finish_host(cut=True)
        if content.turn_complete:
            events += self.finish()
            events.append(TurnComplete())
        return events

    def finish(self, *, cut: bool = False, replayed: bool = False) -> list[HostEvent]:
        """Final lines for whatever is under way (`cut`: the host's connection ended it). A
        guest line whose audio is `replayed` to the next connection is dropped instead: that
        connection transcribes it whole."""
        if replayed:
            self._guest.clear()
        return self._finish_guest() + self._finish_host(cut=cut)

    def _finish_guest(self) -> list[HostEvent]:
        text = "".join(self._guest).strip()
        self._guest.clear()
        if not text:
            return []
        self._history.add("guest", text)
        return [Transcript("user", text, final=True)]

    def _finish_host(self, *, cut: bool) -> list[HostEvent]:
        text = "".join(self._host).strip()
        self._host.clear()
        if not text:
            return []
        self._history.add("host", text, cut=cut)
        return [Transcript("ai", text, final=True)]


class EventQueue:
    """A bounded queue of host events, ended by `end`, that never blocks its writer."""

    def __init__(self, size: int) -> None:
        """A queue of at most `size` events (the end marker takes a place too)."""
        self._queue: asyncio.Queue[HostEvent | None] = asyncio.Queue(size)
        self._ended = False
        self._dropped = 0

    async def __aiter__(self) -> AsyncIterator[HostEvent]:
        """The events, until `end`; a later reader ends at once too."""
        while (event := await self._queue.get()) is not None:
            yield event
        self._queue.put_nowait(None)

    def put(self, event: HostEvent) -> None:
        """Queue `event` at once, making room if needed (see the module docstring)."""
        self._put(event)

    def put_all(self, events: list[HostEvent]) -> None:
        """Queue `events`, in order (see `put`)."""
        for event in events:
            self._put(event)

    def end(self) -> None:
        """No more events: readers stop once they have read what is queued."""
        self._put(None)
        self._ended = True

    def _put(self, event: HostEvent | None) -> None:
        if self._ended:
            return
        try:
            self._queue.put_nowait(event)
            return
        except asyncio.QueueFull:
            pass
        backlog = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        backlog.append(event)
        del backlog[_victim(backlog)]
        for kept in backlog:
            self._queue.put_nowait(kept)
        self._dropped += 1
        if self._dropped == 1 or self._dropped % 100 == 0:
            logger.warning("events() is not keeping up: %d host events dropped", self._dropped)


def _victim(backlog: list[HostEvent | None]) -> int:
    """Which queued event to drop for room (see the module docstring), in one pass."""
    later_roles: set[str] = set()
    superseded: int | None = None
    for index in range(len(backlog) - 1, -1, -1):
        event = backlog[index]
        if isinstance(event, Transcript):
            if not event.final and event.role in later_roles:
                superseded = index
            later_roles.add(event.role)
    if superseded is not None:
        return superseded
    return next((i for i, e in enumerate(backlog) if isinstance(e, HostAudio)), 0)


def _sample_rate(mime_type: str) -> int:
    """The `rate` parameter of an audio mime type such as "audio/pcm;rate=24000"."""
    for parameter in mime_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip() == "rate" and value.strip().isdigit():
            return int(value)
    return HOST_SAMPLE_RATE
