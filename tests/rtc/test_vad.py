"""The voice-activity detector on real speech and on silence."""

from __future__ import annotations

import pytest

from rtc.vad import FRAME_BYTES, VadEvent, VoiceActivityDetector
from tests.media.speech import speech_pcm

SILENCE = bytes(FRAME_BYTES)


def frames(pcm: bytes) -> list[bytes]:
    usable = len(pcm) - len(pcm) % FRAME_BYTES
    return [pcm[i : i + FRAME_BYTES] for i in range(0, usable, FRAME_BYTES)]


def run(detector: VoiceActivityDetector, chunks: list[bytes]) -> list[tuple[int, VadEvent]]:
    events = []
    for index, chunk in enumerate(chunks):
        event = detector.process(chunk)
        if event is not None:
            events.append((index, event))
    return events


def test_speech_between_silences_is_one_turn_ending_after_the_hangover() -> None:
    speech = frames(speech_pcm("Hello there, this is a test of the detector.", 16_000))
    chunks = [SILENCE] * 25 + speech + [SILENCE] * 50
    detector = VoiceActivityDetector(start_ms=60, preroll_ms=200, hangover_ms=500)
    events = run(detector, chunks)
    assert [event for _, event in events] == [VadEvent.SPEECH_STARTED, VadEvent.SPEECH_ENDED]
    started, ended = events[0][0], events[1][0]
    assert 25 <= started <= 25 + 10  # within 200 ms of the first word
    speech_end = 25 + len(speech)
    assert speech_end <= ended <= speech_end + 25 + 5  # hang-over of 25 frames, plus a tail
    assert detector.hangover_ms == 500


def test_preroll_holds_the_frames_before_the_start() -> None:
    detector = VoiceActivityDetector(preroll_ms=100, start_ms=60)
    speech = frames(speech_pcm("Good morning everybody.", 16_000))
    for chunk in [SILENCE] * 10 + speech:
        if detector.process(chunk) is VadEvent.SPEECH_STARTED:
            break
    assert len(detector.take_preroll()) == 5 * FRAME_BYTES
    assert detector.take_preroll() == b""


def test_silence_never_starts_a_turn() -> None:
    assert run(VoiceActivityDetector(), [SILENCE] * 200) == []


@pytest.mark.parametrize("bad", [b"", bytes(FRAME_BYTES - 2), bytes(FRAME_BYTES * 2)])
def test_frames_must_be_20_ms(bad: bytes) -> None:
    with pytest.raises(ValueError, match="640 bytes"):
        VoiceActivityDetector().process(bad)


def test_aggressiveness_is_checked() -> None:
    with pytest.raises(ValueError, match="aggressiveness"):
        VoiceActivityDetector(aggressiveness=4)
