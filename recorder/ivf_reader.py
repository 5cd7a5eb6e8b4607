"""Reading a recorded IVF file back, frame by frame, up to any damage.

A crash can leave the header's frame count wrong and the last frame cut short; both are
harmless here: the count is ignored and reading stops at the first frame that is not whole.
Only VP8 is read (what browsers send and what `recorder.ivf` writes).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<4sHH4sHHII")
_FRAME = struct.Struct("<IQ")
_KEY_FRAME_START = b"\x9d\x01\x2a"


@dataclass(frozen=True, slots=True)
class IvfInfo:
    """What a pass over the frame headers tells before decoding anything."""

    width: int  # of the largest key frame (the camera may start small and grow)
    height: int
    time_base: Fraction
    frames: int
    last_pts: int


def _read_header(file: BinaryIO) -> tuple[int, Fraction] | None:
    """Header size and time base, or None when this is not a VP8 IVF file."""
    data = file.read(_HEADER.size)
    if len(data) < _HEADER.size:
        return None
    signature, _, header_size, fourcc, _, _, denominator, numerator = _HEADER.unpack(data)
    if signature != b"DKIF" or fourcc != b"VP80" or not denominator or not numerator:
        return None
    return header_size, Fraction(numerator, denominator)


def _key_frame_size(start: bytes) -> tuple[int, int] | None:
    """Width and height if the frame starting with these bytes is a key frame (RFC 6386 9.1)."""
    if len(start) < 10 or start[0] & 0x01 or start[3:6] != _KEY_FRAME_START:
        return None
    width, height = struct.unpack_from("<HH", start, 6)
    return width & 0x3FFF, height & 0x3FFF


def scan_ivf(path: Path) -> IvfInfo | None:
    """Size, time base and extent of the whole frames, reading only their headers."""
    try:
        size_on_disk = path.stat().st_size
        with path.open("rb") as file:
            header = _read_header(file)
            if header is None:
                return None
            header_size, time_base = header
            offset, frames, last_pts, width, height = header_size, 0, 0, 0, 0
            while offset + _FRAME.size <= size_on_disk:
                file.seek(offset)
                length, pts = _FRAME.unpack(file.read(_FRAME.size))
                if offset + _FRAME.size + length > size_on_disk:
                    break  # cut short by a crash
                key = _key_frame_size(file.read(min(length, 10)))
                if key is not None and key[0] * key[1] > width * height:
                    width, height = key
                offset += _FRAME.size + length
                frames, last_pts = frames + 1, pts
    except OSError as error:
        logger.warning("cannot read %s: %s", path, error)
        return None
    if not frames or not width or not height:
        return None
    return IvfInfo(width, height, time_base, frames, last_pts)


def read_ivf(path: Path) -> Iterator[tuple[int, bytes]]:
    """Each whole frame as (pts, data), in file order; stops quietly at damage."""
    with path.open("rb") as file:
        header = _read_header(file)
        if header is None:
            return
        file.seek(header[0])
        while True:
            head = file.read(_FRAME.size)
            if len(head) < _FRAME.size:
                return
            length, pts = _FRAME.unpack(head)
            data = file.read(length)
            if len(data) < length:
                return
            yield pts, data
