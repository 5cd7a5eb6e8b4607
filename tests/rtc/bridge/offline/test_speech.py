"""eSpeak NG synthesis: real, voiced speech of the right length, off the loop, at any rate."""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from rtc.bridge.offline.speech import SpeechSynthesizer, resample_pcm
from tests.media.speech import speech_pcm, write_speech_wav

NATIVE_RATE = 22_050
SENTENCE = "Welcome back to the show, today we talk about bridges."
OTHER_SENTENCE = "Thank you very much for listening, and see you next week."
Floats = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def synthesizer() -> Iterator[SpeechSynthesizer]:
    """One synthesizer for the module, closed at its end."""
    synth = SpeechSynthesizer()
    yield synth
    synth.close()


def samples(pcm: bytes) -> Floats:
    """s16le PCM as floats."""
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float64)


def rms(x: Floats) -> float:
    """Root-mean-square level (full scale is 32768)."""
    return float(np.sqrt(np.mean(x**2)))


def envelope(x: Floats, rate: int, window_s: float = 0.01) -> Floats:
    """RMS level of each window: what was said, insensitive to eSpeak's phase jitter."""
    window = int(window_s * rate)
    count = len(x) // window
    frames = x[: count * window].reshape(count, window)
    return np.sqrt(np.mean(frames**2, axis=1, dtype=np.float64))


def envelope_similarity(a: Floats, b: Floats, rate: int) -> float:
    """Correlation of 50 ms envelopes over their common length (1 = the same utterance)."""
    ea, eb = envelope(a, rate, 0.05), envelope(b, rate, 0.05)
    n = min(len(ea), len(eb))
    return float(np.corrcoef(ea[:n], eb[:n])[0, 1])


