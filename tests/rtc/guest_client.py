"""A guest as a test sees it: an aiortc peer joined through the real interview socket."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

RATE = 48_000
FRAME = 960


CLICK_HZ = 3_000
CLICK_S = 0.010
ON_TIME_S = 0.005


class ScriptedMicrophone(MediaStreamTrack):
    """A microphone that plays queued PCM (48 kHz mono s16le) and silence in between.

    Like a real one, it hands out each 20 ms frame once its time has passed."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._start: float | None = None
        self._index = -1
        self._clicks: list[float] = []
        self.spoken = asyncio.Event()

    def say(self, pcm: bytes) -> None:
        """Queue speech to be played from now on."""
        self.spoken.clear()
        self._pending += pcm

    def click_at(self, when: float) -> None:
        """A click (10 ms of 3 kHz near full scale) at `when` (time.monotonic), if to come."""
        self._clicks.append(when)

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        self._index += 1
        begins = self._start + self._index * FRAME / RATE
        delay = begins + FRAME / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = bytes(self._pending[: FRAME * 2])
        del self._pending[: FRAME * 2]
        if not self._pending:
            self.spoken.set()
        samples = np.zeros(FRAME, np.int16)
        samples[: len(chunk) // 2] = np.frombuffer(chunk, np.int16)
        self._add_clicks(samples, begins)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._index * FRAME
        frame.time_base = fractions.Fraction(1, RATE)
        return frame

    def _add_clicks(self, samples: np.ndarray, begins: float) -> None:
        """Mix in the part of each click that falls in this frame, to the sample."""
        at = begins + np.arange(FRAME) / RATE
        for when in self._clicks:
            inside = (at >= when) & (at < when + CLICK_S)
            tone = np.sin(2 * np.pi * CLICK_HZ * (at[inside] - when)) * 28_000
            samples[inside] = tone.astype(np.int16)
        self._clicks = [when for when in self._clicks if when + CLICK_S > begins + FRAME / RATE]


class ClappingCamera(VideoStreamTrack):
    """A grey camera (aiortc's 30 fps clock) that can "clap": one white frame, and a click
    on `microphone` at that frame's time, so sync can be checked end to end."""

    def __init__(self, microphone: ScriptedMicrophone) -> None:
        super().__init__()
        self._microphone = microphone
        self._clap = False
        self.claps = 0
        self.frames = 0
        """Frames sent: the camera's own clock (30 a second), for a test to wait on."""
        self._sent = asyncio.Condition()

    async def until(self, condition: Callable[[], bool], within_s: float = 60.0) -> None:
        """Wait until `condition` holds, checked at every frame the camera sends."""
        async with asyncio.timeout(within_s), self._sent:
            await self._sent.wait_for(condition)

    def clap(self) -> None:
        """Make the next frame that is on time white, with its click."""
        self._clap = True

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        pts, time_base = await self.next_timestamp()
        # A late frame keeps the time it was due (aiortc catches up): no clap on it.
        due = self._start + float(pts * time_base)
        late_s = time.time() - due
        white = self._clap and late_s < ON_TIME_S
        pixels = np.full((240, 320, 3), 255 if white else 96, np.uint8)
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        if white:
            self._clap = False
            self._microphone.click_at(time.monotonic() - late_s)
            self.claps += 1
        self.frames += 1
        async with self._sent:
            self._sent.notify_all()
        return frame


class GuestClient:
    """Joins an interview, records every event and the host audio's loudness per frame."""

    def __init__(
        self,
        url: str,
        *,
        camera: bool = False,
        subprotocols: list[str] | None = None,
        origin: str | None = None,
    ) -> None:
        self.url = url
        self.subprotocols = subprotocols
        self.origin = origin
        self.events: list[dict[str, Any]] = []
        self.microphone = ScriptedMicrophone()
        self.camera_track = ClappingCamera(self.microphone) if camera else None
        self.host_levels: list[tuple[float, float]] = []  # (monotonic time, RMS)
        self.pc = RTCPeerConnection()
        self.socket: Any = None
        self.close_code: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Condition()

    async def connect(self) -> None:
        """Open the socket and start recording events (no media yet)."""
        self.socket = await websockets.connect(
            self.url,
            max_size=2**20,
            subprotocols=self.subprotocols,
            origin=self.origin,
        )
        self._tasks.append(asyncio.create_task(self._read_events()))

    async def join(self) -> None:
        """Connect, offer audio, and apply the server's answer."""
        await self.connect()
        await self.join_on_open_socket()

    async def offer(self) -> str:
        """The peer's offer (audio, and video with a camera), made once."""
        if self.pc.localDescription is None:
            self.pc.addTrack(self.microphone)
            if self.camera_track is not None:
                self.pc.addTrack(self.camera_track)
            self.pc.on("track", self._on_track)
            await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def join_on_open_socket(self) -> None:
        """Send the offer on the connected socket and apply the server's answer."""
        await self.send({"type": "offer", "sdp": await self.offer()})
        answer = await self.wait_for(lambda e: e["type"] == "answer")
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def wait_for(
        self, matches: Callable[[dict[str, Any]], bool], within_s: float = 30.0, after: int = 0
    ) -> dict[str, Any]:
        """The first event (from index `after`) that matches, waiting for it if need be."""
        async with asyncio.timeout(within_s), self._changed:
            while True:
                for event in self.events[after:]:
                    if matches(event):
                        return event
                await self._changed.wait()

    async def until(self, condition: Callable[[], bool], within_s: float = 60.0) -> None:
        """Wait until `condition` holds, checked at every event and every host audio frame."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(condition)

    def loud_since(self, since: float, threshold: float = 500.0) -> bool:
        """Whether host audio above `threshold` RMS arrived after `since`."""
        return any(level > threshold for at, level in self.host_levels if at >= since)

    async def close(self) -> None:
        """Close the socket and the peer, and stop the helper tasks."""
        if self.socket is not None:
            await self.socket.close()
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _read_events(self) -> None:
        try:
            async for raw in self.socket:
                async with self._changed:
                    self.events.append(json.loads(raw))
                    self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        self.close_code = self.socket.close_code
        async with self._changed:
            self.events.append({"type": "_closed", "code": self.close_code})
            self._changed.notify_all()

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.create_task(self._measure(track)))

    async def _measure(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            samples = frame.to_ndarray().astype(np.float64)  # type: ignore[union-attr]
            self.host_levels.append((time.monotonic(), float(np.sqrt(np.mean(samples**2)))))
            async with self._changed:
                self._changed.notify_all()
