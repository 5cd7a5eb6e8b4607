"""Synthetic recordings in the recorder's exact formats, with events at known times.

A recording is a session folder (manifest and tracks) where the guest "claps" on camera:
at each clap time their audio has a click (a 10 ms burst at 3 kHz) and their video a white
frame; the host's audio has clicks of its own. Under the clicks each voice is a quiet tone
(200 Hz for the guest, 300 Hz for the host), so loudness has something to measure. Guest
audio and video both have a gap (no packets, no frames) in the middle.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
import numpy.typing as npt

from recorder.manifest import Manifest, TrackEntry, write_manifest
from recorder.ogg import OggOpusWriter
from recorder.session import OPUS_SILENCE

RATE = 48_000
CLICK_HZ = 3_000
CLICK_MS = 10
OPUS_FRAME = 960
VIDEO_CLOCK = 90_000
# TOC: CELT fullband 10 ms, stereo, two equal frames (code 1); an odd payload is invalid.
INVALID_OPUS = bytes([30 << 3 | 0x04 | 0x01, 0])

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Plan:
    """What to record; every time is in ms on the interview clock."""

    duration_ms: int = 7_000
    guest_audio_start_ms: int = 800
    video_start_ms: int = 1_000
    host_start_ms: int = 1_500
    claps_ms: tuple[int, ...] = (2_000, 5_000, 6_200)
    host_clicks_ms: tuple[int, ...] = (2_600, 5_600)
    audio_gap_ms: tuple[int, int] = (3_200, 4_200)  # the guest's packets are lost
    video_gap_ms: tuple[int, int] = (3_000, 4_400)  # the guest's camera freezes
    size: tuple[int, int] = (320, 240)
    fps: int = 15
    video: bool = True
    recorder_ogg: bool = False  # the guest's audio written by the recorder's own Ogg writer


@dataclass(slots=True)
class Recording:
    """A written session folder and what it holds."""

    folder: Path
    plan: Plan
    files: dict[str, Path] = field(default_factory=dict)


def voice(length_ms: int, clicks_ms: tuple[int, ...], tone_hz: float) -> Samples:
    """A quiet tone with clicks at `clicks_ms` (relative to the track's start)."""
    count = length_ms * RATE // 1000
    time = np.arange(count) / RATE
    signal = 0.1 * np.sin(2 * np.pi * tone_hz * time)
    burst = CLICK_MS * RATE // 1000
    for click in clicks_ms:
        start = click * RATE // 1000
        signal[start : start + burst] += 0.3 * np.sin(2 * np.pi * CLICK_HZ * time[:burst])
    return signal.astype(np.float32)


def write_ogg_opus(path: Path, samples: Samples, gap: tuple[int, int]) -> None:
    """Stereo Opus in Ogg, as a browser sends it; no packets for the samples in `gap`."""
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=RATE, layout="stereo")
        stream.bit_rate = 64_000
        for start in range(0, len(samples), OPUS_FRAME):
            if gap[0] <= start < gap[1]:
                continue
            block = samples[start : start + OPUS_FRAME]
            frame = av.AudioFrame.from_ndarray(
                np.stack([block, block]), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = RATE, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_recorder_ogg(path: Path, samples: Samples, gap: tuple[int, int]) -> None:
    """Opus packets as the recorder writes them: its own Ogg writer (pre-skip 0), silence
    packets through the gap, then an empty (DTX) frame and an invalid packet."""
    encoder = av.CodecContext.create("libopus", "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate, encoder.layout, encoder.format = RATE, "stereo", "flt"
    encoder.bit_rate = 64_000
    packets: list[bytes] = []
    for start in range(0, len(samples) // OPUS_FRAME * OPUS_FRAME, OPUS_FRAME):
        block = samples[start : start + OPUS_FRAME]
        frame = av.AudioFrame.from_ndarray(
            np.stack([block, block]).T.reshape(1, -1), format="flt", layout="stereo"
        )
        frame.sample_rate, frame.pts = RATE, start
        packets += [bytes(packet) for packet in encoder.encode(frame)]
    with path.open("wb") as file:
        writer = OggOpusWriter(file)
        written: list[tuple[bytes, int]] = []
        for index, packet in enumerate(packets):
            start = index * OPUS_FRAME
            if gap[0] <= start < gap[1]:
                packet = OPUS_SILENCE
            elif gap[1] <= start < gap[1] + OPUS_FRAME:
                packet = packet[:1]  # the TOC byte alone: a frame the sender left out
            elif gap[1] + OPUS_FRAME <= start < gap[1] + 2 * OPUS_FRAME:
                packet = INVALID_OPUS  # cannot decode, but its TOC still says 20 ms
            written.append((packet, start + OPUS_FRAME))
        writer.write(written)
        writer.close()


def write_wav(path: Path, samples: Samples) -> None:
    """48 kHz mono s16, as the host's voice is recorded."""
    pcm = (np.clip(samples, -1, 1) * 32767).round().astype("<i2")
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(RATE)
        file.writeframes(pcm.tobytes())


def camera_frame(plan: Plan, index: int, white: bool) -> npt.NDArray[np.uint8]:
    """A dark grey picture with a moving bar, or all white."""
    width, height = plan.size
    if white:
        return np.full((height, width, 3), 255, dtype=np.uint8)
    image = np.full((height, width, 3), 70, dtype=np.uint8)
    left = index * 4 % width
    image[:, left : left + 16] = (40, 90, 160)
    return image


def write_ivf(path: Path, plan: Plan, flashes_ms: tuple[int, ...]) -> None:
    """VP8 in IVF, pts at 90 kHz from the track's start; no frames in the plan's gap."""
    start = plan.video_start_ms
    gap_start, gap_end = plan.video_gap_ms
    with av.open(str(path), "w", format="ivf") as container:
        stream = container.add_stream(
            "libvpx", rate=plan.fps, options={"deadline": "realtime", "cpu-used": "8"}
        )
        stream.width, stream.height = plan.size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 1_000_000
        stream.codec_context.time_base = Fraction(1, VIDEO_CLOCK)
        frames = (plan.duration_ms - start) * plan.fps // 1000
        for index in range(frames):
            at_ms = start + index * 1000 // plan.fps
            if gap_start <= at_ms < gap_end:
                continue
            white = any(abs(at_ms - flash) < 500 // plan.fps for flash in flashes_ms)
            frame = av.VideoFrame.from_ndarray(camera_frame(plan, index, white), format="rgb24")
            frame.pts = index * VIDEO_CLOCK // plan.fps
            frame.time_base = Fraction(1, VIDEO_CLOCK)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def record(folder: Path, plan: Plan | None = None) -> Recording:
    """Write a session folder: manifest, guest audio (and video), host audio."""
    plan = plan or Plan()
    folder.mkdir(parents=True, exist_ok=True)
    recording = Recording(folder, plan)
    manifest = Manifest(session_id=folder.name, state="complete")

    def add(
        name: str,
        kind: Literal["audio", "video"],
        role: Literal["guest", "host"],
        codec: str,
        suffix: str,
        start_ms: int,
    ) -> Path:
        entry = TrackEntry(
            name=name,
            kind=kind,
            role=role,
            codec=codec,
            file=f"{name}{suffix}",
            start_offset_ms=start_ms,
            duration_ms=plan.duration_ms - start_ms,
            state="complete",
        )
        manifest.tracks.append(entry)
        recording.files[name] = folder / entry.file
        return folder / entry.file

    guest_start = plan.guest_audio_start_ms
    guest = voice(
        plan.duration_ms - guest_start, tuple(c - guest_start for c in plan.claps_ms), 200
    )
    gap_start, gap_end = ((edge - guest_start) * RATE // 1000 for edge in plan.audio_gap_ms)
    path = add("guest-audio", "audio", "guest", "opus", ".ogg", guest_start)
    write_ogg = write_recorder_ogg if plan.recorder_ogg else write_ogg_opus
    write_ogg(path, guest, (gap_start, gap_end))
    if plan.video:
        path = add("guest-video", "video", "guest", "vp8", ".ivf", plan.video_start_ms)
        write_ivf(path, plan, plan.claps_ms)
    host_start = plan.host_start_ms
    host = voice(
        plan.duration_ms - host_start, tuple(c - host_start for c in plan.host_clicks_ms), 300
    )
    write_wav(add("host-audio", "audio", "host", "pcm_s16le", ".wav", host_start), host)
    write_manifest(folder, manifest)
    return recording
