"""Stills of the guest's camera through GeminiLiveBridge and the real SDK, to the fake."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from google import genai
from google.genai import errors, types
from prometheus_client import REGISTRY

from rtc.bridge.base import HostStatus, TurnComplete
from rtc.bridge.gemini.bridge import DEFAULT_MODEL, SEES_GUEST, GeminiLiveBridge
from rtc.bridge.gemini.tuning import GeminiTuning
from tests.fakes.audio import chunks, silence
from tests.fakes.gemini_live import FakeGeminiConfig, FakeGeminiLive
from tests.media.vp8 import still_jpeg
from tests.rtc.bridge.gemini.test_bridge import (
    API_KEY,
    FAST,
    Recorder,
    bridge_for,
    interview,
    speak,
)

JPEG = still_jpeg()


def sent_metric(fate: str) -> float:
    return REGISTRY.get_sample_value("monumento_gemini_video_frames_total", {"fate": fate}) or 0.0


def seeing(
    fake: FakeGeminiLive, tuning: GeminiTuning | None = None
) -> contextlib.AbstractAsyncContextManager[tuple[GeminiLiveBridge, Recorder]]:
    """A started bridge whose host sees the guest, and its events; closed on exit."""
    return interview(fake, tuning, sees_video=True)


@contextlib.asynccontextmanager
async def sdk_client(fake: FakeGeminiLive) -> AsyncIterator[genai.Client]:
    client = genai.Client(
        api_key=API_KEY,
        http_options=types.HttpOptions(
            base_url=fake.base_url, async_client_args={"ssl": fake.client_ssl_context()}
        ),
    )
    try:
        yield client
    finally:
        await client.aio.aclose()
        client.close()


async def test_stills_reach_the_model_as_jpeg_video_input() -> None:
    sent_before = sent_metric("sent")
    async with FakeGeminiLive(FAST) as fake, seeing(fake) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await bridge.send_video(JPEG)
        await bridge.send_video(JPEG)
        await fake.wait_for(lambda: len(fake.stills) == 2)
        stats = bridge.stats
        report = bridge.report()["gemini"]
    assert SEES_GUEST in str(fake.setups[0]["systemInstruction"])  # the host knows it sees
    assert [(s.width, s.height, s.size) for s in fake.stills] == [(320, 240, len(JPEG))] * 2
    assert (stats.video_frames_sent, stats.video_frames_skipped) == (2, 0)
    assert report["videoFramesSent"] == 2
    assert sent_metric("sent") == sent_before + 2


async def test_a_host_that_does_not_see_is_not_told_it_does() -> None:
    async with FakeGeminiLive(FAST) as fake:
        bridge = bridge_for(fake)
        await bridge.start()
        await bridge.close()
    assert SEES_GUEST not in str(fake.setups[0]["systemInstruction"])


async def test_stills_are_dropped_not_held_while_no_connection_takes_them() -> None:
    async with FakeGeminiLive(FAST) as fake, seeing(fake) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        fake.accepting.clear()
        await fake.close_all(1011, "Internal error encountered.")
        await recorder.until(lambda: any(isinstance(e, HostStatus) for e in recorder.events))
        await bridge.send_video(JPEG)  # mid-outage: nowhere to go, and not worth keeping
        fake.accepting.set()
        await recorder.until(lambda: HostStatus("resumed") in recorder.events)
        await speak(bridge)  # the audio of the outage and after went up on the new connection
        await fake.wait_for(lambda: fake.connections[1].samples_received > 0)
        assert fake.connections[1].stills == []
        await bridge.send_video(JPEG)
        await fake.wait_for(lambda: len(fake.connections[1].stills) == 1)
        stats = bridge.stats
    assert fake.connections[0].stills == []
    assert (stats.video_frames_sent, stats.video_frames_skipped) == (1, 1)


async def test_no_stills_go_up_while_cost_control_has_paused_the_stream() -> None:
    tuning = GeminiTuning(silence_pause_s=0.5)
    async with FakeGeminiLive(FAST) as fake, seeing(fake, tuning) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        for chunk in chunks(silence(0.6)):
            await bridge.send_audio(chunk)
        await fake.wait_for(lambda: fake.connections[0].audio_stream_ends == 1)
        await bridge.send_video(JPEG)
        await bridge.guest_started_speaking()  # the guest speaks: the stream and stills resume
        await bridge.send_video(JPEG)
        await fake.wait_for(lambda: len(fake.stills) == 1)
        stats = bridge.stats
    assert (stats.video_frames_sent, stats.video_frames_skipped) == (1, 1)


async def test_with_compression_a_session_with_video_outlives_the_services_limit() -> None:
    config = FakeGeminiConfig(pace=0, video_session_limit=1.0)
    async with FakeGeminiLive(config) as fake:
        async with seeing(fake) as (bridge, recorder):
            await recorder.until(lambda: recorder.count(TurnComplete) == 1)
            for _ in range(8):  # two seconds of stills, twice the limit
                await bridge.send_video(JPEG)
                await speak(bridge, seconds=0.1, pause=0.15)
            stats = bridge.stats
        assert "contextWindowCompression" in fake.setups[0]
        assert len(fake.connections) == 1 and fake.connections[0].close_code is None
        assert stats.video_frames_sent == 8 and stats.connection_losses == 0

        # Without compression, the same session is ended at the limit, as the service does.
        async with sdk_client(fake) as client:
            connect = client.aio.live.connect(model=DEFAULT_MODEL)
            async with connect as session:
                started = time.monotonic()
                await session.send_realtime_input(
                    video=types.Blob(data=JPEG, mime_type="image/jpeg")
                )
                with pytest.raises(errors.APIError) as ended:
                    async for _ in session.receive():
                        pass
                lived = time.monotonic() - started
    assert ended.value.code == 1011 and lived >= 0.9  # not before the limit
    assert fake.connections[1].close_code == 1011


@pytest.mark.parametrize(
    ("data", "mime_type", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n", "image/png", "Unsupported video mime type: image/png"),
        (b"not a picture at all", "image/jpeg", "invalid argument"),
        (b"\xff\xd8" + bytes(200), "image/jpeg", "invalid argument"),
    ],
)
async def test_the_fake_refuses_video_that_is_not_a_jpeg(
    data: bytes, mime_type: str, reason: str
) -> None:
    async with FakeGeminiLive(FAST) as fake, sdk_client(fake) as client:
        async with client.aio.live.connect(model=DEFAULT_MODEL) as session:
            await session.send_realtime_input(video=types.Blob(data=data, mime_type=mime_type))
            with pytest.raises(errors.APIError) as refused:
                async for _ in session.receive():
                    pass
    assert refused.value.code == 1007 and reason in str(refused.value.details)
    assert fake.stills == [] and fake.connections[0].close_code == 1007
