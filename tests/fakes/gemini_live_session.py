"""One connection to the Gemini Live fake: setup, guest audio, client content, host turns.

A host turn starts when client content completes a turn, or when the fake's energy VAD
hears the guest stop speaking. It sends (for spoken turns) inputTranscription fragments
of the configured "heard" text, then the host's audio as modelTurn inlineData chunks
interleaved with outputTranscription fragments, then generationComplete, turnComplete
and, when setup asked for it, a sessionResumptionUpdate. Guest speech starting during a
turn stops it with `interrupted` (then turnComplete), as the real service does.

A resume is refused with 1007 for a handle the fake did not issue (or when told to refuse
one), and with 1011 while the handle's session has another socket open, unless the fake is
lenient (`one_socket_per_session=False`); see `gemini_live`.

Video (realtimeInput.video) must be a JPEG the fake can decode, else the connection closes
with 1007. A connection that received video and has no context window compression closes
`video_session_limit` seconds after its setup, as the service ends such sessions at two
minutes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import av
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from tests.fakes.audio import GUEST_RATE, HOST_RATE, EnergyVad, voiced

if TYPE_CHECKING:
    from tests.fakes.gemini_live import FakeConnection, FakeGeminiLive

DIRECTOR = "[Director]"
MEDIA_CHUNKS_REFUSED = (
    "realtime_input.media_chunks is deprecated. Use audio, video, or text instead."
)
INVALID_ARGUMENT = "Request contains an invalid argument."
SESSION_LIMIT = (1011, "Deadline expired before operation could complete.")
"""How the fake ends an audio-with-video session that outlived its limit."""
SOCKET_OPEN = (1011, "Internal error encountered.")
"""How the fake refuses a resume while the session's earlier socket is open."""


@dataclass(frozen=True)
class FakeStill:
    """One realtimeInput.video image the fake received (a valid JPEG, or it closes)."""

    at: float
    """When it arrived (time.monotonic())."""
    width: int
    height: int
    size: int
    """Bytes of JPEG."""


