"""`InstantHost`: a `HostBridge` that answers the moment the guest's turn ends.

It costs (almost) nothing and never waits, so whatever time passes between the guest's last
word and the host's first sound is the engine's own. Its answer is fixed: a short tone (for
latency runs) or a spoken sentence (for load runs, so the outbound audio is speech about as
often as with a real host: Opus takes about twice as long on speech as on silence).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from rtc.bridge.base import HostAudio, HostEvent, TurnComplete
from rtc.bridge.brief import HostBrief
from rtc.registry import BridgeFactory

TONE_HZ = 440.0
# Gemini Live speaks at 24 kHz, so the engine resamples this tone as it would a real voice.
TONE_RATE = 24_000
SPOKEN_ANSWER = "That is wonderful. Tell me more about what happened next."


def tone_pcm(seconds: float, rate: int = TONE_RATE, hz: float = TONE_HZ) -> bytes:
    """A sine tone at half scale, as mono s16le PCM."""
    t = np.arange(round(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 16_000).astype("<i2").tobytes()


def speech_answer(text: str = SPOKEN_ANSWER) -> HostAudio:
    """`text` spoken by eSpeak NG at its own rate (22.05 kHz), as the offline host sends it."""
    from rtc.bridge.offline.speech import SpeechSynthesizer

    speech = SpeechSynthesizer().synthesize(text)
    return HostAudio(speech.pcm, speech.sample_rate)


def tone_answer(seconds: float) -> HostAudio:
    """A short tone at 24 kHz (Gemini Live's rate), for latency runs."""
    return HostAudio(tone_pcm(seconds), TONE_RATE)


class InstantHost:
    """On `guest_stopped_speaking`: one `HostAudio` (`answer`), then `TurnComplete`."""

    def __init__(self, answer: HostAudio) -> None:
        self._answer = answer
        self._events: asyncio.Queue[HostEvent | None] = asyncio.Queue()
        self.turns = 0

    @classmethod
    def factory(cls, answer: HostAudio) -> BridgeFactory:
        """A `BridgeFactory` (brief -> bridge) making instant hosts that all say `answer`."""

        def make(brief: HostBrief) -> InstantHost:
            del brief
            return cls(answer)

        return make

    async def start(self) -> None:
        """Nothing to connect to; the host says nothing until the guest has spoken."""

    async def send_audio(self, pcm: bytes) -> None:
        del pcm

    async def guest_started_speaking(self) -> None:
        pass

    async def guest_stopped_speaking(self) -> None:
        self.turns += 1
        self._events.put_nowait(self._answer)
        self._events.put_nowait(TurnComplete())

    async def send_video(self, jpeg: bytes) -> None:
        del jpeg

    async def inject(self, text: str, *, now: bool) -> None:
        del text, now

    async def set_topics(self, topics: list[str]) -> None:
        del topics

    async def wrap_up(self) -> None:
        pass

    async def events(self) -> AsyncIterator[HostEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    def report(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        self._events.put_nowait(None)
