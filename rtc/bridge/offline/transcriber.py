"""Speech-to-text for the guest's turns, so their words reach the live transcript.

A bridge hands a `Transcriber` one whole utterance (the guest's turn as cut by the
voice-activity detector, mono s16le) and gets its text back. Without network the offline
host uses PocketSphinx with the en-us model shipped in its wheel, decoded in processes of its
own (`rtc.bridge.offline.recognizer`); with an OpenAI key, Whisper does the job instead
(`build_transcriber` picks).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
import wave
from dataclasses import dataclass
from typing import Protocol

import openai

from rtc.bridge.offline import recognizer
from rtc.bridge.offline.recognizer import OK, REPLY, REQUEST

log = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 60.0
MAX_WORKERS = 4
QUEUED_PER_WORKER = 8
STOP_GRACE_S = 1.0
RECOGNIZER_MODULE = recognizer.__name__  # run as `python -m`
WHISPER_MIN_SECONDS = 0.1  # the API answers 400 "Audio file is too short" below this


class TranscriberError(RuntimeError):
    """One utterance could not be transcribed; the message says why and what happens next."""


class Transcriber(Protocol):
    """Turns one utterance of a guest into text; one instance may serve many interviews."""

    async def transcribe(self, pcm: bytes, sample_rate: int) -> str:
        """The text of one whole utterance (mono s16le at `sample_rate`), "" if none.

        Raises `TranscriberError` when this utterance is lost; the next call may succeed.
        """

    async def close(self) -> None:
        """Release the worker processes or HTTP client; no `transcribe` call may follow."""


def default_workers() -> int:
    """One recognizer process per CPU this process may use, less one for the server's loop."""
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0)) - 1))


@dataclass(slots=True)
class _Job:
    """One utterance waiting for a recognizer, and where its text goes."""

    pcm: bytes
    sample_rate: int
    text: asyncio.Future[str]


class _RecognizerDied(TranscriberError):
    """The recognizer process ended under a request."""


