"""`WS /api/v1/sessions/{id}/director`: a director's socket (see CONTRACT.md).

Open to the session's owner and to users with the director or admin role, on any node: the
interview may run elsewhere, its events and the director's commands travel over the bus.
Close codes: 4401 no valid token, 4403 a page from an origin outside `CORS_ORIGINS`, 4404 no
such session (or no right to it), 4409 the interview is not live, 4429 too many sockets (the
user's, or this session's consoles). Bad messages, notes that are too long and bursts over
10 notes in 10 s get an `error` event and change nothing else.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from auth.roles import Principal, may_direct
from cluster.leases import Leases
from director.bus import REQUEST_ID, InterviewBus, Message
from director.limits import NoteRateLimit
from director.protocol import Inject, Topics, parse_director_message
from rtc.events import error_event, transcript_event
from signaling.frames import BINARY_FRAME, text_frames
from signaling.handshake import SocketPolicy, open_socket, refuse, session_id_of
from signaling.protocol import Ping, ProtocolError
from signaling.quota import TooManySockets
from store.messages import MessageStore
from store.sessions import SessionStore

LIVENESS_CHECK_S = 2.0


@dataclass(frozen=True, slots=True)
class DirectorContext:
    """What director sockets need: sessions, their transcripts, the bus, where interviews
    are live (their leases), the socket policy."""

    sessions: SessionStore
    messages: MessageStore
    bus: InterviewBus
    leases: Leases
    policy: SocketPolicy


def director_context(connection: HTTPConnection) -> DirectorContext:
    """The context of the app serving this socket."""
    context = connection.app.state.director
    assert isinstance(context, DirectorContext)
    return context


async def director_socket(websocket: WebSocket) -> None:
    context = director_context(websocket)
    principal = await open_socket(websocket, context.policy)
    if principal is None:
        return
    session_id = session_id_of(websocket)
    session = None if session_id is None else await context.sessions.get(session_id)
    if session is None or not may_direct(principal, session.user_id):
        await refuse(websocket, "not_found", "Session not found", 4404)
        return
    if not await context.leases.is_live(session.id):
        await refuse(
            websocket, "not_live", "The interview is not live: open the console once it runs", 4409
        )
        return
    try:
        claim = context.policy.quota.claim(principal.user_id, directing=session.id)
    except TooManySockets as refused:
        await refuse(websocket, refused.code, str(refused), 4429)
        return
    with claim:
        await DirectorConsole(websocket, session.id, principal, context).serve()


class DirectorConsole:
    """One director's socket for as long as it is open."""

    def __init__(
        self,
        websocket: WebSocket,
        session_id: uuid.UUID,
        principal: Principal,
        context: DirectorContext,
    ) -> None:
        self._websocket = websocket
        self._session_id = session_id
        self._principal = principal
        self._context = context
        self._connection_id = uuid.uuid4().hex
        self._limit = NoteRateLimit()

    async def serve(self) -> None:
        """Relay the interview's events out and the director's commands in."""
        session = str(self._session_id)
        try:
            async with self._context.bus.events(session) as events, asyncio.TaskGroup() as tasks:
                await self._send_transcript_so_far()
                relay = tasks.create_task(self._relay(events))
                watchdog = tasks.create_task(self._close_once_not_live())
                await self._receive()
                relay.cancel()
                watchdog.cancel()
        except* WebSocketDisconnect:
            pass  # the director went away while an event was on its way to them

    async def _close_once_not_live(self) -> None:
        """Close the console once the interview's lease is gone: an interview that ended
        between the liveness check and the subscription published its last event unseen."""
        while True:  # the lease lives in Redis on another node: nothing to wait on but it
            await asyncio.sleep(LIVENESS_CHECK_S)
            if not await self._context.leases.is_live(self._session_id):
                break
        if self._websocket.client_state is WebSocketState.CONNECTED:
            await refuse(self._websocket, "not_live", "The interview has ended", 4409)

    async def _send_transcript_so_far(self) -> None:
        for message in await self._context.messages.all(self._session_id):
            await self._websocket.send_json(
                transcript_event(message.role, message.text, message.relative_offset_ms or 0, True)
            )

    async def _relay(self, events: AsyncIterator[Message]) -> None:
        async for event in events:
            if event.get("to", self._connection_id) != self._connection_id:
                continue  # addressed to another connection
            # Bus fields are not the contract's; the dict is shared: do not mutate it.
            event = {key: value for key, value in event.items() if key not in ("to", REQUEST_ID)}
            await self._websocket.send_json(event)
            if event.get("type") == "state" and event.get("state") == "ended":
                await self._websocket.close(1000)
                return

    async def _receive(self) -> None:
        async for text in text_frames(self._websocket):
            if text is None:
                await self._error("invalid_message", BINARY_FRAME)
                continue
            try:
                parsed = parse_director_message(text)
            except ProtocolError as error:
                await self._error(error.code, str(error))
                continue
            if isinstance(parsed, Ping):
                await self._send({"type": "pong"})
            elif not self._limit.allow():
                await self._error(
                    "rate_limited", "More than 10 notes in 10 seconds: wait a moment", parsed
                )
            else:
                await self._context.bus.send_command(str(self._session_id), self._command(parsed))

    def _command(self, message: Inject | Topics) -> Message:
        command: Message = {
            "from": self._connection_id,
            "user": str(self._principal.user_id),
            "id": message.client_id,
        }
        if isinstance(message, Inject):
            command.update(kind="inject", text=message.text, now=message.now)
        else:
            command.update(kind="topics", topics=message.topics)
        return command

    async def _error(self, code: str, text: str, message: Inject | Topics | None = None) -> None:
        event = error_event(text, code)
        if message is not None and message.client_id:
            event["id"] = message.client_id
        await self._send(event)

    async def _send(self, event: Message) -> None:
        if self._websocket.client_state is WebSocketState.CONNECTED:
            await self._websocket.send_json(event)
