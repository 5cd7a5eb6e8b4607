"""An Ogg Opus writer for packets that are already encoded (the guest's, as sent).

Ogg suits crash-safe recording: a file cut anywhere plays up to its last complete page,
so the writer emits a page at every flush (about once a second). RFC 7845 (Ogg Opus) and
RFC 3533 (Ogg) are the references; the CRC is Ogg's (polynomial 0x04C11DB7, unreflected).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

SAMPLE_RATE = 48_000
_MAX_SEGMENTS = 255


def _crc_table() -> list[int]:
    table = []
    for index in range(256):
        value = index << 24
        for _ in range(8):
            value = ((value << 1) ^ 0x04C11DB7) if value & 0x80000000 else value << 1
        table.append(value & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def ogg_crc(data: bytes) -> int:
    """Ogg's page checksum."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) & 0xFF) ^ byte]
    return crc


def opus_samples(packet: bytes) -> int:
    """Samples (at 48 kHz) an Opus packet decodes to, from its TOC byte (RFC 6716 3.1)."""
    if not packet:
        return 0
    toc = packet[0]
    config = toc >> 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        frame = (480, 960, 1920, 2880)[config % 4]
    elif config < 16:  # hybrid: 10, 20 ms
        frame = (480, 960)[config % 2]
    else:  # CELT: 2.5, 5, 10, 20 ms
        frame = (120, 240, 480, 960)[config % 4]
    code = toc & 0x03
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        frames = packet[1] & 0x3F if len(packet) > 1 else 0
    return frame * frames


def repair_ogg(path: Path) -> int:
    """Cut a crashed file after its last complete page; returns its duration in ms."""
    data = path.read_bytes()
    offset, granule = 0, 0
    while offset + 27 <= len(data) and data[offset : offset + 4] == b"OggS":
        segments = data[offset + 26]
        header_end = offset + 27 + segments
        if header_end > len(data):
            break
        page_end = header_end + sum(data[offset + 27 : header_end])
        if page_end > len(data):
            break
        page = bytearray(data[offset:page_end])
        stored = struct.unpack_from("<I", page, 22)[0]
        struct.pack_into("<I", page, 22, 0)
        if ogg_crc(bytes(page)) != stored:
            break
        page_granule = struct.unpack_from("<q", data, offset + 6)[0]
        granule = max(granule, page_granule)
        offset = page_end
    with path.open("r+b") as file:
        file.truncate(offset)
    return granule * 1000 // SAMPLE_RATE


class OggOpusWriter:
    """Writes OpusHead, OpusTags, then pages of packets with their granule positions."""

    def __init__(self, file: BinaryIO, *, channels: int = 2, serial: int = 0x4D4F4E55) -> None:
        self._file = file
        self._serial = serial
        self._sequence = 0
        self._granule = 0
        head = b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 0, SAMPLE_RATE, 0, 0)
        vendor = b"monumento"
        tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
        self._page([head], granule=0, flags=0x02)
        self._page([tags], granule=0)

    def write(self, packets: list[tuple[bytes, int]]) -> None:
        """Append packets, each with the sample position at its end, as one page or more."""
        batch: list[bytes] = []
        segments = 0
        for packet, granule in packets:
            needed = len(packet) // 255 + 1
            if segments + needed > _MAX_SEGMENTS and batch:
                self._page(batch, granule=self._granule)
                batch, segments = [], 0
            batch.append(packet)
            segments += needed
            self._granule = granule
        if batch:
            self._page(batch, granule=self._granule)

    def close(self) -> None:
        """Mark the end of the stream with an empty last page."""
        self._page([], granule=self._granule, flags=0x04)

    def _page(self, packets: list[bytes], *, granule: int, flags: int = 0) -> None:
        lacing = bytearray()
        for packet in packets:
            lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
        header = struct.pack(
            "<4sBBqIIIB", b"OggS", 0, flags, granule, self._serial, self._sequence, 0, len(lacing)
        )
        page = bytearray(header + lacing + b"".join(packets))
        struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
        self._file.write(page)
        self._sequence += 1
