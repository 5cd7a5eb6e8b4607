"""The Gemini host sees the guest: camera → engine → stills at ≤ 1 fps → the fake endpoint."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monumento.app import create_app
from rtc.bridge.gemini.bridge import SEES_GUEST
from tests.fakes.gemini_live import FakeGeminiConfig, FakeGeminiLive
from tests.live_server import LiveServer, serve
from tests.rtc.guest_client import GuestClient
from tests.signaling.test_interview_gemini import gemini_settings
from tests.signaling.test_interview_socket import finished_session, new_session, socket_url

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGeminiLive]:
    async with FakeGeminiLive(FakeGeminiConfig(reply_seconds=1.0)) as fake:
        yield fake


@pytest.fixture
async def server(
    tmp_path: Path, database_url: str, gemini: FakeGeminiLive
) -> AsyncIterator[LiveServer]:
    settings = gemini_settings(tmp_path, database_url, gemini, gemini_send_video=True)
    async with serve(create_app(settings)) as live:
        yield live


async def test_the_host_sees_the_guest_a_still_a_second(
    server: LiveServer, gemini: FakeGeminiLive
) -> None:
    token, headers, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token), camera=True)
    try:
        await guest.join()
        live = await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
        await gemini.wait_for(lambda: len(gemini.stills) >= 4)
        await guest.send({"type": "end"})
        ended = await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
    finally:
        await guest.close()

    stills = gemini.connections[0].stills
    assert SEES_GUEST in str(gemini.setups[0]["systemInstruction"])
    # At most one a second of the time the interview was live (stills go only then), on the
    # interview's clock. The fake's arrival times, on this busy test loop, bunch up and prove
    # nothing; the spacing of each still is tests/rtc/test_camera.py's to check.
    assert len(stills) <= (ended["elapsedMs"] - live["elapsedMs"]) / 1000 + 1
    assert all(max(s.width, s.height) <= 768 and s.size > 0 for s in stills)
    report = (await finished_session(server, headers, session_id))["metadata"]["hostConnection"]
    assert report["gemini"]["videoFramesSent"] == len(stills)


async def test_a_session_can_keep_its_guest_unseen(
    server: LiveServer, gemini: FakeGeminiLive
) -> None:
    token, _, session_id = await new_session(
        server, metadata={"topics": ["your first bicycle"], "hostSeesVideo": False}
    )
    guest = GuestClient(socket_url(server, session_id, token), camera=True)
    try:
        await guest.join()
        await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "listening")
        interview = server.app.state.signaling.registry.get(uuid.UUID(session_id))
        assert interview is not None and interview._camera is None  # no video is decoded
        await asyncio.sleep(2.5)  # the camera runs on: still nothing for the host
        await guest.send({"type": "end"})
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
    finally:
        await guest.close()
    assert gemini.stills == []
    assert SEES_GUEST not in str(gemini.setups[0]["systemInstruction"])
