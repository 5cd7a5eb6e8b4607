"""Encoded media straight from aiortc's receivers, for recording without re-encoding.

aiortc reassembles each RTP frame (an Opus packet, a VP8 frame) in its jitter buffer and
hands it to a decoder thread through a queue, with no public hook in between. `tap_receiver`
swaps that queue, before the decoder thread starts, for one that also hands every encoded
frame to a callback on the event loop; for video it can skip decoding altogether (the engine
does not need decoded frames, and VP8 decoding is the largest cost of a camera).

This reaches into one private attribute of `RTCRtpReceiver`; `tap_receiver` checks it is
there and fails loudly if an aiortc upgrade moves it (a test covers it).
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver

_QUEUE_ATTRIBUTE = "_RTCRtpReceiver__decoder_queue"
EncodedFrameSink = Callable[[str, int, bytes], None]  # codec mime type, RTP timestamp, data


class TapError(RuntimeError):
    """aiortc no longer has the queue the tap replaces: recording cannot work as is."""


class _TappedQueue(queue.Queue[Any]):
    """aiortc's decoder queue, teeing each encoded frame to `sink`."""

    def __init__(self, sink: EncodedFrameSink, *, decode: bool) -> None:
        super().__init__()
        self._sink = sink
        self._decode = decode

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None:
            codec, frame = item
            self._sink(codec.mimeType, frame.timestamp, frame.data)
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
    setattr(receiver, _QUEUE_ATTRIBUTE, _TappedQueue(sink, decode=decode))
