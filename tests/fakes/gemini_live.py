"""A protocol-faithful fake of the Gemini Live API (BidiGenerateContent), served on 127.0.0.1.

It speaks what google-genai's `client.aio.live.connect` speaks: TLS WebSocket on
`/ws/google.ai.generativelanguage.<version>.GenerativeService.BidiGenerateContent`, the
API key in `x-goog-api-key`, a `setup` message answered by `setupComplete`, then JSON
messages. The client's keys come in either spelling (the SDK mixes `realtime_input` and
`turnComplete`, as proto JSON allows); the fake answers in camelCase, in binary frames,
as the real service does. What each connection does is in `gemini_live_session`.

Sessions: a setup without a handle starts a session; one with a handle the fake issued
resumes that handle's session. By default (`one_socket_per_session`) the fake refuses a
resume while an earlier socket of the same session is still open: it closes the new
socket with 1011 before `setupComplete`, as the live Gemini API does (reported, verified
against the live API, in aicc2025/sip-to-ai pull request 14: "Gemini rejects a resume with
1011 while an earlier socket of the same session is still open"). The reason text is the
service's generic one for 1011, "Internal error encountered."; no other is documented.

Where each refusal comes from, so that the fake is no more lenient than the service:
- a resume while the session's earlier socket is open: 1011 (sip-to-ai pull request 14,
  above); a fresh setup beside another session's socket is allowed, as separate sessions
  are;
- an unknown or expired handle: 1007 "Invalid session resumption handle." (the Live API's
  session-management guide: handles are valid for two hours);
- `realtimeInput.mediaChunks`: 1007, deprecated in favour of `audio`/`video` (the SDK's
  own deprecation message); audio that is not `audio/pcm`: 1007; video that is not a JPEG
  the fake can decode: 1007 (the API takes JPEG stills);
- audio with video past two minutes without context window compression: 1011 (the Live
  API's documented session limit; the close code is not documented, 1011 is our guess).
Test knobs that are not the service's behaviour: `setup_delay` (benchmarks model the
service's setup time; 0 in tests), `go_away_time_left` (a goAway that announces less time
than the fake then gives: the service closes when it says, so a test using it must not
rely on the later close), and the scripted failures (`fail_next_turn`,
`refuse_next_resumption`, `close_all`, `drop_all`, `go_away_now`).

    async with FakeGeminiLive(FakeGeminiConfig(pace=0)) as fake:
        client = genai.Client(api_key="k", http_options=HttpOptions(
            base_url=fake.base_url, async_client_args={"ssl": fake.client_ssl_context()}))
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from tests.fakes.gemini_live_session import FakeStill, LiveSession
from tests.fakes.tls import local_tls

WAIT_LIMIT = 20.0  # generous: CI machines may be busy
PATH = re.compile(r"/+ws/google\.ai\.generativelanguage\.(\w+)\.GenerativeService\.(\w+)")


@dataclass
class FakeGeminiConfig:
    """How the fake host behaves; every knob has a realistic default."""

    heard_text: str = "I grew up by the sea, in a small fishing village."
    """What the fake "hears" in each spoken guest turn (sent as inputTranscription)."""
    reply_text: str = "What a place to grow up! What did your parents do there?"
    """What the host says each turn (outputTranscription); a pending director note is appended."""
    reply_audio: bytes | None = None
    """The host's voice for each turn, 24 kHz s16le; None: a synthetic voice of reply_seconds."""
    reply_seconds: float = 1.0
    chunk_ms: int = 40
    """Audio per modelTurn message."""
    pace: float = 1.0
    """Wall-clock seconds per second of reply audio: 1 is real time, 0 as fast as possible."""
    speech_threshold: float = 300.0
    """RMS level (s16) above which a 20 ms guest frame counts as voiced."""
    min_speech_ms: int = 100
    end_silence_ms: int = 400
    """Silence after speech that ends the guest's turn (the service's automatic VAD)."""
    connection_lifetime: float | None = None
    """Send goAway this long after setup (None: never), then close after go_away_grace."""
    audio_lifetime: float | None = None
    """Send goAway once a connection has received this many seconds of guest audio: the
    audio is the clock of a time-compressed test, so the rotations do not depend on speed."""
    go_away_grace: float = 0.5
    go_away_time_left: float | None = None
    """The time left a goAway announces, if not the grace: the deadline a test wants, with
    the close itself later (the service closes when it closes)."""
    refuse_resumption: bool = False
    """Refuse every resumption handle with close 1007 (unknown handles always are)."""
    setup_delay: float = 0.0
    """Seconds the fake takes to answer a setup (benchmarks model the service's setup time)."""
    one_socket_per_session: bool = True
    """Refuse a resume with close 1011 while the session's earlier socket is open, as the
    Gemini API does; False is the lenient behaviour (both sockets live side by side)."""
    fragment_chars: int | None = None
    """Cut transcriptions into pieces of this many characters (mid-word); None: word by word."""
    numbered: bool = False
    """Number each turn's heard and reply texts ("… (#7)"), counting over all connections."""
    video_session_limit: float | None = None
    """Close a connection that received video this long after its setup, unless the setup
    asked for contextWindowCompression: the service ends audio-with-video sessions without
    compression at two minutes (shorter here, for tests)."""


