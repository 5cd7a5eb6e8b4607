"""Encoded media straight from aiortc's receivers, for recording without re-encoding.

aiortc reassembles each RTP frame (an Opus packet, a VP8 frame) in its jitter buffer and
hands it to a decoder thread through a queue, with no public hook in between. `tap_receiver`
swaps that queue, before the decoder thread starts, for one that also hands every encoded
frame to a callback on the event loop; for video it can skip decoding altogether (VP8
decoding is the largest cost of a camera; the engine decodes the guest's video itself, and
only when the host is to see the guest: `rtc.camera`).

The jitter buffers hold audio (4 packets of prefetch, ~80 ms) longer than video (a frame is
out when the next one starts, ~33 ms), so the time a frame leaves them is no measure of
when it arrived: the tap also notes when each frame's first packet went into the jitter
buffer, and tells the callback how long ago that was.

When the engine decodes the guest's video itself (so the host can see the guest) and has to
drop frames, it needs a keyframe: `keyframe_requester` returns a function that asks for one
the way aiortc does after its own decoder fails (a PLI goes out with the next packet).

This reaches into three private members of `RTCRtpReceiver`; both functions check theirs are
there and fail loudly if an aiortc upgrade moves them (tests cover both).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver, clock
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

_QUEUE_ATTRIBUTE = "_RTCRtpReceiver__decoder_queue"
_DECODER_ERROR_ATTRIBUTE = "_RTCRtpReceiver__decoder_error"
_JITTER_BUFFER_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
# Frames whose arrival is remembered until the jitter buffer lets them out (~3 s of video).
_ARRIVALS_KEPT = 128
# codec mime type, RTP timestamp, data, seconds since its first packet arrived
EncodedFrameSink = Callable[[str, int, bytes, float], None]


class TapError(RuntimeError):
    """aiortc no longer has what the tap relies on: recording cannot work as is."""


class _TappedQueue(queue.Queue[Any]):
    """aiortc's decoder queue, teeing each encoded frame to `sink`."""

    def __init__(
        self,
        sink: EncodedFrameSink,
        *,
        decode: bool,
        now_ms: Callable[[], int] = clock.current_ms,
    ) -> None:
        """A queue for `sink`; `now_ms` is aiortc's packet clock (tests inject their own)."""
        super().__init__()
        self._now_ms = now_ms
        self._sink = sink
        self._decode = decode
        self._arrivals: dict[int, int] = {}  # RTP timestamp → first packet's arrival (ms)
        self._released_arrival_ms: int | None = None

    def arrived(self, packet: RtpPacket) -> None:
        """A packet goes into the jitter buffer: note when, if it starts a frame."""
        if packet.timestamp not in self._arrivals:
            self._arrivals[packet.timestamp] = self._now_ms()
            if len(self._arrivals) > _ARRIVALS_KEPT:  # frames the jitter buffer dropped
                del self._arrivals[next(iter(self._arrivals))]

    def released(self, timestamp: int) -> None:
        """The jitter buffer let out a frame (aiortc `put`s it next, its timestamp rebased)."""
        self._released_arrival_ms = self._arrivals.pop(timestamp, None)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None:
            codec, frame = item
            arrived_ms, self._released_arrival_ms = self._released_arrival_ms, None
            waited_ms = 0 if arrived_ms is None else max(0, self._now_ms() - arrived_ms)
            self._sink(codec.mimeType, frame.timestamp, frame.data, waited_ms / 1000)
            if not self._decode:
                return
        super().put(item, block, timeout)


def tap_receiver(receiver: RTCRtpReceiver, sink: EncodedFrameSink, *, decode: bool) -> None:
    """Tee the receiver's encoded frames to `sink`; call before the connection is up."""
    current = getattr(receiver, _QUEUE_ATTRIBUTE, None)
    if not isinstance(current, queue.Queue):
        raise TapError("aiortc's RTCRtpReceiver has no decoder queue to tap: pin aiortc")
    if current.qsize():
        raise TapError("the receiver is already decoding: tap it before ICE connects")
    jitter_buffer = getattr(receiver, _JITTER_BUFFER_ATTRIBUTE, None)
    if not isinstance(jitter_buffer, JitterBuffer):
        raise TapError("aiortc's RTCRtpReceiver has no jitter buffer to tap: pin aiortc")
    tapped = _TappedQueue(sink, decode=decode)
    add = jitter_buffer.add

    def add_and_time(packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        tapped.arrived(packet)
        pli, frame = add(packet)
        if frame is not None:
            tapped.released(frame.timestamp)
        return pli, frame

    setattr(receiver, _QUEUE_ATTRIBUTE, tapped)
    jitter_buffer.add = add_and_time  # type: ignore[method-assign]


def keyframe_requester(receiver: RTCRtpReceiver) -> Callable[[], None]:
    """A function asking the sender for a keyframe (a PLI, sent with the next packet
    received); cheap, and safe to call from any thread."""
    flag = getattr(receiver, _DECODER_ERROR_ATTRIBUTE, None)
    if not isinstance(flag, threading.Event):
        raise TapError("aiortc's RTCRtpReceiver has no decoder error flag to set: pin aiortc")
    return flag.set
