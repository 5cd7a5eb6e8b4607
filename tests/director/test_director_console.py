"""A director's console when the director goes away while an answer is on its way to them.

The same race the fuzz test found on the guest's socket (tests/signaling/test_guest_socket.py):
the send fails with `WebSocketDisconnect`, which must end the console quietly rather than
fail its task group and leave "Exception in ASGI application" in the log.
"""

from __future__ import annotations

import uuid
from typing import cast

from starlette.types import Message
from starlette.websockets import WebSocket

from auth.roles import Principal, Role
from cluster.leases import Leases
from cluster.stores import MemoryLeaseStore
from director.bus import LocalBus
from director.socket import DirectorConsole, DirectorContext
from signaling.handshake import SocketPolicy
from store.messages import MessageRecord, MessageStore
from store.sessions import SessionStore
from tests.hostile import logged_errors


class NoTranscript:
    """The part of a `MessageStore` a console uses, for an interview that said nothing yet."""

    async def all(self, _session_id: uuid.UUID) -> list[MessageRecord]:
        return []


def vanishing_socket() -> WebSocket:
    """A socket whose director sends a ping and is gone before the pong goes out."""
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": '{"type": "ping"}'},
        {"type": "websocket.disconnect", "code": 1006},
    ]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        if message["type"] != "websocket.accept":
            raise OSError("the director is gone")  # what uvicorn raises (ClientDisconnected)

    return WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)


async def test_a_director_gone_before_the_answer_is_sent_ends_the_console_quietly() -> None:
    websocket = vanishing_socket()
    await websocket.accept()
    context = DirectorContext(
        sessions=cast(SessionStore, None),  # looked up before the console opens
        messages=cast(MessageStore, NoTranscript()),
        bus=LocalBus(),
        leases=Leases(MemoryLeaseStore(), "one"),
        policy=cast(SocketPolicy, None),  # applied before the console opens
    )
    principal = Principal(uuid.uuid4(), Role.USER, None)
    with logged_errors() as errors:
        await DirectorConsole(websocket, uuid.uuid4(), principal, context).serve()
    assert not errors.records, errors