@dataclass
class FakeConnection:
    """What one client connection sent and got: the fake's record for assertions."""

    path: str
    api_version: str
    api_key: str | None
    session: int = 0
    """The Live session this connection belongs to (a resume joins its handle's)."""
    setup: dict[str, Any] = field(default_factory=dict)
    setup_at: float | None = None
    """When setup completed (time.monotonic())."""
    samples_received: int = 0
    audio_messages: list[int] = field(default_factory=list)
    """Samples per realtimeInput.audio message, in order."""
    audio_mime_types: set[str] = field(default_factory=set)
    audio_stream_ends: int = 0
    stills: list[FakeStill] = field(default_factory=list)
    """Every realtimeInput.video image, in order."""
    client_contents: list[dict[str, Any]] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    """The guest's text of each spoken turn (sent as inputTranscription), in order."""
    heard_ms: list[int] = field(default_factory=list)
    """How long the guest spoke (voiced time) in each of those turns: a whole utterance."""
    answered: int = 0
    """Spoken turns whose reply played to its end (not interrupted, not cut by a close)."""
    replies: list[str] = field(default_factory=list)
    """The text of each host turn started, in order."""
    turns_completed: int = 0
    interruptions: int = 0
    go_aways: int = 0
    close_code: int | None = None
    """The code the fake closed this connection with, if it did."""


