"""Everything the bridge writes to Gemini Live, in order, whichever connection takes it.

One lock serialises the writes. Guest audio comes out of the `AudioUplink` while the
connection machine lets audio flow. Client turns (director notes, topics, the bridge's own
catch-ups) go at once while it takes content; otherwise they are held, bounded (the oldest
is dropped with a warning), and go first on the next connection. A write refused because
the connection closed is put back, first in line, and reported to `on_closed`: nothing is
lost between connections and each turn reaches exactly one. Stills of the guest's camera
are the exception: one goes to the connection audio flows to, or nowhere (the next one, a
second later, shows the guest as well and more recently).

Whoever holds the lock drains the audio queue before leaving it, so `pump` never waits for
the lock: audio queued meanwhile goes up with the holder's drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from google import genai
from google.genai import types
from google.genai.live import AsyncSession
from websockets.exceptions import ConnectionClosed

from rtc.bridge.base import GUEST_SAMPLE_RATE
from rtc.bridge.gemini.connection import ConnectionMachine, Phase
from rtc.bridge.gemini.history import ConversationHistory
from rtc.bridge.gemini.uplink import STREAM_END, AudioUplink

logger = logging.getLogger(__name__)

GUEST_MIME_TYPE = f"audio/pcm;rate={GUEST_SAMPLE_RATE}"
STILL_MIME_TYPE = "image/jpeg"


@dataclass(eq=False)
class Link:
    """One live connection: its session, the stack that closes it, its reader task."""

    id: int
    session: AsyncSession
    stack: contextlib.AsyncExitStack
    reader: asyncio.Task[None] | None = field(default=None)

    @classmethod
    async def open(
        cls, client: genai.Client, model: str, config: types.LiveConnectConfig, *, link_id: int
    ) -> Link:
        """Connect to `model` (until setup is complete) as connection `link_id`."""
        stack = contextlib.AsyncExitStack()
        connect = client.aio.live.connect(model=model, config=config)
        return cls(link_id, await stack.enter_async_context(connect), stack)

    async def stop_reading(self) -> None:
        """Cancel the reader task (unless it is the caller) and wait for it to end."""
        reader = self.reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            await asyncio.wait({reader})

    async def close(self) -> None:
        """Leave the live session, closing its socket; a failing close is only logged."""
        try:
            await self.stack.aclose()
        except Exception:
            logger.exception("closing Gemini Live connection %d failed", self.id)


@dataclass(frozen=True, slots=True)
class ClientTurn:
    """A user turn of client content, and what the history keeps of it once sent."""

    text: str
    complete: bool
    note: str | None = None
    """A director note to remember."""
    topics: list[str] | None = None
    """A new list of topics to remember."""


class Outbox:
    """Writes guest audio and client turns to the active connection, or holds them."""

    def __init__(
        self,
        machine: ConnectionMachine,
        uplink: AudioUplink,
        history: ConversationHistory,
        *,
        held_limit: int,
        active: Callable[[], Link | None],
        on_closed: Callable[[Link, str], None],
    ) -> None:
        """An outbox writing to `active()`, as far as `machine` allows."""
        self.lock = asyncio.Lock()
        self._machine = machine
        self._uplink = uplink
        self._history = history
        self._held: deque[ClientTurn] = deque()
        self._held_limit = held_limit
        self._active = active
        self._on_closed = on_closed

    @property
    def holds_complete_turn(self) -> bool:
        """Whether a held turn will make the host answer (so nothing else should)."""
        return any(turn.complete for turn in self._held)

    async def pump(self) -> None:
        """Send queued audio, unless the lock's holder will (see the module docstring)."""
        if not self.lock.locked():
            async with self.lock:
                await self.drain()

    async def say(self, turn: ClientTurn) -> None:
        """Send `turn` now if a connection takes client turns, else hold it (or drop it, if
        the bridge gave up)."""
        if self._machine.phase is Phase.CLOSED:
            logger.warning("Gemini Live is disconnected: a client turn was dropped")
            return
        async with self.lock:
            link = self._active() if self._machine.taking_content else None
            if link is None or self._held:
                self._hold(turn)
            else:
                await self._send(link, turn)
            await self.drain()

    async def show(self, jpeg: bytes) -> bool:
        """Send a still of the guest to the connection audio flows to, if any (False: none
        took it; it is not held)."""
        async with self.lock:
            link = self._active() if self._machine.sending else None
            sent = False
            if link is not None:
                blob = types.Blob(data=jpeg, mime_type=STILL_MIME_TYPE)
                try:
                    await link.session.send_realtime_input(video=blob)
                    sent = True
                except ConnectionClosed as exc:
                    self._on_closed(link, closed_reason(exc))
            await self.drain()  # audio queued while the still went up
        return sent

    async def flush(self, link: Link, first: ClientTurn | None) -> None:
        """With the lock held: `first`, then the held turns, then the queued audio."""
        if first is None or await self._send(link, first):
            while self._held and self._active() is link and self._machine.taking_content:
                if not await self._send(link, self._held.popleft()):
                    break
        await self.drain()

    async def drain(self, link: Link | None = None) -> None:
        """With the lock held: send queued audio to `link`, else to the connection the
        machine lets audio flow to, until none is left or the connection goes."""
        while True:
            target = link or (self._active() if self._machine.sending else None)
            if target is None or (item := self._uplink.take()) is None:
                return
            try:
                if item is STREAM_END:
                    await target.session.send_realtime_input(audio_stream_end=True)
                else:
                    blob = types.Blob(data=item, mime_type=GUEST_MIME_TYPE)
                    await target.session.send_realtime_input(audio=blob)
            except ConnectionClosed as exc:
                self._uplink.give_back(item)
                self._on_closed(target, closed_reason(exc))
                return

    def _hold(self, turn: ClientTurn) -> None:
        if len(self._held) >= self._held_limit:
            dropped = self._held.popleft()
            logger.warning("too many client turns held: dropped %r", dropped.text[:80])
        self._held.append(turn)

    async def _send(self, link: Link, turn: ClientTurn) -> bool:
        """Send `turn` on `link`; if the connection is gone, hold it again, first in line."""
        content = types.Content(role="user", parts=[types.Part(text=turn.text)])
        try:
            await link.session.send_client_content(turns=content, turn_complete=turn.complete)
        except ConnectionClosed as exc:
            self._held.appendleft(turn)
            self._on_closed(link, closed_reason(exc))
            return False
        self._machine.content_sent(complete=turn.complete)
        if turn.note is not None:
            self._history.add("director", turn.note)
        if turn.topics is not None:
            self._history.set_topics(turn.topics)
        return True


def closed_reason(exc: ConnectionClosed) -> str:
    """A close as "code reason", as the SDK reports one."""
    received = exc.rcvd
    return f"{received.code} {received.reason}" if received else "1006 Abnormal closure."
