"""A bare aiortc echo server: the yardstick the engine's per-guest cost is compared with.

`WS /echo`: the client sends `{"type": "offer", "sdp": …}` (the interview socket's message)
and gets `{"type": "answer", "sdp": …}`; its audio comes straight back on the answer's
track: decoded by aiortc, re-encoded, nothing else. The socket stays open for the call.

aiortc's Opus decoder hands out frames whose buffer is sized for 120 ms of stereo (23,040
bytes for 3,840 bytes of audio), and its sender computes the audio level of each frame in
pure Python over the whole buffer: about 0.7 ms per relayed frame, six times the work (and a
wrong level). By default the echo therefore copies each frame into a compact one first
(about 10 µs), which any relay should do; `compact=False` is the naive relay.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av.audio.frame import AudioFrame
from av.frame import Frame
from av.packet import Packet
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rtc.peers.ice import IcePolicy, install_ice_policy

logger = logging.getLogger(__name__)


class EchoTrack(MediaStreamTrack):
    """Relays the frames of another track as they arrive."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, *, compact: bool = True) -> None:
        super().__init__()
        self._source = source
        self._compact = compact

    async def recv(self) -> Frame | Packet[Any]:
        frame = await self._source.recv()
        if not self._compact or not isinstance(frame, AudioFrame):
            return frame
        copy = AudioFrame.from_ndarray(
            frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name
        )
        copy.sample_rate = frame.sample_rate
        copy.pts = frame.pts
        copy.time_base = frame.time_base
        return copy


async def echo_socket(websocket: WebSocket) -> None:
    """Offer in, answer out, audio echoed until the socket closes."""
    await websocket.accept()
    pc = RTCPeerConnection()
    compact: bool = websocket.app.state.compact

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            pc.addTrack(EchoTrack(track, compact=compact))

    try:
        offer = await websocket.receive_json()
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await websocket.send_json({"type": "answer", "sdp": pc.localDescription.sdp})
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    except WebSocketDisconnect:
        pass
    finally:
        with contextlib.suppress(Exception):
            await pc.close()


def create_echo_app(*, compact: bool = True) -> Starlette:
    """The echo server; ICE stays on 127.0.0.1, as the engine's does in the benchmarks."""
    install_ice_policy(IcePolicy(host_addresses=("127.0.0.1",)))
    app = Starlette(routes=[WebSocketRoute("/echo", echo_socket)])
    app.state.compact = compact
    return app
