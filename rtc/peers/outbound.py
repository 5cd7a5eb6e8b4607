"""The track the guest hears: the outbound mix, paced in real time, silence when idle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtc.audio import FRAME_SAMPLES, OutboundEncoder, Samples
from rtc.mixer import OutboundMixer

FRAME_S = 0.020
# Further behind than this (a stalled loop), the track skips ahead rather than bursting.
MAX_LAG_S = 0.100


class HostVoiceTrack(MediaStreamTrack):
    """An audio track pulling 20 ms frames from the mixer on a steady clock, handed to aiortc
    as Opus packets (`OutboundEncoder` says why).

    `on_frame(samples, had_host_audio)` is called once per frame, so the engine can record
    what the guest hears and tell when the host's queued voice has played out.
    """

    kind = "audio"

    def __init__(self, mixer: OutboundMixer, on_frame: Callable[[Samples, bool], None]) -> None:
        super().__init__()
        self._mixer = mixer
        self._on_frame = on_frame
        self._encoder = OutboundEncoder()
        self._start: float | None = None
        self._index = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._index += 1
            due = self._start + self._index * FRAME_S
            if now - due > MAX_LAG_S:
                self._index = int((now - self._start) / FRAME_S)
            elif due > now:
                await asyncio.sleep(due - now)
        samples, had_host_audio = self._mixer.next_frame()
        self._on_frame(samples, had_host_audio)
        return self._encoder.encode(samples, self._index * FRAME_SAMPLES)
