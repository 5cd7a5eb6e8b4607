"""Synthetic voices and a tiny energy detector, shared by the Gemini Live fake and its tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

GUEST_RATE = 16_000
HOST_RATE = 24_000
FRAME_MS = 20


def voiced(seconds: float, rate: int = GUEST_RATE, pitch: float = 200.0) -> bytes:
    """A speech-like s16le signal: a harmonic-rich tone, amplitude-modulated at syllable rate."""
    t = np.arange(round(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t)
    return _s16(6000 * envelope * tone / 1.5)


def silence(seconds: float, rate: int = GUEST_RATE) -> bytes:
    """Near-silence: faint noise, as a real microphone gives."""
    noise = np.random.default_rng(7).normal(0.0, 20.0, round(seconds * rate))
    return _s16(noise)


def chunks(pcm: bytes, ms: int = FRAME_MS, rate: int = GUEST_RATE) -> list[bytes]:
    """`pcm` cut into `ms`-long pieces (the last one may be shorter)."""
    size = rate * ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def rms(pcm: bytes) -> float:
    """The root-mean-square level of s16le audio (0 for empty input)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def _s16(signal: npt.NDArray[np.float64]) -> bytes:
    return bytes(np.clip(signal, -32768, 32767).astype("<i2").tobytes())


@dataclass
class EnergyVad:
    """Finds speech onsets and ends in a 16 kHz stream: energy up, then enough silence."""

    threshold: float
    min_speech_ms: int
    end_silence_ms: int
    _pending: bytearray = field(default_factory=bytearray)
    _voiced_ms: int = 0
    _silent_ms: int = 0
    _utterance_ms: int = 0
    speaking: bool = False
    last_utterance_ms: int = 0
    """The voiced time of the utterance that ended last."""

    def feed(self, pcm: bytes) -> list[str]:
        """Events found in `pcm`, in order: "start" (speech began) and "end" (it ended)."""
        self._pending += pcm
        size = GUEST_RATE * FRAME_MS // 1000 * 2
        events: list[str] = []
        while len(self._pending) >= size:
            frame = bytes(self._pending[:size])
            del self._pending[:size]
            if rms(frame) >= self.threshold:
                self._silent_ms = 0
                self._voiced_ms += FRAME_MS
                self._utterance_ms += FRAME_MS
                if not self.speaking and self._voiced_ms >= self.min_speech_ms:
                    self.speaking = True
                    events.append("start")
            else:
                self._silent_ms += FRAME_MS
                if self._silent_ms >= self.end_silence_ms:
                    self._voiced_ms = 0
                    if self.speaking:
                        self.speaking = False
                        self.last_utterance_ms = self._utterance_ms
                        events.append("end")
                    self._utterance_ms = 0
        return events

    def stream_ended(self) -> bool:
        """Forget the stream so far; True if the guest was speaking when it ended."""
        was_speaking = self.speaking
        if was_speaking:
            self.last_utterance_ms = self._utterance_ms
        self._pending.clear()
        self._voiced_ms = self._silent_ms = self._utterance_ms = 0
        self.speaking = False
        return was_speaking
