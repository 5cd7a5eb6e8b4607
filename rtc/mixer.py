"""The outbound mix: the host's voice plus optional sources (an intro sting), clipping-safe."""

from __future__ import annotations

from collections import deque

import numpy as np

from rtc.audio import FRAME_SAMPLES, OUTBOUND_RATE, Samples

DEFAULT_MAX_HOST_BUFFER_S = 60.0


class OneShotSource:
    """A clip played once from the start (e.g. an intro sting), at a fixed gain."""

    def __init__(self, samples: Samples, gain: float = 1.0) -> None:
        self._samples = samples
        self._gain = gain
        self._position = 0

    @property
    def finished(self) -> bool:
        """Whether the clip has played out."""
        return self._position >= self._samples.size

    def take(self, count: int) -> Samples:
        """The next `count` samples (zero-padded at the end)."""
        chunk = self._samples[self._position : self._position + count]
        self._position += count
        if self._gain != 1.0:
            chunk = (chunk.astype(np.float32) * self._gain).astype(np.int16)
        if chunk.size < count:
            chunk = np.concatenate([chunk, np.zeros(count - chunk.size, np.int16)])
        return chunk


class OutboundMixer:
    """Queues host audio and mixes it with the sources into 20 ms frames at 48 kHz.

    The host queue is bounded (`max_host_buffer_s`): if the model runs that far ahead of
    playback, the oldest audio is dropped and counted in `dropped_samples`.
    """

    def __init__(
        self,
        sources: list[OneShotSource] | None = None,
        max_host_buffer_s: float = DEFAULT_MAX_HOST_BUFFER_S,
    ) -> None:
        self._host: deque[Samples] = deque()
        self._host_offset = 0
        self._host_pending = 0
        self._max_host = int(max_host_buffer_s * OUTBOUND_RATE)
        self._sources = list(sources or [])
        self.dropped_samples = 0

    @property
    def host_pending_samples(self) -> int:
        """Host samples queued and not yet played."""
        return self._host_pending

    def push_host(self, samples: Samples) -> None:
        """Queue host audio behind what is already queued."""
        if samples.size == 0:
            return
        self._host.append(samples)
        self._host_pending += samples.size
        while self._host_pending > self._max_host:
            oldest = self._host.popleft()
            left = oldest.size - self._host_offset
            self._host_pending -= left
            self.dropped_samples += left
            self._host_offset = 0

    def flush_host(self) -> int:
        """Drop every queued host sample (barge-in); returns how many were dropped."""
        dropped = self._host_pending
        self._host.clear()
        self._host_offset = 0
        self._host_pending = 0
        return dropped

    def next_frame(self) -> tuple[Samples, bool]:
        """The next 20 ms of the mix, and whether any host audio was in it."""
        host = self._take_host(FRAME_SAMPLES)
        if not self._sources:
            return (host if host is not None else np.zeros(FRAME_SAMPLES, np.int16)), (
                host is not None
            )
        mix = np.zeros(FRAME_SAMPLES, np.int32)
        if host is not None:
            mix += host
        for source in self._sources:
            mix += source.take(FRAME_SAMPLES)
        self._sources = [source for source in self._sources if not source.finished]
        return np.clip(mix, -32768, 32767).astype(np.int16), host is not None

    def _take_host(self, count: int) -> Samples | None:
        if self._host_pending == 0:
            return None
        out = np.zeros(count, np.int16)
        filled = 0
        while filled < count and self._host:
            head = self._host[0]
            available = head.size - self._host_offset
            used = min(available, count - filled)
            out[filled : filled + used] = head[self._host_offset : self._host_offset + used]
            filled += used
            self._host_offset += used
            if self._host_offset >= head.size:
                self._host.popleft()
                self._host_offset = 0
        self._host_pending -= filled
        return out
