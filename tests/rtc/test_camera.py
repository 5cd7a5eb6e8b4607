"""The guest's camera for the host: paced, newest-first, bounded, and keyframes asked for."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCPeerConnection

from rtc.camera import GuestCamera
from rtc.peers.encoded_tap import TapError, keyframe_requester
from tests.media.vp8 import Vp8Stream, index_of, mean_luma

FPS = 30


class Host:
    """Records the stills shown, and when; `slow_s` makes the first `show` take that long."""

    def __init__(self, slow_s: float = 0.0) -> None:
        self.shown: list[tuple[float, bytes]] = []
        self._slow_s = slow_s
        self._changed = asyncio.Condition()

    async def show(self, jpeg: bytes) -> None:
        self.shown.append((time.monotonic(), jpeg))
        async with self._changed:
            self._changed.notify_all()
        if self._slow_s:
            slow, self._slow_s = self._slow_s, 0.0
            await asyncio.sleep(slow)

    async def wait_for(self, count: int) -> None:
        """Wait until `count` stills have been shown."""
        async with asyncio.timeout(3.0), self._changed:
            await self._changed.wait_for(lambda: len(self.shown) >= count)


@contextlib.asynccontextmanager
async def running(camera: GuestCamera, host: Host) -> AsyncIterator[None]:
    task = asyncio.create_task(camera.run(host.show))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def play(camera: GuestCamera, stream: Vp8Stream, seconds: float) -> list[float]:
    """Offer `seconds` of frames at 30 fps, as a camera would; returns when each went in."""
    sent: list[float] = []
    for _ in range(round(seconds * FPS)):
        sent.append(time.monotonic())
        camera.offer(stream.index * 3000, stream.next())
        await asyncio.sleep(1 / FPS)
    return sent


async def test_stills_are_shown_at_most_once_per_interval() -> None:
    camera, host, stream = GuestCamera(lambda: None, interval_s=0.3), Host(), Vp8Stream()
    async with running(camera, host):
        sent = await play(camera, stream, 1.6)
        await asyncio.sleep(0.4)  # the last batch
    times = [at for at, _ in host.shown]
    assert 3 <= len(times) <= (time.monotonic() - sent[0]) / 0.3 + 1
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.3
    assert camera.stats.frames_decoded == camera.stats.frames_offered  # every frame decoded
    assert camera.stats.stills_made <= len(times) + 1  # ... but only the stills needed encoded
    assert camera.stats.frames_dropped == 0 and camera.stats.keyframe_requests == 0


async def test_a_slow_host_gets_the_newest_still_not_a_queue_of_old_ones() -> None:
    camera, host, stream = GuestCamera(lambda: None, interval_s=0.2), Host(slow_s=0.7), Vp8Stream()
    async with running(camera, host):
        sent = await play(camera, stream, 1.2)
        await asyncio.sleep(0.1)
    assert camera.stats.stills_replaced >= 1
    (first_at, first), (second_at, second) = host.shown[:2]
    assert second_at - first_at >= 0.7  # nothing was shown while the host was busy
    # The second still is of a frame from at most an interval (and a decode) before it was
    # shown, not the one made an interval after the first still.
    offered = sum(at <= second_at for at in sent)
    assert index_of(mean_luma(second)) >= offered - 0.3 * FPS
    assert index_of(mean_luma(first)) < index_of(mean_luma(second))


async def test_a_decoder_that_falls_behind_keeps_a_bounded_backlog_and_asks_for_a_keyframe() -> (
    None
):
    asked: list[float] = []
    camera = GuestCamera(lambda: asked.append(time.monotonic()), backlog_frames=20)
    stream, host = Vp8Stream(), Host()
    for _ in range(50):  # the decoder has no chance to run: the loop is not given back
        camera.offer(0, stream.next())
        assert camera.backlog <= 20
    assert len(asked) == 1 and camera.stats.frames_dropped == 50  # no keyframe came since
    async with running(camera, host):
        await asyncio.sleep(0.1)
        assert host.shown == []  # nothing decodable waits
        camera.offer(0, stream.next(keyframe=True))  # the browser answered the PLI
        await play(camera, stream, 0.2)
    assert len(host.shown) == 1 and len(asked) == 1


async def test_a_frame_that_fails_to_decode_asks_for_a_keyframe() -> None:
    asked = asyncio.Event()
    camera, host, stream = GuestCamera(asked.set), Host(), Vp8Stream()
    async with running(camera, host):
        await play(camera, stream, 0.2)
        camera.offer(0, b"\x01" + b"\x00" * 40)  # an inter frame that decodes to an error
        await asyncio.sleep(0.3)  # decoded in the next batch
        await play(camera, stream, 0.2)  # inter frames: refused, the hole is not papered over
        async with asyncio.timeout(3.0):
            await asked.wait()
        assert camera.stats.frames_dropped >= 5 and camera.stats.keyframe_requests == 1
        shown = len(host.shown)
        camera.offer(0, stream.next(keyframe=True))
        await play(camera, stream, 1.2)
        await host.wait_for(shown + 1)  # stills again, from the keyframe on
    assert not camera._backlog.waiting_for_keyframe


async def test_keyframe_requests_reach_aiortcs_receiver() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video").receiver
        request = keyframe_requester(receiver)
        flag = receiver._RTCRtpReceiver__decoder_error  # type: ignore[attr-defined]
        assert not flag.is_set()
        request()
        assert flag.is_set()  # aiortc sends a PLI with the next packet and clears it
        receiver._RTCRtpReceiver__decoder_error = None  # type: ignore[attr-defined]
        with pytest.raises(TapError):
            keyframe_requester(receiver)
    finally:
        await pc.close()
