"""Real VP8 streams for tests, as a browser sends them: a keyframe, then inter frames only.

Each picture is one flat grey level, so a still made of it tells which frame it was.
"""

from __future__ import annotations

import fractions

import av
import numpy as np

from rtc.video import EncodedFrame, SnapshotDecoder

LEVEL_STEP = 2


def level_of(index: int) -> int:
    """The grey level of frame `index` (frames 0-99 are told apart, `LEVEL_STEP` apart)."""
    return 20 + LEVEL_STEP * (index % 100)


def index_of(luma: float) -> int:
    """The frame a picture of mean `luma` was (give or take one: VP8 is lossy)."""
    return round((luma - level_of(0)) / LEVEL_STEP)


class Vp8Stream:
    """Encodes flat grey frames with libvpx in real-time mode, as WebRTC senders do."""

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30) -> None:
        self._encoder = av.CodecContext.create("libvpx", "w")
        self._encoder.width, self._encoder.height = width, height
        self._encoder.pix_fmt = "yuv420p"
        self._encoder.time_base = fractions.Fraction(1, fps)
        self._encoder.bit_rate = 500_000
        self._encoder.gop_size = 100_000  # no keyframe unless asked, as in WebRTC
        self._encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        self._size = (height, width)
        self.index = 0

    def next(self, *, keyframe: bool = False) -> bytes:
        """The next frame, encoded (a keyframe if asked, and always the first)."""
        pixels = np.full((*self._size, 3), level_of(self.index), np.uint8)
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
        frame.pts = self.index
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        self.index += 1
        packets = self._encoder.encode(frame)
        assert len(packets) == 1, "libvpx in real-time mode emits one packet per frame"
        return bytes(packets[0])

    def frames(self, count: int) -> list[bytes]:
        """The next `count` frames."""
        return [self.next() for _ in range(count)]


def mean_luma(jpeg: bytes) -> float:
    """The average luma of a JPEG still."""
    (picture,) = av.CodecContext.create("mjpeg", "r").decode(av.Packet(jpeg))
    return float(picture.to_ndarray(format="gray").mean())


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """A JPEG's width and height."""
    (picture,) = av.CodecContext.create("mjpeg", "r").decode(av.Packet(jpeg))
    return picture.width, picture.height


def still_jpeg(width: int = 320, height: int = 240) -> bytes:
    """A JPEG still of a camera picture, as the engine makes them."""
    frame = Vp8Stream(width, height).next()
    jpeg = SnapshotDecoder().decode([EncodedFrame(0, frame, True)], still=True).jpeg
    assert jpeg is not None
    return jpeg
