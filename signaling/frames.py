"""Reading a WebSocket's frames until it closes, for every socket of the server."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.websockets import WebSocket, WebSocketDisconnect

BINARY_FRAME = "Send text frames of JSON, not binary"


async def text_frames(websocket: WebSocket) -> AsyncIterator[str | None]:
    """Each frame's text (None for a binary frame) until the client goes away."""
    while True:
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
        yield message.get("text")
