"""A guest's socket when the guest goes away while an event is on its way to them.

The fuzz test found it (a frame over 64 KiB closes the connection at uvicorn's protocol layer
while replies to the frames before it still wait to be sent): the send failed with
`WebSocketDisconnect`, the socket's task group failed with it, and uvicorn logged
"Exception in ASGI application". A guest on a train loses the connection the same way.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import cast

from starlette.types import Message
from starlette.websockets import WebSocket

from rtc.events import EventHub, Subscription
from rtc.interview import Interview
from signaling.context import SignalingContext
from signaling.interview_socket import GuestSocket
from tests.hostile import logged_errors


class LeftInterview:
    """The part of an `Interview` a socket without an offer uses."""

    def __init__(self) -> None:
        self.hub = EventHub()
        self.released = False

    def subscribe(self) -> Subscription:
        return self.hub.subscribe()

    async def release_guest(self) -> None:
        self.released = True


def vanishing_socket() -> WebSocket:
    """A socket whose guest sends one binary frame and is gone before the reply goes out."""
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "bytes": b"\x00"},
        {"type": "websocket.disconnect", "code": 1006},
    ]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        if message["type"] != "websocket.accept":
            raise OSError("the guest is gone")  # what uvicorn raises (ClientDisconnected)

    return WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)


async def test_a_guest_gone_before_the_reply_is_sent_ends_the_socket_quietly() -> None:
    websocket = vanishing_socket()
    await websocket.accept()
    interview = LeftInterview()
    context = cast(SignalingContext, SimpleNamespace(clock=time.monotonic))  # no offer: no more
    socket = GuestSocket(websocket, cast(Interview, interview), context)
    with logged_errors() as errors:
        await socket.serve()
    assert interview.released
    assert not errors.records, errors
