"""An IVF writer for VP8 frames that are already encoded (the guest's camera, as sent).

IVF is a 32-byte header and then, per frame, a 12-byte header (size, pts) and the frame:
a file cut anywhere loses only its last frame, and `repair` fixes the header's frame count.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

TIME_BASE = 90_000  # RTP's video clock
_HEADER = struct.Struct("<4sHH4sHHIIII")
_FRAME = struct.Struct("<IQ")


def vp8_keyframe_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height if `frame` is a VP8 key frame (RFC 6386 9.1), else None."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width, height = struct.unpack_from("<HH", frame, 6)
    return width & 0x3FFF, height & 0x3FFF


class IvfWriter:
    """Writes VP8 frames with 90 kHz timestamps; the header is written with the first key frame."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._frames = 0
        self.started = False

    def write(self, pts: int, frame: bytes) -> bool:
        """Append a frame; frames before the first key frame cannot be decoded and are skipped."""
        if not self.started:
            size = vp8_keyframe_size(frame)
            if size is None:
                return False
            self._file.write(_HEADER.pack(b"DKIF", 0, 32, b"VP80", *size, TIME_BASE, 1, 0, 0))
            self.started = True
        self._file.write(_FRAME.pack(len(frame), pts) + frame)
        self._frames += 1
        return True

    def close(self) -> None:
        """Write the final frame count into the header."""
        if self.started:
            self._file.seek(24)
            self._file.write(struct.pack("<I", self._frames))
            self._file.seek(0, 2)


def repair_ivf(path: Path) -> tuple[int, int]:
    """Drop a cut last frame and fix the frame count; returns (frames, last pts)."""
    with path.open("r+b") as file:
        data = file.read()
        if len(data) < _HEADER.size:
            file.truncate(0)
            return 0, 0
        offset, frames, last_pts = _HEADER.size, 0, 0
        while offset + _FRAME.size <= len(data):
            size, pts = _FRAME.unpack_from(data, offset)
            if offset + _FRAME.size + size > len(data):
                break
            offset += _FRAME.size + size
            frames, last_pts = frames + 1, pts
        file.truncate(offset)
        file.seek(24)
        file.write(struct.pack("<I", frames))
    return frames, last_pts
