"""The guest's camera as the host sees it: VP8 frames in on the event loop, JPEG stills out.

`GuestCamera.offer` takes each encoded frame from the receiver's tap (on the loop; it never
blocks). `run` owns two loops: one hands the frames waiting to a `SnapshotDecoder` in a
worker thread (one call at a time, so the backlog, not the executor, holds what waits) and
asks it for a still when the pacer allows; the other hands the newest still to `show`, at
most once per interval. Stills are never queued: a newer one replaces one not yet shown, so a
slow `show` costs pictures, never memory or freshness.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rtc.video import BACKLOG_FRAMES, MAX_SIDE, FrameBacklog, Pacer, SnapshotDecoder

logger = logging.getLogger(__name__)

STILL_INTERVAL_S = 1.0
"""At most one still a second: what Gemini Live takes in (it samples video at 1 fps)."""

BATCH_S = 0.2
"""Frames are decoded in batches this long when no still is due: fewer thread hops."""

Show = Callable[[bytes], Awaitable[None]]


@dataclass(slots=True)
class CameraStats:
    """What one guest connection's camera went through, for tests and logs."""

    frames_offered: int = 0
    frames_decoded: int = 0
    frames_dropped: int = 0
    """Encoded frames thrown away: the decoder fell behind, or a keyframe was awaited."""
    stills_made: int = 0
    stills_shown: int = 0
    stills_replaced: int = 0
    """Stills never shown because a newer one came first."""
    keyframe_requests: int = 0


class GuestCamera:
    """Samples one guest connection's video for the host (see the module docstring)."""

    def __init__(
        self,
        request_keyframe: Callable[[], None],
        *,
        interval_s: float = STILL_INTERVAL_S,
        backlog_frames: int = BACKLOG_FRAMES,
        max_side: int = MAX_SIDE,
    ) -> None:
        """A camera asking the guest's browser for a keyframe through `request_keyframe`."""
        self._request_keyframe = request_keyframe
        self._backlog = FrameBacklog(backlog_frames)
        self._made = Pacer(interval_s)
        self._shown = Pacer(interval_s)
        self._max_side = max_side
        self._arrived = asyncio.Event()
        self._newest: bytes | None = None
        self._fresh = asyncio.Event()
        self.stats = CameraStats()

    @property
    def backlog(self) -> int:
        """Encoded frames waiting for the decoder now."""
        return len(self._backlog)

    def offer(self, timestamp: int, data: bytes) -> None:
        """The guest's next encoded VP8 frame (on the loop, in order)."""
        self.stats.frames_offered += 1
        if self._backlog.push(timestamp, data):
            self._ask_for_keyframe()
        self.stats.frames_dropped = self._backlog.dropped
        self._arrived.set()

    async def run(self, show: Show) -> None:
        """Decode and show stills until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._decode())
            await self._deliver(show)

    async def _decode(self) -> None:
        decoder = SnapshotDecoder(self._max_side)
        while True:
            await self._arrived.wait()
            still = self._made.due()
            if not still:  # gather a few frames: one thread hop for several
                await asyncio.sleep(min(BATCH_S, self._made.wait_s()))
            self._arrived.clear()
            frames = self._backlog.take()
            if not frames:
                continue
            still = still or self._made.due()
            decoded = await asyncio.to_thread(decoder.decode, frames, still)
            self.stats.frames_decoded += decoded.frames
            if decoded.failed:
                logger.info("a frame of the guest's video failed to decode: resyncing")
                self._backlog.resync()  # the next frame refused asks for a keyframe
                self.stats.frames_dropped = self._backlog.dropped
            if decoded.jpeg is not None:
                self._made.mark()
                self.stats.stills_made += 1
                if self._newest is not None:
                    self.stats.stills_replaced += 1
                self._newest = decoded.jpeg
                self._fresh.set()

    async def _deliver(self, show: Show) -> None:
        while True:
            await self._fresh.wait()
            await asyncio.sleep(self._shown.wait_s())
            self._fresh.clear()
            jpeg, self._newest = self._newest, None
            if jpeg is None:
                continue
            self._shown.mark()
            self.stats.stills_shown += 1
            await show(jpeg)

    def _ask_for_keyframe(self) -> None:
        self.stats.keyframe_requests += 1
        self._request_keyframe()
