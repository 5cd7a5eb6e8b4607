"""The track writers: what they write decodes with FFmpeg, whole or cut short."""

from __future__ import annotations

import fractions
import io
import json
from pathlib import Path

import av
import numpy as np

from recorder.ivf import IvfWriter, repair_ivf, vp8_keyframe_size
from recorder.manifest import Manifest, TrackEntry, read_manifest, write_manifest
from recorder.ogg import OggOpusWriter, ogg_crc, opus_samples
from recorder.session import OPUS_SILENCE
from recorder.wav import WavWriter, repair_wav


def opus_packets(seconds: float, frequency: float = 440.0) -> list[bytes]:
    """Real Opus packets of a tone, 20 ms each, from libopus."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48_000, "stereo", "s16"  # type: ignore[attr-defined]
    codec.time_base = fractions.Fraction(1, 48_000)
    packets: list[bytes] = []
    for index in range(int(seconds * 50)):
        t = (np.arange(960) + index * 960) / 48_000
        tone = (np.sin(2 * np.pi * frequency * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts = 48_000, index * 960
        packets += [bytes(packet) for packet in codec.encode(frame)]  # type: ignore[attr-defined]
    return packets


def decoded_seconds(path: Path) -> tuple[float, float]:
    """(duration decoded, RMS in full-scale units) of an audio file, read with FFmpeg."""
    samples = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples.append(frame.to_ndarray().reshape(-1, frame.samples).mean(axis=0))
    pcm = np.concatenate(samples)
    return pcm.size / 48_000, float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


def test_ogg_crc_matches_the_spec_check_value() -> None:
    assert ogg_crc(b"") == 0
    assert ogg_crc(b"123456789") == 0x89A1897F  # CRC-32/MPEG-2 without the final xor


def test_opus_packet_durations_come_from_the_toc() -> None:
    assert opus_samples(OPUS_SILENCE) == 960
    assert opus_samples(bytes([0x08 << 3])) == 480  # SILK 10 ms
    assert opus_samples(bytes([(1 << 3) | 1, 0])) == 1920  # SILK 20 ms, two frames
    assert opus_samples(bytes([(31 << 3) | 3, 3])) == 2880  # CELT 20 ms, three frames
    assert opus_samples(b"") == 0


def test_ogg_opus_from_encoded_packets_decodes_to_the_same_audio(tmp_path: Path) -> None:
    packets = opus_packets(2.0)
    path = tmp_path / "guest.ogg"
    with path.open("wb") as file:
        writer = OggOpusWriter(file)
        granule = 0
        batch = []
        for packet in packets:
            granule += opus_samples(packet)
            batch.append((packet, granule))
            if len(batch) == 50:
                writer.write(batch)
                batch = []
        writer.write(batch)
        writer.write([(OPUS_SILENCE, granule + 960 * n) for n in range(1, 51)])
        writer.close()
    seconds, level = decoded_seconds(path)
    assert abs(seconds - 3.0) < 0.05
    assert level > 0.05  # the tone (0.24 of full scale) is there, not silence


def test_a_cut_ogg_file_still_plays_up_to_its_last_page(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    writer = OggOpusWriter(buffer)
    granule = 0
    for second in range(3):
        batch = []
        for packet in opus_packets(1.0, 300 + second * 100):
            granule += 960
            batch.append((packet, granule))
        writer.write(batch)
    data = buffer.getvalue()
    path = tmp_path / "cut.ogg"
    path.write_bytes(data[: len(data) - 500])  # the process died mid-page
    seconds, _ = decoded_seconds(path)
    assert 1.9 <= seconds <= 3.0


def test_ivf_writes_from_the_first_key_frame_and_repairs_a_cut_file(tmp_path: Path) -> None:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 160, 120, "yuv420p"  # type: ignore[attr-defined]
    codec.time_base = fractions.Fraction(1, 30)
    frames: list[bytes] = []
    for index in range(30):
        image = av.VideoFrame.from_ndarray(
            np.full((120, 160, 3), index * 8, np.uint8), format="rgb24"
        ).reformat(format="yuv420p")
        image.pts = index
        frames += [bytes(packet) for packet in codec.encode(image)]  # type: ignore[attr-defined]
    frames += [bytes(packet) for packet in codec.encode(None)]  # type: ignore[attr-defined]
    assert vp8_keyframe_size(frames[0]) == (160, 120)
    assert vp8_keyframe_size(frames[1]) is None
    path = tmp_path / "video.ivf"
    with path.open("wb") as file:
        writer = IvfWriter(file)
        assert not writer.write(0, frames[1])  # not a key frame: nothing to decode from yet
        for index, frame in enumerate(frames):
            writer.write(index * 3000, frame)
        writer.close()
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == len(frames)
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    assert repair_ivf(path) == (len(frames) - 1, (len(frames) - 2) * 3000)
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == len(frames) - 1


def test_wav_sizes_are_fixed_on_close_and_by_repair(tmp_path: Path) -> None:
    path = tmp_path / "host.wav"
    with path.open("wb") as file:
        writer = WavWriter(file, 48_000)
        writer.write(bytes(48_000 * 2))
        assert writer.samples == 48_000
        writer.close()
    assert decoded_seconds(path)[0] == 1.0
    with path.open("ab") as file:
        file.write(bytes(48_000 + 1))  # half a second more, and a cut sample
    assert repair_wav(path) == 1500
    assert decoded_seconds(path)[0] == 1.5


def test_manifest_round_trip_is_atomic(tmp_path: Path) -> None:
    manifest = Manifest(session_id="s1")
    manifest.tracks.append(
        TrackEntry("guest-audio", "audio", "guest", "opus", "guest-audio.ogg", 120)
    )
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert (
        json.loads((tmp_path / "manifest.json").read_text())["tracks"][0]["start_offset_ms"] == 120
    )
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
    assert read_manifest(tmp_path / "nothing") is None