def pitch_hz(x: Floats, rate: int) -> float:
    """Median fundamental frequency of the loud 40 ms frames, by autocorrelation."""
    size, lo, hi = int(0.04 * rate), rate // 400, rate // 60
    estimates = []
    for start in range(0, len(x) - size, size // 2):
        frame = x[start : start + size] - x[start : start + size].mean()
        if rms(frame) < 1500:
            continue
        corr = np.correlate(frame, frame, "full")[size - 1 :]
        lag = lo + int(corr[lo:hi].argmax())
        if corr[lag] > 0.5 * corr[0]:
            estimates.append(rate / lag)
    assert len(estimates) > 20, "too few voiced frames to estimate a pitch"
    return float(np.median(estimates))


def assert_voiced_speech(x: Floats, rate: int) -> None:
    """Loud, with most energy in the voice band and the spectral peak inside it."""
    assert rms(x) > 1000, f"RMS {rms(x):.0f} is close to silence"
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = (freqs >= 100) & (freqs <= 4000)
    assert power[band].sum() / power.sum() > 0.8
    assert 100 <= freqs[power.argmax()] <= 4000
    loud = envelope(x, rate) > 500
    assert 0.4 < loud.mean() < 1.0, "speech should be mostly sound, with some pauses"


def test_reports_native_rate(synthesizer: SpeechSynthesizer) -> None:
    speech = synthesizer.synthesize(SENTENCE)
    assert synthesizer.sample_rate == NATIVE_RATE
    assert speech.sample_rate == NATIVE_RATE
    assert speech.duration_s == len(speech.pcm) / 2 / NATIVE_RATE


def test_sentence_is_voiced_speech_of_plausible_length(synthesizer: SpeechSynthesizer) -> None:
    speech = synthesizer.synthesize(SENTENCE)
    assert 1.0 < speech.duration_s < 6.0
    assert_voiced_speech(samples(speech.pcm), NATIVE_RATE)


def test_duration_follows_text_and_rate(synthesizer: SpeechSynthesizer) -> None:
    short = synthesizer.synthesize("Hello there.").duration_s
    normal = synthesizer.synthesize(SENTENCE).duration_s
    longer = synthesizer.synthesize(f"{SENTENCE} {OTHER_SENTENCE}").duration_s
    fast = synthesizer.synthesize(SENTENCE, rate_wpm=350).duration_s
    slow = synthesizer.synthesize(SENTENCE, rate_wpm=100).duration_s
    assert short < 0.5 * normal
    assert longer > 1.6 * normal
    assert fast < 0.7 * normal < 0.5 * slow


def test_different_texts_give_different_audio(synthesizer: SpeechSynthesizer) -> None:
    first = samples(synthesizer.synthesize(SENTENCE).pcm)
    again = samples(synthesizer.synthesize(SENTENCE).pcm)
    other = samples(synthesizer.synthesize(OTHER_SENTENCE).pcm)
    assert envelope_similarity(first, again, NATIVE_RATE) > 0.8
    assert envelope_similarity(first, other, NATIVE_RATE) < 0.5


def test_voice_variants_change_the_voice(synthesizer: SpeechSynthesizer) -> None:
    default = pitch_hz(samples(synthesizer.synthesize(SENTENCE).pcm), NATIVE_RATE)
    male = pitch_hz(samples(synthesizer.synthesize(SENTENCE, voice="en-us+m3").pcm), NATIVE_RATE)
    female = pitch_hz(samples(synthesizer.synthesize(SENTENCE, voice="en+f3").pcm), NATIVE_RATE)
    assert 70 < default < 160
    assert 70 < male < 160
    assert female > 1.5 * default


def test_rejects_unknown_voice_and_rate(synthesizer: SpeechSynthesizer) -> None:
    with pytest.raises(ValueError, match="no voice 'xx-nowhere'"):
        synthesizer.synthesize(SENTENCE, voice="xx-nowhere")
    with pytest.raises(ValueError, match="rate_wpm"):
        synthesizer.synthesize(SENTENCE, rate_wpm=1000)
    assert synthesizer.synthesize(SENTENCE).duration_s > 1.0  # still usable afterwards


async def test_speak_does_not_block_the_loop(synthesizer: SpeechSynthesizer) -> None:
    text = " ".join([f"{SENTENCE} {OTHER_SENTENCE}"] * 100)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    speech = await synthesizer.speak(text)
    elapsed = time.perf_counter() - started
    task.cancel()
    during = [t for t in ticks if t >= started]
    gaps = np.diff([started, *during])
    assert speech.duration_s > 300
    assert elapsed > 0.15, "synthesis too quick for this test to show blocking"
    assert len(during) >= 0.5 * elapsed / 0.01
    # A blocked loop would show one gap as long as the synthesis; on a busy shared machine the
    # loop may wait for a CPU now and then, and the synthesis takes longer too.
    assert gaps.max() < elapsed / 2


async def test_concurrent_speak_calls_are_each_correct(synthesizer: SpeechSynthesizer) -> None:
    texts = [
        "Hello there.",
        SENTENCE,
        OTHER_SENTENCE,
        "Our guest today has built bridges on four continents, from Lisbon to Osaka.",
        "What did you find most surprising about building your first company?",
    ]
    expected = [samples(synthesizer.synthesize(text).pcm) for text in texts]
    second = SpeechSynthesizer()  # its own worker thread, sharing the library's lock
    try:
        results = await asyncio.gather(
            *(
                (synthesizer if i % 2 else second).speak(text)
                for _ in range(3)
                for i, text in enumerate(texts)
            )
        )
    finally:
        second.close()
    for index, speech in enumerate(results):
        got = samples(speech.pcm)
        similarity = [envelope_similarity(got, ref, NATIVE_RATE) for ref in expected]
        reference = expected[index % len(texts)]
        assert speech.sample_rate == NATIVE_RATE
        assert abs(len(got) - len(reference)) < 0.03 * len(reference)
        assert int(np.argmax(similarity)) == index % len(texts)
        assert max(similarity) > 0.8
        assert rms(got) > 1000


async def test_closed_synthesizer_refuses_to_speak() -> None:
    synth = SpeechSynthesizer()
    assert (await synth.speak("Hello there.")).duration_s > 0.3
    synth.close()
    with pytest.raises(RuntimeError):
        await synth.speak("Hello there.")


@pytest.mark.parametrize("rate", [48_000, 16_000])
def test_resampling_keeps_duration_and_voice(synthesizer: SpeechSynthesizer, rate: int) -> None:
    speech = synthesizer.synthesize(SENTENCE)
    out = resample_pcm(speech.pcm, speech.sample_rate, rate)
    expected = len(speech.pcm) / 2 * rate / speech.sample_rate
    assert abs(len(out) / 2 - expected) <= 0.01 * expected
    assert_voiced_speech(samples(out), rate)


def test_resampling_to_the_same_rate_is_identity() -> None:
    pcm = np.arange(-500, 500, dtype=np.int16).tobytes()
    assert resample_pcm(pcm, NATIVE_RATE, NATIVE_RATE) == pcm
    assert resample_pcm(b"", NATIVE_RATE, 48_000) == b""


def test_speech_pcm_is_at_the_requested_rate() -> None:
    pcm = speech_pcm(SENTENCE, 16_000)
    assert 1.0 < len(pcm) / 2 / 16_000 < 6.0
    assert_voiced_speech(samples(pcm), 16_000)


@pytest.mark.parametrize("rate", [48_000, 16_000])
def test_write_speech_wav_includes_the_silences(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "guest.wav"
    duration = write_speech_wav(
        path, SENTENCE, sample_rate=rate, lead_silence_s=0.5, tail_silence_s=0.25
    )
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, rate)
        frames = wav.getnframes()
        x = samples(wav.readframes(frames))
    speech_s = len(speech_pcm(SENTENCE, rate)) / 2 / rate
    assert duration == pytest.approx(frames / rate)
    assert duration == pytest.approx(speech_s + 0.75, abs=0.05)
    lead, tail = int(0.5 * rate), int(0.25 * rate)
    assert not x[:lead].any()
    assert not x[-tail:].any()
    assert_voiced_speech(x[lead:-tail], rate)


def test_write_speech_wav_defaults_to_48k_speech_only(tmp_path: Path) -> None:
    path = tmp_path / "plain.wav"
    duration = write_speech_wav(path, OTHER_SENTENCE)
    with wave.open(str(path), "rb") as wav:
        assert wav.getframerate() == 48_000
        assert duration == pytest.approx(wav.getnframes() / 48_000)
    assert 1.0 < duration < 6.0
