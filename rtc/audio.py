"""PCM conversions between the guest's WebRTC audio, the host bridge and the outbound track."""

from __future__ import annotations

import fractions
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from av.audio.resampler import AudioResampler

OUTBOUND_RATE = 48_000
OUTBOUND_TIME_BASE = fractions.Fraction(1, OUTBOUND_RATE)
OUTBOUND_BIT_RATE = 64_000
FRAME_SAMPLES = OUTBOUND_RATE // 50  # 20 ms
# A 20 ms Opus packet of silence (CELT fullband, mono), should the encoder hold one back.
OPUS_MONO_SILENCE = bytes.fromhex("f8fffe")
Samples = npt.NDArray[np.int16]


class GuestAudioConverter:
    """Decoded WebRTC frames (any rate and layout) → 16 kHz mono s16le bytes."""

    def __init__(self, rate: int = 16_000) -> None:
        self._resampler = AudioResampler(format="s16", layout="mono", rate=rate)

    def convert(self, frame: av.AudioFrame) -> bytes:
        """The frame's audio at the bridge's rate (may be empty while the resampler fills)."""
        return b"".join(
            bytes(out.planes[0])[: out.samples * 2] for out in self._resampler.resample(frame)
        )


class HostAudioConverter:
    """Host PCM (mono s16le at the bridge's rate) → 48 kHz mono samples for the mixer."""

    def __init__(self) -> None:
        self._resamplers: dict[int, AudioResampler] = {}

    def convert(self, pcm: bytes, sample_rate: int) -> Samples:
        """Resampled samples; the resampler keeps its state between chunks of one stream."""
        samples = np.frombuffer(pcm, dtype=np.int16)
        if sample_rate == OUTBOUND_RATE:
            return samples.copy()
        resampler = self._resamplers.get(sample_rate)
        if resampler is None:
            resampler = AudioResampler(format="s16", layout="mono", rate=OUTBOUND_RATE)
            self._resamplers[sample_rate] = resampler
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = sample_rate
        frame.time_base = fractions.Fraction(1, sample_rate)
        chunks = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        return np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)


def load_clip(path: str) -> Samples:
    """A whole audio file (any format FFmpeg reads) as 48 kHz mono samples."""
    resampler = AudioResampler(format="s16", layout="mono", rate=OUTBOUND_RATE)
    chunks: list[bytes] = []
    with av.open(path) as container:
        for frame in container.decode(audio=0):
            chunks += [bytes(out.planes[0])[: out.samples * 2] for out in resampler.resample(frame)]
    chunks += [bytes(out.planes[0])[: out.samples * 2] for out in resampler.resample(None)]
    if not chunks:
        raise ValueError(f"{path} holds no audio")
    return np.frombuffer(b"".join(chunks), np.int16).copy()


def outbound_frame(samples: Samples, pts: int) -> av.AudioFrame:
    """A 48 kHz mono frame for aiortc's sender."""
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = OUTBOUND_RATE
    frame.pts = pts
    frame.time_base = OUTBOUND_TIME_BASE
    return frame


class OutboundEncoder:
    """The guest's 20 ms frames of host voice → one mono Opus packet each, ready for RTP.

    aiortc's sender, given decoded frames, computes each one's audio level in pure Python
    and hands each to a thread to encode; together that costs more than the encoding
    itself (~0.2 ms a frame here, on the loop), so the outbound track hands it packets.
    """

    def __init__(self, bit_rate: int = OUTBOUND_BIT_RATE) -> None:
        codec = av.CodecContext.create("libopus", "w")
        codec.bit_rate = bit_rate
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = OUTBOUND_RATE
        codec.time_base = OUTBOUND_TIME_BASE
        codec.options = {"application": "voip"}
        self._codec = codec

    def encode(self, samples: Samples, pts: int) -> av.Packet[Any]:
        """One frame's packet, stamped with the frame's `pts` (48 kHz)."""
        packets = self._codec.encode(outbound_frame(samples, pts))
        packet = packets[0] if packets else av.Packet(OPUS_MONO_SILENCE)
        packet.pts = pts
        packet.time_base = OUTBOUND_TIME_BASE
        return packet


def rms(samples: Samples) -> float:
    """Root-mean-square level (0 for silence, up to 32768)."""
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
