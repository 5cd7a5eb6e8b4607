"""Reading IVF files back as a crash may leave them."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

from recorder.ivf_reader import read_ivf, scan_ivf
from tests.recorder.synthetic import Plan, write_ivf


def test_a_cut_last_frame_and_a_wrong_count_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "guest-video.ivf"
    write_ivf(path, Plan(duration_ms=3_000), flashes_ms=())
    whole = list(read_ivf(path))
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 24, 7)
    path.write_bytes(bytes(data[:-5]))
    info = scan_ivf(path)
    assert info is not None
    assert (info.width, info.height, info.time_base) == (320, 240, Fraction(1, 90_000))
    assert info.frames == len(whole) - 1
    assert info.last_pts == whole[-2][0]
    assert list(read_ivf(path)) == whole[:-1]


def test_what_is_not_a_vp8_ivf_file_has_no_frames(tmp_path: Path) -> None:
    path = tmp_path / "guest-video.ivf"
    for content in (b"", b"DKIF" + bytes(10), b"RIFF" + bytes(60)):
        path.write_bytes(content)
        assert scan_ivf(path) is None
        assert list(read_ivf(path)) == []
    assert scan_ivf(tmp_path / "missing.ivf") is None
