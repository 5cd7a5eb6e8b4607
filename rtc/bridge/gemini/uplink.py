"""The guest's audio on its way up to Gemini Live: cost control, batching and the backlog.

Audio from the engine (20 ms of 16 kHz s16le at a time) passes three sans-I/O stages:

1. Cost control (a setting, on by default). Once the engine says the guest stopped speaking
   (and from the start, before the guest has said anything), silence is still streamed for
   `silence_pause_s`; then an `audioStreamEnd` marker is queued and no more audio goes up.
   While paused, the newest `preroll_ms` are kept in a ring. When the engine hears the guest
   start speaking, the ring goes up first, then the live audio: the service hears the onset
   the engine's VAD needed before it could tell. Speech the engine's VAD misses is not sent.
2. Batching into `batch_ms` messages: fewer, larger WebSocket frames.
3. The queue the shell sends from. It is about a batch deep while a connection takes audio.
   While none does (a rotation, an outage) it holds up to `backlog_s` of audio; past that
   the oldest audio is dropped and counted, as the newest speech matters most to a host
   about to answer it.

The shell `take`s an item, sends it, and `give_back`s it if the send failed, so an item is
never lost between connections and the order is kept.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Literal

from rtc.bridge.gemini.tuning import GeminiTuning


class Marker(enum.Enum):
    """A queue item that is not audio."""

    STREAM_END = "audioStreamEnd"


STREAM_END = Marker.STREAM_END
UplinkItem = bytes | Literal[Marker.STREAM_END]


class AudioUplink:
    """The guest's audio between the engine and whichever connection takes it."""

    def __init__(self, tuning: GeminiTuning, *, rate: int, batch_ms: int) -> None:
        """An uplink for mono s16le audio at `rate`, sent in `batch_ms` messages."""
        self._batch = rate * batch_ms // 1000 * 2
        self._limit = round(tuning.backlog_s * rate) * 2
        self._pause_after: int | None = None
        if tuning.cost_control:
            self._pause_after = round(tuning.silence_pause_s * rate) * 2
        self._preroll = rate * tuning.preroll_ms // 1000 * 2
        self._pending = bytearray()
        self._queue: deque[UplinkItem] = deque()
        self._queued = 0
        self._ring: deque[bytes] = deque()
        self._ring_bytes = 0
        self._silence_left = self._pause_after
        self._given = self._trimmed = self._dropped = self._max_queued = 0
        self.paused = False
        """Cost control stopped the stream: audio is kept in the pre-roll ring only."""
        self.stream_ends = 0
        """How many `audioStreamEnd` markers were queued."""

    @property
    def samples_given(self) -> int:
        """Samples the engine handed over."""
        return self._given // 2

    @property
    def samples_withheld(self) -> int:
        """Samples cost control kept back (and never sent) so far."""
        return (self._trimmed + self._ring_bytes) // 2

    @property
    def samples_dropped(self) -> int:
        """Samples dropped from a full backlog, or still held when the bridge closed."""
        return self._dropped // 2

    @property
    def queued_samples(self) -> int:
        """Samples waiting in the queue now."""
        return self._queued // 2

    @property
    def max_queued_samples(self) -> int:
        """The deepest the queue has been, in samples."""
        return self._max_queued // 2

    def push(self, pcm: bytes) -> None:
        """The engine's next piece of the guest's audio."""
        self._given += len(pcm)
        if self.paused:
            self._keep(pcm)
            return
        self._pending += pcm
        self._cut_batches()
        if self._silence_left is not None:
            self._silence_left -= len(pcm)
            if self._silence_left <= 0:
                self.flush()
                self._enqueue(STREAM_END)
                self.stream_ends += 1
                self.paused = True
                self._silence_left = None

    def guest_started(self) -> None:
        """The engine heard speech: stream again, the pre-roll first."""
        self._silence_left = None
        if self.paused:
            self.paused = False
            self._pending += b"".join(self._ring)
            self._ring.clear()
            self._ring_bytes = 0
            self._cut_batches()

    def guest_stopped(self) -> None:
        """The engine heard the guest's turn end: the silence countdown starts."""
        if self._pause_after is not None and not self.paused:
            self._silence_left = self._pause_after

    def flush(self) -> None:
        """Queue the audio short of a batch too (before a marker, or at close)."""
        if self._pending:
            self._enqueue(bytes(self._pending))
            self._pending.clear()

    def discard(self) -> None:
        """Forget the audio still queued or short of a batch (the bridge is closing); it
        counts as dropped, so that given = sent + withheld + dropped."""
        self._dropped += self._queued + len(self._pending)
        self._queue.clear()
        self._queued = 0
        self._pending.clear()

    def take(self) -> UplinkItem | None:
        """The oldest queued item, now the caller's to send (None: nothing queued)."""
        if not self._queue:
            return None
        item = self._queue.popleft()
        if isinstance(item, bytes):
            self._queued -= len(item)
        return item

    def give_back(self, item: UplinkItem) -> None:
        """An item `take` returned that could not be sent: first in line again."""
        self._queue.appendleft(item)
        if isinstance(item, bytes):
            self._queued += len(item)

    def _cut_batches(self) -> None:
        while len(self._pending) >= self._batch:
            self._enqueue(bytes(self._pending[: self._batch]))
            del self._pending[: self._batch]

    def _enqueue(self, item: UplinkItem) -> None:
        self._queue.append(item)
        if isinstance(item, bytes):
            self._queued += len(item)
        while self._queued > self._limit:
            dropped = self._queue.popleft()
            if isinstance(dropped, bytes):
                self._queued -= len(dropped)
                self._dropped += len(dropped)
        self._max_queued = max(self._max_queued, self._queued)

    def _keep(self, pcm: bytes) -> None:
        self._ring.append(pcm)
        self._ring_bytes += len(pcm)
        while self._ring and self._ring_bytes - len(self._ring[0]) >= self._preroll:
            self._ring_bytes -= len(oldest := self._ring.popleft())
            self._trimmed += len(oldest)
