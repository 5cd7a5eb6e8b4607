"""The guest's VP8 video turned into stills for the host: the parts that do not touch asyncio.

The host needs about one picture a second, yet every VP8 inter frame refers to the frames
before it, back to a keyframe, and browsers send keyframes only when asked. So every frame is
decoded (about 1 ms at 640x480, 3 ms at 720p), but only the newest picture is scaled and
encoded as a JPEG, at most once per `Pacer` interval.

- `FrameBacklog`: encoded frames waiting for the decoder. Bounded; since a frame cannot be
  dropped on its own, a full backlog is emptied and frames are refused until the next
  keyframe, which the caller asks the guest's browser for (a PLI).
- `Pacer`: at most one still per interval.
- `SnapshotDecoder`: decodes and encodes; it blocks, so it runs in a worker thread.
"""

from __future__ import annotations

import fractions
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import av

MAX_SIDE = 768
"""The long side of a still, at most (Gemini tiles larger images, for more tokens)."""
JPEG_QSCALE = 6
"""MJPEG quantiser, 2 (best) to 31: about 30-50 KB for a 768x432 camera picture."""
BACKLOG_FRAMES = 60
"""Encoded frames waiting for the decoder: two seconds at 30 fps."""
KEYFRAME_RETRY_FRAMES = 30
"""While waiting for a keyframe, ask again after this many refused frames (a PLI may be lost)."""


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One VP8 frame as the guest's browser sent it."""

    timestamp: int
    data: bytes
    keyframe: bool


def is_vp8_keyframe(data: bytes) -> bool:
    """Whether a VP8 frame is a keyframe (RFC 6386 9.1: bit 0 of the frame tag is 0)."""
    return bool(data) and not data[0] & 1


class FrameBacklog:
    """Encoded frames for the decoder, bounded and without holes (see the module docstring)."""

    def __init__(self, limit: int = BACKLOG_FRAMES) -> None:
        """A backlog of at most `limit` frames, waiting for a first keyframe."""
        self._limit = limit
        self._frames: list[EncodedFrame] = []
        self._waiting = True
        self._refused_since_ask = KEYFRAME_RETRY_FRAMES
        self.dropped = 0
        """Frames thrown away: from a full backlog, or refused while waiting for a keyframe."""

    @property
    def waiting_for_keyframe(self) -> bool:
        """Whether frames are refused until the next keyframe."""
        return self._waiting

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, timestamp: int, data: bytes) -> bool:
        """Add a frame; True if the caller should ask the sender for a keyframe now."""
        frame = EncodedFrame(timestamp, data, is_vp8_keyframe(data))
        if len(self._frames) >= self._limit:  # the decoder fell behind: start again
            self.resync()
        if frame.keyframe:  # nothing before it is needed any more
            self._waiting = False
            self.dropped += len(self._frames)
            self._frames.clear()
        elif self._waiting:
            self.dropped += 1
            self._refused_since_ask += 1
            if self._refused_since_ask >= KEYFRAME_RETRY_FRAMES:
                self._refused_since_ask = 0
                return True
            return False
        self._frames.append(frame)
        return False

    def take(self) -> list[EncodedFrame]:
        """Every frame waiting, oldest first, now the decoder's."""
        frames, self._frames = self._frames, []
        return frames

    def resync(self) -> None:
        """The stream has a hole (a full backlog, a frame that failed to decode): drop what
        waits, which depends on the hole, and refuse frames until the next keyframe."""
        self.dropped += len(self._frames)
        self._frames.clear()
        if not self._waiting:
            self._waiting = True
            self._refused_since_ask = KEYFRAME_RETRY_FRAMES


class Pacer:
    """At most one event per `interval_s`, on a monotonic clock."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        """A pacer that is due at once."""
        self.interval_s = interval_s
        self._clock = clock
        self._next = -math.inf

    def due(self) -> bool:
        """Whether an event may happen now."""
        return self._clock() >= self._next

    def wait_s(self) -> float:
        """Seconds until an event may happen (0: now)."""
        return max(0.0, self._next - self._clock())

    def mark(self) -> None:
        """An event happened now: the next one waits a full interval."""
        self._next = self._clock() + self.interval_s


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a `SnapshotDecoder.decode` call made of a batch of frames."""

    frames: int
    """Pictures decoded."""
    jpeg: bytes | None
    """A still of the newest picture, if one was asked for and there was a picture."""
    failed: bool
    """A frame failed to decode; the rest of the batch was skipped (resync needed)."""


class SnapshotDecoder:
    """Decodes a VP8 stream and makes JPEG stills of it; one thread at a time may use it."""

    def __init__(self, max_side: int = MAX_SIDE, qscale: int = JPEG_QSCALE) -> None:
        """A decoder whose stills fit in `max_side` pixels, at MJPEG quantiser `qscale`."""
        self._max_side = max_side
        self._qscale = qscale
        self._decoder = av.CodecContext.create("vp8", "r")
        self._decoder.thread_count = 1  # one core per interview at most; 1 ms a frame anyway
        self._encoder: av.VideoCodecContext | None = None

    def decode(self, frames: list[EncodedFrame], still: bool) -> Decoded:
        """Decode `frames` in order; with `still`, make a JPEG of the newest picture."""
        newest: av.VideoFrame | None = None
        count = 0
        for frame in frames:
            try:
                pictures = self._decoder.decode(av.Packet(frame.data))
            except av.FFmpegError:
                return Decoded(count, self._jpeg(newest) if still else None, failed=True)
            for picture in pictures:
                newest = picture
                count += 1
        return Decoded(count, self._jpeg(newest) if still else None, failed=False)

    def _jpeg(self, picture: av.VideoFrame | None) -> bytes | None:
        if picture is None:
            return None
        width, height = still_size(picture.width, picture.height, self._max_side)
        encoder = self._encoder_for(width, height)
        small = picture.reformat(width=width, height=height, format="yuvj420p")
        small.pts = None
        packets = encoder.encode(small)
        return bytes(packets[0]) if packets else None

    def _encoder_for(self, width: int, height: int) -> av.VideoCodecContext:
        encoder = self._encoder
        if encoder is None or (encoder.width, encoder.height) != (width, height):
            encoder = av.CodecContext.create("mjpeg", "w")
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
            encoder.time_base = fractions.Fraction(1, 1)
            encoder.qmin = encoder.qmax = self._qscale  # a fixed quantiser: constant quality
            self._encoder = encoder
        return encoder


def still_size(width: int, height: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """`width`x`height` scaled down (never up) to fit `max_side`, both sides even."""
    scale = min(1.0, max_side / max(width, height, 1))
    return max(2, round(width * scale) // 2 * 2), max(2, round(height * scale) // 2 * 2)
