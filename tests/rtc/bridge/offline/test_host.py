"""The offline host hears the guest through its transcriber, in a process of its own, and goes
on with the interview when an answer cannot be transcribed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rtc.bridge.base import HostEvent, Transcript
from rtc.bridge.brief import HostBrief
from rtc.bridge.offline.host import OfflineHost
from rtc.bridge.offline.speech import SpeechSynthesizer
from rtc.bridge.offline.transcriber import PocketSphinxTranscriber
from tests.media.speech import speech_pcm

ANSWER = "the weather is nice today and the sun is shining"
ANSWER_WORDS = {"weather", "nice", "today", "sun", "shining"}


@pytest.fixture(scope="module")
def synthesizer() -> SpeechSynthesizer:
    return SpeechSynthesizer()


def brief() -> HostBrief:
    return HostBrief.of_session(
        "The Historian", "Auto-Pilot", 5, {"topics": ["your first bicycle"]}
    )


async def next_line(events: AsyncIterator[HostEvent], role: str) -> Transcript:
    """The next transcript line of `role`, past the host's audio and turn events."""
    async for event in events:
        if isinstance(event, Transcript) and event.role == role:
            return event
    raise AssertionError(f"the host's events ended before a {role} line")


async def answer(host: OfflineHost, pcm: bytes) -> None:
    """The guest speaks `pcm` (16 kHz), as the engine reports a turn cut by the VAD."""
    await host.guest_started_speaking()
    await host.send_audio(pcm)
    await host.guest_stopped_speaking()


async def test_the_guest_is_heard_and_the_next_question_follows(
    synthesizer: SpeechSynthesizer,
) -> None:
    transcriber = PocketSphinxTranscriber(workers=1)
    host = OfflineHost(brief(), synthesizer=synthesizer, transcriber=transcriber, think_pause_s=0)
    events = host.events()
    try:
        await host.start()
        opening = await next_line(events, "ai")
        await answer(host, speech_pcm(ANSWER, 16_000, voice="en-us+klatt"))
        heard = await next_line(events, "user")
        follow_up = await next_line(events, "ai")
    finally:
        await host.close()
        await transcriber.close()
    assert len(ANSWER_WORDS & set(heard.text.split())) >= 3, heard
    assert follow_up.text != opening.text


async def test_an_answer_lost_by_the_transcriber_still_moves_the_interview_on(
    synthesizer: SpeechSynthesizer, caplog: pytest.LogCaptureFixture
) -> None:
    transcriber = PocketSphinxTranscriber(workers=1)
    await transcriber.close()  # every utterance now fails with TranscriberError
    host = OfflineHost(brief(), synthesizer=synthesizer, transcriber=transcriber, think_pause_s=0)
    events = host.events()
    try:
        await host.start()
        opening = await next_line(events, "ai")
        await answer(host, bytes(16_000))
        heard = await next_line(events, "user")
        follow_up = await next_line(events, "ai")
    finally:
        await host.close()
    assert heard.text == "…"
    assert follow_up.text != opening.text
    assert any("did not hear the guest's answer" in r.getMessage() for r in caplog.records)