class LiveSession:
    """The fake's side of one WebSocket; it owns its turn and lifetime tasks."""

    def __init__(self, fake: FakeGeminiLive, record: FakeConnection, ws: ServerConnection) -> None:
        """A session recording into `record`, configured by `fake.config`."""
        self._fake = fake
        self._config = fake.config
        self._record = record
        self._ws = ws
        self._vad = EnergyVad(
            threshold=self._config.speech_threshold,
            min_speech_ms=self._config.min_speech_ms,
            end_silence_ms=self._config.end_silence_ms,
        )
        self._resumable = False
        self.session = 0
        """The Live session this socket belongs to (0 until its setup is read)."""
        self._turn: asyncio.Task[None] | None = None
        self._lifetime: asyncio.Task[None] | None = None
        self._limit: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Serve the connection until either side closes it."""
        try:
            if await self._setup():
                await self._receive()
        except ConnectionClosed:
            pass
        finally:
            await self._ws.close()  # idempotent; waits for a close already under way
            owned = {t for t in (self._turn, self._lifetime, self._limit) if t is not None}
            for task in owned:
                task.cancel()
            if owned:
                await asyncio.wait(owned)

    @property
    def open(self) -> bool:
        """Whether the socket is open (no close frame sent or received yet)."""
        return self._ws.state is State.OPEN

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with `code` and record it."""
        if self._record.close_code is None:
            self._record.close_code = code
        await self._ws.close(code, reason)

    def go_away(self, grace: float, time_left: float | None = None) -> None:
        """Announce the connection's end now (unless it was announced), closing after `grace`
        (`time_left` is what goAway says, if not the grace)."""
        if self._lifetime is None and self.open:
            self._lifetime = asyncio.create_task(self._expire(0, grace, time_left))

    def drop(self) -> None:
        """Abort the TCP connection without a close frame."""
        if self._record.close_code is None:
            self._record.close_code = 1006
        self._ws.transport.abort()

    async def _setup(self) -> bool:
        message = _camel(json.loads(await self._ws.recv()))
        setup = message.get("setup")
        if not isinstance(setup, dict):
            await self.close(1007, "The first message must be a setup message.")
            return False
        self._record.setup = setup
        await self._fake.changed()
        await asyncio.sleep(self._config.setup_delay)
        resumption = setup.get("sessionResumption")
        self._resumable = isinstance(resumption, dict)
        handle = resumption.get("handle") if isinstance(resumption, dict) else None
        refused = self._config.refuse_resumption or handle not in self._fake.handles_issued
        if handle and (refused or self._fake.take_refusal()):
            await self.close(1007, "Invalid session resumption handle.")
            return False
        if handle:
            self.session = self._fake.handle_sessions[handle]
            strict = self._config.one_socket_per_session
            if strict and self._fake.socket_open(self.session, besides=self):
                self._fake.overlaps_refused += 1
                await self.close(*SOCKET_OPEN)
                return False
        else:
            self.session = self._fake.start_session()
        self._record.session = self.session
        await self._send({"setupComplete": {}})
        self._record.setup_at = time.monotonic()
        await self._fake.changed()
        if self._config.connection_lifetime is not None:
            self._lifetime = asyncio.create_task(self._expire(self._config.connection_lifetime))
        return True

    async def _receive(self) -> None:
        """Record every message, those that arrive after the fake closed the connection too
        (the client sent them before it learnt of the close: the service reads them)."""
        async for raw in self._ws:
            message = _camel(json.loads(raw))
            with contextlib.suppress(ConnectionClosed):  # an answer to a closed connection
                if "realtimeInput" in message:
                    await self._realtime_input(message["realtimeInput"])
                elif "clientContent" in message:
                    await self._client_content(message["clientContent"])
            await self._fake.changed()

    async def _realtime_input(self, realtime: dict[str, Any]) -> None:
        if "mediaChunks" in realtime:
            await self.close(1007, MEDIA_CHUNKS_REFUSED)
            return
        video = realtime.get("video")
        if video is not None:
            await self._video(video)
            return
        if realtime.get("audioStreamEnd"):
            self._record.audio_stream_ends += 1
            if self._vad.stream_ended():  # the service takes it as the end of speech
                await self._start_turn(heard=self._config.heard_text)
        audio = realtime.get("audio")
        if not isinstance(audio, dict):
            return
        mime = str(audio.get("mimeType", ""))
        if not mime.startswith("audio/pcm"):
            await self.close(1007, f"Unsupported audio mime type: {mime}")
            return
        pcm = _bytes(str(audio.get("data", "")))
        self._record.audio_mime_types.add(mime)
        self._record.audio_messages.append(len(pcm) // 2)
        self._record.samples_received += len(pcm) // 2
        limit = self._config.audio_lifetime
        if limit is not None and self._lifetime is None:
            if self._record.samples_received >= limit * GUEST_RATE:
                self._lifetime = asyncio.create_task(self._expire(0))
        for event in self._vad.feed(pcm):
            if event == "start":
                await self._interrupt()
            else:
                await self._start_turn(heard=self._config.heard_text)

    async def _video(self, video: Any) -> None:
        mime = str(video.get("mimeType", "")) if isinstance(video, dict) else ""
        if mime != "image/jpeg":
            await self.close(1007, f"Unsupported video mime type: {mime}")
            return
        data = _bytes(str(video.get("data", "")))
        size = await asyncio.to_thread(_jpeg_size, data)
        if size is None:
            await self.close(1007, INVALID_ARGUMENT)
            return
        self._record.stills.append(FakeStill(time.monotonic(), *size, len(data)))
        limit = self._config.video_session_limit
        compressed = "contextWindowCompression" in self._record.setup
        if limit is not None and not compressed and self._limit is None:
            self._limit = asyncio.create_task(self._end_session(limit))

    async def _end_session(self, limit: float) -> None:
        """Close the connection `limit` seconds after its setup (a session over its limit)."""
        started = self._record.setup_at or time.monotonic()
        await asyncio.sleep(max(0.0, started + limit - time.monotonic()))
        with contextlib.suppress(ConnectionClosed):
            await self.close(*SESSION_LIMIT)

    async def _client_content(self, content: dict[str, Any]) -> None:
        self._record.client_contents.append(content)
        for turn in content.get("turns", []):
            for part in turn.get("parts", []):
                text = str(part.get("text", "")).strip()
                if text.startswith(DIRECTOR):
                    self._fake.add_note(text.removeprefix(DIRECTOR).strip())
        if content.get("turnComplete"):
            await self._start_turn(heard=None)

    async def _start_turn(self, heard: str | None) -> None:
        """A host turn, after what the guest said (`heard`) or a client turn (None). The
        guest's turn is heard, and transcribed, now, even if the next one interrupts the
        reply before it began: the service transcribes what it heard whatever becomes of
        the reply ("Transcriptions are sent independently of other server messages and
        there is no guaranteed ordering", the Live API's Transcription message). The fake
        sends it once the turn ends, before the reply: one order the service may use. It
        does not yet stream it while the guest speaks, which the service may also do."""
        await self._interrupt()  # a new turn always ends the one under way
        self._fake.turns_started += 1
        number = f" (#{self._fake.turns_started})" if self._config.numbered else ""
        if heard is not None:
            heard += number
            self._record.heard.append(heard)
            self._record.heard_ms.append(self._vad.last_utterance_ms)
            self._fake.timeline.append("heard")
            for fragment in self._fragments(heard):
                await self._send({"serverContent": {"inputTranscription": {"text": fragment}}})
        self._turn = asyncio.create_task(self._play(heard, number))

    async def _interrupt(self) -> None:
        turn = self._turn
        if turn is None or turn.done():
            return
        turn.cancel()
        await asyncio.wait({turn})
        self._record.interruptions += 1
        await self._send({"serverContent": {"interrupted": True}})
        await self._end_turn()

    async def _play(self, heard: str | None, number: str) -> None:
        """One host turn (`number` marks its texts); it ends quietly if the connection goes
        away under it."""
        try:
            note = self._fake.take_note()
            reply = self._config.reply_text + number
            reply = f"{reply} {note}" if note else reply
            self._record.replies.append(reply)
            if not await self._speak(reply):
                return
            self._record.answered += heard is not None
            self._fake.timeline.append("replied")
            await self._send({"serverContent": {"generationComplete": True}})
            await self._end_turn()
        except ConnectionClosed:
            pass

    async def _speak(self, text: str) -> bool:
        """Stream the host's audio and transcript; False if a planned failure closed the link."""
        config = self._config
        audio = config.reply_audio or voiced(config.reply_seconds, rate=HOST_RATE, pitch=140.0)
        size = HOST_RATE * config.chunk_ms // 1000 * 2
        pieces = [audio[i : i + size] for i in range(0, len(audio), size)]
        words = self._fragments(text)
        sent = 0
        failure = self._fake.take_turn_failure()
        for index, piece in enumerate(pieces):
            if failure is not None and index == len(pieces) // 2:
                await self.close(*failure)
                return False
            data = base64.b64encode(piece).decode()
            inline = {"mimeType": f"audio/pcm;rate={HOST_RATE}", "data": data}
            await self._send({"serverContent": {"modelTurn": {"parts": [{"inlineData": inline}]}}})
            due = math.ceil((index + 1) * len(words) / len(pieces))
            for word in words[sent:due]:
                await self._send({"serverContent": {"outputTranscription": {"text": word}}})
            sent = max(sent, due)
            await asyncio.sleep(len(piece) / 2 / HOST_RATE * config.pace)
        return True

    async def _end_turn(self) -> None:
        self._record.turns_completed += 1
        await self._send({"serverContent": {"turnComplete": True}})
        if self._resumable:
            handle = self._fake.issue_handle(self.session)
            await self._send({"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})
        await self._fake.changed()

    async def _expire(
        self, lifetime: float, grace: float | None = None, time_left: float | None = None
    ) -> None:
        """goAway after `lifetime` (saying `time_left`, else the grace), then close once the
        grace period is over."""
        try:
            await asyncio.sleep(lifetime)
            grace = self._config.go_away_grace if grace is None else grace
            time_left = self._config.go_away_time_left if time_left is None else time_left
            said = grace if time_left is None else time_left
            self._record.go_aways += 1
            await self._send({"goAway": {"timeLeft": f"{said:g}s"}})
            await self._fake.changed()
            await asyncio.sleep(grace)
            await self.close(1000, "Connection lifetime reached.")
        except ConnectionClosed:
            pass

    async def _send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message).encode())

    def _fragments(self, text: str) -> list[str]:
        """`text` cut the way the service streams transcriptions: word by word, spaces kept,
        or (with `fragment_chars`) in pieces that split words."""
        size = self._config.fragment_chars
        if size is None:
            return re.findall(r"\s*\S+", text)
        return [text[i : i + size] for i in range(0, len(text), size)]


def _bytes(data: str) -> bytes:
    """A proto JSON `bytes` field: base64, standard or URL-safe (the SDK sends the latter)."""
    return base64.b64decode(data.translate(str.maketrans("-_", "+/")) + "=" * (-len(data) % 4))


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """A JPEG's width and height, or None if it is not one (PyAV must decode it)."""
    if not data.startswith(b"\xff\xd8"):
        return None
    try:
        pictures = av.CodecContext.create("mjpeg", "r").decode(av.Packet(data))
    except av.FFmpegError:
        return None
    return (pictures[0].width, pictures[0].height) if pictures else None


def _camel(value: Any) -> Any:
    """`value` with every key in lowerCamelCase, as a proto JSON parser reads either spelling."""
    if isinstance(value, dict):
        return {_camel_key(str(k)): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _camel_key(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