class _Recognizer:
    """One recognizer process and its pipes; one request at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._busy = False

    @classmethod
    async def start(cls) -> _Recognizer:
        """A new process; it loads the model while the first request waits in its pipe."""
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                RECOGNIZER_MODULE,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            raise TranscriberError(
                f"cannot start the speech-recognition process with {sys.executable}: {error}"
            ) from error
        return cls(process)

    @property
    def pid(self) -> int:
        return self._process.pid

    async def recognize(self, pcm: bytes, sample_rate: int) -> str:
        """The words of one utterance; `_RecognizerDied` if the process ends under it."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        self._busy = True  # until the reply is in: cancelled before that, `stop` kills
        try:
            stdin.write(REQUEST.pack(sample_rate, len(pcm)))
            stdin.write(pcm)
            await stdin.drain()
            status, size = REPLY.unpack(await stdout.readexactly(REPLY.size))
            text = (await stdout.readexactly(size)).decode()
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            # Its pipes are gone, so it is ending: wait for it rather than kill it, since
            # `kill` polls the process and would reap it under asyncio's child watcher, which
            # then reports exit code 255 (cpython issue 127049).
            self._busy = False
            code = await self.stop()
            raise _RecognizerDied(
                f"the speech-recognition process {self.pid} died (exit code {code})"
            ) from error
        self._busy = False
        if status != OK:
            raise TranscriberError(f"PocketSphinx failed on an utterance: {text}")
        return text

    async def stop(self) -> int:
        """End the process, at once if it is decoding (nobody waits for that text any more),
        else when it reads the end of its stdin; its exit code."""
        process = self._process
        if self._busy:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        if process.stdin is not None:
            process.stdin.close()
        try:
            return await asyncio.wait_for(process.wait(), STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            return await process.wait()


class _Worker:
    """Keeps one recognizer process up for a `PocketSphinxTranscriber`: starts it, replaces
    it when it dies, and stops it."""

    def __init__(self, pids: set[int]) -> None:
        self._pids = pids
        self._process: _Recognizer | None = None

    async def warm_up(self) -> None:
        """Start the process now, so that the first utterance does not wait for the model."""
        try:
            await self._running()
        except TranscriberError as error:
            log.error("%s; the next utterance tries again", error)

    async def recognize(self, pcm: bytes, sample_rate: int) -> str:
        """The words of one utterance. A process that dies under it (killed, out of memory,
        or one that died idle) is replaced, and the utterance tried once more."""
        try:
            return await (await self._running()).recognize(pcm, sample_rate)
        except _RecognizerDied as died:
            self._forget()
            log.warning("%s; a new one takes the utterance again", died)
        try:
            return await (await self._running()).recognize(pcm, sample_rate)
        except _RecognizerDied as died:
            self._forget()
            raise TranscriberError(
                f"{died}, the second on this utterance: it is lost; a new process takes the next"
            ) from died

    async def stop(self) -> None:
        if self._process is not None:
            await self._process.stop()
            self._forget()

    async def _running(self) -> _Recognizer:
        if self._process is None:
            self._process = await _Recognizer.start()
            self._pids.add(self._process.pid)
        return self._process

    def _forget(self) -> None:
        if self._process is not None:
            self._pids.discard(self._process.pid)
            self._process = None


class PocketSphinxTranscriber:
    """Offline recognition, so the host without network still transcribes the guest.

    Decoding is CPU work that holds the GIL, so it runs in `workers` recognizer processes
    (default: one per CPU but one), each kept up by a task of this instance that feeds it one
    utterance at a time. The processes start, and load the model (~0.5-1 s of CPU), when the
    transcriber is built inside a running loop, else on the first call: build one transcriber
    per server, not one per interview. At most `QUEUED_PER_WORKER` utterances per process
    wait; past that an utterance is refused with `TranscriberError`. Utterances longer than
    `max_seconds` are cut to their last `max_seconds`, which bounds the time and memory one
    call can take. Each process's decoder adapts to the guests' channel over their turns.
    """

    def __init__(
        self, *, max_seconds: float = DEFAULT_MAX_SECONDS, workers: int | None = None
    ) -> None:
        if max_seconds <= 0:
            raise ValueError("max_seconds must be positive")
        if workers is not None and workers < 1:
            raise ValueError("workers must be at least 1")
        self._max_seconds = max_seconds
        self._workers = workers or default_workers()
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue(self._workers * QUEUED_PER_WORKER)
        self._serving: list[asyncio.Task[None]] = []
        self._pids: set[int] = set()
        self._closed = False
        with contextlib.suppress(RuntimeError):  # no running loop: start on the first call
            asyncio.get_running_loop()
            self._start()

    @property
    def pids(self) -> frozenset[int]:
        """The recognizer processes running now."""
        return frozenset(self._pids)

    async def transcribe(self, pcm: bytes, sample_rate: int) -> str:
        """The recognised words, lower-case and space-separated ("" for silence or noise)."""
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        if self._closed:
            raise TranscriberError("the transcriber is closed")
        self._start()
        keep = max(1, int(self._max_seconds * sample_rate)) * 2
        job = _Job(
            pcm[: len(pcm) // 2 * 2][-keep:],
            sample_rate,
            asyncio.get_running_loop().create_future(),
        )
        try:
            self._jobs.put_nowait(job)
        except asyncio.QueueFull:
            raise TranscriberError(
                f"speech recognition is {self._jobs.qsize()} utterances behind: this one is "
                "not transcribed"
            ) from None
        return await job.text

    async def close(self) -> None:
        """Stop the recognizer processes; utterances still waiting fail, one under way is lost."""
        self._closed = True
        for task in self._serving:
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)
        self._serving.clear()
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            if not job.text.done():
                job.text.set_exception(TranscriberError("the transcriber was closed"))

    def _start(self) -> None:
        if not self._serving:
            self._serving = [
                asyncio.create_task(self._serve(), name=f"pocketsphinx-{index}")
                for index in range(self._workers)
            ]

    async def _serve(self) -> None:
        """Feed one worker the queue, one utterance at a time."""
        worker = _Worker(self._pids)
        job: _Job | None = None
        try:
            await worker.warm_up()
            while True:
                job = await self._jobs.get()
                if job.text.done():  # its caller gave up while it waited
                    continue
                try:
                    text = await worker.recognize(job.pcm, job.sample_rate)
                except TranscriberError as error:
                    if not job.text.done():
                        job.text.set_exception(error)
                    continue
                if not job.text.done():
                    job.text.set_result(text)
        finally:
            if job is not None and not job.text.done():
                job.text.set_exception(
                    TranscriberError("the transcriber stopped before this utterance was decoded")
                )
            await worker.stop()


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