class FakeGeminiLive:
    """The fake service: start it with `async with`, point the SDK at `base_url`."""

    def __init__(self, config: FakeGeminiConfig | None = None) -> None:
        """A fake with `config` (defaults otherwise); it listens once entered."""
        self.config = config or FakeGeminiConfig()
        self.connections: list[FakeConnection] = []
        self.director_notes: list[str] = []
        self.handles_issued: list[str] = []
        self.handle_sessions: dict[str, int] = {}
        """Which session each issued handle resumes."""
        self.sessions_started = 0
        self.overlaps_refused = 0
        """Resumes refused because the session's earlier socket was still open."""
        self._sessions: set[LiveSession] = set()
        self._changed = asyncio.Condition()
        self._fail_next_turn: tuple[int, str] | None = None
        self._refuse_next = False
        self._pending_note: str | None = None
        self.turns_started = 0
        """Host turns started over all connections (what `numbered` counts)."""
        self.timeline: list[str] = []
        """Over all connections, in order: "heard" for each spoken guest turn the fake
        heard, "replied" for each host turn that played to its end."""
        self.accepting = asyncio.Event()
        """Cleared, new connections wait before their setup is read (an outage in progress)."""
        self.accepting.set()
        self._server: Server | None = None
        self.port = 0

    async def __aenter__(self) -> FakeGeminiLive:
        self._server = await serve(
            self._serve,
            "127.0.0.1",
            0,
            ssl=local_tls().server_context(),
            process_request=_check_path,
            ping_interval=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def base_url(self) -> str:
        """The URL to give the SDK (it swaps the scheme for wss:// itself)."""
        return f"https://127.0.0.1:{self.port}"

    @staticmethod
    def client_ssl_context() -> ssl.SSLContext:
        """An SSL context that trusts the fake's throw-away certificate."""
        return local_tls().client_context()

    @property
    def setups(self) -> list[dict[str, Any]]:
        """Each connection's `setup` message (keys in camelCase)."""
        return [c.setup for c in self.connections]

    @property
    def client_contents(self) -> list[dict[str, Any]]:
        """Every clientContent message received, over all connections, in order."""
        return [content for c in self.connections for content in c.client_contents]

    @property
    def stills(self) -> list[FakeStill]:
        """Every realtimeInput.video image received, over all connections, in order."""
        return [still for c in self.connections for still in c.stills]

    @property
    def samples_received(self) -> int:
        """Guest audio samples received over all connections."""
        return sum(c.samples_received for c in self.connections)

    def server_tasks(self) -> set[asyncio.Task[None]]:
        """The tasks the websockets server runs connections in (not the client's)."""
        return set(self._server.handler_tasks) if self._server else set()

    def fail_next_turn(self, code: int = 1011, reason: str = "Internal error encountered.") -> None:
        """Make the next host turn close its connection with `code` halfway through its audio."""
        self._fail_next_turn = (code, reason)

    def refuse_next_resumption(self) -> None:
        """Refuse the next resumption handle with close 1007, as for an expired one."""
        self._refuse_next = True

    def issue_handle(self, session: int) -> str:
        """A new resumption handle of `session` (used by sessions)."""
        handle = f"fake-handle-{len(self.handles_issued) + 1}"
        self.handles_issued.append(handle)
        self.handle_sessions[handle] = session
        return handle

    def start_session(self) -> int:
        """A new session's number (used by sessions, for a setup without a handle)."""
        self.sessions_started += 1
        return self.sessions_started

    def socket_open(self, session: int, besides: LiveSession) -> bool:
        """Whether a socket of `session` other than `besides` is still open."""
        return any(s.open and s.session == session for s in self._sessions if s is not besides)

    def take_refusal(self) -> bool:
        """Whether a one-off refusal is pending, now consumed (used by sessions)."""
        refuse, self._refuse_next = self._refuse_next, False
        return refuse

    def take_turn_failure(self) -> tuple[int, str] | None:
        """The pending mid-turn failure, if any, now consumed (used by sessions)."""
        failure, self._fail_next_turn = self._fail_next_turn, None
        return failure

    def add_note(self, note: str) -> None:
        """Record a director note; the next host turn answers it (used by sessions)."""
        self.director_notes.append(note)
        self._pending_note = note

    def take_note(self) -> str | None:
        """The newest director note no turn has answered yet, now consumed (used by sessions)."""
        note, self._pending_note = self._pending_note, None
        return note

    async def close_all(
        self, code: int = 1011, reason: str = "Internal error encountered."
    ) -> None:
        """Close every open connection with `code`, as the service does when it fails."""
        await asyncio.gather(*(session.close(code, reason) for session in list(self._sessions)))

    def go_away_now(self, grace: float, time_left: float | None = None) -> None:
        """Send goAway on every open connection now, saying `time_left` (else `grace`); each
        closes `grace` seconds later."""
        for session in list(self._sessions):
            session.go_away(grace, time_left)

    def drop_all(self) -> None:
        """Cut every open connection's TCP connection, as a network failure does (1006)."""
        for session in list(self._sessions):
            session.drop()

    async def changed(self) -> None:
        """Wake whoever waits in `wait_for` (sessions call it after recording something)."""
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds over the records; TimeoutError after WAIT_LIMIT s."""
        async with asyncio.timeout(WAIT_LIMIT), self._changed:
            await self._changed.wait_for(predicate)

    async def _serve(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        await self.accepting.wait()
        match = PATH.match(ws.request.path)
        assert match is not None  # _check_path refused anything else
        connection = FakeConnection(
            path=ws.request.path,
            api_version=match.group(1),
            api_key=ws.request.headers.get("x-goog-api-key"),
        )
        self.connections.append(connection)
        session = LiveSession(self, connection, ws)
        self._sessions.add(session)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)
            await self.changed()


def _check_path(connection: ServerConnection, request: Request) -> Response | None:
    """404 for anything but the Live endpoint, as the real front end answers."""
    match = PATH.fullmatch(request.path.split("?", 1)[0])
    if match is None or match.group(2) != "BidiGenerateContent":
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
    return None
