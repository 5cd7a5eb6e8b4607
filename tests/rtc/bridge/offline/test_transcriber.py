"""The guest's words reach the transcript: PocketSphinx offline, Whisper with a key.

PocketSphinx is fed real synthesized speech (eSpeak NG), cut as the voice-activity detector
cuts a turn (200 ms of pre-roll before, 500 ms of hang-over after). eSpeak's Klatt voice is
used: PocketSphinx recognises it well, while the default voice comes out garbled even at 16 kHz
("whether we like they started fighting"). Klatt synthesis adds noise, so two syntheses of one
text differ slightly; the assertions leave room for that.

Whisper is reached through the real `openai` SDK, pointed at a fake of the OpenAI API served on
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from rtc.bridge.offline import transcriber as transcriber_module
from rtc.bridge.offline.transcriber import (
    QUEUED_PER_WORKER,
    PocketSphinxTranscriber,
    TranscriberError,
    WhisperTranscriber,
    build_transcriber,
    default_workers,
    wav_bytes,
)
from tests.fakes.openai_audio import FakeOpenAIAudio
from tests.media.speech import speech_pcm

VOICE = "en-us+klatt"
WEATHER = "the weather is nice today and the sun is shining"
WEATHER_WORDS = {"weather", "nice", "today", "sun", "shining"}
COMPANY = "i started the company ten years ago with two friends"
COMPANY_WORDS = {"started", "company", "ten", "years", "ago", "friends"}
WORK = "i would like to talk about my work"
WORK_WORDS = {"would", "like", "talk", "about", "work"}
WHISPER_TEXT = "The weather is nice today."
LOGGER = "rtc.bridge.offline.transcriber"


@pytest.fixture
async def sphinx() -> AsyncIterator[PocketSphinxTranscriber]:
    """A fresh recogniser (no adaptation to earlier tests' audio), its model loaded, in one
    process (so that it adapts to the channel over a test's calls)."""
    transcriber = PocketSphinxTranscriber(workers=1)
    await transcriber.transcribe(b"", 16_000)  # queued behind the model's loading
    yield transcriber
    await transcriber.close()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIAudio]:
    with FakeOpenAIAudio(text=WHISPER_TEXT) as fake:
        yield fake


def turn(text: str, rate: int) -> bytes:
    """`text` spoken, with the silence the voice-activity detector leaves around a turn."""
    return silence(0.2, rate) + speech_pcm(text, rate, voice=VOICE) + silence(0.5, rate)


def silence(seconds: float, rate: int = 16_000) -> bytes:
    return bytes(round(seconds * rate) * 2)


def faint_noise(seconds: float, rate: int = 16_000) -> bytes:
    """A quiet room through a microphone: white noise at about -50 dBFS."""
    noise = np.random.default_rng(3).normal(0.0, 100.0, round(seconds * rate))
    return noise.astype("<i2").tobytes()


def found(text: str, expected: set[str]) -> set[str]:
    return set(text.split()) & expected


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_recognises_a_clear_sentence(sphinx: PocketSphinxTranscriber) -> None:
    text = await sphinx.transcribe(turn(WEATHER, 16_000), 16_000)
    print(f"16 kHz: {text!r}")
    assert len(found(text, WEATHER_WORDS)) >= 3, text


async def test_resamples_48_khz(sphinx: PocketSphinxTranscriber) -> None:
    text = await sphinx.transcribe(turn(WEATHER, 48_000), 48_000)
    print(f"48 kHz: {text!r}")
    assert len(found(text, WEATHER_WORDS)) >= 3, text


async def test_resamples_8_khz_once_adapted_to_the_channel(
    sphinx: PocketSphinxTranscriber,
) -> None:
    """Narrow-band audio lacks what the 16 kHz model expects above 4 kHz: the first turn comes
    out garbled ("why", "hm"); the decoder's live cepstral mean then adapts to the channel, as
    it would over an interview's first turns, and words come through."""
    first = await sphinx.transcribe(turn(WEATHER, 8_000), 8_000)
    work = await sphinx.transcribe(turn(WORK, 8_000), 8_000)
    company = await sphinx.transcribe(turn(COMPANY, 8_000), 8_000)
    print(f"8 kHz: {first!r}, then {work!r} and {company!r}")
    heard = found(work, WORK_WORDS) | found(company, COMPANY_WORDS)
    assert len(heard) >= 5, (work, company)


async def test_silence_gives_nothing(sphinx: PocketSphinxTranscriber) -> None:
    assert await sphinx.transcribe(silence(2.0), 16_000) == ""
    assert await sphinx.transcribe(b"", 16_000) == ""
    noise = await sphinx.transcribe(faint_noise(2.0), 16_000)
    print(f"faint noise: {noise!r}")
    assert len(noise.split()) <= 1, noise


async def test_long_utterances_keep_only_their_end() -> None:
    speech = turn(WEATHER, 16_000)
    transcriber = PocketSphinxTranscriber(max_seconds=len(speech) / 32_000 + 0.5)
    try:
        kept = await transcriber.transcribe(faint_noise(20.0) + speech, 16_000)
        cut = await transcriber.transcribe(speech + silence(20.0), 16_000)
    finally:
        await transcriber.close()
    assert len(found(kept, WEATHER_WORDS)) >= 3, kept
    assert cut == ""


async def test_decoding_runs_in_another_process_while_the_loop_runs(
    sphinx: PocketSphinxTranscriber,
) -> None:
    """PocketSphinx holds the GIL while it decodes: in a thread it stalled the loop for the
    whole answer (or, fed 20 ms at a time, up to ~0.5 s under load). In its own process the
    CPU is spent there, and the loop keeps its 5 ms ticks."""
    speech = turn(f"{WEATHER}. {WORK}", 16_000)
    [pid] = sphinx.pids
    assert pid != os.getpid()
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    own_before, theirs_before = time.process_time(), cpu_seconds(pid)
    started = time.perf_counter()
    text = await sphinx.transcribe(speech, 16_000)
    elapsed = time.perf_counter() - started
    own, theirs = time.process_time() - own_before, cpu_seconds(pid) - theirs_before
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    gaps = np.diff([started, *(t for t in ticks if t >= started), time.perf_counter()])
    print(
        f"decoded {len(speech) / 32_000:.2f} s in {elapsed:.2f} s: recognizer CPU {theirs:.2f} s,"
        f" ours {own:.2f} s; {gaps.size} ticks, longest gap {gaps.max() * 1000:.1f} ms"
    )
    assert len(found(text, WEATHER_WORDS)) >= 3, text
    assert theirs > 0.2, "the decoding's CPU should be spent in the recognizer process"
    assert own < theirs
    assert gaps.size >= elapsed / 0.05  # the loop ran, on average, at least every 50 ms
    assert gaps.max() < 0.25  # generous: a shared machine may be busy


async def in_flight(transcriber: PocketSphinxTranscriber, pcm: bytes) -> asyncio.Task[str]:
    """A transcription of `pcm` that a one-process transcriber is decoding when this returns.

    Queued behind a silent utterance: the task feeding the process takes the next utterance
    and writes it to the process in the same step in which it answers the first.
    """
    first = asyncio.ensure_future(transcriber.transcribe(b"", 16_000))
    second = asyncio.create_task(transcriber.transcribe(pcm, 16_000))
    assert await first == ""
    return second


async def test_a_recognizer_killed_mid_decode_is_replaced_and_decodes_it_again(
    sphinx: PocketSphinxTranscriber, caplog: pytest.LogCaptureFixture
) -> None:
    [pid] = sphinx.pids
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        answer = await in_flight(sphinx, turn(WEATHER, 16_000))
        os.kill(pid, signal.SIGKILL)
        text = await answer
    assert len(found(text, WEATHER_WORDS)) >= 3, text
    [new] = sphinx.pids
    assert new != pid
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert any(f"process {pid} died (exit code -9)" in m for m in messages), messages


async def test_a_recognizer_that_cannot_run_gives_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A process that dies on an utterance twice (here: it cannot even import) loses it with
    an error that says so; once it can run again, the next utterance is transcribed."""
    monkeypatch.setattr(transcriber_module, "RECOGNIZER_MODULE", "rtc.bridge.offline.missing")
    transcriber = PocketSphinxTranscriber(workers=1)
    try:
        with pytest.raises(TranscriberError, match=r"died \(exit code 1\).* it is lost"):
            await transcriber.transcribe(turn(WEATHER, 16_000), 16_000)
        monkeypatch.undo()
        text = await transcriber.transcribe(turn(WEATHER, 16_000), 16_000)
    finally:
        await transcriber.close()
    assert len(found(text, WEATHER_WORDS)) >= 3, text


async def test_a_recognizer_that_cannot_start_gives_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    transcriber = PocketSphinxTranscriber(workers=1)
    try:
        with pytest.raises(TranscriberError, match=r"cannot start .* /nonexistent/python"):
            await transcriber.transcribe(silence(0.5), 16_000)
    finally:
        await transcriber.close()


async def test_close_mid_decode_fails_the_utterance_and_leaves_no_process() -> None:
    transcriber = PocketSphinxTranscriber(workers=1)
    answer = await in_flight(transcriber, turn(f"{WEATHER}. {COMPANY}. {WORK}", 16_000))
    [pid] = transcriber.pids
    await transcriber.close()
    with pytest.raises(TranscriberError, match="stopped before this utterance was decoded"):
        await answer
    assert not transcriber.pids
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped, not left running
    with pytest.raises(TranscriberError, match="closed"):
        await transcriber.transcribe(silence(0.5), 16_000)


async def test_utterances_past_the_queue_bound_are_refused() -> None:
    """All calls land in one turn of the loop: one process takes at most its queue's worth."""
    transcriber = PocketSphinxTranscriber(workers=1)
    calls = 3 * QUEUED_PER_WORKER
    try:
        results = await asyncio.gather(
            *(transcriber.transcribe(silence(0.1), 16_000) for _ in range(calls)),
            return_exceptions=True,
        )
    finally:
        await transcriber.close()
    refused = [result for result in results if isinstance(result, TranscriberError)]
    assert len(refused) >= calls - QUEUED_PER_WORKER - 1
    assert all("utterances behind" in str(error) for error in refused), refused
    assert [result for result in results if not isinstance(result, TranscriberError)] == [""] * (
        calls - len(refused)
    )


def test_sized_to_the_cpus_but_one() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert default_workers() == max(1, min(4, cpus - 1))
    with pytest.raises(ValueError, match="workers"):
        PocketSphinxTranscriber(workers=0)


async def test_real_time_factor(sphinx: PocketSphinxTranscriber) -> None:
    """In CPU seconds of the recognizer, which runs at a low priority: on a busy machine the
    wall-clock time is the other processes' to decide."""
    speech = speech_pcm(f"{WEATHER}. {WORK}", 16_000, voice=VOICE)
    seconds = len(speech) / 32_000
    [pid] = sphinx.pids
    before = cpu_seconds(pid)
    text = await sphinx.transcribe(speech, 16_000)
    used = cpu_seconds(pid) - before
    print(f"{seconds:.2f} s decoded in {used:.3f} s of CPU, RTF {used / seconds:.3f}: {text!r}")
    assert 3.0 <= seconds <= 5.0
    assert used / seconds < 1.0


async def test_whisper_sends_a_wav_and_returns_the_text(fake_openai: FakeOpenAIAudio) -> None:
    pcm = speech_pcm(WEATHER, 24_000)
    transcriber = WhisperTranscriber("sk-test", base_url=fake_openai.base_url)
    try:
        text = await transcriber.transcribe(pcm, 24_000)
    finally:
        await transcriber.close()
    assert text == WHISPER_TEXT
    [received] = fake_openai.received
    assert received.model == "whisper-1"
    assert received.authorization == "Bearer sk-test"
    assert (received.filename, received.content_type) == ("speech.wav", "audio/wav")
    assert (received.sample_rate, received.channels, received.sample_width) == (24_000, 1, 2)
    assert received.duration == pytest.approx(len(pcm) / 2 / 24_000)
    assert received.duration > 2.0
    assert received.wav == wav_bytes(pcm, 24_000)


async def test_whisper_uses_the_configured_model(fake_openai: FakeOpenAIAudio) -> None:
    transcriber = WhisperTranscriber("sk-test", fake_openai.base_url, model="gpt-4o-transcribe")
    try:
        assert await transcriber.transcribe(silence(1.5), 16_000) == WHISPER_TEXT
    finally:
        await transcriber.close()
    [received] = fake_openai.received
    assert received.model == "gpt-4o-transcribe"
    assert received.sample_rate == 16_000
    assert received.duration == pytest.approx(1.5)


async def test_whisper_server_error_gives_empty_text_and_a_log_line(
    fake_openai: FakeOpenAIAudio, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.status = 500
    transcriber = WhisperTranscriber("sk-test", fake_openai.base_url, max_retries=1)
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert await transcriber.transcribe(silence(1.0), 16_000) == ""
    finally:
        await transcriber.close()
    assert fake_openai.attempts == 2  # the SDK retried once
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert any("HTTP 500" in message for message in messages), messages


async def test_whisper_timeout_gives_empty_text_and_a_log_line(
    fake_openai: FakeOpenAIAudio, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.delay = 5.0
    transcriber = WhisperTranscriber("sk-test", fake_openai.base_url, timeout=0.3, max_retries=0)
    started = time.perf_counter()
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert await transcriber.transcribe(silence(1.0), 16_000) == ""
    finally:
        await transcriber.close()
    assert time.perf_counter() - started < fake_openai.delay  # cut short, not waited out
    assert fake_openai.attempts == 1
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert any("timed out" in message for message in messages), messages


async def test_whisper_unreachable_gives_empty_text_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transcriber = WhisperTranscriber("sk-test", f"http://127.0.0.1:{port}/v1", max_retries=0)
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert await transcriber.transcribe(silence(1.0), 16_000) == ""
    finally:
        await transcriber.close()
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert any("failed" in message for message in messages), messages


async def test_whisper_skips_audio_too_short_for_the_api(fake_openai: FakeOpenAIAudio) -> None:
    transcriber = WhisperTranscriber("sk-test", fake_openai.base_url)
    try:
        assert await transcriber.transcribe(silence(0.05), 16_000) == ""
    finally:
        await transcriber.close()
    assert fake_openai.attempts == 0


async def test_build_transcriber_uses_whisper_with_a_key(fake_openai: FakeOpenAIAudio) -> None:
    transcriber = build_transcriber("sk-test", fake_openai.base_url)
    try:
        assert isinstance(transcriber, WhisperTranscriber)
        assert await transcriber.transcribe(silence(1.0), 16_000) == WHISPER_TEXT
    finally:
        await transcriber.close()
    assert fake_openai.received[0].authorization == "Bearer sk-test"


@pytest.mark.parametrize("key", [None, "", "  "])
async def test_build_transcriber_falls_back_to_pocketsphinx(key: str | None) -> None:
    transcriber = build_transcriber(key, None)
    try:
        assert isinstance(transcriber, PocketSphinxTranscriber)
        text = await transcriber.transcribe(turn(WEATHER, 16_000), 16_000)
    finally:
        await transcriber.close()
    assert len(found(text, WEATHER_WORDS)) >= 3, text
