"""Real synthesised speech for tests, as PCM at any rate or as a 16-bit mono WAV file."""

from __future__ import annotations

import functools
import wave
from pathlib import Path

from rtc.bridge.offline.speech import DEFAULT_VOICE, SpeechSynthesizer, resample_pcm


@functools.cache
def _synthesizer() -> SpeechSynthesizer:
    """One synthesizer for all helpers; only its synchronous path is used, so no thread."""
    return SpeechSynthesizer()


def speech_pcm(text: str, sample_rate: int, *, voice: str = DEFAULT_VOICE) -> bytes:
    """`text` spoken as mono s16le PCM at `sample_rate`, for feeding audio paths directly."""
    speech = _synthesizer().synthesize(text, voice=voice)
    return resample_pcm(speech.pcm, speech.sample_rate, sample_rate)


def write_speech_wav(
    path: Path | str,
    text: str,
    *,
    sample_rate: int = 48_000,
    voice: str = DEFAULT_VOICE,
    lead_silence_s: float = 0.0,
    tail_silence_s: float = 0.0,
) -> float:
    """Write `text` spoken as a 16-bit mono WAV between silences; returns its duration (s)."""
    lead = bytes(2 * round(lead_silence_s * sample_rate))
    tail = bytes(2 * round(tail_silence_s * sample_rate))
    pcm = lead + speech_pcm(text, sample_rate, voice=voice) + tail
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return len(pcm) / 2 / sample_rate
