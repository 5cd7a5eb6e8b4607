"""Speech-to-text for the guest's turns, so their words reach the live transcript.

A bridge hands a `Transcriber` one whole utterance (the guest's turn as cut by the
voice-activity detector, mono s16le) and gets its text back. Without network the offline
host uses PocketSphinx with the en-us model shipped in its wheel; with an OpenAI key,
Whisper does the job instead (`build_transcriber` picks).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import wave
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import av
import numpy as np
import openai
import pocketsphinx  # type: ignore[import-untyped]
from av.audio.resampler import AudioResampler

log = logging.getLogger(__name__)

SPHINX_SAMPLE_RATE = 16_000
DEFAULT_MAX_SECONDS = 60.0
WHISPER_MIN_SECONDS = 0.1  # the API answers 400 "Audio file is too short" below this

# The decoder holds the GIL while it works, so it is fed 20 ms of audio at a time and offers
# the GIL to the event loop's thread between two calls: the loop then waits for one chunk's
# decoding (a few ms), not the utterance's. For the same reason the second, "flat" search pass,
# which runs over the whole utterance inside `end_utt` (0.1-0.3 s), is off; the lattice's best
# path is still rescored.
_CHUNK_BYTES = SPHINX_SAMPLE_RATE // 50 * 2


class Transcriber(Protocol):
    """Turns one utterance of a guest into text; one instance may serve many interviews."""

    async def transcribe(self, pcm: bytes, sample_rate: int) -> str:
        """The text of one whole utterance (mono s16le at `sample_rate`), "" if none."""

    async def close(self) -> None:
        """Release the worker thread or HTTP client; no `transcribe` call may follow."""


class PocketSphinxTranscriber:
    """Offline recognition, so the host without network still transcribes the guest.

    Decoding is CPU work: it runs on one worker thread owned by this instance, where the
    decoder is created once and reused; calls queue behind each other. The decoder starts
    loading at construction (~0.4 s, during which the GIL is held: build one transcriber per
    process, not one per utterance or interview). Input at another rate than
    16 kHz is resampled. Utterances longer than `max_seconds` are cut to their last
    `max_seconds`, which bounds the time and memory one call can take. The decoder adapts to
    the guest's channel (live cepstral mean normalisation) over the interview's turns.
    """

    def __init__(self, *, max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
        if max_seconds <= 0:
            raise ValueError("max_seconds must be positive")
        self._max_seconds = max_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pocketsphinx")
        # Created on the worker thread, first in its queue; only ever used there.
        self._decoder: Future[pocketsphinx.Decoder] = self._executor.submit(
            pocketsphinx.Decoder, loglevel="FATAL", fwdflat=False
        )

    async def transcribe(self, pcm: bytes, sample_rate: int) -> str:
        """The recognised words, lower-case and space-separated ("" for silence or noise)."""
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._decode, pcm, sample_rate)

    async def close(self) -> None:
        """Let the decodes already asked for finish, then stop the worker thread."""
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    def _decode(self, pcm: bytes, sample_rate: int) -> str:
        keep = max(1, int(self._max_seconds * sample_rate)) * 2
        audio = to_16k(pcm[: len(pcm) // 2 * 2][-keep:], sample_rate)
        if not audio:
            return ""
        decoder = self._decoder.result()  # done: it ran first; raises if the model did not load
        decoder.start_utt()
        for start in range(0, len(audio), _CHUNK_BYTES):
            decoder.process_raw(audio[start : start + _CHUNK_BYTES])
            time.sleep(0)  # releases the GIL, which a waiting event loop takes
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return "" if hypothesis is None else " ".join(hypothesis.hypstr.split())


def to_16k(pcm: bytes, sample_rate: int) -> bytes:
    """Mono s16le at `sample_rate` → 16 kHz mono s16le (band-limited, via libswresample)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    if sample_rate == SPHINX_SAMPLE_RATE or samples.size == 0:
        return samples.tobytes()
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = sample_rate
    resampler = AudioResampler(format="s16", layout="mono", rate=SPHINX_SAMPLE_RATE)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return b"".join(bytes(out.planes[0])[: out.samples * 2] for out in frames)


class WhisperTranscriber:
    """OpenAI Whisper, better than PocketSphinx when the server may use the network.

    Failures (HTTP errors, timeouts, no connection) are logged and give "": a lost line in
    the transcript must not stop the interview. `timeout` is per attempt; the SDK retries
    `max_retries` times on timeouts and 5xx answers.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        model: str = "whisper-1",
        *,
        timeout: float = 15.0,
        max_retries: int = 1,
    ) -> None:
        self._model = model
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    async def transcribe(self, pcm: bytes, sample_rate: int) -> str:
        """The text Whisper heard, or "" when the audio is too short or the request failed."""
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        if len(pcm) // 2 < WHISPER_MIN_SECONDS * sample_rate:
            return ""
        file = ("speech.wav", wav_bytes(pcm, sample_rate), "audio/wav")
        try:
            result = await self._client.audio.transcriptions.create(model=self._model, file=file)
        except openai.APIStatusError as error:
            log.warning("whisper transcription failed: HTTP %d %s", error.status_code, error)
            return ""
        except openai.APITimeoutError:
            log.warning("whisper transcription timed out")
            return ""
        except openai.OpenAIError as error:
            log.warning("whisper transcription failed: %r", error)
            return ""
        return result.text.strip()

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """A complete in-memory WAV file (mono, 16-bit) holding `pcm`."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm[: len(pcm) // 2 * 2])
    return buffer.getvalue()


def build_transcriber(openai_api_key: str | None, openai_base_url: str | None) -> Transcriber:
    """Whisper when an OpenAI key is configured, otherwise the offline PocketSphinx."""
    if openai_api_key and openai_api_key.strip():
        return WhisperTranscriber(openai_api_key.strip(), base_url=openai_base_url or None)
    return PocketSphinxTranscriber()
