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

What was sent is also logged: the newest `replay_margin_ms` and, from when the guest starts
an utterance until the host answers it, everything from its start, bounded like the queue
(a guest who speaks again before the host says anything adds to the same unanswered turn).
If a switch of connection comes before the host answered that utterance, the session on
the new connection does not know it (a resumed session knows what its handle held; a dead
TCP connection acknowledges nothing), so `replay` sends it again, first, before what was
held: the utterance reaches the model whole. The margin covers the onset the engine's VAD
needed to tell it was speech. Replayed audio is counted apart from what was sent once.
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
        self._margin = rate * tuning.replay_margin_ms // 1000 * 2
        self._log: deque[UplinkItem] = deque()
        self._log_start = self._log_end = 0
        """Stream positions (bytes sent once, in order) of the log's first and next item."""
        self._utterance_at = 0
        """Where the guest's latest utterance starts in the stream."""
        self._answered = True
        self._resend: deque[UplinkItem] = deque()
        self._resending = False
        self._sent = self._replayed = 0
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
    def samples_sent(self) -> int:
        """Samples taken to be sent for the first time (and not given back)."""
        return self._sent // 2

    @property
    def samples_replayed(self) -> int:
        """Samples sent again: unanswered utterances, to the connection after a switch."""
        return self._replayed // 2

    @property
    def replay_complete(self) -> bool:
        """Whether the log still holds the guest's latest utterance from its start (it is
        not longer than the backlog)."""
        return self._log_start <= max(0, self._utterance_at - self._margin)

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

    def guest_started(self, *, continues: bool = False) -> None:
        """The engine heard speech: stream again, the pre-roll first. Speech that `continues`
        the guest's unanswered turn (the host has said nothing since it began) keeps the
        replay starting where that turn did."""
        if not continues:
            self._utterance_at = self._log_end + self._queued + len(self._pending)
            self._trim_log(self._utterance_at - self._margin)
        self._answered = False
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
        self._resend.clear()

    def answered(self) -> None:
        """The host began to answer the guest's latest utterance: it need not be replayed."""
        self._answered = True
        self._trim_log(self._log_end - self._margin)

    def replay(self) -> int:
        """The guest's latest utterance was not answered and a new connection takes over:
        send what of it went up already (from the margin before it) again, before anything
        else; returns the samples to be replayed."""
        start = self._log_start
        self._resend = deque()
        for item in self._log:
            if start + _size(item) > self._utterance_at - self._margin:
                if item is not STREAM_END or start > self._utterance_at:  # not the pause
                    self._resend.append(item)  # before it: nothing streams there
            start += _size(item)
        return sum(_size(item) for item in self._resend) // 2

    def take(self) -> UplinkItem | None:
        """The next item to send, now the caller's (None: nothing to send): the replay
        first, then the queue."""
        if self._resend:
            self._resending = True
            item = self._resend.popleft()
            self._replayed += _size(item)
            return item
        if not self._queue:
            return None
        self._resending = False
        item = self._queue.popleft()
        size = _size(item)
        self._queued -= size
        self._sent += size
        self._log.append(item)
        self._log_end += size
        self._trim_log((self._log_end if self._answered else self._utterance_at) - self._margin)
        return item

    def give_back(self, item: UplinkItem) -> None:
        """The item `take` returned last could not be sent: first in line again."""
        size = _size(item)
        if self._resending:
            self._resend.appendleft(item)
            self._replayed -= size
            return
        self._queue.appendleft(item)
        self._queued += size
        self._sent -= size
        if self._log and self._log[-1] is item:
            self._log.pop()
            self._log_end -= size

    def _trim_log(self, keep_from: int) -> None:
        """Forget logged items that end before `keep_from`, and beyond the backlog's size."""
        keep_from = max(keep_from, self._log_end - self._limit)
        while self._log and self._log_start + _size(self._log[0]) <= keep_from:
            self._log_start += _size(self._log.popleft())

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


def _size(item: UplinkItem) -> int:
    """Bytes of audio in `item` (a marker has none)."""
    return len(item) if isinstance(item, bytes) else 0
