"""Gemini Live as the interview host: google-genai's live API behind `HostBridge`.

One bridge holds one live session (`client.aio.live.connect`) and one reader task of its
own. The guest's 16 kHz audio goes up as `realtimeInput.audio` in 60 ms messages; the
host's 24 kHz audio, transcripts and turn events come back on a bounded queue that
`events()` reads. Director notes, topic changes and the wrap-up are client content in the
same session: nothing reconnects. Turn-taking is the service's own voice-activity
detection, so the engine's VAD hints are not forwarded.

Transcripts: a partial `Transcript` carries the side's text of the current turn so far;
each turn ends in exactly one final line per side (the guest's when the host starts
answering or at turn end, the host's at turn end or when interrupted).

The event queue holds `EVENT_QUEUE_SIZE` events and the reader task never waits on it.
Should the reader of `events()` fall that far behind, room is made by dropping, in this
order: a partial transcript a later line of the same side already contains, else the
oldest host audio (stale by then), else (with hundreds of unread turn events, a reader
gone for good) the oldest event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from google import genai
from google.genai import errors, types
from google.genai.live import AsyncSession
from websockets.exceptions import ConnectionClosed

from rtc.bridge.base import (
    GUEST_SAMPLE_RATE,
    HostAudio,
    HostEvent,
    HostStatus,
    Interrupted,
    Transcript,
    TurnComplete,
)
from rtc.bridge.brief import HostBrief

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "gemini-3.8-live"
"""Google's default Live model for low-latency voice dialogue (native audio, GA)."""
HOST_SAMPLE_RATE = 24_000
"""The rate Live models speak at, used when a chunk's mime type does not say."""
AUDIO_BATCH_MS = 60
"""Guest audio per realtimeInput message: the engine's 20 ms chunks, three at a time."""
EVENT_QUEUE_SIZE = 512
"""About 20 s of host audio at 40 ms a chunk, plus its transcript events."""

GUEST_MIME_TYPE = f"audio/pcm;rate={GUEST_SAMPLE_RATE}"
_BATCH_BYTES = GUEST_SAMPLE_RATE * AUDIO_BATCH_MS // 1000 * 2
OPENING = "The guest has joined the call. Welcome them and ask your first question."
WRAP_UP = "Time is nearly up: thank the guest warmly and close the interview now."


