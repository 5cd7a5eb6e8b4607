"""The offline host: no network, no key. It asks questions in a real synthesized voice, waits
for the guest's answer to end, transcribes it, and asks the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Protocol

from rtc.bridge.base import (
    GUEST_SAMPLE_RATE,
    HostAudio,
    HostEvent,
    Interrupted,
    Transcript,
    TurnComplete,
)
from rtc.bridge.brief import HostBrief
from rtc.bridge.offline.plan import REPROMPT, QuestionPlan
from rtc.bridge.offline.transcriber import Transcriber, TranscriberError

logger = logging.getLogger(__name__)

VOICES = {
    "The Historian": "en+f3",
    "The Celebrator": "en-us+m3",
    "The Journalist": "en-us+f4",
    "The Jester": "en-us+m7",
    "The Roast Master": "en+m1",
}
CHUNK_S = 0.2
EVENT_QUEUE = 64
MAX_UTTERANCE_BYTES = 60 * GUEST_SAMPLE_RATE * 2


class Speech(Protocol):
    """Synthesized speech: mono s16le PCM."""

    pcm: bytes
    sample_rate: int


class Synthesizer(Protocol):
    """Text to speech, off the event loop."""

    async def speak(self, text: str, *, voice: str, rate_wpm: int) -> Any: ...


class OfflineHost:
    """A `HostBridge` that runs entirely on this machine.

    The synthesizer and transcriber are shared by every interview of the process (their
    models load once); the host borrows them and does not close them.
    """

    def __init__(
        self,
        brief: HostBrief,
        *,
        synthesizer: Synthesizer,
        transcriber: Transcriber,
        think_pause_s: float = 0.4,
        reprompt_after_s: float = 10.0,
        rate_wpm: int = 170,
    ) -> None:
        self._plan = QuestionPlan(brief)
        self._voice = VOICES.get(brief.vibe, "en-us")
        self._synthesizer = synthesizer
        self._transcriber = transcriber
        self._think_pause_s = think_pause_s
        self._reprompt_after_s = reprompt_after_s
        self._rate_wpm = rate_wpm
        self._events: asyncio.Queue[HostEvent | None] = asyncio.Queue(EVENT_QUEUE)
        self._turn: asyncio.Task[None] | None = None
        self._idle: asyncio.Task[None] | None = None
        self._nudged = False
        self._work: set[asyncio.Task[None]] = set()
        self._utterance = bytearray()
        self._hearing = False
        self._closed = False

    async def start(self) -> None:
        self._speak_next(self._plan.opening())

    async def send_audio(self, pcm: bytes) -> None:
        if self._hearing and len(self._utterance) < MAX_UTTERANCE_BYTES:
            self._utterance += pcm

    async def send_video(self, jpeg: bytes) -> None:
        """The offline host cannot see: stills of the guest are ignored."""

    async def guest_started_speaking(self) -> None:
        self._hearing = True
        self._nudged = False
        self._utterance.clear()
        await self._cancel_turn()

    async def guest_stopped_speaking(self) -> None:
        self._hearing = False
        utterance = bytes(self._utterance)
        self._utterance.clear()
        self._spawn(self._answer(utterance))

    async def inject(self, text: str, *, now: bool) -> None:
        if not now:
            self._plan.add_note(text)
            return
        await self._cancel_turn()
        await self._emit(Interrupted())
        self._speak_next(self._plan.address_now(text))

    async def set_topics(self, topics: list[str]) -> None:
        self._plan.set_topics(topics)

    async def wrap_up(self) -> None:
        self._plan.wrap_up()
        if not self._hearing and (self._turn is None or self._turn.done()):
            await self._cancel_turn()
            self._speak_next(self._plan.next_line())

    async def events(self) -> AsyncIterator[HostEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    def report(self) -> dict[str, Any]:
        return {}  # no connection to tell about

    async def close(self) -> None:
        self._closed = True
        await self._cancel_turn()
        for task in list(self._work):
            task.cancel()
        await asyncio.gather(*self._work, return_exceptions=True)
        with contextlib.suppress(asyncio.QueueFull):
            self._events.put_nowait(None)

    async def _answer(self, utterance: bytes) -> None:
        try:
            text = await self._transcriber.transcribe(utterance, GUEST_SAMPLE_RATE)
        except TranscriberError as error:  # a lost line must not stop the interview
            logger.warning("the offline host did not hear the guest's answer: %s", error)
            text = ""
        await self._emit(Transcript("user", text or "…", final=True))
        await asyncio.sleep(self._think_pause_s)
        if not self._hearing and (self._turn is None or self._turn.done()):
            self._speak_next(self._plan.next_line())

    def _speak_next(self, line: str | None) -> None:
        if line is None or self._closed:
            return
        self._turn = asyncio.create_task(self._say(line))

    async def _say(self, line: str) -> None:
        try:
            speech = await self._synthesizer.speak(line, voice=self._voice, rate_wpm=self._rate_wpm)
        except (ValueError, RuntimeError):
            logger.exception("the offline host could not synthesize %r", line)
            await self._emit(Transcript("ai", line, final=True))
            await self._emit(TurnComplete())
            return
        await self._emit(Transcript("ai", line, final=True))
        chunk = int(speech.sample_rate * CHUNK_S) * 2
        for start in range(0, len(speech.pcm), chunk):
            await self._emit(HostAudio(speech.pcm[start : start + chunk], speech.sample_rate))
        await self._emit(TurnComplete())
        await asyncio.sleep(len(speech.pcm) / 2 / speech.sample_rate)  # while it plays
        if self._plan.closing_due:
            self._speak_next(self._plan.next_line())
        else:
            self._idle = asyncio.create_task(self._nudge_when_silent())

    async def _nudge_when_silent(self) -> None:
        """A silent guest hears one gentle nudge, then the next question."""
        await asyncio.sleep(self._reprompt_after_s)
        if self._hearing or self._plan.finished:
            return
        if self._nudged:
            self._speak_next(self._plan.next_line())
        else:
            self._nudged = True
            self._speak_next(REPROMPT)

    async def _cancel_turn(self) -> None:
        """Stop talking, and stop waiting to nudge."""
        for task in (self._turn, self._idle):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._turn = self._idle = None

    async def _emit(self, event: HostEvent) -> None:
        await self._events.put(event)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._work.add(task)
        task.add_done_callback(self._work.discard)
