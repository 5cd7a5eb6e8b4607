"""A WAV writer that streams PCM to disk and can be repaired after a crash.

The RIFF sizes are written as placeholders and fixed on `close`; `repair_wav` fixes them
from the file's length when the process died first.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

_HEADER_BYTES = 44


def _header(sample_rate: int, data_bytes: int) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class WavWriter:
    """Mono s16le PCM at `sample_rate`."""

    def __init__(self, file: BinaryIO, sample_rate: int) -> None:
        self._file = file
        self._rate = sample_rate
        self._bytes = 0
        file.write(_header(sample_rate, 0))

    @property
    def samples(self) -> int:
        """Samples written so far."""
        return self._bytes // 2

    def write(self, pcm: bytes) -> None:
        """Append samples."""
        self._file.write(pcm)
        self._bytes += len(pcm)

    def close(self) -> None:
        """Write the true sizes into the header."""
        self._file.seek(0)
        self._file.write(_header(self._rate, self._bytes))
        self._file.seek(0, 2)


def repair_wav(path: Path) -> int:
    """Fix the header of a WAV cut short; returns its duration in ms."""
    with path.open("r+b") as file:
        file.seek(0, 2)
        data_bytes = max(0, file.tell() - _HEADER_BYTES) // 2 * 2
        file.seek(24)
        sample_rate: int = struct.unpack("<I", file.read(4))[0]
        file.seek(0)
        file.write(_header(sample_rate, data_bytes))
        file.truncate(_HEADER_BYTES + data_bytes)
    return data_bytes // 2 * 1000 // sample_rate