class GeminiLiveBridge:
    """The AI host of one interview, played by a Gemini Live model."""

    def __init__(
        self,
        brief: HostBrief,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        http_options: types.HttpOptions | None = None,
    ) -> None:
        """A host for `brief`; `base_url` and `http_options` (e.g. an `ssl` context in
        `async_client_args`) reach another endpoint than Google's, such as a test fake."""
        options = http_options or types.HttpOptions()
        if base_url is not None:
            options = options.model_copy(update={"base_url": base_url})
        self._brief = brief
        self._api_key = api_key
        self._model = model
        self._http_options = options
        self._events: asyncio.Queue[HostEvent | None] = asyncio.Queue(EVENT_QUEUE_SIZE)
        self._stack = contextlib.AsyncExitStack()
        self._client: genai.Client | None = None
        self._session: AsyncSession | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connected = False
        self._closed = False
        self._ended = False
        self._pending_audio = bytearray()
        self._guest_line: list[str] = []
        self._host_line: list[str] = []
        self._resumption_handle: str | None = None
        self._go_away: str | None = None
        self._dropped = 0

    @property
    def resumption_handle(self) -> str | None:
        """The newest handle the service offered to resume this session with, if any."""
        return self._resumption_handle

    @property
    def go_away(self) -> str | None:
        """The time left (e.g. "10s") the service announced before it drops the connection."""
        return self._go_away

    def live_config(self) -> types.LiveConnectConfig:
        """The session's setup: spoken replies in the vibe's voice, both sides transcribed,
        resumable, with a sliding context window so long interviews do not hit the limit."""
        voice = types.PrebuiltVoiceConfig(voice_name=self._brief.voice)
        return types.LiveConnectConfig(
            response_modalities=[types.Modality.AUDIO],
            speech_config=types.SpeechConfig(
                voice_config=types.VoiceConfig(prebuilt_voice_config=voice)
            ),
            system_instruction=self._brief.system_instruction(),
            input_audio_transcription=types.AudioTranscriptionConfig(),
            output_audio_transcription=types.AudioTranscriptionConfig(),
            session_resumption=types.SessionResumptionConfig(),
            context_window_compression=types.ContextWindowCompressionConfig(
                sliding_window=types.SlidingWindow()
            ),
        )

    async def start(self) -> None:
        """Connect, start reading, and ask the host to open the interview."""
        if self._client is not None or self._closed:
            raise RuntimeError("a GeminiLiveBridge starts once")
        # Building a client loads CA certificates from disk: keep that off the event loop.
        self._client = await asyncio.to_thread(
            genai.Client, vertexai=False, api_key=self._api_key, http_options=self._http_options
        )
        try:
            connect = self._client.aio.live.connect(model=self._model, config=self.live_config())
            session = await self._stack.enter_async_context(connect)
        except BaseException:
            await self._release()
            raise
        logger.info("Gemini Live session %s open (%s)", session.session_id, self._model)
        self._session = session
        self._connected = True
        self._reader = asyncio.create_task(self._read(session), name="gemini-live-reader")
        await self._say(OPENING, turn_complete=True)

    async def send_audio(self, pcm: bytes) -> None:
        """Queue the guest's audio; it goes up in `AUDIO_BATCH_MS` messages."""
        self._require_started()
        if not self._connected:
            return  # the disconnection was reported on `events()`
        self._pending_audio += pcm
        while len(self._pending_audio) >= _BATCH_BYTES:
            batch = bytes(self._pending_audio[:_BATCH_BYTES])
            del self._pending_audio[:_BATCH_BYTES]
            await self._send_audio(batch)

    async def guest_started_speaking(self) -> None:
        """Not forwarded: the service runs its own VAD on the audio (and barges in itself)."""

    async def guest_stopped_speaking(self) -> None:
        """Not forwarded: the service's VAD ends the guest's turn from the audio itself."""

    async def inject(self, text: str, *, now: bool) -> None:
        """A director's note as a user turn: answered at once if `now` (this also cuts the
        host short if it is speaking), else taken into account on the host's next turn."""
        await self._say(f"[Director] {text}", turn_complete=now)

    async def set_topics(self, topics: list[str]) -> None:
        """Tell the host its new list of topics, for its next turns."""
        if topics:
            note = "From now on, cover these topics, in order: " + "; ".join(topics) + "."
        else:
            note = "There is no list of topics any more: follow the conversation."
        await self._say(f"[Director] {note}", turn_complete=False)

    async def wrap_up(self) -> None:
        """Ask the host to thank the guest and close the interview, at once."""
        await self._say(f"[Director] {WRAP_UP}", turn_complete=True)

    async def events(self) -> AsyncIterator[HostEvent]:
        """The host's audio, transcripts and turn events, until `close` or a disconnection."""
        while (event := await self._events.get()) is not None:
            yield event
        self._events.put_nowait(None)  # so that a later reader ends at once too

    async def close(self) -> None:
        """Stop reading, send the rest of the guest's audio, disconnect; `events` ends.

        Every step is idempotent, so closing twice, or again after a cancelled close, is safe.
        """
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.wait({reader})
        if self._pending_audio and self._connected:
            tail = bytes(self._pending_audio)
            self._pending_audio.clear()
            await self._send_audio(tail)
        self._connected = False
        self._session = None
        await self._release()
        self._finish_lines()
        self._end()

    async def _say(self, text: str, *, turn_complete: bool) -> None:
        """Send `text` as a user turn of client content."""
        session = self._require_started()
        if not self._connected:
            logger.warning("Gemini Live is disconnected: a client turn was dropped")
            return
        turn = types.Content(role="user", parts=[types.Part(text=text)])
        with contextlib.suppress(ConnectionClosed):  # the reader reports the disconnection
            await session.send_client_content(turns=turn, turn_complete=turn_complete)

    async def _send_audio(self, pcm: bytes) -> None:
        session = self._require_started()
        blob = types.Blob(data=pcm, mime_type=GUEST_MIME_TYPE)
        with contextlib.suppress(ConnectionClosed):  # the reader reports the disconnection
            await session.send_realtime_input(audio=blob)

    def _require_started(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("GeminiLiveBridge is not started (or already closed)")
        return self._session

    async def _read(self, session: AsyncSession) -> None:
        """Turn server messages into events until the connection ends."""
        try:
            while True:  # receive() stops after each turnComplete
                async for message in session.receive():
                    self._on_message(message)
        except errors.APIError as exc:  # how the SDK reports a close frame
            reason = f"{exc.code} {exc.details}".strip()
        except Exception as exc:
            logger.exception("Gemini Live reader failed")
            reason = repr(exc)
        logger.info("Gemini Live session ended: %s", reason)
        self._connected = False
        self._finish_lines()
        self._emit(HostStatus("disconnected", reason))
        self._end()

    def _on_message(self, message: types.LiveServerMessage) -> None:
        update = message.session_resumption_update
        if update is not None and update.resumable and update.new_handle:
            self._resumption_handle = update.new_handle
        if message.go_away is not None:
            self._go_away = message.go_away.time_left or "0s"
            self._emit(HostStatus("going_away", self._go_away))
        if message.server_content is not None:
            self._on_content(message.server_content)

    def _on_content(self, content: types.LiveServerContent) -> None:
        heard = content.input_transcription
        if heard is not None and heard.text:
            self._guest_line.append(heard.text)
            self._emit(Transcript("user", "".join(self._guest_line).strip(), final=False))
        if content.model_turn is not None:
            for part in content.model_turn.parts or []:
                blob = part.inline_data
                if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/"):
                    self._finish_guest_line()
                    self._emit(HostAudio(blob.data, _sample_rate(blob.mime_type or "")))
        said = content.output_transcription
        if said is not None and said.text:
            self._finish_guest_line()
            self._host_line.append(said.text)
            self._emit(Transcript("ai", "".join(self._host_line).strip(), final=False))
        if content.interrupted:
            self._emit(Interrupted())
            self._finish_host_line()
        if content.turn_complete:
            self._finish_lines()
            self._emit(TurnComplete())

    def _finish_guest_line(self) -> None:
        text = "".join(self._guest_line).strip()
        self._guest_line.clear()
        if text:
            self._emit(Transcript("user", text, final=True))

    def _finish_host_line(self) -> None:
        text = "".join(self._host_line).strip()
        self._host_line.clear()
        if text:
            self._emit(Transcript("ai", text, final=True))

    def _finish_lines(self) -> None:
        self._finish_guest_line()
        self._finish_host_line()

    def _emit(self, event: HostEvent | None) -> None:
        """Queue `event` (None ends `events`) without waiting; see the module docstring."""
        if self._ended:
            return
        try:
            self._events.put_nowait(event)
            return
        except asyncio.QueueFull:
            pass
        backlog = [self._events.get_nowait() for _ in range(self._events.qsize())]
        backlog.append(event)
        del backlog[_victim(backlog)]
        for kept in backlog:
            self._events.put_nowait(kept)
        self._dropped += 1
        if self._dropped == 1 or self._dropped % 100 == 0:
            logger.warning("events() is not keeping up: %d host events dropped", self._dropped)

    def _end(self) -> None:
        self._emit(None)
        self._ended = True

    async def _release(self) -> None:
        """Leave the live session (closing its socket) and close the client."""
        try:
            await self._stack.aclose()
        finally:
            client, self._client = self._client, None
            if client is not None:
                await client.aio.aclose()
                client.close()


def _victim(backlog: list[HostEvent | None]) -> int:
    """Which queued event to drop for room (see the module docstring), in one pass."""
    later_roles: set[str] = set()
    superseded: int | None = None
    for index in range(len(backlog) - 1, -1, -1):
        event = backlog[index]
        if isinstance(event, Transcript):
            if not event.final and event.role in later_roles:
                superseded = index
            later_roles.add(event.role)
    if superseded is not None:
        return superseded
    return next((i for i, e in enumerate(backlog) if isinstance(e, HostAudio)), 0)


def _sample_rate(mime_type: str) -> int:
    """The `rate` parameter of an audio mime type such as "audio/pcm;rate=24000"."""
    for parameter in mime_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip() == "rate" and value.strip().isdigit():
            return int(value)
    return HOST_SAMPLE_RATE
