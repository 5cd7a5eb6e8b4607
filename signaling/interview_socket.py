"""`WS /api/v1/sessions/{id}/interview`: the guest's socket (see CONTRACT.md).

Close codes: 4401 no valid token (`unauthorized`, `token_expired`, `token_revoked`,
`account_disabled`), 4403 a page from an origin outside `CORS_ORIGINS`, 4404 no such session
of the caller's, 4409 the interview cannot be joined (another guest holds it, it took place
already, or it runs on another node), 1013 this node is draining (`node_draining`: join
again, another node starts it), 4410 the media connection failed (rejoin within the grace
period to resume), 4429 too many sockets open. Everything else is an `error` event and the
socket stays open.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from rtc.bridge.brief import HostBrief
from rtc.events import Subscription, error_event
from rtc.interview import Interview
from rtc.peers.guest import GuestPeer, PeerError
from rtc.registry import InterviewRequest, JoinRefused
from signaling.budget import SignalingBudget
from signaling.context import SignalingContext, signaling_context
from signaling.frames import BINARY_FRAME, text_frames
from signaling.handshake import open_socket, refuse, session_id_of
from signaling.protocol import Candidate, End, Offer, Ping, ProtocolError, parse_client_message
from signaling.quota import TooManySockets

logger = logging.getLogger(__name__)
# "Try again later": a client that rejoins on any other close code lands on another node.
RETRY_ELSEWHERE = {"node_draining": 1013}


async def interview_socket(websocket: WebSocket) -> None:
    context = signaling_context(websocket)
    principal = await open_socket(websocket, context.policy)
    if principal is None:
        return
    try:
        claim = context.policy.quota.claim(principal.user_id)
    except TooManySockets as refused:
        await refuse(websocket, refused.code, str(refused), 4429)
        return
    with claim:
        await join_interview(websocket, principal.user_id, context)


async def join_interview(
    websocket: WebSocket, user_id: uuid.UUID, context: SignalingContext
) -> None:
    """The caller's session's interview, joined as its guest, until the socket ends."""
    session_id = session_id_of(websocket)
    session = None if session_id is None else await context.sessions.get_owned(session_id, user_id)
    if session is None:
        await refuse(websocket, "not_found", "Session not found", 4404)
        return
    request = InterviewRequest(
        session_id=session.id,
        status=session.status,
        brief=HostBrief.of_session(
            session.vibe, session.mode, session.duration_minutes, session.metadata
        ),
    )
    try:
        interview = await context.registry.join(request)
    except JoinRefused as refused:
        await refuse(websocket, refused.code, str(refused), RETRY_ELSEWHERE.get(refused.code, 4409))
        return
    await GuestSocket(websocket, interview, context).serve()


class GuestSocket:
    """One guest's socket for as long as it is open."""

    def __init__(self, websocket: WebSocket, interview: Interview, context: SignalingContext):
        self._websocket = websocket
        self._interview = interview
        self._context = context
        self._subscription: Subscription = interview.subscribe()
        self._peer: GuestPeer | None = None
        self._media_lost = False
        self._budget = SignalingBudget(context.clock)

    async def serve(self) -> None:
        """Relay events out and messages in until either side ends."""
        try:
            async with asyncio.TaskGroup() as tasks:
                sender = tasks.create_task(self._send_events())
                await self._receive_messages()
                self._subscription.close()
                await sender
        except* WebSocketDisconnect:
            pass  # the guest went away while an event was on its way to them
        finally:
            self._subscription.close()
            await self._interview.release_guest()

    async def _send_events(self) -> None:
        async for event in self._subscription:
            await self._websocket.send_json(event)
        if self._websocket.client_state is WebSocketState.CONNECTED:
            if self._media_lost:
                await self._websocket.close(4410, "Media connection lost: rejoin to resume")
            else:
                await self._websocket.close(1000)

    async def _receive_messages(self) -> None:
        async for text in text_frames(self._websocket):
            if text is None:
                self._reply_error("invalid_message", BINARY_FRAME)
                continue
            try:
                message = parse_client_message(text)
                self._budget.charge(message)
                await self._handle(message)
            except (ProtocolError, PeerError) as error:
                code = error.code if isinstance(error, ProtocolError) else "invalid_sdp"
                self._reply_error(code, str(error))

    async def _handle(self, message: Offer | Candidate | End | Ping) -> None:
        if isinstance(message, Ping):
            self._subscription.offer({"type": "pong"})
        elif isinstance(message, End):
            self._interview.end("the guest ended the interview")
        elif isinstance(message, Offer):
            await self._accept_offer(message.sdp)
        elif self._peer is None:
            raise PeerError("Send the offer before ICE candidates")
        else:
            await self._peer.add_candidate(
                message.candidate, message.sdp_mid, message.sdp_mline_index
            )

    async def _accept_offer(self, sdp: str) -> None:
        if self._peer is not None:
            raise PeerError("An offer was already accepted on this socket: rejoin to renegotiate")
        peer = GuestPeer(
            self._interview.new_outbound_track(),
            self._context.ice_servers,
            on_encoded=self._interview.record_encoded,
            on_closed=self._on_peer_closed,
        )
        try:
            answer = await peer.answer(sdp)
        except PeerError:
            await peer.close()
            raise
        self._peer = peer
        self._subscription.offer({"type": "answer", "sdp": answer})
        self._interview.attach_guest(peer)

    def _on_peer_closed(self) -> None:
        self._media_lost = True
        self._reply_error("media_lost", "The media connection was lost: rejoin to resume")
        self._subscription.close()

    def _reply_error(self, code: str, message: str) -> None:
        self._subscription.offer(error_event(message, code))
